// Package audit makes the ledger checkable by someone who does not trust it:
// an RFC 6962 Merkle tree over every event in stream order, signed
// checkpoints of its head (Ed25519 signed notes), verification of every
// event (its hash, its project's chain, the domain rules, its inclusion in
// the checkpoints), and offline audit bundles.
package audit

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Tree is an RFC 6962 Merkle tree over the events' stored bytes, leaf i
// being the event at stream sequence i+1. It keeps every stored hash in
// memory (about 64 bytes per event), or, once ReadLeavesFrom is called, the
// hashes of its nodes from level leafLevels up only (about 8 bytes per
// event): a lower node's hash is computed again from the events' stored bytes
// when a root or a proof needs it — up to 2^leafLevels-1 events read back for
// a proof. It is safe for concurrent use.
type Tree struct {
	mu     sync.RWMutex // guards hashes, n, edge
	hashes []tlog.Hash  // the stored hashes in tlog's order, without those below level skip
	n      int64
	skip   int                           // levels whose hashes are not kept: 0, or leafLevels once leaf is set
	leaf   func(i int64) ([]byte, error) // leaf i's stored bytes, when skip > 0
	edge   [leafLevels]tlog.Hash         // edge[l]: the hash of the last complete node of level l < skip
}

// leafLevels is how many of the lowest levels a tree reading its leaves
// back keeps no hashes of: the three lowest hold seven eighths of them.
const leafLevels = 3

// ReadLeavesFrom makes the tree keep no hashes of its lowest leafLevels
// levels from now on: leaf i's stored bytes are read back through leaf when
// a node there is needed — the siblings in an inclusion proof, the right
// edge of a tree of another size. The nodes on the tree's own right edge are
// kept, so appending reads nothing back. Call it before the first Append.
func (t *Tree) ReadLeavesFrom(leaf func(i int64) ([]byte, error)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaf, t.skip = leaf, leafLevels
}

// Append adds the next event's stored bytes as leaf Size().
func (t *Tree) Append(raw []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	hs, err := tlog.StoredHashes(t.n, raw, t.reader())
	if err != nil {
		return err
	}
	// hs holds the leaf's hash and those of the nodes it completes, one a
	// level from level 0 up.
	for l := 0; l < t.skip && l < len(hs); l++ {
		t.edge[l] = hs[l]
	}
	t.hashes = append(t.hashes, hs[min(t.skip, len(hs)):]...)
	t.n++
	return nil
}

// Size is the number of leaves.
func (t *Tree) Size() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.n
}

func (t *Tree) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, err := t.stored(x)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
		return out, nil
	})
}

// stored returns the stored hash of index x, the node (level, n). Of the
// stored hashes before it and it in tlog's order, those of a level l < skip
// are the (n+1)·2^(level-l) nodes of level l its subtree and those before it
// span, so a kept node sits that many places earlier in t.hashes.
func (t *Tree) stored(x int64) (tlog.Hash, error) {
	level, n := tlog.SplitStoredHashIndex(x)
	if level < t.skip {
		complete := t.n >> level // complete nodes of that level
		switch {
		case n >= complete:
			return tlog.Hash{}, fmt.Errorf("node %d of level %d is not in the tree (%d leaves)", n, level, t.n)
		case n == complete-1:
			return t.edge[level], nil
		}
		return t.computed(level, n)
	}
	pos := x
	for l := 0; l < t.skip; l++ {
		pos -= (n + 1) << (level - l)
	}
	if pos < 0 || pos >= int64(len(t.hashes)) {
		return tlog.Hash{}, fmt.Errorf("stored hash %d is not in the tree (%d leaves)", x, t.n)
	}
	return t.hashes[pos], nil
}

// computed hashes node (level, n) from its leaves' stored bytes.
func (t *Tree) computed(level int, n int64) (tlog.Hash, error) {
	if level == 0 {
		raw, err := t.leaf(n)
		if err != nil {
			return tlog.Hash{}, fmt.Errorf("leaf %d of the tree: %w", n, err)
		}
		return tlog.RecordHash(raw), nil
	}
	left, err := t.computed(level-1, 2*n)
	if err != nil {
		return tlog.Hash{}, err
	}
	right, err := t.computed(level-1, 2*n+1)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.NodeHash(left, right), nil
}

// Root returns the tree hash over the first n leaves.
func (t *Tree) Root(n int64) (tlog.Hash, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n > t.n {
		return tlog.Hash{}, fmt.Errorf("tree of %d leaves has no head at %d", t.n, n)
	}
	return tlog.TreeHash(n, t.reader())
}

// ProveRecord proves that leaf n is in the tree of size size.
func (t *Tree) ProveRecord(size, n int64) (tlog.RecordProof, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return tlog.ProveRecord(size, n, t.reader())
}

// ProveTree proves that the tree of size n is a prefix of the tree of size size.
func (t *Tree) ProveTree(size, n int64) (tlog.TreeProof, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return tlog.ProveTree(size, n, t.reader())
}

// Checkpoint is a signed statement of the tree's head: "the first Size
// events of the stream hash to Root". Its text follows the C2SP
// tlog-checkpoint format: origin, size, base64 root hash, one per line.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Signed is the whole signed note: the text and its signature lines.
	Signed []byte
}

// Text is the checkpoint body that is signed.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// SignCheckpoint signs the head (size, root) of origin's tree.
func SignCheckpoint(s note.Signer, origin string, size int64, root tlog.Hash) (Checkpoint, error) {
	c := Checkpoint{Origin: origin, Size: size, Root: root}
	signed, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign checkpoint %d: %w", size, err)
	}
	c.Signed = signed
	return c, nil
}

// OpenCheckpoint checks a signed checkpoint against the public key vkey and
// parses it. It fails when the signature is not vkey's, or the text is not a
// checkpoint.
func OpenCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("public key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("checkpoint text is not origin, size and root hash")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: size, Signed: signed}
	copy(c.Root[:], raw)
	return c, nil
}
