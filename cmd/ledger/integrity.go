package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/projections"
)

// integrityFile records, in an embedded ledger's data directory, that the
// store was found to have lost or changed events it had acknowledged. While
// it is there the ledger refuses writes, across restarts: the evidence (a
// store index, a read-model checkpoint) may not survive the next start, the
// record does. An operator removes it once the store has been restored from
// a backup and ledger verify passes.
const integrityFile = "integrity.json"

type integrityRecord struct {
	FoundAt time.Time `json:"found_at"`
	app.Block
}

// checkIntegrity compares, before anything is written, the stream with what
// it is known to have held: the events the store itself says it lost on
// recovery or is missing, the size of the latest signed checkpoint, and the
// position of the read models' checkpoint. It returns the block that must
// keep writes refused, or nil when they agree.
func checkIntegrity(ctx context.Context, store *eventstore.Store, cps *eventstore.Checkpoints, cfg serveConfig) (*app.Block, error) {
	recordPath := ""
	if cfg.natsURL == "" {
		recordPath = filepath.Join(cfg.dataDir, integrityFile)
		if b, err := os.ReadFile(recordPath); err == nil {
			var rec integrityRecord
			if err := json.Unmarshal(b, &rec); err != nil || rec.Code == "" {
				return nil, fmt.Errorf("%s is not an integrity record (%v); it was left because the store lost events: restore the store from a backup, run ledger verify, then remove the file", recordPath, err)
			}
			rec.Detail += fmt.Sprintf(" (recorded in %s at %s; restore the store from a backup, run ledger verify, then remove that file)", recordPath, rec.FoundAt.Format(time.RFC3339))
			return &rec.Block, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read %s: %w", recordPath, err)
		}
	}
	b, err := findLoss(ctx, store, cps, cfg)
	if err != nil || b == nil {
		return nil, err
	}
	if recordPath != "" {
		data, _ := json.MarshalIndent(integrityRecord{FoundAt: time.Now().UTC(), Block: *b}, "", "  ")
		if err := os.WriteFile(recordPath, append(data, '\n'), 0o640); err != nil {
			return nil, fmt.Errorf("record the loss in %s: %w", recordPath, err)
		}
		b.Detail += fmt.Sprintf(" (recorded in %s; restore the store from a backup, run ledger verify, then remove that file)", recordPath)
	}
	return b, nil
}

func findLoss(ctx context.Context, store *eventstore.Store, cps *eventstore.Checkpoints, cfg serveConfig) (*app.Block, error) {
	info, err := store.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return nil, fmt.Errorf("stream info: %w", err)
	}
	st := info.State
	if st.Lost != nil && len(st.Lost.Msgs) > 0 {
		first := slices.Min(st.Lost.Msgs)
		return &app.Block{Code: "events-lost", Seq: first, Detail: fmt.Sprintf(
			"the event store lost %d stored events (%d bytes) when it recovered its files, the first at sequence %d", len(st.Lost.Msgs), st.Lost.Bytes, first)}, nil
	}
	// The stream never deletes: it holds every sequence from 1 to its last.
	if st.LastSeq > 0 && (st.FirstSeq > 1 || st.Msgs != st.LastSeq) {
		first := uint64(1)
		if st.FirstSeq <= 1 {
			if del := slices.DeleteFunc(slices.Clone(st.Deleted), func(s uint64) bool { return s == 0 }); len(del) > 0 {
				first = slices.Min(del)
			}
		}
		return &app.Block{Code: "events-missing", Seq: first, Detail: fmt.Sprintf(
			"%d of the stream's %d events are missing, the first at sequence %d: the stream never deletes", st.LastSeq-st.Msgs, st.LastSeq, first)}, nil
	}
	last := st.LastSeq
	stored, err := cps.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the signed checkpoints: %w", err)
	}
	if n := len(stored); n > 0 && uint64(stored[n-1].Size) > last {
		return &app.Block{Code: "stream-truncated", Seq: last + 1, Detail: fmt.Sprintf(
			"the stream ends at sequence %d but a signed checkpoint covers %d events: events from sequence %d on are lost", last, stored[n-1].Size, last+1)}, nil
	}
	if applied, err := projections.CheckpointApplied(cfg.snapshotPath); err == nil && applied > last {
		return &app.Block{Code: "stream-truncated", Seq: last + 1, Detail: fmt.Sprintf(
			"the stream ends at sequence %d but the read models had applied %d events (%s): events from sequence %d on are lost", last, applied, cfg.snapshotPath, last+1)}, nil
	}
	return nil, nil
}
