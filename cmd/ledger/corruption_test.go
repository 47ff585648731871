package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// register registers n projects through 16 concurrent clients and returns
// how many were acknowledged.
func registerMany(t *testing.T, base, prefix string, n int) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	next := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
	}()
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if r := call(t, "POST", base+"/v1/projects", registration(fmt.Sprintf("%s%05d", prefix, i), "330682"), drc...); r.status == 201 {
					mu.Lock()
					acked++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return acked
}

func killHard(t *testing.T, p *process) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func blockFiles(t *testing.T, dir string) []string {
	t.Helper()
	blks, _ := filepath.Glob(filepath.Join(dir, "jetstream", "$G", "streams", "LEDGER", "msgs", "*.blk"))
	sort.Strings(blks)
	if len(blks) == 0 {
		t.Fatal("no block files")
	}
	return blks
}

// TestFlippedByteInTheLastBlockAfterSIGKILL: a byte flipped in the middle
// of the last block of a store killed hard. JetStream drops the rest of the
// block on recovery; the ledger must not take writes at the lost sequences:
// /healthz 503 naming the first lost sequence, commands 503, reads served,
// and the same after another restart.
func TestFlippedByteInTheLastBlockAfterSIGKILL(t *testing.T) {
	damagedLastBlock(t, "a flipped byte", func(b []byte) []byte {
		b[len(b)/2] ^= 0x40
		return b
	})
}

// TestTornTailAfterSIGKILL: the last block cut short (a write torn by a
// power loss): the same refusal, naming the first lost sequence.
func TestTornTailAfterSIGKILL(t *testing.T) {
	damagedLastBlock(t, "a torn tail", func(b []byte) []byte { return b[:len(b)-len(b)/3] })
}

func damagedLastBlock(t *testing.T, what string, damage func([]byte) []byte) {
	dir := t.TempDir()
	p := startProcess(t, dir, "--sign-every", "100", "--sign-interval", "1s")
	if n := registerMany(t, p.base, "F", 1750); n != 1750 {
		t.Fatalf("%d of 1750 registrations acknowledged", n)
	}
	waitFor(t, 10*time.Second, "a checkpoint covering 1,700 events", func() bool {
		r := call(t, "GET", p.base+"/healthz", nil)
		return r.body["checkpoints"].(map[string]any)["latest_checkpoint"].(float64) >= 1700
	})
	killHard(t, p)
	blks := blockFiles(t, dir)
	last := blks[len(blks)-1]
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	b = damage(b)
	t.Logf("%s in %s", what, last)
	if err := os.WriteFile(last, b, 0o640); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(filepath.Dir(last), "index.db"))

	for round := 1; round <= 2; round++ {
		p = startProcess(t, dir)
		h := call(t, "GET", p.base+"/healthz", nil)
		writes, _ := h.body["writes"].(map[string]any)
		if h.status != 503 || writes["status"] != "refused" {
			t.Fatalf("round %d: healthz after the flipped byte: %d %s", round, h.status, h.raw)
		}
		refused := writes["refused"].([]any)[0].(map[string]any)
		seq := uint64(refused["seq"].(float64))
		kept := uint64(h.body["stream_last_seq"].(float64))
		if seq == 0 || seq > kept+1 || kept >= 1750 {
			t.Fatalf("round %d: the stream keeps %d events and the refusal names sequence %d: %s", round, kept, seq, h.raw)
		}
		t.Logf("round %d: %d of 1750 events kept; healthz 503: %s: %s", round, kept, refused["code"], refused["detail"])
		r := call(t, "POST", p.base+"/v1/projects", registration("AFTER", "330682"), drc...)
		if r.status != 503 || r.body["code"] != refused["code"] {
			t.Fatalf("round %d: a write on the damaged store: %d %s", round, r.status, r.raw)
		}
		if after := uint64(call(t, "GET", p.base+"/healthz", nil).body["stream_last_seq"].(float64)); after != kept {
			t.Fatalf("round %d: the refused write moved the stream from %d to %d", round, kept, after)
		}
		if g := call(t, "GET", fmt.Sprintf("%s/v1/projects/F00000?min_position=%d", p.base, kept), nil); g.status != 200 {
			t.Fatalf("round %d: a read on the damaged store: %d %s", round, g.status, g.raw)
		}
		killHard(t, p)
	}
	err, out := runCmd("verify", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub"))
	if err == nil || !strings.Contains(out, "FAILED") {
		t.Fatalf("verify of the damaged store: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "FAILED") {
			t.Logf("verify: %s", line)
		}
	}
}

