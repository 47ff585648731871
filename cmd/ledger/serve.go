package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/httpapi"
	"github.com/zjfund/ledger/identity"
	"github.com/zjfund/ledger/internal/dirlock"
	"github.com/zjfund/ledger/internal/lease"
	"github.com/zjfund/ledger/projections"
	"github.com/zjfund/ledger/web"
	"github.com/zjfund/ledger/webhooks"
)

// serveConfig is the configuration of ledger serve.
type serveConfig struct {
	dataDir        string
	httpAddr       string
	natsURL        string
	natsCreds      string
	natsTLS        natsTLS
	natsListen     string
	readerPass     string
	replicas       int
	source         string
	logLevel       string
	shutdownWait   time.Duration
	rebuild        bool
	snapshotPath   string
	checkpoint     int
	demo           bool
	keyPath        string
	signEvery      int64
	signInterval   time.Duration
	groupCommit    bool
	subscribers    string
	hookBackoff    time.Duration
	hookAttempts   int
	hookMax        int
	pprofAddr      string
	metricsAddr    string
	natsMonitor    string
	adminTokenFile string
	usersFile      string
	hookPrivate    bool
	secureCookies  bool
	oidcIssuer     string
	oidcAudience   string
	oidcClaims     string
	oidcSecret     string
	publicURL      string
	fourEyes       int64
	mustSign       string
	limits         httpapi.Limits
	maxStore       int64
	minFree        int64
	leaseTTL       time.Duration
	instance       string
}

