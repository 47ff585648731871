package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/testload"
	"github.com/zjfund/ledger/projections"
)

// TestMain lets the test binary stand in for the ledger binary: with
// LEDGER_E2E_ARGS set it runs main with those arguments, so that a test can
// start `ledger serve` as a real process and kill it.
func TestMain(m *testing.M) {
	if conf := os.Getenv("LEDGER_NATS_NODE"); conf != "" {
		runNATSNode(conf) // a node of a test cluster (cluster_test.go)
	}
	if args := os.Getenv("LEDGER_E2E_ARGS"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			panic(err)
		}
		os.Args = append([]string{"ledger"}, a...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m, leakOptions...)
}

// leakOptions are the goroutines that may outlive a test: none of the
// ledger's own.
var leakOptions = []goleak.Option{
	// Keep-alive connections of http.DefaultClient, closed by the server's end.
	goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
}

type process struct {
	cmd    *exec.Cmd
	base   string
	pprof  string // the profiles' base URL, with --pprof
	stderr *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveCommand is `ledger serve` on dataDir as a child process, not started.
func serveCommand(t *testing.T, dataDir string, extra ...string) *exec.Cmd {
	args, _ := json.Marshal(append([]string{"serve", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--log-level", "info",
		"--users-file", testUsersFile(t), "--webhook-allow-private"}, extra...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LEDGER_E2E_ARGS="+string(args))
	return cmd
}

// startProcess runs `ledger serve` in a child process on dataDir.
func startProcess(t *testing.T, dataDir string, extra ...string) *process {
	t.Helper()
	cmd := serveCommand(t, dataDir, extra...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "ledger: profiles on "); ok {
			p.pprof = strings.TrimSuffix(u, "/debug/pprof/")
		}
		if u, ok := strings.CutPrefix(sc.Text(), "ledger: listening on "); ok {
			p.base = u
			break
		}
	}
	go io.Copy(io.Discard, out)
	if p.base == "" {
		_ = cmd.Wait()
		t.Fatalf("the ledger process did not start:\n%s", p.stderr.String())
	}
	return p
}

// TestKill9RightAfterAnAcknowledgement kills the process with SIGKILL as soon
// as a command is answered 201, restarts it on the same data dir, and checks
// that the acknowledged event is there — several times over.
func TestKill9RightAfterAnAcknowledgement(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	l := &ledger{base: p.base}
	runScript(t, l, approvedScript("K"))
	var acked []string
	for round := 1; round <= 4; round++ {
		r := call(t, "POST", p.base+"/v1/projects/K/disbursements",
			map[string]any{"effective_time": at(fmt.Sprintf("2009-%02d-01", 8+round)), "source": "central_budget", "amount": 100 * wan, "basis": fmt.Sprintf("进度检查 %d", round)}, finance...)
		if r.status != 201 {
			t.Fatalf("round %d: %d %s", round, r.status, r.raw)
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL) // at once, before anything else
		_ = p.cmd.Wait()
		acked = append(acked, r.body["events"].([]any)[0].(map[string]any)["id"].(string))

		p = startProcess(t, dir)
		h := call(t, "GET", p.base+"/v1/projects/K/events", nil)
		if h.status != 200 {
			t.Fatalf("round %d after restart: %d %s", round, h.status, h.raw)
		}
		var ids []string
		for _, e := range h.body["events"].([]any) {
			ce := e.(map[string]any)["event"].(map[string]any)
			if ce["type"] == "ledger.project.funds_disbursed.v1" {
				ids = append(ids, ce["id"].(string))
			}
		}
		if strings.Join(ids, ",") != strings.Join(acked, ",") {
			t.Fatalf("round %d: after kill -9 and restart the disbursements are %v, want the acknowledged %v", round, ids, acked)
		}
	}
	v := call(t, "GET", p.base+"/v1/projects/K?min_position="+fmt.Sprint(h0(t, p)), nil).body
	if d := v["funding"].(map[string]any)["disbursed"]; d.(map[string]any)["central_budget"] != float64(400*wan) {
		t.Fatalf("disbursed after 4 kills: %v", d)
	}
}

// TestSIGTERMFinishesAppendsInFlight sends SIGTERM while many clients
// register projects, and checks that the process exits cleanly and that every
// registration it acknowledged is stored.
func TestSIGTERMFinishesAppendsInFlight(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	client := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("T-%02d-%04d", g, i)
				body, _ := json.Marshal(registration(id, "330682"))
				req, _ := http.NewRequest("POST", p.base+"/v1/projects", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tokenOf("wangfang"))
				resp, err := client.Do(req)
				if err != nil {
					return // the server has gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 201 {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				} else if resp.StatusCode != 503 {
					t.Errorf("register %s: %d", id, resp.StatusCode)
					return
				}
			}
		}(g)
	}
	waitFor(t, 30*time.Second, "registrations to be acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 64
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("ledger serve after SIGTERM: %v; want a clean exit", err)
	}
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged before SIGTERM")
	}
	p = startProcess(t, dir)
	last := h0(t, p)
	for _, id := range acked {
		if r := call(t, "GET", p.base+"/v1/projects/"+id+"?min_position="+fmt.Sprint(last), nil); r.status != 200 {
			t.Fatalf("acknowledged project %s after SIGTERM and restart: %d", id, r.status)
		}
	}
	t.Logf("%d registrations acknowledged before SIGTERM, all stored", len(acked))
}

