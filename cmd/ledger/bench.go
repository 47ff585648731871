package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/httpapi"
	"github.com/zjfund/ledger/internal/testload"
	"github.com/zjfund/ledger/projections"
	"github.com/zjfund/ledger/web"
)

// benchConfig sizes `ledger bench`.
type benchConfig struct {
	smoke         bool
	out           string
	duration      time.Duration // per append measurement
	clients       []int
	projects      int // projects the appends go to
	queryProjects int // projects loaded for the query and memory measures
	rebuildEvents int // events stored for the rebuild measure
	dir           string
	// natsURL, when set, is an external NATS (a cluster) the append measures
	// run on, with streams of replicas replicas; the bench deletes its
	// streams there between measures.
	natsURL  string
	natsTLS  natsTLS
	replicas int
	measures string // "all" or "appends"
	// memprofile, when set, is where the heap profile of the memory measure goes.
	memprofile string
	// pgPeer and pgDSN, when set, add PostgreSQL's figures (bench/pgpeer,
	// a module of its own) to the append and replay measures.
	pgPeer, pgDSN string
}

// row is one line of the results: the ledger's figure, the raw JetStream
// figure it is compared with, measured in the same run.
type row struct {
	Name    string  `json:"name"`
	Ledger  float64 `json:"ledger"`
	Raw     float64 `json:"raw,omitempty"`
	Unit    string  `json:"unit"`
	Ratio   float64 `json:"ratio,omitempty"` // ledger ÷ raw
	P50ms   float64 `json:"p50_ms,omitempty"`
	P99ms   float64 `json:"p99_ms,omitempty"`
	RawP50  float64 `json:"raw_p50_ms,omitempty"`
	RawP99  float64 `json:"raw_p99_ms,omitempty"`
	Target  string  `json:"target,omitempty"`
	Comment string  `json:"comment,omitempty"`
	// PostgreSQL's figure for the same measure in the same run, and the
	// ledger's ratio to it.
	Postgres      float64 `json:"postgres,omitempty"`
	PostgresRatio float64 `json:"postgres_ratio,omitempty"`
	PostgresNote  string  `json:"postgres_note,omitempty"`
	// A minimal group commit straight on JetStream (the append measures
	// with more than one writer), and the ledger's ratio to it.
	RawGroup      float64 `json:"raw_group_commit,omitempty"`
	RawGroupRatio float64 `json:"raw_group_commit_ratio,omitempty"`
}

type benchReport struct {
	Started  time.Time `json:"started"`
	Command  string    `json:"command"`
	Machine  string    `json:"machine"`
	Settings string    `json:"settings"`
	Rows     []row     `json:"rows"`
}

func benchCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c benchConfig
	var clients string
	fs.BoolVar(&c.smoke, "smoke", false, "tiny sizes, for CI: checks that every measure runs")
	fs.StringVar(&c.out, "out", "bench.json", "write the results as JSON here")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long each append measure runs")
	fs.StringVar(&clients, "clients", "1,8,64,256", "concurrent clients for the append measures")
	fs.IntVar(&c.projects, "projects", 1000, "projects the appends go to")
	fs.IntVar(&c.queryProjects, "query-projects", 10000, "projects loaded for the query and memory measures (the issue's figure: 100000)")
	fs.IntVar(&c.rebuildEvents, "rebuild-events", 200000, "events stored for the rebuild measure (the issue's figure: 1000000)")
	fs.StringVar(&c.dir, "dir", "", "work directory (default a temporary one, removed at the end)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run here (go tool pprof)")
	fs.StringVar(&c.memprofile, "memprofile", "", "write a heap profile here when the memory measure is taken (go tool pprof -sample_index=inuse_space)")
	fs.StringVar(&c.natsURL, "nats-url", "", "run the append measures on this NATS cluster instead of an embedded server: a cluster for benchmarks only, as the bench deletes its LEDGER stream between measures")
	fs.IntVar(&c.replicas, "replicas", 3, "stream replicas with --nats-url")
	fs.StringVar(&c.measures, "measures", "all", "all, appends (the append measures only), rebuild (the rebuild and replay only) or queries (lag, queries, web pages and memory only)")
	fs.StringVar(&c.pgPeer, "postgres-peer", "", "the pgpeer binary (go build -C bench/pgpeer): PostgreSQL's figures next to the ledger's; make bench builds it and starts a throwaway PostgreSQL")
	fs.StringVar(&c.pgDSN, "postgres-dsn", "", "the PostgreSQL database --postgres-peer appends to (its events table is dropped and made again)")
	c.natsTLS.register(fs, func(_, def string) string { return def })
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	defaultGC(getenv) // the rig's memory as serve's
	for _, s := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--clients: %q", s)
		}
		c.clients = append(c.clients, n)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if (c.pgPeer == "") != (c.pgDSN == "") {
		return errors.New("--postgres-peer and --postgres-dsn go together")
	}
	if c.measures != "all" && c.measures != "appends" && c.measures != "rebuild" && c.measures != "queries" {
		return fmt.Errorf("--measures: %q: want all, appends, rebuild or queries", c.measures)
	}
	if c.natsURL != "" && c.measures != "appends" {
		return errors.New("--nats-url measures appends only: add --measures appends")
	}
	if c.smoke {
		c.duration, c.clients, c.projects, c.queryProjects, c.rebuildEvents = 300*time.Millisecond, []int{1, 8}, 50, 200, 2000
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "ledger-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	rep := benchReport{Started: time.Now().UTC(), Command: "ledger bench " + strings.Join(args, " "),
		Machine:  fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Settings: "embedded nats-server, sync_interval always, the ledger's stream settings; raw = JetStream on the same settings, same payload size, same run"}
	if c.natsURL != "" {
		rep.Settings = fmt.Sprintf("external NATS %s, streams at R%d; raw = JetStream on the same cluster and settings, same payload size, same run", redactURL(c.natsURL), c.replicas)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	b := &bencher{cfg: c, say: say}
	steps := []func(context.Context) ([]row, error){b.appends, b.rebuild, b.lagAndQueries}
	switch c.measures {
	case "appends":
		steps = steps[:1]
	case "rebuild":
		steps = steps[1:2]
	case "queries":
		steps = steps[2:]
	}
	for _, step := range steps {
		rows, err := step(ctx)
		if err != nil {
			return err
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	printTable(stdout, rep)
	data, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(c.out, data, 0o644)
}

type bencher struct {
	cfg benchConfig
	say func(string, ...any)
	n   int
}

// rig is a whole ledger in this process: embedded server, store, service,
// read models and the HTTP API on a loopback port.
type rig struct {
	srv    *eventstore.Embedded
	nc     *nats.Conn
	store  *eventstore.Store
	svc    *app.Service
	views  *projections.Engine
	tree   *audit.Checkpointer
	base   string
	client *http.Client
	stop   func()
}

// connect starts an embedded server in a directory of its own, or, with
// --nats-url, connects to the cluster and deletes the stream a measure
// before it left there. close undoes it.
func (b *bencher) connect(ctx context.Context, name string) (nc *nats.Conn, srv *eventstore.Embedded, close func(), err error) {
	b.n++
	if b.cfg.natsURL == "" {
		srv, err = eventstore.StartServer(eventstore.ServerConfig{DataDir: filepath.Join(b.cfg.dir, fmt.Sprintf("%s-%d", name, b.n))})
		if err != nil {
			return nil, nil, nil, err
		}
		nc, err = srv.Connect("bench")
		if err != nil {
			srv.Shutdown()
			return nil, nil, nil, err
		}
		return nc, srv, func() { nc.Close(); srv.Shutdown() }, nil
	}
	nc, err = nats.Connect(b.cfg.natsURL, append([]nats.Option{nats.Name("ledger bench"), nats.MaxReconnects(-1)}, b.cfg.natsTLS.options()...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, "LEDGER"); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		nc.Close()
		return nil, nil, nil, fmt.Errorf("bench: delete the LEDGER stream of the last measure: %w", err)
	}
	return nc, nil, func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = js.DeleteStream(dctx, "LEDGER")
		cancel()
		nc.Close()
	}, nil
}

func (b *bencher) newRig(ctx context.Context, groupCommit bool) (*rig, error) {
	nc, srv, closeNATS, err := b.connect(ctx, "rig")
	if err != nil {
		return nil, err
	}
	st, err := eventstore.Open(ctx, nc, eventstore.Config{NoGroupCommit: !groupCommit, Replicas: b.replicas()})
	if err != nil {
		closeNATS()
		return nil, err
	}
	views, err := projections.NewEngine(ctx, st, projections.Config{})
	if err != nil {
		return nil, err
	}
	// The checkpointer, as serve runs it: the Merkle tree over the stream
	// (part of the memory figure) and its signed heads.
	cps, err := eventstore.OpenCheckpoints(ctx, nc, b.replicas())
	if err != nil {
		st.Close()
		closeNATS()
		return nil, err
	}
	signer, vkey, _, err := audit.LoadOrCreateKey(filepath.Join(b.cfg.dir, fmt.Sprintf("checkpoint-%d.key", b.n)), "ledger-bench")
	if err != nil {
		st.Close()
		closeNATS()
		return nil, err
	}
	checkpointer := audit.NewCheckpointer(st, cps, audit.CheckpointerConfig{Origin: "ledger-bench", Signer: signer, Key: vkey})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithCancel(context.Background())
	viewsDone, serveDone, treeDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { defer close(viewsDone); _ = views.Run(vctx) }()
	go func() { defer close(treeDone); _ = checkpointer.Run(vctx) }()
	log := slog.New(slog.DiscardHandler)
	svc := app.New(st, nil)
	api := httpapi.New(httpapi.Config{Commands: svc, Health: st, Views: views, Source: st, Log: log})
	pages, err := web.New(web.Config{API: api, Log: log})
	if err != nil {
		_ = ln.Close()
		cancel()
		<-viewsDone
		<-treeDone
		st.Close()
		closeNATS()
		return nil, err
	}
	hs := &http.Server{Handler: web.Mount(api, pages)}
	go func() { defer close(serveDone); _ = hs.Serve(ln) }()
	r := &rig{srv: srv, nc: nc, store: st, svc: svc, views: views, tree: checkpointer, base: "http://" + ln.Addr().String(),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}}
	r.stop = func() {
		_ = hs.Close()
		<-serveDone
		cancel()
		<-viewsDone
		<-treeDone
		st.Close()
		r.client.CloseIdleConnections()
		closeNATS()
	}
	return r, nil
}