func parseServe(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envInt := func(name string, def int) int {
		if n, err := strconv.Atoi(getenv(name)); err == nil {
			return n
		}
		return def
	}
	fs.StringVar(&c.dataDir, "data-dir", env("LEDGER_DATA_DIR", "data"), "directory of the embedded JetStream store (LEDGER_DATA_DIR)")
	fs.StringVar(&c.httpAddr, "http-addr", env("LEDGER_HTTP_ADDR", "127.0.0.1:8080"), "address of the HTTP API (LEDGER_HTTP_ADDR)")
	fs.StringVar(&c.natsURL, "nats-url", env("LEDGER_NATS_URL", ""), "URL(s) of an external NATS cluster instead of the embedded server, comma-separated (LEDGER_NATS_URL)")
	fs.StringVar(&c.natsCreds, "nats-creds", env("LEDGER_NATS_CREDS", ""), "credentials file for --nats-url (LEDGER_NATS_CREDS)")
	c.natsTLS.register(fs, env)
	fs.StringVar(&c.natsListen, "nats-listen", env("LEDGER_NATS_LISTEN", ""), "loopback host:port where the embedded NATS server accepts clients; empty: in-process only (LEDGER_NATS_LISTEN)")
	fs.IntVar(&c.replicas, "replicas", envInt("LEDGER_REPLICAS", 0), "stream replicas when the stream is created: 1 embedded, 3 on a cluster by default (LEDGER_REPLICAS)")
	envDuration := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(getenv(name)); err == nil {
			return d
		}
		return def
	}
	fs.DurationVar(&c.leaseTTL, "lease-ttl", envDuration("LEDGER_LEASE_TTL", 10*time.Second), "where several ledger instances share a stream, the checkpointer and webhook delivery run on one of them at a time, chosen by a lease in NATS; a dead holder's lease is taken over within this time (every instance must use the same; LEDGER_LEASE_TTL)")
	fs.StringVar(&c.instance, "instance", env("LEDGER_INSTANCE", ""), "this instance's name in the leases; default host:data-dir (LEDGER_INSTANCE)")
	fs.StringVar(&c.source, "source", env("LEDGER_SOURCE", "urn:ledger:zhejiang"), "CloudEvents source of the events this installation writes (LEDGER_SOURCE)")
	fs.StringVar(&c.logLevel, "log-level", env("LEDGER_LOG_LEVEL", "info"), "debug, info, warn or error (LEDGER_LOG_LEVEL)")
	fs.DurationVar(&c.shutdownWait, "shutdown-wait", envDuration("LEDGER_SHUTDOWN_WAIT", 30*time.Second), "how long SIGTERM waits for requests in flight (LEDGER_SHUTDOWN_WAIT)")
	fs.IntVar(&c.checkpoint, "checkpoint-every", envInt("LEDGER_CHECKPOINT_EVERY", 10000), "events between checkpoints of the read models (LEDGER_CHECKPOINT_EVERY)")
	fs.StringVar(&c.keyPath, "checkpoint-key", env("LEDGER_CHECKPOINT_KEY", ""), "the Ed25519 key that signs checkpoints, created on first start (mode 0600); default <data-dir>/checkpoint.key (LEDGER_CHECKPOINT_KEY)")
	fs.Int64Var(&c.signEvery, "sign-every", int64(envInt("LEDGER_SIGN_EVERY", 1000)), "sign a checkpoint after this many new events (LEDGER_SIGN_EVERY)")
	fs.DurationVar(&c.signInterval, "sign-interval", envDuration("LEDGER_SIGN_INTERVAL", time.Minute), "or after this long, when there are new events (LEDGER_SIGN_INTERVAL)")
	fs.StringVar(&c.subscribers, "nats-subscribers", env("LEDGER_NATS_SUBSCRIBERS", ""), "JSON file of NATS identities confined to regions: [{\"user\", \"password\" (plain or bcrypt), \"subjects\": [\"ledger.330600.>\"]}] (LEDGER_NATS_SUBSCRIBERS)")
	fs.DurationVar(&c.hookBackoff, "webhook-backoff", envDuration("LEDGER_WEBHOOK_BACKOFF", time.Second), "first retry delay of a failed webhook delivery, doubled each time up to a minute, jittered (LEDGER_WEBHOOK_BACKOFF)")
	fs.IntVar(&c.hookAttempts, "webhook-attempts", envInt("LEDGER_WEBHOOK_ATTEMPTS", 10), "deliveries of an event to a webhook before it becomes a dead letter (LEDGER_WEBHOOK_ATTEMPTS)")
	fs.IntVar(&c.hookMax, "webhook-max", envInt("LEDGER_WEBHOOK_MAX", 100), "the most webhook endpoints; each holds a durable consumer (LEDGER_WEBHOOK_MAX)")
	fs.IntVar(&c.limits.Feeds, "max-feeds", envInt("LEDGER_MAX_FEEDS", 256), "the most event feeds (SSE) open at once; beyond it 503 with Retry-After (LEDGER_MAX_FEEDS)")
	fs.IntVar(&c.limits.FeedsPerClient, "max-feeds-per-client", envInt("LEDGER_MAX_FEEDS_PER_CLIENT", 16), "the most event feeds one client address may hold open; beyond it 429 (LEDGER_MAX_FEEDS_PER_CLIENT)")
	fs.IntVar(&c.limits.Replays, "max-replays", envInt("LEDGER_MAX_REPLAYS", 2), "the most as-of or at-seq queries replaying the stream at once; beyond it 503 with Retry-After (LEDGER_MAX_REPLAYS)")
	fs.BoolVar(&c.groupCommit, "group-commit", getenv("LEDGER_GROUP_COMMIT") != "0", "pack appends to different projects that arrive together into one atomic batch, one fsync for all (LEDGER_GROUP_COMMIT=0 turns it off)")
	fs.BoolVar(&c.demo, "demo", getenv("LEDGER_DEMO") == "1", "on a ledger with no events yet, load the demo data through the API (LEDGER_DEMO=1)")
	fs.BoolVar(&c.rebuild, "rebuild", getenv("LEDGER_REBUILD") == "1", "drop the read models' checkpoint and rebuild them from the start of the stream (LEDGER_REBUILD=1)")
	maxStore := fs.String("max-store", env("LEDGER_MAX_STORE", "1T"), "the most the embedded JetStream keeps on disk, e.g. 50G; keep it below the disk's free space so that a full store is refused (507) and recovers at once when room is made (LEDGER_MAX_STORE)")
	minFree := fs.String("min-free", env("LEDGER_MIN_FREE", "64M"), "refuse writes (507) while the disk under the embedded store has less free space than this; they resume by themselves when room is made (LEDGER_MIN_FREE)")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", env("LEDGER_ADMIN_TOKEN_FILE", ""), "a file (mode 0600) holding the first admin's token, instead of a new one printed at the first start; LEDGER_ADMIN_TOKEN gives it directly (LEDGER_ADMIN_TOKEN_FILE)")
	fs.StringVar(&c.usersFile, "users-file", env("LEDGER_USERS_FILE", ""), "a JSON file of users to create at start when missing: [{\"id\", \"name\", \"org\", \"roles\", \"region\", \"owner_org\", \"token\"}] (LEDGER_USERS_FILE)")
	fs.BoolVar(&c.secureCookies, "secure-cookies", getenv("LEDGER_SECURE_COOKIES") == "1", "mark the web workspace's cookies Secure: set it when browsers reach the ledger over HTTPS, as through deploy/Caddyfile (LEDGER_SECURE_COOKIES=1)")
	fs.BoolVar(&c.hookPrivate, "webhook-allow-private", getenv("LEDGER_WEBHOOK_ALLOW_PRIVATE") == "1", "let webhooks target loopback, private and link-local addresses (refused by default) (LEDGER_WEBHOOK_ALLOW_PRIVATE=1)")
	fs.StringVar(&c.oidcIssuer, "oidc-issuer", env("LEDGER_OIDC_ISSUER", ""), "an OpenID Connect issuer whose ID tokens are accepted as bearer tokens, e.g. https://sso.example.gov.cn (LEDGER_OIDC_ISSUER)")
	fs.StringVar(&c.oidcAudience, "oidc-audience", env("LEDGER_OIDC_AUDIENCE", ""), "the audience (client id) those tokens must be for (LEDGER_OIDC_AUDIENCE)")
	fs.StringVar(&c.oidcSecret, "oidc-client-secret", env("LEDGER_OIDC_CLIENT_SECRET", ""), "the client secret of the ledger (client id --oidc-audience) at the OpenID Connect issuer: with it the web workspace offers single sign-on (LEDGER_OIDC_CLIENT_SECRET)")
	fs.StringVar(&c.publicURL, "public-url", env("LEDGER_PUBLIC_URL", ""), "the ledger's address as browsers reach it, e.g. https://ledger.example; the single sign-on returns to <public-url>/signin/oidc/callback (default: the address each request was sent to) (LEDGER_PUBLIC_URL)")
	fs.StringVar(&c.oidcClaims, "oidc-claims", env("LEDGER_OIDC_CLAIMS", ""), "JSON naming the claims that give a user's fields, e.g. {\"id\":\"preferred_username\",\"roles\":\"ledger_roles\",\"region\":\"ledger_region\"} (the defaults; also name, org, owner_org) (LEDGER_OIDC_CLAIMS)")
	fs.Int64Var(&c.fourEyes, "four-eyes-above", int64(envInt("LEDGER_FOUR_EYES_ABOVE", 0)), "disbursements above this many fen are prepared by one finance user and paid when a second approves them; 0: off (LEDGER_FOUR_EYES_ABOVE)")
	fs.StringVar(&c.mustSign, "require-signatures", env("LEDGER_REQUIRE_SIGNATURES", ""), "commands that must be signed by their author (HTTP Message Signatures), comma-separated, e.g. issue_plan,disburse,approve_disbursement,record_acceptance (LEDGER_REQUIRE_SIGNATURES)")
	fs.StringVar(&c.metricsAddr, "metrics", env("LEDGER_METRICS", ""), "a host:port serving Prometheus metrics (/metrics) apart from the API; empty: none (LEDGER_METRICS)")
	fs.StringVar(&c.natsMonitor, "nats-monitor", env("LEDGER_NATS_MONITOR", ""), "a loopback host:port where the embedded NATS server serves its monitoring endpoint (/varz, /jsz) for nats-surveyor and the NATS CLI (LEDGER_NATS_MONITOR)")
	fs.StringVar(&c.pprofAddr, "pprof", env("LEDGER_PPROF", ""), "a loopback host:port serving Go's profiles (/debug/pprof/) apart from the API; empty: none (LEDGER_PPROF)")
	c.readerPass = getenv("LEDGER_NATS_READER_PASSWORD")
	if err := parseFlags(fs, args, stdout); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected argument %q\n", fs.Arg(0))
		return c, errUsage
	}
	n, err := parseSize(*maxStore)
	if err != nil {
		fmt.Fprintf(stderr, "serve: --max-store: %v\n", err)
		return c, errUsage
	}
	c.maxStore = n
	if c.minFree, err = parseSize(*minFree); err != nil {
		fmt.Fprintf(stderr, "serve: --min-free: %v\n", err)
		return c, errUsage
	}
	c.snapshotPath = filepath.Join(c.dataDir, "projections", "model.json")
	if c.keyPath == "" {
		c.keyPath = filepath.Join(c.dataDir, "checkpoint.key")
	}
	if c.replicas == 0 {
		c.replicas = 1
		if c.natsURL != "" {
			c.replicas = 3
		}
	}
	if c.instance == "" {
		host, _ := os.Hostname()
		dir, _ := filepath.Abs(c.dataDir)
		c.instance = host + ":" + dir
	}
	return c, nil
}

