package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zjfund/ledger/eventstore"
)

// Source is what the projections read from: the event store.
type Source interface {
	Read(ctx context.Context, o eventstore.ReadOptions, fn func(eventstore.Stored) error) error
	Get(ctx context.Context, seq uint64) (eventstore.Stored, error)
	LastSequence(ctx context.Context) (uint64, error)
}

var _ Source = (*eventstore.Store)(nil)

// Config configures an engine.
type Config struct {
	// SnapshotPath is the file the model is checkpointed to, with the stream
	// sequence it reflects; "" keeps the model in memory only.
	SnapshotPath string
	// SnapshotEvery is how many applied events trigger a checkpoint (default 10,000);
	// SnapshotInterval how long after a change one is written at the latest (default 30s).
	SnapshotEvery    int
	SnapshotInterval time.Duration
	Logger           *slog.Logger
}

// Engine is the projection worker: it follows the stream in order from the
// sequence after its checkpoint and folds each event into the model.
type Engine struct {
	src Source
	cfg Config
	log *slog.Logger

	// wmu is held by the writer while it changes the model, and by a
	// checkpoint while it encodes it: encoding then excludes the writer
	// only, never the readers.
	wmu      sync.Mutex
	mu       sync.RWMutex // guards model, err, notify, appliedHash
	model    *Model
	err      error         // why the worker stopped, if it did
	notify   chan struct{} // closed when the model advances; nil when no one waits
	lastHash string        // hash of the last applied event, checked against the stream at start

	sinceSnap int
	snapAt    time.Time
}

// snapshot is the checkpoint file: the model with the sequence it reflects,
// and the SHA-256 of the model's bytes, so that a changed file is noticed
// (and the model rebuilt from the stream) instead of served.
type snapshot struct {
	Format      int             `json:"format"`
	LastHash    string          `json:"last_hash"` // hash of the event at Model.Applied
	ModelSHA256 string          `json:"model_sha256"`
	Model       json.RawMessage `json:"model"`
}

// snapshotFormat 2 added model_sha256; 3 the investment completed by year
// and the milestones of rulebook 2. A file of another format is rebuilt once.
const snapshotFormat = 3

// NewEngine returns an engine that resumes from the checkpoint at
// cfg.SnapshotPath when there is one that matches the stream, and from
// nothing otherwise.
func NewEngine(ctx context.Context, src Source, cfg Config) (*Engine, error) {
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 10_000
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{src: src, cfg: cfg, log: cfg.Logger, model: NewModel(), snapAt: time.Now()}
	defer func() { e.model.KeepSums() }()
	if cfg.SnapshotPath == "" {
		return e, nil
	}
	m, lastHash, err := readSnapshot(cfg.SnapshotPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return e, nil
	case err != nil:
		e.log.Error("projection checkpoint rejected; rebuilding the read models from the start of the stream", "path", cfg.SnapshotPath, "err", err)
		return e, nil
	}
	if m.Applied > 0 {
		s, err := src.Get(ctx, m.Applied)
		if err != nil || s.Envelope.Hash != lastHash {
			e.log.Warn("projection checkpoint does not match the stream; rebuilding from the start", "applied", m.Applied, "err", err)
			return e, nil
		}
	}
	e.model, e.lastHash = m, lastHash
	e.log.Info("projections resume from checkpoint", "applied", m.Applied, "projects", len(m.Projects))
	return e, nil
}

// readSnapshot reads the checkpoint at path, checking the model's bytes
// against their recorded hash.
func readSnapshot(path string) (*Model, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", path, err)
	}
	if s.Format != snapshotFormat {
		return nil, "", fmt.Errorf("%s: format %d, not %d", path, s.Format, snapshotFormat)
	}
	sum := sha256.Sum256(s.Model)
	if got := hex.EncodeToString(sum[:]); got != s.ModelSHA256 {
		return nil, "", fmt.Errorf("%s: the model's bytes hash to %s, the checkpoint records %s: the file was changed", path, got, s.ModelSHA256)
	}
	m := &Model{}
	if err := json.Unmarshal(s.Model, m); err != nil || m.Projects == nil {
		return nil, "", fmt.Errorf("%s: the model does not decode: %v", path, err)
	}
	m.reindex()
	return m, s.LastHash, nil
}