// replicas is the stream replicas of the measures: 1 embedded.
func (b *bencher) replicas() int {
	if b.cfg.natsURL == "" {
		return 1
	}
	return b.cfg.replicas
}

// redactURL drops the credentials of NATS URLs.
func redactURL(urls string) string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		if p, err := url.Parse(u); err == nil && p.User != nil {
			p.User = nil
			u = p.String()
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// register puts n projects into the ledger, ready to take inspections.
func (r *rig) register(ctx context.Context, prefix string, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%06d", prefix, i)
		body := map[string]any{"id": ids[i], "effective_time": "2011-03-01T10:00:00+08:00", "name": "基准项目", "owner": "基准企业",
			"city": "330600", "county": "330682", "category": "energy_saving", "programmes": []string{"zj_991"},
			"total_investment": 100_000_000_000, "completed_investment": 0, "planned_start": "2011-01-01", "planned_end": "2012-12-31",
			"requested": map[string]int64{"provincial_fund": 1_000_000_000}}
		if _, err := r.post(ctx, "/v1/projects", body, "county_drc"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

var inspectionTime = time.Date(2011, 6, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

var inspection = map[string]any{"effective_time": "2011-06-01T10:00:00+08:00", "kind": "inspection", "body": "市发改委", "findings": "进度正常"}

// post sends one command and returns the stream position it reached.
func (r *rig) post(ctx context.Context, path string, body any, role string) (uint64, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ledger-Actor", "bench")
	req.Header.Set("Ledger-Role", role)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("POST %s: %s: %s", path, resp.Status, msg)
	}
	return strconv.ParseUint(resp.Header.Get("Ledger-Position"), 10, 64)
}

func (r *rig) get(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return err
	}
	// The workspace's pages want a session; the bench's API has no users,
	// so any value passes.
	req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: "bench"})
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// latencies collects durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) pct(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Microseconds()) / 1000
}