// gcPercent is the Go garbage collector's target the ledger runs with when
// GOGC is not set: the heap may grow 75% over what is live before a
// collection (Go's default is 100%). The ledger's heap is mostly long-lived
// indexes — NATS's subject index, the read models, the Merkle tree — and the
// heap's ceiling (live × 1.75 against × 2) is an eighth lower, for
// collections a third more often (Prometheus, whose heap is of
// the same kind, went to 50 in v2.53). GOGC, and GOMEMLIMIT, still decide
// when set.
const gcPercent = 75

// defaultGC sets the collector's target to gcPercent unless GOGC is set.
func defaultGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServe("serve", args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defaultGC(getenv)
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	// The HTTP listener opens first, so that a busy port fails at once.
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.httpAddr, err)
	}
	defer ln.Close()
	if cfg.pprofAddr != "" {
		stopProfiles, err := serveProfiles(cfg.pprofAddr, stdout)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}

	conn, err := connectNATS(cfg, "ledger serve", log, stdout)
	if err != nil {
		return lockHint(err, "stop it first, or give this ledger a --data-dir of its own")
	}
	defer conn.close()
	nc := conn.nc
	if cfg.natsURL != "" {
		checkSyncAlways(nc, log)
	}

	metrics := httpapi.NewMetrics()
	var store *eventstore.Store
	// A cluster that is starting up has no JetStream leader for a while:
	// wait for one rather than fail (a supervisor would only start again).
	err = untilJetStream(ctx, cfg, log, func() error {
		store, err = eventstore.Open(ctx, nc, eventstore.Config{Replicas: cfg.replicas, Source: cfg.source, NoGroupCommit: !cfg.groupCommit,
			ObserveAppend: metrics.ObserveAppend})
		return err
	})
	if err != nil {
		return err
	}
	defer store.Close() // after the workers below have stopped (defers run last first)
	cps, signer, err := openAudit(ctx, nc, cfg, stdout)
	if err != nil {
		return err
	}
	users, err := identity.Open(ctx, nc, cfg.replicas)
	if err != nil {
		return fmt.Errorf("the user directory: %w", err)
	}
	defer users.Close()
	if err := bootstrapUsers(ctx, users, cfg, getenv, stdout); err != nil {
		return err
	}
	mustSign := httpapi.SignaturePolicy{}
	for _, c := range strings.Split(cfg.mustSign, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if !slices.Contains(domain.CommandNames(), c) {
			return fmt.Errorf("--require-signatures: %q is not a command; one of %v", c, domain.CommandNames())
		}
		mustSign[c] = true
	}
	auth := identity.Chain{Directory: users}
	if cfg.oidcIssuer != "" {
		var claims identity.Claims
		if cfg.oidcClaims != "" {
			if err := json.Unmarshal([]byte(cfg.oidcClaims), &claims); err != nil {
				return fmt.Errorf("--oidc-claims: %w", err)
			}
		}
		if auth.OIDC, err = identity.NewOIDC(ctx, cfg.oidcIssuer, cfg.oidcAudience, claims); err != nil {
			return err
		}
		log.Info("OpenID Connect ID tokens accepted", "issuer", cfg.oidcIssuer, "audience", cfg.oidcAudience)
	}
	cmds := app.New(store, nil)
	cmds.SetFourEyes(domain.Fen(cfg.fourEyes))
	gate := cmds.Gate()
	// What the store says of itself, the signed checkpoints and the read
	// models' checkpoint must agree before anything is written.
	if b, err := checkIntegrity(ctx, store, cps, cfg); err != nil {
		return err
	} else if b != nil {
		gate.Close("integrity", *b)
		log.Error("writes are refused: the store does not match what it acknowledged", "code", b.Code, "seq", b.Seq, "detail", b.Detail)
		fmt.Fprintf(stdout, "ledger: WRITES REFUSED: %s\n", b.Detail)
	}
	if conn.emb != nil {
		emb := conn.emb
		gate.Watch(func() *app.Block {
			err := emb.Storage()
			switch {
			case err == nil:
				return nil
			case errors.Is(err, eventstore.ErrStorageFull):
				return &app.Block{Code: httpapi.CodeStorageFull, Detail: err.Error()}
			}
			return &app.Block{Code: "store-failed", Detail: err.Error()}
		})
	}

	if cfg.rebuild {
		if err := os.Remove(cfg.snapshotPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--rebuild: %w", err)
		}
	}
	views, err := projections.NewEngine(ctx, store, projections.Config{SnapshotPath: cfg.snapshotPath, SnapshotEvery: cfg.checkpoint, Logger: log.With("component", "projections")})
	if err != nil {
		return err
	}
	checkpointer := audit.NewCheckpointer(store, cps, audit.CheckpointerConfig{Origin: cfg.source, Every: cfg.signEvery,
		Interval: cfg.signInterval, Signer: signer.Signer, Key: signer.Key, Logger: log.With("component", "checkpoints")})
	gate.Watch(func() *app.Block {
		if err := checkpointer.Err(); errors.Is(err, audit.ErrRewritten) {
			return &app.Block{Code: "stream-rewritten", Detail: err.Error() + "; run ledger verify to find the event, and restore the store from a backup"}
		}
		return nil
	})
	hooks, err := webhooks.Open(ctx, nc, webhooks.Config{Backoff: cfg.hookBackoff, MaxAttempts: cfg.hookAttempts,
		MaxEndpoints: cfg.hookMax, AllowPrivate: cfg.hookPrivate, Replicas: cfg.replicas, Logger: log.With("component", "webhooks"), UserAgent: userAgent()})
	if err != nil {
		return err
	}
	defer hooks.Close() // on an early return; the shutdown below closes it first (a second Close does nothing)
	// The workers: each runs until its context ends and is waited for.
	var workers sync.WaitGroup
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer func() {
		stopWorkers()
		workers.Wait()
	}()
	// The single writers — the checkpointer's signing and webhook delivery —
	// run on the instance that holds their lease; the others follow.
	leases, err := lease.Open(ctx, nc, cfg.replicas, cfg.leaseTTL, log.With("component", "leases"))
	if err != nil {
		return err
	}
	checkpointer.SetSigning(false)
	single := func(name string, on func(bool)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			leases.Run(wctx, name, cfg.instance, func(held context.Context) {
				on(true)
				<-held.Done()
				if wctx.Err() == nil { // lost, not shutting down: stop at once
					on(false)
				}
			})
		}()
	}
	single("checkpointer", checkpointer.SetSigning)
	single("webhooks", hooks.SetDelivering)
	watch := httpapi.NewStreamWatch(store)
	workers.Add(3)
	go func() {
		defer workers.Done()
		watch.Run(wctx)
	}()
	go func() {
		defer workers.Done()
		_ = views.Run(wctx) // a stop is logged and shown in /healthz
	}()
	go func() {
		defer workers.Done()
		_ = checkpointer.Run(wctx) // a stop is logged and shown in /healthz
	}()

	api := httpapi.New(httpapi.Config{Commands: cmds, Health: watch, Views: views, Source: store, Log: log,
		Audit: checkpointer, Checkpoints: cps, Key: signer.Key, Webhooks: hooks, Gate: gate, Limits: cfg.limits, Auth: auth, Users: users, MustSign: mustSign,
		Metrics: metrics})
	metrics.Watch(api, store)
	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, metrics.Handler(), stdout)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	wcfg := web.Config{API: api, Secure: cfg.secureCookies, Log: log.With("component", "web")}
	if cfg.oidcIssuer != "" && cfg.oidcSecret != "" {
		wcfg.OIDC = &web.OIDCLogin{Issuer: cfg.oidcIssuer, ClientID: cfg.oidcAudience, ClientSecret: cfg.oidcSecret, PublicURL: cfg.publicURL}
	}
	pages, err := web.New(wcfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           web.Mount(api, pages),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(api.StopFeeds)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("ledger serving", "http", "http://"+ln.Addr().String(), "stream", store.Stream(), "nats", natsWhere(cfg))
	fmt.Fprintf(stdout, "ledger: listening on http://%s\n", ln.Addr())

	// The demo loader talks to the API like any client; it is stopped and
	// waited for before the server shuts down.
	demoCtx, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	demoDone := make(chan struct{})
	close(demoDone)
	if cfg.demo {
		last, err := store.LastSequence(ctx)
		if err != nil {
			return err
		}
		if last == 0 {
			// The loader acts as an admin with a token of its own, good for an hour.
			tok, _, err := users.Issue(ctx, "admin", "demo loader", time.Hour, "")
			if err != nil {
				return fmt.Errorf("a token for the demo loader: %w", err)
			}
			c := &apiClient{base: "http://" + ln.Addr().String(), token: tok, http: &http.Client{Timeout: 60 * time.Second}}
			demoDone = make(chan struct{})
			go func() {
				defer close(demoDone)
				defer c.http.CloseIdleConnections()
				if _, err := loadDemo(demoCtx, c, stdout); err != nil && demoCtx.Err() == nil {
					log.Error("loading the demo data failed", "err", err)
				}
			}()
		} else {
			fmt.Fprintf(stdout, "ledger: the stream holds %d events already; not loading the demo data (ledger demo loads it into any ledger)\n", last)
		}
	}

	var exitErr error
	select {
	case err := <-served:
		exitErr = fmt.Errorf("http server: %w", err)
	case <-conn.lost:
		exitErr = errors.New("the connection to NATS was closed; exiting so that the ledger is restarted rather than left half alive")
	case <-ctx.Done():
	}
	// Stop accepting, let the requests in flight (appends included) finish,
	// then stop every worker at once; all within --shutdown-wait.
	log.Info("shutting down", "wait", cfg.shutdownWait.String())
	deadline := time.Now().Add(cfg.shutdownWait)
	stopDemo()
	<-demoDone
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && exitErr == nil {
		exitErr = fmt.Errorf("shut down the HTTP server: %w", err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); hooks.Close() }()
		go func() { defer wg.Done(); stopWorkers(); workers.Wait() }()
		wg.Wait()
	}()
	select {
	case <-stopped:
	case <-time.After(time.Until(deadline) + 2*time.Second):
		log.Error("workers did not stop within --shutdown-wait; exiting without them")
		if exitErr == nil {
			exitErr = errors.New("workers did not stop within --shutdown-wait")
		}
		return exitErr
	}
	log.Info("stopped")
	return exitErr
}