// TestMissingOrReplacedKeyRefusesTheStart: with checkpoints signed, a
// deleted signing key is not silently re-created, and another key is not
// taken: serve exits naming the key file.
func TestMissingOrReplacedKeyRefusesTheStart(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir, "--sign-every", "1", "--sign-interval", "1s")
	if r := call(t, "POST", p.base+"/v1/projects", registration("K1", "330682"), drc...); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	waitFor(t, 10*time.Second, "a checkpoint", func() bool {
		return call(t, "GET", p.base+"/healthz", nil).body["checkpoints"].(map[string]any)["latest_checkpoint"].(float64) >= 1
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	key := filepath.Join(dir, "checkpoint.key")
	orig, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	gone := startProcessExpectingExit(t, dir)
	if gone.err == nil || !strings.Contains(gone.stderr, key+" is missing") {
		t.Fatalf("serve without its key: %v\n%s", gone.err, gone.stderr)
	}
	t.Logf("key deleted: %s", lastLine(gone.stderr))
	if _, err := os.Stat(key); err == nil {
		t.Fatal("the refused start created a new key")
	}
	// Another key in its place.
	other := t.TempDir()
	q := startProcess(t, other)
	_ = q.cmd.Process.Signal(syscall.SIGTERM)
	_ = q.cmd.Wait()
	b, _ := os.ReadFile(filepath.Join(other, "checkpoint.key"))
	if err := os.WriteFile(key, b, 0o600); err != nil {
		t.Fatal(err)
	}
	replaced := startProcessExpectingExit(t, dir)
	if replaced.err == nil || !strings.Contains(replaced.stderr, "did not sign the latest checkpoint") {
		t.Fatalf("serve with another key: %v\n%s", replaced.err, replaced.stderr)
	}
	t.Logf("key replaced: %s", lastLine(replaced.stderr))
	// The right key back: it starts.
	if err := os.WriteFile(key, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startProcess(t, dir)
	if r := call(t, "GET", p.base+"/healthz", nil); r.status != 200 {
		t.Fatalf("with the key restored: %d %s", r.status, r.raw)
	}
}

// TestTamperedReadModelCheckpointIsRebuilt: model.json edited to raise a
// disbursement is noticed at start (its hash) and rebuilt from the stream;
// what the queries serve is the stream's figure.
func TestTamperedReadModelCheckpointIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	l := &ledger{base: p.base}
	runScript(t, l, approvedScript("TM"))
	r := call(t, "POST", p.base+"/v1/projects/TM/disbursements",
		map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 100 * wan, "basis": "进度检查"}, finance...)
	if r.status != 201 {
		t.Fatalf("disburse: %d %s", r.status, r.raw)
	}
	// The read models hold the disbursement before the stop writes their checkpoint.
	if g := call(t, "GET", p.base+"/v1/projects/TM?min_position="+r.header.Get("Ledger-Position"), nil); g.status != 200 {
		t.Fatalf("read the disbursement: %d %s", g.status, g.raw)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	path := filepath.Join(dir, "projections", "model.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	was := []byte(fmt.Sprintf(`"disbursed":[%d,`, 100*wan))
	if !bytes.Contains(b, was) {
		t.Fatalf("model.json does not hold %s", was)
	}
	b = bytes.Replace(b, was, []byte(fmt.Sprintf(`"disbursed":[%d,`, 90000*wan)), 1)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	p = startProcess(t, dir)
	last := h0(t, p)
	v := call(t, "GET", fmt.Sprintf("%s/v1/projects/TM?min_position=%d", p.base, last), nil)
	got := v.body["funding"].(map[string]any)["disbursed"].(map[string]any)["central_budget"]
	if got != float64(100*wan) {
		t.Fatalf("served disbursement %v after the tampering, want the stream's %d", got, 100*wan)
	}
	if !strings.Contains(p.stderr.String(), "the file was changed") {
		t.Fatalf("the tampering was not reported:\n%s", p.stderr.String())
	}
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "the file was changed") {
			var m map[string]any
			_ = json.Unmarshal([]byte(line), &m)
			t.Logf("log: %s: %s", m["msg"], m["err"])
		}
	}
}