// measure calls op from clients goroutines for the duration and returns ops/s.
func measure(ctx context.Context, clients int, d time.Duration, lat *latencies, op func(ctx context.Context, client, i int) error) (float64, error) {
	var count atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				if err := op(ctx, c, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat.add(time.Since(t0))
				count.Add(1)
			}
		}(c)
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}

// appends measures 1.1 and 1.2: commands through the HTTP API and straight
// through the command service, one event each, with group commit on and off,
// against raw OCC publishes of the same size, a minimal group commit on
// JetStream, and PostgreSQL's event table.
func (b *bencher) appends(ctx context.Context) ([]row, error) {
	size, err := b.eventSize(ctx)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, clients := range b.cfg.clients {
		raw, rawLat, err := b.rawAppends(ctx, clients, size)
		if err != nil {
			return nil, err
		}
		var group float64
		if clients > 1 {
			if group, err = b.rawGroupAppends(ctx, clients, size); err != nil {
				return nil, err
			}
			b.say("minimal group commit on JetStream, %d writers: %.0f events/s", clients, group)
		}
		first := len(rows)
		for _, m := range []struct {
			gc, http bool
		}{{true, true}, {false, true}, {true, false}} {
			r, err := b.newRig(ctx, m.gc)
			if err != nil {
				return nil, err
			}
			ids, err := r.register(ctx, "B", b.cfg.projects)
			if err != nil {
				r.stop()
				return nil, err
			}
			lat := &latencies{}
			rate, err := measure(ctx, clients, b.cfg.duration, lat, func(ctx context.Context, c, i int) error {
				owned := (len(ids) - c + clients - 1) / clients // projects c, c+clients, …
				id := ids[c+clients*(i%max(owned, 1))]
				if !m.http {
					_, err := r.svc.Handle(ctx, app.Request{Project: domain.ProjectID(id), Actor: domain.Actor{Name: "bench", Role: domain.RoleAuditor},
						Command: &domain.RecordInspection{At: domain.At{EffectiveTime: inspectionTime}, Kind: "inspection", Body: "市发改委", Findings: "进度正常"}})
					return err
				}
				_, err := r.post(ctx, "/v1/projects/"+id+"/inspections", inspection, "auditor")
				return err
			})
			gs := r.store.GroupStats()
			r.stop()
			if err != nil {
				return nil, err
			}
			name := fmt.Sprintf("append via HTTP, %d client(s), group commit %s", clients, map[bool]string{true: "on", false: "off"}[m.gc])
			if !m.http {
				name = fmt.Sprintf("append in-process (command service), %d writer(s), group commit on", clients)
			}
			target := ""
			switch {
			case clients == 1:
				target = "≥ 0.7× raw"
			case clients == 64 && m.gc && m.http:
				target = "≥ 1× PostgreSQL, ≥ 0.8× raw group commit"
			case clients == 256 && m.gc && m.http:
				target = "≥ 1.5× PostgreSQL, ≥ 0.8× raw group commit"
			case clients == 64 && !m.http:
				target = "≥ 1.5× PostgreSQL, ≥ 0.8× raw group commit"
			case clients == 256 && !m.http:
				target = "≥ 2× PostgreSQL, ≥ 0.8× raw group commit"
			}
			comment := ""
			if m.gc && gs.Batches > 0 {
				comment = fmt.Sprintf("%d atomic batches, %.0f appends each, carried %.0f%% of the appends", gs.Batches,
					float64(gs.Appends)/float64(gs.Batches), 100*float64(gs.Appends)/(rate*b.cfg.duration.Seconds()))
			}
			out := row{Name: name, Ledger: rate, Raw: raw, Unit: "events/s", Ratio: rate / raw, P50ms: lat.pct(0.5), P99ms: lat.pct(0.99),
				RawP50: rawLat.pct(0.5), RawP99: rawLat.pct(0.99), Target: target, Comment: comment}
			if group > 0 {
				out.RawGroup, out.RawGroupRatio = group, rate/group
			}
			rows = append(rows, out)
			b.say("%s: %.0f events/s (raw %.0f), p50 %.2f ms p99 %.2f ms %s", name, rate, raw, lat.pct(0.5), lat.pct(0.99), comment)
		}
		// PostgreSQL's event table, same writers, same event size, right after.
		pg, err := b.postgres(ctx, "append", "-clients", strconv.Itoa(clients), "-duration", b.cfg.duration.String(),
			"-projects", strconv.Itoa(b.cfg.projects), "-size", strconv.Itoa(size))
		if err != nil {
			return nil, err
		}
		for i := first; i < len(rows) && pg != nil; i++ {
			rows[i].Postgres, rows[i].PostgresRatio = pg.Rate, rows[i].Ledger/pg.Rate
			rows[i].PostgresNote = fmt.Sprintf("PostgreSQL p50 %.2f / p99 %.2f ms, %s", pg.P50ms, pg.P99ms, pg.Settings)
		}
		if pg != nil {
			b.say("PostgreSQL event table, %d writer(s): %.0f events/s, p50 %.2f ms p99 %.2f ms", clients, pg.Rate, pg.P50ms, pg.P99ms)
		}
	}
	return rows, nil
}