// serveProfiles serves Go's profiles on a loopback address of their own; the
// returned function stops that server and waits for it.
func serveProfiles(addr string, stdout io.Writer) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return nil, fmt.Errorf("--pprof %q: want a loopback host:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "ledger: profiles on http://%s/debug/pprof/\n", ln.Addr())
	return func() { _ = srv.Close(); <-done }, nil
}

// serveMetrics serves the Prometheus metrics on a listener of their own; the
// returned function stops that server and waits for it.
func serveMetrics(addr string, h http.Handler, stdout io.Writer) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "ledger: metrics on http://%s/metrics\n", ln.Addr())
	return func() { _ = srv.Close(); <-done }, nil
}

// parseSize reads a byte count with an optional K, M, G or T suffix (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 50G or 1048576", s)
	}
	return n * mult, nil
}

func natsWhere(cfg serveConfig) string {
	if cfg.natsURL != "" {
		return redactURLs(cfg.natsURL)
	}
	return "embedded:" + cfg.dataDir
}

// natsConn is the ledger's connection to NATS.
type natsConn struct {
	nc *nats.Conn
	// emb is the embedded server (nil with --nats-url).
	emb *eventstore.Embedded
	// lost is closed when the connection is closed for good (not by Close):
	// the process must then exit, so that a supervisor restarts it, rather
	// than live on half alive.
	lost  chan struct{}
	close func()
}

