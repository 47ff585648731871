package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchSmoke runs every measure of `ledger bench` at tiny sizes: the
// benchmark itself stays out of the test run, its smoke mode does not.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("bench smoke takes several seconds")
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	if err := run(context.Background(), []string{"bench", "--smoke", "--out", out, "--dir", t.TempDir()}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// 2 client counts × (group commit on/off over HTTP, the in-process
	// command path), rebuild, memory, lag, 3 queries, 4 pages of the web
	// workspace.
	if len(rep.Rows) != 16 {
		t.Fatalf("%d rows, want 16: %+v", len(rep.Rows), rep.Rows)
	}
	grouped := 0
	for _, r := range rep.Rows {
		if r.Ledger <= 0 && r.Unit != "ms (p99)" || (r.Raw > 0 && r.Ratio <= 0) || (r.RawGroup > 0 && r.RawGroupRatio <= 0) {
			t.Fatalf("row %q has no figure: %+v", r.Name, r)
		}
		if r.RawGroup > 0 {
			grouped++
		}
	}
	if grouped != 3 { // the 8-writer rows are set beside the minimal group commit
		t.Fatalf("%d rows beside the raw group commit, want 3", grouped)
	}
}
