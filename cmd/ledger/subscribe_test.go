package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// subscriber runs `ledger subscribe` as a child process.
func subscriber(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	a, _ := json.Marshal(append([]string{"subscribe"}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LEDGER_E2E_ARGS="+string(a))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

type line struct {
	Seq   uint64 `json:"seq"`
	Event struct {
		ID      string `json:"id"`
		Subject string `json:"subject"`
	} `json:"event"`
}

func readLines(t *testing.T, path string) []line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func waitLines(t *testing.T, path string, n int) []line {
	t.Helper()
	var ls []line
	waitFor(t, 30*time.Second, fmt.Sprintf("%d lines in %s", n, path), func() bool {
		ls = readLines(t, path)
		return len(ls) >= n
	})
	return ls
}

// TestSubscriberKilledAndRestartedGetsEveryEventOnce: `ledger subscribe` on
// a durable consumer is killed with SIGKILL mid-stream, events go on, and
// the restarted subscriber's output holds every event exactly once, in
// stream order (so in order per project).
func TestSubscriberKilledAndRestartedGetsEveryEventOnce(t *testing.T) {
	l := startLedger(t, t.TempDir())
	for _, id := range []string{"S1", "S2", "S3"} {
		runScript(t, l, approvedScript(id))
	}
	out := filepath.Join(t.TempDir(), "events.jsonl")
	url := strings.Replace(l.nats, "nats://", "nats://reader:reader-secret@", 1)
	sub := subscriber(t, "--nats-url", url, "--durable", "statistics", "--out", out)
	waitLines(t, out, 8)
	_ = sub.Process.Signal(syscall.SIGKILL)
	_ = sub.Wait()
	runScript(t, l, approvedScript("S4"))
	sub = subscriber(t, "--nats-url", url, "--durable", "statistics", "--out", out)
	waitLines(t, out, 32)
	// A last event as a marker: once it is out, anything repeated before it
	// would be out too.
	if r := call(t, "POST", l.base+"/v1/projects", registration("S5", "330682"), drc...); r.status != 201 {
		t.Fatalf("register S5: %d %s", r.status, r.raw)
	}
	waitLines(t, out, 33)
	_ = sub.Process.Signal(syscall.SIGKILL)
	_ = sub.Wait()
	lines := readLines(t, out)
	if len(lines) != 33 || lines[32].Event.Subject != "S5" {
		t.Fatalf("%d lines, want the 33 events exactly once, S5's last", len(lines))
	}
	ids := map[string]bool{}
	for i, l := range lines {
		if l.Seq != uint64(i+1) || ids[l.Event.ID] || l.Event.ID == "" {
			t.Fatalf("line %d: sequence %d, id %s (repeated: %v): lost, repeated or out of order", i, l.Seq, l.Event.ID, ids[l.Event.ID])
		}
		ids[l.Event.ID] = true
	}
}