// connectNATS starts the embedded server or connects to the external one.
// The embedded server is started only by the process that holds the data
// directory's lock (what names that process in the lock file); a second
// opener is refused at once.
func connectNATS(cfg serveConfig, what string, log *slog.Logger, stdout io.Writer) (*natsConn, error) {
	c := &natsConn{lost: make(chan struct{})}
	var closing atomic.Bool
	onClosed := nats.ClosedHandler(func(*nats.Conn) {
		if !closing.Load() {
			log.Error("the connection to NATS is closed for good; exiting")
			close(c.lost)
		}
	})
	if cfg.natsURL != "" {
		// The ledger's own inbox prefix; any other client (verify or export
		// as the reader) uses its user's own, which its identity may read.
		inbox := eventstore.LedgerInbox
		if what != "ledger serve" {
			inbox = clientInbox(cfg.natsURL)
		}
		opts := []nats.Option{nats.Name("ledger"), nats.Timeout(10 * time.Second), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false), onClosed, nats.CustomInboxPrefix(inbox)}
		if cfg.natsCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.natsCreds))
		}
		opts = append(opts, cfg.natsTLS.options()...)
		nc, err := nats.Connect(cfg.natsURL, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w", redactURLs(cfg.natsURL), err)
		}
		c.nc = nc
		c.close = func() { closing.Store(true); _ = nc.FlushTimeout(2 * time.Second); nc.Close() }
		return c, nil
	}
	dir, err := filepath.Abs(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	lock, err := dirlock.Acquire(dir, what)
	if err != nil {
		return nil, err
	}
	var subs []eventstore.Subscriber
	if cfg.subscribers != "" {
		b, err := os.ReadFile(cfg.subscribers)
		if err != nil {
			lock.Release()
			return nil, fmt.Errorf("--nats-subscribers: %w", err)
		}
		if err := json.Unmarshal(b, &subs); err != nil {
			lock.Release()
			return nil, fmt.Errorf("--nats-subscribers %s: %w", cfg.subscribers, err)
		}
	}
	emb, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir, Listen: cfg.natsListen, MonitorAddr: cfg.natsMonitor, ReaderPassword: cfg.readerPass,
		Subscribers: subs, Logger: log, MaxStore: cfg.maxStore, MinFree: cfg.minFree})
	if err != nil {
		lock.Release()
		return nil, err
	}
	nc, err := emb.Connect("ledger", onClosed)
	if err != nil {
		emb.Shutdown()
		lock.Release()
		return nil, fmt.Errorf("connect to the embedded NATS server: %w", err)
	}
	if u := emb.ClientURL(); u != "" {
		fmt.Fprintf(stdout, "ledger: NATS clients on %s\n", u)
	}
	if u := emb.MonitorURL(); u != "" {
		fmt.Fprintf(stdout, "ledger: NATS monitoring on %s/varz\n", u)
	}
	c.nc, c.emb = nc, emb
	c.close = func() {
		// Every worker has stopped and every append was acknowledged: the
		// connection has nothing left to drain.
		closing.Store(true)
		_ = nc.FlushTimeout(2 * time.Second)
		nc.Close()
		emb.Shutdown()
		_ = lock.Release()
	}
	return c, nil
}

