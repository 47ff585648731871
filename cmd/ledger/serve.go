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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/mod/sumdb/note"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/httpapi"
	"github.com/zjfund/ledger/projections"
	"github.com/zjfund/ledger/webhooks"
)

// serveConfig is the configuration of ledger serve.
type serveConfig struct {
	dataDir      string
	httpAddr     string
	natsURL      string
	natsCreds    string
	natsListen   string
	readerPass   string
	replicas     int
	source       string
	logLevel     string
	shutdownWait time.Duration
	rebuild      bool
	snapshotPath string
	checkpoint   int
	demo         bool
	keyPath      string
	signEvery    int64
	signInterval time.Duration
	groupCommit  bool
	subscribers  string
	hookBackoff  time.Duration
	hookAttempts int
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
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
	fs.StringVar(&c.natsListen, "nats-listen", env("LEDGER_NATS_LISTEN", ""), "loopback host:port where the embedded NATS server accepts clients; empty: in-process only (LEDGER_NATS_LISTEN)")
	fs.IntVar(&c.replicas, "replicas", envInt("LEDGER_REPLICAS", 0), "stream replicas when the stream is created: 1 embedded, 3 on a cluster by default (LEDGER_REPLICAS)")
	fs.StringVar(&c.source, "source", env("LEDGER_SOURCE", "urn:ledger:zhejiang"), "CloudEvents source of the events this installation writes (LEDGER_SOURCE)")
	fs.StringVar(&c.logLevel, "log-level", env("LEDGER_LOG_LEVEL", "info"), "debug, info, warn or error (LEDGER_LOG_LEVEL)")
	fs.DurationVar(&c.shutdownWait, "shutdown-wait", 30*time.Second, "how long SIGTERM waits for requests in flight")
	fs.IntVar(&c.checkpoint, "checkpoint-every", envInt("LEDGER_CHECKPOINT_EVERY", 10000), "events between checkpoints of the read models (LEDGER_CHECKPOINT_EVERY)")
	fs.StringVar(&c.keyPath, "checkpoint-key", env("LEDGER_CHECKPOINT_KEY", ""), "the Ed25519 key that signs checkpoints, created on first start (mode 0600); default <data-dir>/checkpoint.key (LEDGER_CHECKPOINT_KEY)")
	fs.Int64Var(&c.signEvery, "sign-every", int64(envInt("LEDGER_SIGN_EVERY", 1000)), "sign a checkpoint after this many new events (LEDGER_SIGN_EVERY)")
	fs.DurationVar(&c.signInterval, "sign-interval", time.Minute, "or after this long, when there are new events")
	fs.StringVar(&c.subscribers, "nats-subscribers", env("LEDGER_NATS_SUBSCRIBERS", ""), "JSON file of NATS identities confined to regions: [{\"user\", \"password\" (plain or bcrypt), \"subjects\": [\"ledger.330600.>\"]}] (LEDGER_NATS_SUBSCRIBERS)")
	fs.DurationVar(&c.hookBackoff, "webhook-backoff", time.Second, "first retry delay of a failed webhook delivery, doubled each time up to a minute")
	fs.IntVar(&c.hookAttempts, "webhook-attempts", 10, "deliveries of an event to a webhook before it becomes a dead letter")
	fs.BoolVar(&c.groupCommit, "group-commit", getenv("LEDGER_GROUP_COMMIT") != "0", "pack appends to different projects that arrive together into one atomic batch, one fsync for all (LEDGER_GROUP_COMMIT=0 turns it off)")
	fs.BoolVar(&c.demo, "demo", getenv("LEDGER_DEMO") == "1", "on a ledger with no events yet, load the demo data through the API (LEDGER_DEMO=1)")
	fs.BoolVar(&c.rebuild, "rebuild", false, "drop the read models' checkpoint and rebuild them from the start of the stream")
	c.readerPass = getenv("LEDGER_NATS_READER_PASSWORD")
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected argument %q\n", fs.Arg(0))
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
	return c, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
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

	nc, shutdownNATS, err := connectNATS(cfg, log, stdout)
	if err != nil {
		return err
	}
	defer shutdownNATS()
	if cfg.natsURL != "" {
		checkSyncAlways(nc, log)
	}

	store, err := eventstore.Open(ctx, nc, eventstore.Config{Replicas: cfg.replicas, Source: cfg.source, NoGroupCommit: !cfg.groupCommit})
	if err != nil {
		return err
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
	vctx, stopViews := context.WithCancel(context.Background())
	viewsDone := make(chan struct{})
	go func() {
		defer close(viewsDone)
		_ = views.Run(vctx) // a stop is logged and shown in /healthz
	}()
	defer func() {
		stopViews()
		<-viewsDone // the last checkpoint is written
	}()
	cps, signer, err := openAudit(ctx, nc, cfg, stdout)
	if err != nil {
		return err
	}
	checkpointer := audit.NewCheckpointer(store, cps, audit.CheckpointerConfig{Origin: cfg.source, Every: cfg.signEvery,
		Interval: cfg.signInterval, Signer: signer.Signer, Key: signer.Key, Logger: log.With("component", "checkpoints")})
	cctx, stopCheckpoints := context.WithCancel(context.Background())
	checkpointsDone := make(chan struct{})
	go func() {
		defer close(checkpointsDone)
		_ = checkpointer.Run(cctx) // a stop is logged and shown in /healthz
	}()
	defer func() {
		stopCheckpoints()
		<-checkpointsDone // the last events are signed
	}()
	hooks, err := webhooks.Open(ctx, nc, webhooks.Config{Backoff: cfg.hookBackoff, MaxAttempts: cfg.hookAttempts, Logger: log.With("component", "webhooks")})
	if err != nil {
		return err
	}
	defer hooks.Close()
	api := httpapi.New(httpapi.Config{Commands: app.New(store, nil), Health: store, Views: views, Source: store, Log: log,
		Audit: checkpointer, Checkpoints: cps, Key: signer.Key, Webhooks: hooks})
	srv := &http.Server{
		Handler:           api,
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

	if cfg.demo {
		last, err := store.LastSequence(ctx)
		if err != nil {
			return err
		}
		if last == 0 {
			go func() {
				if _, err := loadDemo(ctx, "http://"+ln.Addr().String(), stdout); err != nil && ctx.Err() == nil {
					log.Error("loading the demo data failed", "err", err)
				}
			}()
		} else {
			fmt.Fprintf(stdout, "ledger: the stream holds %d events already; not loading the demo data (ledger demo loads it into any ledger)\n", last)
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Stop accepting, let the requests in flight (appends included) finish.
	log.Info("shutting down", "wait", cfg.shutdownWait.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down the HTTP server: %w", err)
	}
	log.Info("stopped")
	return nil
}

func natsWhere(cfg serveConfig) string {
	if cfg.natsURL != "" {
		return cfg.natsURL
	}
	return "embedded:" + cfg.dataDir
}

// connectNATS starts the embedded server or connects to the external one,
// and returns the connection and how to close it.
func connectNATS(cfg serveConfig, log *slog.Logger, stdout io.Writer) (*nats.Conn, func(), error) {
	if cfg.natsURL != "" {
		opts := []nats.Option{nats.Name("ledger"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false)}
		if cfg.natsCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.natsCreds))
		}
		nc, err := nats.Connect(cfg.natsURL, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to NATS at %s: %w", cfg.natsURL, err)
		}
		return nc, func() { _ = nc.Drain() }, nil
	}
	dir, err := filepath.Abs(cfg.dataDir)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	var subs []eventstore.Subscriber
	if cfg.subscribers != "" {
		b, err := os.ReadFile(cfg.subscribers)
		if err != nil {
			return nil, nil, fmt.Errorf("--nats-subscribers: %w", err)
		}
		if err := json.Unmarshal(b, &subs); err != nil {
			return nil, nil, fmt.Errorf("--nats-subscribers %s: %w", cfg.subscribers, err)
		}
	}
	emb, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir, Listen: cfg.natsListen, ReaderPassword: cfg.readerPass, Subscribers: subs, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	nc, err := emb.Connect("ledger")
	if err != nil {
		emb.Shutdown()
		return nil, nil, fmt.Errorf("connect to the embedded NATS server: %w", err)
	}
	if u := emb.ClientURL(); u != "" {
		fmt.Fprintf(stdout, "ledger: NATS clients on %s\n", u)
	}
	return nc, func() {
		_ = nc.Drain()
		emb.Shutdown()
	}, nil
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
	s, vkey, created, err := audit.LoadOrCreateKey(cfg.keyPath, keyName(cfg.source))
	if err != nil {
		return nil, signingKey{}, err
	}
	if created {
		fmt.Fprintf(stdout, "ledger: created the checkpoint signing key %s (keep it secret; publish the public key)\n", cfg.keyPath)
	}
	fmt.Fprintf(stdout, "ledger: checkpoints are signed with the public key %s\n", vkey)
	return cps, signingKey{Signer: s, Key: vkey}, nil
}

// keyName names the signing key after the installation's source.
func keyName(source string) string {
	return strings.NewReplacer(" ", "-", "+", "-").Replace(source)
}