// h0 returns the stream's last sequence from /healthz.
func h0(t *testing.T, p *process) uint64 {
	t.Helper()
	r := call(t, "GET", p.base+"/healthz", nil)
	return uint64(r.body["stream_last_seq"].(float64))
}

// TestKill9WhileProjectionsCatchUp kills `ledger serve` with SIGKILL while
// its read models are catching up with a long stream, restarts it, and
// checks that it resumed from a checkpoint and that, once caught up, its read
// models equal a rebuild from zero: the same records, nothing applied twice.
func TestKill9WhileProjectionsCatchUp(t *testing.T) {
	dir := t.TempDir()
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := srv.Connect("load")
	st, err := eventstore.Open(context.Background(), nc, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	testload.Load(t, st, 11, 600, 200, true)
	last, _ := st.LastSequence(context.Background())
	st.Close()
	nc.Close()
	srv.Shutdown()

	p := startProcess(t, dir, "--checkpoint-every", "500")
	var applied uint64
	waitFor(t, 30*time.Second, "projections past 2,000 events", func() bool {
		r := call(t, "GET", p.base+"/healthz", nil)
		applied = uint64(r.body["projections"].(map[string]any)["applied_seq"].(float64))
		return applied >= 2000
	})
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	// The kill lands while the worker catches up (checkpoints every 500);
	// had it caught up already, the restart still has to resume and equal a
	// rebuild, which is checked below either way.
	t.Logf("killed at %d of %d events", applied, last)

	p = startProcess(t, dir)
	waitFor(t, 60*time.Second, "projections to catch up after the restart", func() bool {
		r := call(t, "GET", p.base+"/healthz", nil)
		return r.body["projections"].(map[string]any)["lag"].(float64) == 0
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"projections resume from checkpoint"`) {
		t.Fatalf("the restarted process did not resume from a checkpoint:\n%s", p.stderr.String())
	}

	srv, err = eventstore.StartServer(eventstore.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, _ = srv.Connect("check")
	defer nc.Close()
	st, err = eventstore.Open(context.Background(), nc, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	resumed, err := projections.NewEngine(context.Background(), st, projections.Config{SnapshotPath: filepath.Join(dir, "projections", "model.json")})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := projections.Rebuild(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	resumed.Read(func(m *projections.Model) {
		if m.Applied != last || !projections.Equal(m, rebuilt) {
			t.Fatalf("the resumed read models (at %d, %d projects) differ from a rebuild from zero (at %d, %d projects)",
				m.Applied, len(m.Projects), rebuilt.Applied, len(rebuilt.Projects))
		}
	})
}
