package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/projections"
)

// rebuild folds the whole stream into new read models and writes them as the
// checkpoint `ledger serve` resumes from. Run it while serve is stopped (it
// opens the same data directory), or use `ledger serve --rebuild`.
func rebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServe("rebuild", args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.natsListen = ""
	conn, err := connectNATS(cfg, "ledger rebuild", log, io.Discard)
	if err != nil {
		return lockHint(err, "stop the ledger first, or restart it with ledger serve --rebuild")
	}
	defer conn.close()
	store, err := eventstore.Open(ctx, conn.nc, eventstore.Config{Replicas: cfg.replicas, Source: cfg.source, NoGroupCommit: true})
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	m, err := projections.Rebuild(ctx, store)
	if err != nil {
		return err
	}
	took := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e, err := projections.NewEngine(ctx, store, projections.Config{})
	if err != nil {
		return err
	}
	if err := e.Replace(ctx, m, cfg.snapshotPath); err != nil {
		return err
	}
	rate := 0.0
	if took > 0 {
		rate = float64(m.Applied) / took.Seconds()
	}
	fmt.Fprintf(stdout, "rebuilt the read models from %d events (%d projects) in %s: %.0f events/s; heap in use %d MiB; checkpoint %s\n",
		m.Applied, len(m.Projects), took.Round(time.Millisecond), rate, ms.HeapInuse>>20, cfg.snapshotPath)
	return nil
}