// CheckpointApplied returns the stream position the read models' checkpoint
// at path reflects, when the file is there and intact.
func CheckpointApplied(path string) (uint64, error) {
	m, _, err := readSnapshot(path)
	if err != nil {
		return 0, err
	}
	return m.Applied, nil
}

// Run follows the stream and applies each event until ctx ends (then it
// writes a last checkpoint and returns nil) or an event of a known type fails
// to decode or a stored event is corrupt (then it stops, keeps the error for
// Err, and returns it). Other read errors — a lost connection — make it
// follow again, a second later, from the sequence after the model's.
func (e *Engine) Run(ctx context.Context) error {
	e.log.Info("projections follow the stream", "from", e.Applied()+1)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	tctx, stopTicker := context.WithCancel(ctx)
	tickerDone := make(chan struct{})
	defer func() { stopTicker(); <-tickerDone }()
	go func() {
		defer close(tickerDone)
		for {
			select {
			case <-tctx.Done():
				return
			case <-ticker.C:
				if err := e.maybeSnapshot(false); err != nil {
					e.log.Error("projection checkpoint failed", "err", err)
				}
			}
		}
	}()
	apply := func(s eventstore.Stored) error {
		e.wmu.Lock()
		defer e.wmu.Unlock()
		e.mu.Lock()
		err := e.model.Apply(s)
		if err == nil {
			e.lastHash = s.Envelope.Hash
			e.sinceSnap++
			if e.notify != nil {
				close(e.notify)
				e.notify = nil
			}
		}
		due := e.sinceSnap >= e.cfg.SnapshotEvery
		e.mu.Unlock()
		if err != nil {
			return err
		}
		if due {
			if err := e.snapshotLocked(); err != nil {
				e.log.Error("projection checkpoint failed", "err", err)
			}
		}
		return nil
	}
	var err error
	for {
		err = e.src.Read(ctx, eventstore.ReadOptions{From: e.Applied() + 1, Follow: true}, apply)
		var de *DecodeError
		var ce *eventstore.CorruptError
		if ctx.Err() != nil || errors.As(err, &de) || errors.As(err, &ce) {
			break
		}
		// A lost connection or a consumer gone: follow again from where the model is.
		e.log.Warn("projections lost the stream; following again", "applied", e.Applied(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if ctx.Err() != nil {
		return e.Snapshot()
	}
	e.mu.Lock()
	e.err = err
	if e.notify != nil {
		close(e.notify)
		e.notify = nil
	}
	e.mu.Unlock()
	if de := (*DecodeError)(nil); errors.As(err, &de) {
		e.log.Error("projections stopped", "seq", de.Seq, "type", de.Type, "err", de.Err)
	} else {
		e.log.Error("projections stopped", "err", err)
	}
	return err
}

// maybeSnapshot writes a checkpoint when forced, or when the model changed
// and the interval has passed.
func (e *Engine) maybeSnapshot(force bool) error {
	e.mu.RLock()
	due := e.sinceSnap > 0 && (force || time.Since(e.snapAt) >= e.cfg.SnapshotInterval)
	e.mu.RUnlock()
	if !due {
		return nil
	}
	return e.Snapshot()
}

// Snapshot writes the checkpoint now: the model and the sequence it reflects,
// to a temporary file that is fsynced and renamed over the old one, so that a
// crash leaves either the old checkpoint or the new one.
func (e *Engine) Snapshot() error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return e.snapshotLocked()
}

// snapshotLocked is Snapshot with wmu held: the model cannot change, and
// readers go on.
func (e *Engine) snapshotLocked() error {
	if e.cfg.SnapshotPath == "" {
		return nil
	}
	model, err := json.Marshal(e.model)
	applied, lastHash := e.model.Applied, e.lastHash
	if err != nil {
		return fmt.Errorf("encode projection checkpoint: %w", err)
	}
	sum := sha256.Sum256(model)
	data, err := json.Marshal(snapshot{Format: snapshotFormat, LastHash: lastHash, ModelSHA256: hex.EncodeToString(sum[:]), Model: model})
	if err != nil {
		return fmt.Errorf("encode projection checkpoint: %w", err)
	}
	if err := writeFileAtomic(e.cfg.SnapshotPath, data); err != nil {
		return err
	}
	e.mu.Lock()
	if e.model.Applied == applied {
		e.sinceSnap = 0
	}
	e.snapAt = time.Now()
	e.mu.Unlock()
	e.log.Debug("projection checkpoint written", "applied", applied, "bytes", len(data))
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Replace makes m the engine's model and writes it as the checkpoint at path.
func (e *Engine) Replace(ctx context.Context, m *Model, path string) error {
	var hash string
	if m.Applied > 0 {
		s, err := e.src.Get(ctx, m.Applied)
		if err != nil {
			return err
		}
		hash = s.Envelope.Hash
	}
	m.KeepSums()
	e.wmu.Lock()
	defer e.wmu.Unlock()
	e.mu.Lock()
	e.model, e.lastHash, e.cfg.SnapshotPath, e.sinceSnap = m, hash, path, 1
	e.mu.Unlock()
	return e.snapshotLocked()
}

// Applied returns the stream sequence the model reflects.
func (e *Engine) Applied() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.model.Applied
}

// Err returns why the worker stopped, or nil while it runs.
func (e *Engine) Err() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.err
}

// Read calls fn with the model under the read lock; fn must not keep it.
func (e *Engine) Read(fn func(m *Model)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.model)
}

