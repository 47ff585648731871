package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TestAuditCommands: a ledger signs checkpoints of what it records; stopped,
// its data directory verifies; a project's bundle verifies offline in a fresh
// directory with no server running, and the same bundle with one byte changed
// is refused; the timeline replays the project.
func TestAuditCommands(t *testing.T) {
	dir := t.TempDir()
	l := startLedger(t, dir, "--sign-every", "10", "--sign-interval", "1s")
	runScript(t, l, append(approvedScript("AU"), step{"/v1/projects/AU/disbursements", finance,
		map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 300 * wan, "basis": "进度检查"}, []string{"funds_disbursed"}}))
	tl := call(t, "GET", l.base+"/v1/projects/AU/timeline?as_of=2009-08-31", nil)
	entries, _ := tl.body["entries"].([]any)
	if tl.status != 200 || len(entries) != 8 || !strings.Contains(entries[5].(map[string]any)["change"].(string), "awards central_budget 700万") {
		t.Fatalf("timeline as of 2009-08-31: %d %s", tl.status, tl.raw)
	}
	waitFor(t, 15*time.Second, "a checkpoint covering the events", func() bool {
		h := call(t, "GET", l.base+"/healthz", nil)
		return h.body["checkpoints"].(map[string]any)["latest_checkpoint"] == h.body["stream_last_seq"]
	})
	// Every event's inclusion proof checks against the checkpoint's root (the
	// checkpointer keeps no leaf hashes: the proofs' leaves are read back).
	for seq := 1; seq <= 9; seq++ {
		r := call(t, "GET", fmt.Sprintf("%s/v1/events/%d/proof", l.base, seq), nil)
		var pr struct {
			Event      string           `json:"event"`
			Leaf       tlog.Hash        `json:"leaf_hash"`
			Proof      tlog.RecordProof `json:"proof"`
			Checkpoint struct {
				Size int64     `json:"size"`
				Root tlog.Hash `json:"root"`
			} `json:"checkpoint"`
		}
		if r.status != 200 || json.Unmarshal([]byte(r.raw), &pr) != nil || tlog.RecordHash([]byte(pr.Event)) != pr.Leaf {
			t.Fatalf("inclusion proof of %d: %d %s", seq, r.status, r.raw)
		}
		if err := tlog.CheckRecord(pr.Proof, pr.Checkpoint.Size, pr.Checkpoint.Root, int64(seq)-1, pr.Leaf); err != nil {
			t.Fatalf("the inclusion proof of %d does not check: %v", seq, err)
		}
	}
	// replay for people, and --json for machines.
	var rp bytes.Buffer
	api := []string{"--url", l.base, "--token", tokenOf("audit")}
	if err := run(context.Background(), append([]string{"replay", "--project", "AU"}, api...), func(string) string { return "" }, &rp, io.Discard); err != nil ||
		!strings.Contains(rp.String(), "AU — 9 events") || !strings.Contains(rp.String(), "so far: disbursed central_budget 300万") || strings.Contains(rp.String(), "map[") {
		t.Fatalf("replay --project: %v\n%s", err, rp.String())
	}
	rp.Reset()
	if err := run(context.Background(), append([]string{"replay", "--as-of", "2009-12-31", "--group-by", "county"}, api...), func(string) string { return "" }, &rp, io.Discard); err != nil ||
		!strings.Contains(rp.String(), "portfolio by county as of 2009-12-31") || !strings.Contains(rp.String(), "330682") {
		t.Fatalf("replay --as-of: %v\n%s", err, rp.String())
	}
	rp.Reset()
	if err := run(context.Background(), append([]string{"replay", "--json", "--project", "AU"}, api...), func(string) string { return "" }, &rp, io.Discard); err != nil || !json.Valid(rp.Bytes()) {
		t.Fatalf("replay --json: %v\n%s", err, rp.String())
	}
	l.stop()

	pub, err := os.ReadFile(filepath.Join(dir, "checkpoint.key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(pub))
	if fi, _ := os.Stat(filepath.Join(dir, "checkpoint.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key mode %v", fi.Mode().Perm())
	}
	var out bytes.Buffer
	ctx := context.Background()
	env := func(string) string { return "" }
	if err := run(ctx, []string{"verify", "--data-dir", dir}, env, &out, io.Discard); err != nil || !strings.Contains(out.String(), "OK: 9 events of 1 projects") {
		t.Fatalf("verify the data dir: %v\n%s", err, out.String())
	}
	// A selection that matches nothing is not "OK".
	out.Reset()
	if err := run(ctx, []string{"verify", "--data-dir", dir, "--project", "NOPE"}, env, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "--project NOPE") || strings.Contains(out.String(), "OK") {
		t.Fatalf("verify --project NOPE: %v\n%s", err, out.String())
	}
	none := filepath.Join(t.TempDir(), "none.bundle")
	if err := run(ctx, []string{"export", "--data-dir", dir, "--project", "NOPE", "--out", none}, env, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "nothing exported") {
		t.Fatalf("export --project NOPE: %v", err)
	}
	if _, err := os.Stat(none); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("export --project NOPE left a file: %v", err)
	}
	bundle := filepath.Join(t.TempDir(), "AU.bundle")
	out.Reset()
	if err := run(ctx, []string{"export", "--data-dir", dir, "--project", "AU", "--out", bundle}, env, &out, io.Discard); err != nil {
		t.Fatalf("export: %v", err)
	}
	fresh := t.TempDir()
	b, _ := os.ReadFile(bundle)
	if err := os.WriteFile(filepath.Join(fresh, "AU.bundle"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(ctx, []string{"verify", "--bundle", filepath.Join(fresh, "AU.bundle"), "--key", key}, env, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "OK: bundle") || !strings.Contains(out.String(), "9 events of 1 projects, 1 whole histories") {
		t.Fatalf("verify the bundle offline: %v\n%s", err, out.String())
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(filepath.Join(fresh, "bad.bundle"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"verify", "--bundle", filepath.Join(fresh, "bad.bundle"), "--key", key}, env, &out, io.Discard); !errors.Is(err, errVerify) || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("a bundle with one byte changed: %v\n%s", err, out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
}