// clientInbox is the inbox prefix a client of the ledger's NATS uses: its
// user's own (see eventstore.InboxPrefix) when the URL names a user.
func clientInbox(natsURL string) string {
	first, _, _ := strings.Cut(natsURL, ",")
	if u, err := url.Parse(first); err == nil && u.User != nil && u.User.Username() != "" {
		return eventstore.InboxPrefix(u.User.Username())
	}
	return "_INBOX"
}

// checkSyncAlways asks the cluster's servers for their JetStream settings
// (it needs the system account) and warns when one does not fsync before it
// acknowledges: then an acknowledged event can be lost on power loss.
func checkSyncAlways(nc *nats.Conn, log *slog.Logger) {
	msg, err := nc.Request("$SYS.REQ.SERVER.PING.VARZ", nil, 2*time.Second)
	if err != nil {
		log.Warn("cannot read the NATS servers' settings (no system account access); make sure every server runs with jetstream { sync_interval: always }, or acknowledged events can be lost on power loss", "err", err)
		return
	}
	var resp struct {
		Server struct {
			Name string `json:"name"`
		} `json:"server"`
		Data struct {
			JetStream struct {
				Config struct {
					SyncAlways bool `json:"sync_always"`
				} `json:"config"`
			} `json:"jetstream"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		log.Warn("cannot read the NATS servers' settings", "err", err)
		return
	}
	if !resp.Data.JetStream.Config.SyncAlways {
		log.Warn("NATS server does not run with sync_interval: always; acknowledged events can be lost on power loss", "server", resp.Server.Name)
	}
}

type signingKey struct {
	Signer note.Signer
	Key    string
}

// openAudit opens the checkpoint stream and the signing key, creating the
// key on first start and printing its public half.
func openAudit(ctx context.Context, nc *nats.Conn, cfg serveConfig, stdout io.Writer) (*eventstore.Checkpoints, signingKey, error) {
	cps, err := eventstore.OpenCheckpoints(ctx, nc, cfg.replicas)
	if err != nil {
		return nil, signingKey{}, err
	}
	stored, err := cps.All(ctx)
	if err != nil {
		return nil, signingKey{}, fmt.Errorf("read the signed checkpoints: %w", err)
	}
	if _, err := os.Stat(cfg.keyPath); errors.Is(err, os.ErrNotExist) && len(stored) > 0 {
		return nil, signingKey{}, fmt.Errorf("the checkpoint signing key %s is missing, but %d checkpoints were signed with it: restore the key from its backup (a new key would sign checkpoints that no one could check against the old ones)", cfg.keyPath, len(stored))
	}
	s, vkey, created, err := audit.LoadOrCreateKey(cfg.keyPath, keyName(cfg.source))
	if err != nil {
		return nil, signingKey{}, err
	}
	if n := len(stored); n > 0 {
		if _, err := audit.OpenCheckpoint(stored[n-1].Signed, vkey); err != nil {
			return nil, signingKey{}, fmt.Errorf("the checkpoint signing key %s (public key %s) did not sign the latest checkpoint (size %d): %v; restore the key that did", cfg.keyPath, vkey, stored[n-1].Size, err)
		}
	}
	if created {
		fmt.Fprintf(stdout, "ledger: created the checkpoint signing key %s (keep it secret; publish the public key)\n", cfg.keyPath)
	}
	fmt.Fprintf(stdout, "ledger: checkpoints are signed with the public key %s\n", vkey)
	// For auditors who read through NATS only (ledger verify/export --nats-url).
	if err := cps.PublishKey(ctx, vkey); err != nil {
		return nil, signingKey{}, fmt.Errorf("record the public key with the checkpoints: %w", err)
	}
	return cps, signingKey{Signer: s, Key: vkey}, nil
}

// redactURLs is a NATS URL list (comma-separated) with each URL's password
// shown as "xxxxx", for messages and logs.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// keyName names the signing key after the installation's source.
func keyName(source string) string {
	return strings.NewReplacer(" ", "-", "+", "-").Replace(source)
}

// natsTLS is how the ledger reaches NATS over TLS: the CA that signed the
// servers' certificates and, where the servers ask for one, the client's own.
type natsTLS struct{ ca, cert, key string }

func (n *natsTLS) register(fs *flag.FlagSet, env func(name, def string) string) {
	fs.StringVar(&n.ca, "nats-ca", env("LEDGER_NATS_CA", ""), "PEM file of the CA that signed the NATS servers' certificates, for tls:// URLs (LEDGER_NATS_CA)")
	fs.StringVar(&n.cert, "nats-cert", env("LEDGER_NATS_CERT", ""), "PEM client certificate, where the NATS servers verify clients (LEDGER_NATS_CERT)")
	fs.StringVar(&n.key, "nats-key", env("LEDGER_NATS_KEY", ""), "PEM key of --nats-cert (LEDGER_NATS_KEY)")
}

func (n natsTLS) options() []nats.Option {
	var opts []nats.Option
	if n.ca != "" {
		opts = append(opts, nats.RootCAs(n.ca))
	}
	if n.cert != "" || n.key != "" {
		opts = append(opts, nats.ClientCert(n.cert, n.key))
	}
	return opts
}

// untilJetStream runs open, again while it fails because JetStream does not
// answer yet (an external cluster electing its first leader), for at most a
// minute; on the embedded server it runs open once.
func untilJetStream(ctx context.Context, cfg serveConfig, log *slog.Logger, open func() error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := open()
		if err == nil || cfg.natsURL == "" || time.Now().After(deadline) || ctx.Err() != nil ||
			!(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
				errors.Is(err, jetstream.ErrJetStreamNotEnabled) || strings.Contains(err.Error(), "no suitable peers")) {
			return err
		}
		log.Warn("JetStream does not answer yet; trying again", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
