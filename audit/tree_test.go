package audit

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// A tree that keeps no hashes of its lowest levels answers every root and
// proof as the tree that keeps them all, reading back only the leaves a
// proof needs (appending reads none), and its proofs check against the
// roots.
func TestTreeWithoutItsLowestLevelsAnswersAsTheFullOne(t *testing.T) {
	var leaves [][]byte
	var full, compact Tree
	reads := 0
	compact.ReadLeavesFrom(func(i int64) ([]byte, error) {
		reads++
		if i < 0 || i >= int64(len(leaves)) {
			return nil, fmt.Errorf("no leaf %d", i)
		}
		return leaves[i], nil
	})
	for i := range 70 {
		raw := []byte(fmt.Sprintf(`{"event":%d}`, i))
		leaves = append(leaves, raw)
		if err := full.Append(raw); err != nil {
			t.Fatal(err)
		}
		if err := compact.Append(raw); err != nil {
			t.Fatal(err)
		}
		n := int64(i + 1)
		for size := int64(1); size <= n; size++ {
			want, err := full.Root(size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := compact.Root(size)
			if err != nil || got != want {
				t.Fatalf("root of %d of %d leaves: %v, %v; want %v", size, n, got, err, want)
			}
		}
	}
	if len(compact.hashes) > len(full.hashes)/8+1 {
		t.Fatalf("the compact tree keeps %d hashes, the full one %d", len(compact.hashes), len(full.hashes))
	}
	// Appending alone reads nothing back: the right edge is kept.
	var alone Tree
	alone.ReadLeavesFrom(func(i int64) ([]byte, error) { return nil, fmt.Errorf("leaf %d read while appending", i) })
	for _, raw := range leaves {
		if err := alone.Append(raw); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := alone.Root(int64(len(leaves))); got != mustRoot(t, &full, int64(len(leaves))) {
		t.Fatal("the root of the tree that read nothing differs")
	}
	for _, size := range []int64{1, 2, 3, 7, 8, 33, 64, 70} {
		root, _ := full.Root(size)
		for leaf := int64(0); leaf < size; leaf++ {
			want, err := full.ProveRecord(size, leaf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := compact.ProveRecord(size, leaf)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("proof of leaf %d in %d: %v, %v", leaf, size, got, err)
			}
			if err := tlog.CheckRecord(got, size, root, leaf, tlog.RecordHash(leaves[leaf])); err != nil {
				t.Fatalf("proof of leaf %d in %d does not check: %v", leaf, size, err)
			}
		}
		for old := int64(1); old <= size; old++ {
			want, _ := full.ProveTree(size, old)
			got, err := compact.ProveTree(size, old)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("proof of %d in %d: %v, %v", old, size, got, err)
			}
		}
	}
	if reads == 0 {
		t.Fatal("no leaf was read back: the test did not reach the leaves")
	}
	// A leaf that cannot be read back fails the proof that needs it.
	leaves = leaves[:10]
	if _, err := compact.ProveRecord(70, 20); err == nil {
		t.Fatal("a proof needing a leaf that cannot be read: want an error")
	}
}

func mustRoot(t *testing.T, tr *Tree, n int64) tlog.Hash {
	t.Helper()
	h, err := tr.Root(n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