// ErrStopped is returned by WaitFor when the worker has stopped.
var ErrStopped = errors.New("projections have stopped")

// WaitFor returns once the model reflects stream sequence seq, or ctx's
// error, or ErrStopped (wrapping the worker's error).
func (e *Engine) WaitFor(ctx context.Context, seq uint64) error {
	for {
		e.mu.Lock()
		if e.model.Applied >= seq {
			e.mu.Unlock()
			return nil
		}
		if e.err != nil {
			err := e.err
			e.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrStopped, err)
		}
		if e.notify == nil {
			e.notify = make(chan struct{})
		}
		ch := e.notify
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Rebuild folds the whole stream, from its first event to the last one
// stored when it starts, into a new model.
func Rebuild(ctx context.Context, src Source) (*Model, error) {
	return Replay(ctx, src, ReplayOptions{})
}

// ReplayOptions bound a replay.
type ReplayOptions struct {
	// Until is the last stream sequence to fold (0: the last stored at the start).
	Until uint64
	// AsOf, when set, folds only events that took effect at or before it.
	AsOf time.Time
	// Filter restricts the replay to matching subjects (e.g. one project).
	Filter string
}

// Replay folds the stream into a new model, as the options bound it. The
// model's Applied is the position it reflects: Until, or the stream's last
// sequence when Until is 0 or beyond it.
func Replay(ctx context.Context, src Source, o ReplayOptions) (*Model, error) {
	m := NewModel()
	if err := Continue(ctx, src, m, o); err != nil {
		return nil, err
	}
	return m, nil
}

// Continue folds into m, a model replayed with the same AsOf and Filter up
// to m.Applied, the events after it, up to o.Until (0: the last stored now).
// The result is what Replay would give with those options.
func Continue(ctx context.Context, src Source, m *Model, o ReplayOptions) error {
	last, err := src.LastSequence(ctx)
	if err != nil {
		return err
	}
	until := o.Until
	if until == 0 || until > last {
		until = last
	}
	if until <= m.Applied {
		return nil
	}
	err = src.Read(ctx, eventstore.ReadOptions{From: m.Applied + 1, Until: until, Filter: o.Filter}, func(s eventstore.Stored) error {
		if !o.AsOf.IsZero() && s.Envelope.Time.After(o.AsOf) {
			m.Applied = s.Seq
			return nil
		}
		return m.Apply(s)
	})
	if err != nil {
		return err
	}
	m.Applied = until
	return nil
}