// pgResult is what bench/pgpeer prints.
type pgResult struct {
	Rate     float64 `json:"rate"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Events   int     `json:"events"`
	Decoded  float64 `json:"decoded_rate"`
	Settings string  `json:"settings"`
}

// postgres runs the PostgreSQL peer; nil when none is configured.
func (b *bencher) postgres(ctx context.Context, mode string, args ...string) (*pgResult, error) {
	if b.cfg.pgPeer == "" {
		return nil, nil
	}
	cmd := exec.CommandContext(ctx, b.cfg.pgPeer, append([]string{"-dsn", b.cfg.pgDSN, "-mode", mode}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bench: the PostgreSQL peer: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var r pgResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("bench: the PostgreSQL peer's answer %q: %w", out, err)
	}
	return &r, nil
}

// eventSize is the stored size of the inspection events the append measures write.
func (b *bencher) eventSize(ctx context.Context) (int, error) {
	r, err := b.newRig(ctx, true)
	if err != nil {
		return 0, err
	}
	defer r.stop()
	if _, err := r.register(ctx, "S", 1); err != nil {
		return 0, err
	}
	if _, err := r.post(ctx, "/v1/projects/S000000/inspections", inspection, "auditor"); err != nil {
		return 0, err
	}
	hist, err := r.store.Load(ctx, "S000000")
	if err != nil || len(hist) != 2 {
		return 0, fmt.Errorf("bench: the sample event: %v", err)
	}
	return len(hist[1].Raw), nil
}

// rawAppends publishes size-byte messages with per-project OCC, as the
// ledger's stream settings have them, from clients goroutines.
func (b *bencher) rawAppends(ctx context.Context, clients, size int) (float64, *latencies, error) {
	nc, _, closeNATS, err := b.connect(ctx, "raw")
	if err != nil {
		return 0, nil, err
	}
	defer closeNATS()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, eventstore.StreamConfig(eventstore.Config{Replicas: b.replicas()})); err != nil {
		return 0, nil, err
	}
	payload := bytes.Repeat([]byte("x"), size)
	last := make([]uint64, b.cfg.projects)
	lat := &latencies{}
	rate, err := measure(ctx, clients, b.cfg.duration, lat, func(ctx context.Context, c, i int) error {
		owned := (b.cfg.projects - c + clients - 1) / clients
		p := c + clients*(i%max(owned, 1))
		id := domain.ProjectID(fmt.Sprintf("R%06d", p))
		ack, err := js.Publish(ctx, "ledger.330600.330682."+string(id)+".inspection_recorded", payload,
			jetstream.WithExpectLastSequenceForSubject(last[p], eventstore.ProjectFilter(id)))
		if err != nil {
			return err
		}
		last[p] = ack.Sequence
		return nil
	})
	return rate, lat, err
}

// rawGroupAppends is a minimal group commit straight on JetStream, the
// yardstick of the ledger's: writers hand their append (one event, with
// its project's expected sequence) to one committer, which publishes what
// waits when the batch before has committed — a lone append as a single
// OCC publish, two or more as one atomic batch — and answers each.
func (b *bencher) rawGroupAppends(ctx context.Context, clients, size int) (float64, error) {
	nc, _, closeNATS, err := b.connect(ctx, "rawgroup")
	if err != nil {
		return 0, err
	}
	defer closeNATS()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, eventstore.StreamConfig(eventstore.Config{Replicas: b.replicas()})); err != nil {
		return 0, err
	}
	payload := bytes.Repeat([]byte("x"), size)
	type pending struct {
		p    int
		last uint64
		done chan error
	}
	last := make([]uint64, b.cfg.projects)
	queue := make(chan *pending, clients)
	cctx, stop := context.WithCancel(ctx)
	committed := make(chan struct{})
	msg := func(p *pending) *nats.Msg {
		id := domain.ProjectID(fmt.Sprintf("G%06d", p.p))
		m := nats.NewMsg("ledger.330600.330682." + string(id) + ".inspection_recorded")
		m.Data = payload
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(p.last, 10))
		m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, eventstore.ProjectFilter(id))
		return m
	}
	go func() {
		defer close(committed)
		for {
			var group []*pending
			select {
			case p := <-queue:
				group = append(group, p)
			case <-cctx.Done():
				return
			}
		drain:
			for {
				select {
				case p := <-queue:
					group = append(group, p)
				default:
					break drain
				}
			}
			if len(group) == 1 {
				ack, err := js.PublishMsg(cctx, msg(group[0]))
				if err == nil {
					last[group[0].p] = ack.Sequence
				}
				group[0].done <- err
				continue
			}
			msgs := make([]*nats.Msg, len(group))
			for i, p := range group {
				msgs[i] = msg(p)
			}
			ack, err := eventstore.PublishAtomicBatch(cctx, nc, js, msgs)
			for i, p := range group {
				if err == nil {
					last[p.p] = ack.Sequence - uint64(len(group)-1-i)
				}
				p.done <- err
			}
		}
	}()
	defer func() { stop(); <-committed }()
	return measure(ctx, clients, b.cfg.duration, &latencies{}, func(ctx context.Context, c, i int) error {
		owned := (b.cfg.projects - c + clients - 1) / clients
		p := &pending{p: c + clients*(i%max(owned, 1)), done: make(chan error, 1)}
		p.last = last[p.p]
		queue <- p
		return <-p.done
	})
}

// panicTB lets testload fill a store outside a test.
type panicTB struct{}

func (panicTB) Helper()           {}
func (panicTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// rebuild measures 1.3: every read model rebuilt from the stored events,
// against a raw ordered read of the same stream.
func (b *bencher) rebuild(ctx context.Context) ([]row, error) {
	r, err := b.newRig(ctx, true)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	b.say("loading about %d events for the rebuild measure…", b.cfg.rebuildEvents)
	testload.Load(panicTB{}, r.store, 7, max(1, b.cfg.rebuildEvents/29), 200, true)
	last, _ := r.store.LastSequence(ctx)
	t0 := time.Now()
	n := 0
	if err := r.store.Read(ctx, eventstore.ReadOptions{Raw: true}, func(eventstore.Stored) error { n++; return nil }); err != nil {
		return nil, err
	}
	raw := float64(n) / time.Since(t0).Seconds()
	t0 = time.Now()
	m, err := projections.Rebuild(ctx, r.store)
	if err != nil {
		return nil, err
	}
	rate := float64(m.Applied) / time.Since(t0).Seconds()
	b.say("rebuild of %d events: %.0f events/s (raw ordered read %.0f)", last, rate, raw)
	out := row{Name: fmt.Sprintf("rebuild every read model from %d events", last), Ledger: rate, Raw: raw, Unit: "events/s", Ratio: rate / raw,
		Target: "≥ 100,000 events/s, ≥ 0.7× raw, ≥ 1× PostgreSQL decoded", Comment: fmt.Sprintf("%.1f s", float64(last)/rate)}
	size, err := b.eventSize(ctx)
	if err != nil {
		return nil, err
	}
	pg, err := b.postgres(ctx, "replay", "-events", strconv.FormatUint(last, 10), "-size", strconv.Itoa(size))
	if err != nil {
		return nil, err
	}
	if pg != nil {
		out.Postgres, out.PostgresRatio = pg.Decoded, rate/pg.Decoded
		out.PostgresNote = fmt.Sprintf("PostgreSQL replays %.0f events/s raw, %.0f with the envelope decoded (the column)", pg.Rate, pg.Decoded)
		b.say("PostgreSQL replay of %d events: %.0f events/s raw, %.0f decoded", pg.Events, pg.Rate, pg.Decoded)
	}
	return []row{out}, nil
}

// lagAndQueries measures 1.4, 1.5 and 1.6 on a ledger holding queryProjects
// projects: projection lag at half the single-client append rate, query
// latency under concurrent readers while appends continue, and memory.
func (b *bencher) lagAndQueries(ctx context.Context) ([]row, error) {
	r, err := b.newRig(ctx, true)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	b.say("loading %d projects for the query and memory measures…", b.cfg.queryProjects)
	ids := testload.Load(panicTB{}, r.store, 9, b.cfg.queryProjects, 40, true)
	last, _ := r.store.LastSequence(ctx)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = r.views.WaitFor(wctx, last)
	for err == nil {
		if _, size := r.tree.Latest(); uint64(size) >= last {
			break
		}
		select {
		case <-wctx.Done():
			err = fmt.Errorf("bench: the Merkle tree did not reach %d events: %w", last, wctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	if err != nil {
		return nil, err
	}
	var rows []row
	runtime.GC()
	if b.cfg.memprofile != "" {
		f, err := os.Create(b.cfg.memprofile)
		if err != nil {
			return nil, err
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	if rss := rssBytes(); rss > 0 {
		rows = append(rows, row{Name: fmt.Sprintf("memory (RSS) of the whole ledger with %d projects, %d events", len(ids), last), Ledger: float64(rss) / (1 << 20),
			Unit: "MiB", Target: "≤ 8 KiB per project at 100,000 projects", Comment: fmt.Sprintf("%.0f bytes per project, the embedded NATS server and the Merkle tree included; live heap %.0f MiB (%.0f bytes per project)",
				float64(rss)/float64(len(ids)), float64(liveHeap())/(1<<20), float64(liveHeap())/float64(len(ids)))})
	}
	// 1.4: lag from the acknowledgement to the read models, at a steady rate.
	reg, err := r.register(ctx, "L", 50)
	if err != nil {
		return nil, err
	}
	lag := &latencies{}
	interval := 2 * time.Millisecond // 500 commands/s, about half of one client's rate
	deadline := time.Now().Add(b.cfg.duration)
	for i := 0; time.Now().Before(deadline); i++ {
		t0 := time.Now()
		pos, err := r.post(ctx, "/v1/projects/"+reg[i%len(reg)]+"/inspections", inspection, "auditor")
		if err != nil {
			return nil, err
		}
		acked := time.Now()
		if err := r.views.WaitFor(ctx, pos); err != nil {
			return nil, err
		}
		lag.add(time.Since(acked))
		if sleep := interval - time.Since(t0); sleep > 0 {
			time.Sleep(sleep)
		}
	}
	rows = append(rows, row{Name: "projection lag, command acknowledged → visible to queries, at 500 commands/s", Ledger: lag.pct(0.99), Unit: "ms (p99)",
		P50ms: lag.pct(0.5), P99ms: lag.pct(0.99), Target: "p99 ≤ 50 ms"})
	// 1.5: queries under 4 concurrent readers, while one writer appends.
	wctx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			_, _ = r.post(wctx, "/v1/projects/"+reg[i%len(reg)]+"/inspections", inspection, "auditor")
		}
	}()
	for _, q := range []struct {
		name, target string
		path         func(i int) string
	}{
		{"query: one project", "p99 ≤ 5 ms", func(i int) string { return "/v1/projects/" + string(ids[i%len(ids)]) }},
		{"query: project list, one city, 50 a page", "p99 ≤ 5 ms", func(int) string { return "/v1/projects?city=330600&limit=50" }},
		{"query: summary by city", "p99 ≤ 20 ms", func(int) string { return "/v1/summary?group_by=city" }},
		{"web page: the province's portfolio", "p99 ≤ 300 ms", func(int) string { return "/" }},
		{"web page: a city's portfolio", "p99 ≤ 300 ms", func(int) string { return "/?city=330600" }},
		{"web page: a project's file", "p99 ≤ 300 ms", func(i int) string { return "/projects/" + string(ids[i%len(ids)]) }},
		{"web page: the watchlist", "p99 ≤ 300 ms", func(int) string { return "/watchlist" }},
	} {
		lat := &latencies{}
		rate, err := measure(ctx, 4, b.cfg.duration, lat, func(ctx context.Context, c, i int) error { return r.get(ctx, q.path(c*100000+i)) })
		if err != nil {
			stopWriter()
			wg.Wait()
			return nil, err
		}
		rows = append(rows, row{Name: fmt.Sprintf("%s, %d projects, 4 readers, appends going on", q.name, len(ids)), Ledger: lat.pct(0.99), Unit: "ms (p99)",
			P50ms: lat.pct(0.5), P99ms: lat.pct(0.99), Target: q.target, Comment: fmt.Sprintf("%.0f queries/s", rate)})
		b.say("%s: p50 %.2f ms, p99 %.2f ms, %.0f/s", q.name, lat.pct(0.5), lat.pct(0.99), rate)
	}
	stopWriter()
	wg.Wait()
	return rows, nil
}

// liveHeap is the heap the last GC found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// rssBytes reads this process's resident set size (Linux).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func printTable(w io.Writer, rep benchReport) {
	fmt.Fprintf(w, "%s — %s\n%s\n\n", rep.Command, rep.Machine, rep.Settings)
	fmt.Fprintln(w, "| measure | ledger | raw JetStream | ratio | raw group commit | ratio | p50 / p99 ms (raw) | target | note | PostgreSQL | ratio |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Rows {
		raw, ratio := "", ""
		if r.Raw > 0 {
			raw, ratio = fmt.Sprintf("%.0f", r.Raw), fmt.Sprintf("%.2f×", r.Ratio)
		}
		group, groupRatio := "", ""
		if r.RawGroup > 0 {
			group, groupRatio = fmt.Sprintf("%.0f", r.RawGroup), fmt.Sprintf("%.2f×", r.RawGroupRatio)
		}
		pg, pgRatio := "skipped", ""
		if r.Postgres > 0 {
			pg, pgRatio = fmt.Sprintf("%.0f", r.Postgres), fmt.Sprintf("%.2f×", r.PostgresRatio)
		} else if r.Unit != "events/s" {
			pg = ""
		}
		lat := ""
		if r.P99ms > 0 {
			lat = fmt.Sprintf("%.2f / %.2f", r.P50ms, r.P99ms)
			if r.RawP99 > 0 {
				lat += fmt.Sprintf(" (%.2f / %.2f)", r.RawP50, r.RawP99)
			}
		}
		fmt.Fprintf(w, "| %s | %.1f %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name, r.Ledger, r.Unit, raw, ratio, group, groupRatio, lat, r.Target, r.Comment, pg, pgRatio)
	}
}
