package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/projections"
)

// runNATSNode is the test binary standing in for nats-server (TestMain,
// LEDGER_NATS_NODE set): one node of a cluster, from a configuration file,
// run until the process is killed.
func runNATSNode(conf string) {
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		os.Exit(2)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		os.Exit(2)
	}
	s.ConfigureLogger()
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats node: not ready")
		os.Exit(2)
	}
	s.WaitForShutdown()
	os.Exit(0)
}

// natsNode is one node of a test cluster: a process of its own, so that it
// can be killed with SIGKILL.
type natsNode struct {
	name, conf, url string
	cmd             *exec.Cmd
	log             *syncBuffer
}

type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCluster starts a cluster of n nodes with JetStream, each syncing to
// disk before it acknowledges (sync_interval: always), on loopback ports.
func startCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t}
	ports, routes := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], routes[i] = freePort(t), freePort(t)
	}
	for i := range n {
		var rs []string
		for j := range n {
			if j != i {
				rs = append(rs, fmt.Sprintf("nats-route://127.0.0.1:%d", routes[j]))
			}
		}
		dir := t.TempDir()
		conf := filepath.Join(dir, "node.conf")
		body := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream { store_dir: %q, sync_interval: always, max_memory_store: 64MB, max_file_store: 2GB }
cluster { name: ledger-test, listen: 127.0.0.1:%d, routes: [%s] }
`, i+1, ports[i], filepath.Join(dir, "store"), routes[i], strings.Join(rs, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, &natsNode{name: fmt.Sprintf("n%d", i+1), conf: conf, url: fmt.Sprintf("nats://127.0.0.1:%d", ports[i])})
	}
	for i := range c.nodes {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.cmd != nil {
				_ = nd.cmd.Process.Kill()
				_ = nd.cmd.Wait()
			}
		}
	})
	c.waitReady()
	return c
}

// start starts node i (again), on its store.
func (c *natsCluster) start(i int) {
	nd := c.nodes[i]
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LEDGER_NATS_NODE="+nd.conf)
	nd.log = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = nd.log, nd.log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	nd.cmd = cmd
}

// kill stops node i with SIGKILL: no flush, no goodbye.
func (c *natsCluster) kill(i int) {
	nd := c.nodes[i]
	_ = nd.cmd.Process.Signal(syscall.SIGKILL)
	_ = nd.cmd.Wait()
	nd.cmd = nil
}

// urls is every node's client URL, comma-separated, as --nats-url takes them.
func (c *natsCluster) urls() string {
	var us []string
	for _, nd := range c.nodes {
		us = append(us, nd.url)
	}
	return strings.Join(us, ",")
}

func (c *natsCluster) connect() *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.urls(), nats.Timeout(20*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// waitReady waits until every running node answers and JetStream has a
// meta leader.
func (c *natsCluster) waitReady() {
	c.t.Helper()
	for _, nd := range c.nodes {
		if nd.cmd == nil {
			continue
		}
		waitFor(c.t, 30*time.Second, "node "+nd.name+" with JetStream", func() bool {
			nc, err := nats.Connect(nd.url, nats.Timeout(time.Second))
			if err != nil {
				return false
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return false
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = js.AccountInfo(ctx)
			return err == nil
		})
	}
}

// leaderOf is the index of the node that leads stream.
func (c *natsCluster) leaderOf(stream string) int {
	c.t.Helper()
	nc := c.connect()
	js, _ := jetstream.New(nc)
	var leader string
	waitFor(c.t, 30*time.Second, "a leader of "+stream, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	})
	for i, nd := range c.nodes {
		if nd.name == leader {
			return i
		}
	}
	c.t.Fatalf("leader %q is no node of the cluster", leader)
	return -1
}

// clusterLedger is one ledger instance against the cluster.
type clusterLedger struct {
	name, dir string
	extra     []string
	mu        sync.Mutex // guards p: writers read its address while a round restarts it
	p         *process
}

// base is the instance's HTTP address now.
func (l *clusterLedger) base() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.base
}

func startClusterLedger(t *testing.T, c *natsCluster, name, key string) *clusterLedger {
	t.Helper()
	l := &clusterLedger{name: name, dir: t.TempDir(), extra: []string{"--nats-url", c.urls(), "--replicas", "3",
		"--checkpoint-key", key, "--lease-ttl", "2s", "--sign-every", "40", "--sign-interval", "1s", "--instance", name,
		"--shutdown-wait", "5s"}}
	l.p = startProcess(t, l.dir, l.extra...)
	return l
}

func (l *clusterLedger) kill() {
	l.mu.Lock()
	p := l.p
	l.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (l *clusterLedger) restart(t *testing.T) {
	p := startProcess(t, l.dir, l.extra...)
	l.mu.Lock()
	l.p = p
	l.mu.Unlock()
}

// logTail is the end of the instance's log.
func (l *clusterLedger) logTail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return lastLines(l.p.stderr.String(), 15)
}

// loadClient sends commands under load, where a failure is an answer, not
// a test failure.
var loadClient = &http.Client{Timeout: 15 * time.Second}

func try(method, url string, body any, hdr ...string) (int, map[string]any, error) {
	j, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(j))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := loadClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, nil
}

// TestClusterNodeLossUnderLoad: 32 writers through two ledger instances on a
// three-node cluster (streams at R3). In each of five rounds a victim is
// killed with SIGKILL mid-load — the stream leader's node, a follower node,
// the instance that signs checkpoints — and comes back. Afterwards every
// acknowledged command's events are in the stream exactly once, no
// project's chain forks, both instances' read models equal a rebuild from
// the stream, and ledger verify passes, checkpoints included.
func TestClusterNodeLossUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster test")
	}
	c := startCluster(t, 3)
	key := filepath.Join(t.TempDir(), "checkpoint.key")
	a := startClusterLedger(t, c, "A", key)
	b := startClusterLedger(t, c, "B", key)
	inst := []*clusterLedger{a, b}
	cps, err := eventstore.OpenCheckpoints(context.Background(), c.connect(), 3)
	if err != nil {
		t.Fatal(err)
	}

	const writers = 32
	ids := make([]string, writers)
	for w := range writers {
		ids[w] = fmt.Sprintf("CL-%02d", w)
		runScript(t, &ledger{base: inst[w%2].base()}, approvedScript(ids[w]))
	}
	var (
		mu     sync.Mutex
		acked  = map[string]int{} // event id → acknowledgements
		oks    atomic.Int64
		failed atomic.Int64
	)
	load := func(stop <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					l := inst[(w+i)%2]
					status, body, err := try("POST", l.base()+"/v1/projects/"+ids[w]+"/disbursements",
						map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 1, "basis": "负载"},
						"Authorization", "Bearer "+tokenOf("chenjing"))
					if err != nil || status != 201 {
						failed.Add(1)
						select {
						case <-stop:
						case <-time.After(50 * time.Millisecond): // a pause before the next try, not a wait for a state
						}
						continue
					}
					oks.Add(1)
					mu.Lock()
					for _, e := range body["events"].([]any) {
						acked[e.(map[string]any)["id"].(string)]++
					}
					mu.Unlock()
				}
			}()
		}
		return &wg
	}
	signer := func() int {
		at, seen := -1, map[string]string{}
		deadline := time.Now().Add(20 * time.Second)
		for at < 0 && time.Now().Before(deadline) {
			for i, l := range inst {
				st, h, err := try("GET", l.base()+"/healthz", nil)
				seen[l.name] = fmt.Sprintf("%d %v %v", st, h, err)
				if err == nil && st == 200 && h["checkpoints"].(map[string]any)["signing"] == true {
					at = i
				}
			}
			<-time.After(100 * time.Millisecond) // the next look
		}
		if at < 0 {
			t.Fatalf("no instance signs checkpoints: %v\nA: %s\nB: %s", seen, inst[0].logTail(), inst[1].logTail())
		}
		return at
	}
	okAfter := func(n int64) func() bool { return func() bool { return oks.Load() >= n } }

	for round, victim := range []string{"leader", "follower", "signer", "leader", "follower"} {
		stop := make(chan struct{})
		wg := load(stop)
		waitFor(t, 30*time.Second, "load before the loss", okAfter(oks.Load()+100))
		switch victim {
		case "leader", "follower":
			i := c.leaderOf("LEDGER")
			if victim == "follower" {
				i = (i + 1) % 3
			}
			t.Logf("round %d: SIGKILL node %s (%s)", round+1, c.nodes[i].name, victim)
			c.kill(i)
			waitFor(t, 60*time.Second, "writes while a node is down", okAfter(oks.Load()+100))
			c.start(i)
			c.waitReady()
		case "signer":
			i := signer()
			before := storedCheckpoint(t, cps)
			t.Logf("round %d: SIGKILL instance %s, which signs checkpoints (the latest stored covers %d)", round+1, inst[i].name, before)
			inst[i].kill()
			killed := time.Now()
			// The other takes the lease once it expires, and signs the next checkpoint.
			waitFor(t, 30*time.Second, "the other instance to hold the checkpointer's lease", func() bool {
				st, h, err := try("GET", inst[1-i].base()+"/healthz", nil)
				return err == nil && st == 200 && h["checkpoints"].(map[string]any)["signing"] == true
			})
			took := time.Since(killed)
			waitFor(t, 30*time.Second, "a checkpoint signed by the other instance", func() bool { return storedCheckpoint(t, cps) > before })
			t.Logf("round %d: %s took the lease %s after the kill and signed %s after it (lease 2s, sign interval 1s)",
				round+1, inst[1-i].name, took.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
			if took > 2*time.Second+2*time.Second/3+time.Second {
				t.Errorf("the lease was taken over %s after its holder died; the lease is 2s, renewed every 2s/3", took)
			}
			inst[i].restart(t)
		}
		waitFor(t, 60*time.Second, "writes after the victim is back", okAfter(oks.Load()+100))
		close(stop)
		wg.Wait()
	}
	t.Logf("%d commands acknowledged, %d refused or failed under the losses", oks.Load(), failed.Load())

	// Every acknowledged event is in the stream exactly once; no chain forks.
	st, err := eventstore.Open(context.Background(), c.connect(), eventstore.Config{Replicas: 3, NoGroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	last, err := st.LastSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	heads := map[string]string{}
	err = st.Read(ctx, eventstore.ReadOptions{From: 1, Until: last}, func(s eventstore.Stored) error {
		seen[s.Envelope.ID]++
		if s.Envelope.PrevHash != heads[s.Envelope.Subject] {
			return fmt.Errorf("project %s forks at %d: prevhash %s, its head was %s", s.Envelope.Subject, s.Seq, s.Envelope.PrevHash, heads[s.Envelope.Subject])
		}
		heads[s.Envelope.Subject] = s.Envelope.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s is %d times in the stream", id, n)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged event %s is not in the stream", id)
		}
	}
	// The instances' read models equal each other and a rebuild.
	rebuilt, err := projections.Replay(ctx, st, projections.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := projections.Summary(rebuilt, "all", projections.Filter{})
	for _, l := range inst {
		status, got, err := try("GET", fmt.Sprintf("%s/v1/summary?group_by=all&min_position=%d", l.base(), last), nil, "Authorization", "Bearer "+tokenOf("audit"))
		if err != nil || status != 200 {
			t.Fatalf("%s summary: %d %v", l.name, status, err)
		}
		total := got["total"].(map[string]any)
		if total["projects"] != float64(want.Projects) || total["totals"].(map[string]any)["disbursed"] != float64(want.Totals.Disbursed) {
			t.Fatalf("%s's read models: %v; a rebuild: %d projects, %d disbursed", l.name, total, want.Projects, want.Totals.Disbursed)
		}
		for _, id := range ids {
			status, p, err := try("GET", fmt.Sprintf("%s/v1/projects/%s?min_position=%d", l.base(), id, last), nil, "Authorization", "Bearer "+tokenOf("audit"))
			d := rebuilt.Projects[id].Disbursed.Sum()
			if err != nil || status != 200 || p["funding"].(map[string]any)["totals"].(map[string]any)["disbursed"] != float64(d) {
				t.Fatalf("%s: project %s: %d %v, a rebuild says %d disbursed", l.name, id, status, err, d)
			}
		}
	}
	// ledger verify, read-only against the cluster, checkpoints included.
	deadline := time.Now().Add(30 * time.Second)
	for storedCheckpoint(t, cps) < int64(last) {
		if time.Now().After(deadline) {
			_, ha, _ := try("GET", a.base()+"/healthz", nil)
			_, hb, _ := try("GET", b.base()+"/healthz", nil)
			t.Fatalf("no checkpoint covers the stream's %d events (stored: %d)\nA %v\n%s\nB %v\n%s", last, storedCheckpoint(t, cps),
				ha, a.logTail(), hb, b.logTail())
		}
		<-time.After(100 * time.Millisecond) // the next look
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"verify", "--nats-url", c.urls(), "--key", strings.TrimSpace(string(pub))}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.Contains(out.String(), "OK:") {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	// Without --key and with no data directory at hand, the key the ledger
	// recorded with its checkpoints is used.
	out.Reset()
	if err := run(ctx, []string{"verify", "--nats-url", c.urls(), "--data-dir", t.TempDir()}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.Contains(out.String(), "signed by "+strings.TrimSpace(string(pub))) {
		t.Fatalf("verify with the recorded key: %v\n%s", err, out.String())
	}
}

// storedCheckpoint is the size of the latest checkpoint in the checkpoint stream.
func storedCheckpoint(t *testing.T, cps *eventstore.Checkpoints) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, ok, err := cps.Last(ctx)
	if err != nil || !ok {
		return -1
	}
	return last.Size
}

// checkpointSize is the size of the latest checkpoint an instance knows.
func checkpointSize(t *testing.T, l *clusterLedger) int64 {
	status, h, err := try("GET", l.base()+"/healthz", nil)
	if err != nil || status != 200 {
		return -1
	}
	ck, _ := h["checkpoints"].(map[string]any)
	n, _ := ck["latest_checkpoint"].(float64)
	return int64(n)
}

// TestClusterOCCAcrossInstances: 16 writers split over two instances, each
// with If-Match at the project's one version: exactly one is recorded.
func TestClusterOCCAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster test")
	}
	c := startCluster(t, 3)
	key := filepath.Join(t.TempDir(), "checkpoint.key")
	inst := []*clusterLedger{startClusterLedger(t, c, "A", key), startClusterLedger(t, c, "B", key)}
	runScript(t, &ledger{base: inst[0].base()}, approvedScript("OCC"))
	h := call(t, "GET", inst[1].base()+"/v1/projects/OCC/events", nil)
	version := h.header.Get("ETag")
	if version == "" {
		t.Fatalf("no version: %d %s", h.status, h.raw)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	start := make(chan struct{})
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], _, _ = try("POST", inst[i%2].base()+"/v1/projects/OCC/disbursements",
				map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 100 + i, "basis": "并发"},
				"Authorization", "Bearer "+tokenOf("chenjing"), "If-Match", version)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case 201:
			won++
		case 412:
		default:
			t.Fatalf("statuses %v: want one 201 and the rest 412", statuses)
		}
	}
	if won != 1 {
		t.Fatalf("statuses %v: %d writers won at one version", statuses, won)
	}
}
