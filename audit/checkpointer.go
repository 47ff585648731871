package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/zjfund/ledger/eventstore"
)

// Stream is what the audit reads: the event stream.
type Stream interface {
	Read(ctx context.Context, o eventstore.ReadOptions, fn func(eventstore.Stored) error) error
	LastSequence(ctx context.Context) (uint64, error)
}

// CheckpointLog is where signed checkpoints are kept.
type CheckpointLog interface {
	Append(ctx context.Context, size int64, signed []byte, expected uint64) (uint64, error)
	All(ctx context.Context) ([]eventstore.StoredCheckpoint, error)
	Last(ctx context.Context) (eventstore.StoredCheckpoint, bool, error)
}

var (
	_ Stream        = (*eventstore.Store)(nil)
	_ CheckpointLog = (*eventstore.Checkpoints)(nil)
)

// CheckpointerConfig configures the checkpoint worker.
type CheckpointerConfig struct {
	Origin   string        // names the log in every checkpoint
	Every    int64         // sign after this many new events (default 1000)
	Interval time.Duration // or this long after the last checkpoint, when there are new events (default 1 minute)
	Signer   note.Signer
	Key      string // the public key, to check stored checkpoints
	Logger   *slog.Logger
}

// Checkpointer keeps the Merkle tree over the stream and signs its head.
type Checkpointer struct {
	src  Stream
	log  CheckpointLog
	cfg  CheckpointerConfig
	tree Tree

	signing atomic.Bool // whether this instance signs (it holds the checkpointer's lease)
	signMu  sync.Mutex  // serializes sign; held across the store's write, unlike mu
	mu      sync.Mutex  // guards latest, lastSeq, err; held briefly
	latest  Checkpoint
	lastSeq uint64 // sequence of latest in the checkpoint stream
	err     error
}

// NewCheckpointer returns a worker over src that stores its checkpoints in cps.
func NewCheckpointer(src Stream, cps CheckpointLog, cfg CheckpointerConfig) *Checkpointer {
	if cfg.Every <= 0 {
		cfg.Every = 1000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Checkpointer{src: src, log: cps, cfg: cfg}
	c.signing.Store(true)
	if g, ok := src.(leafSource); ok {
		// The three lowest levels hold seven eighths of the tree's hashes, and
		// a proof needs a few of their nodes: those are hashed again from the
		// events, read back from the stream (at most seven for a proof).
		c.tree.ReadLeavesFrom(func(i int64) ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := g.Get(ctx, uint64(i)+1)
			return s.Raw, err
		})
	}
	return c
}

// leafSource is a Stream that also gives one event by sequence.
type leafSource interface {
	Get(ctx context.Context, seq uint64) (eventstore.Stored, error)
}

// SetSigning says whether this instance signs checkpoints. Where several
// instances share one stream, one signs (the holder of the checkpointer's
// lease) and the others follow the tree and take up the checkpoints it
// stores, checking each against their own tree.
func (c *Checkpointer) SetSigning(on bool) { c.signing.Store(on) }

// Signing reports whether this instance signs checkpoints.
func (c *Checkpointer) Signing() bool { return c.signing.Load() }

// adopt takes up the latest checkpoint another instance stored, once this
// instance's tree covers it, after checking that the tree has its root.
func (c *Checkpointer) adopt(ctx context.Context) error {
	last, ok, err := c.log.Last(ctx)
	if err != nil || !ok {
		return err
	}
	c.mu.Lock()
	latest := c.latest
	c.mu.Unlock()
	if last.Size <= latest.Size || last.Size > c.tree.Size() {
		return nil // nothing new, or the tree has not reached it yet
	}
	cp, err := OpenCheckpoint(last.Signed, c.cfg.Key)
	if err != nil {
		return fmt.Errorf("checkpoint %d stored by another instance: %w", last.Size, err)
	}
	root, err := c.tree.Root(cp.Size)
	if err != nil {
		return err
	}
	if root != cp.Root {
		return fmt.Errorf("%w: the first %d events hash to %s, checkpoint %d signed %s", ErrRewritten, cp.Size, root, cp.Size, cp.Root)
	}
	c.mu.Lock()
	c.latest, c.lastSeq = cp, last.Seq
	c.mu.Unlock()
	return nil
}

// ErrRewritten is returned when the stream no longer matches a checkpoint
// signed earlier: events were altered, removed or reordered.
var ErrRewritten = errors.New("the stream does not match a signed checkpoint")

// Run builds the tree from the start of the stream, then follows it and signs
// a checkpoint every Every events or Interval, until ctx ends (then it signs
// what is new and returns nil) or the stream is found rewritten.
func (c *Checkpointer) Run(ctx context.Context) error {
	stored, err := c.log.All(ctx)
	if err != nil {
		return c.stop(err)
	}
	if n := len(stored); n > 0 {
		cp, err := OpenCheckpoint(stored[n-1].Signed, c.cfg.Key)
		if err != nil {
			return c.stop(fmt.Errorf("the latest stored checkpoint (size %d): %w", stored[n-1].Size, err))
		}
		c.mu.Lock()
		c.latest, c.lastSeq = cp, stored[n-1].Seq
		c.mu.Unlock()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSigned := time.Now()
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follow := func(s eventstore.Stored) error {
		if want := uint64(c.tree.Size()) + 1; s.Seq != want {
			return fmt.Errorf("%w: event %d is missing from the stream", ErrRewritten, want)
		}
		if err := c.tree.Append(s.Raw); err != nil {
			return err
		}
		c.mu.Lock()
		size, latest := c.tree.Size(), c.latest
		due := size-latest.Size >= c.cfg.Every
		c.mu.Unlock()
		if size == latest.Size {
			// The stream holds again what was signed last: it must hash to the same root.
			root, err := c.tree.Root(size)
			if err != nil {
				return err
			}
			if root != latest.Root {
				return fmt.Errorf("%w: the first %d events hash to %s, the latest checkpoint signed %s", ErrRewritten, size, root, latest.Root)
			}
		}
		if due && c.signing.Load() {
			return c.trySign(rctx)
		}
		return nil
	}
	readerDone := make(chan struct{})
	defer func() { cancel(); <-readerDone }() // the reader is stopped and waited for on every return
	go func() {
		defer close(readerDone)
		for {
			err := c.src.Read(rctx, eventstore.ReadOptions{From: uint64(c.tree.Size()) + 1, Follow: true, Raw: true}, follow)
			if rctx.Err() != nil || errors.Is(err, ErrRewritten) {
				done <- err
				return
			}
			// A lost connection: follow again from the next event of the tree.
			c.cfg.Logger.Warn("checkpointer lost the stream; following again", "tree_size", c.tree.Size(), "err", err)
			select {
			case <-rctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return c.signNew(context.Background())
			}
			return c.stop(err)
		case <-tick.C:
			if !c.signing.Load() {
				if err := c.adopt(ctx); err != nil {
					if errors.Is(err, ErrRewritten) {
						return c.stop(err)
					}
					c.cfg.Logger.Warn("cannot take up the latest checkpoint", "err", err)
				}
				continue
			}
			c.mu.Lock()
			due := c.tree.Size() > c.latest.Size && time.Since(lastSigned) >= c.cfg.Interval
			c.mu.Unlock()
			if due {
				if err := c.trySign(ctx); err != nil {
					return c.stop(err)
				}
				lastSigned = time.Now()
			}
		}
	}
}

// trySign signs, and when storing the checkpoint fails for a reason other
// than a rewritten stream (NATS answering late while a cluster elects a
// leader, say), logs it and leaves the signing to the next occasion: only
// a rewritten stream stops the checkpointer.
func (c *Checkpointer) trySign(ctx context.Context) error {
	err := c.sign(ctx)
	if err == nil || errors.Is(err, ErrRewritten) || ctx.Err() != nil {
		return err
	}
	c.cfg.Logger.Warn("cannot store a checkpoint now; trying again", "err", err)
	return nil
}

func (c *Checkpointer) signNew(ctx context.Context) error {
	if !c.signing.Load() {
		return nil
	}
	c.mu.Lock()
	due := c.tree.Size() > c.latest.Size
	c.mu.Unlock()
	if !due {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.sign(ctx)
}

func (c *Checkpointer) stop(err error) error {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.cfg.Logger.Error("checkpointer stopped", "err", err)
	return err
}

// sign signs the tree's current head, after checking that the tree still
// contains the head signed last, and stores the checkpoint. Readers of
// Latest are not held up while the checkpoint is written.
func (c *Checkpointer) sign(ctx context.Context) error {
	c.signMu.Lock()
	defer c.signMu.Unlock()
	c.mu.Lock()
	latest, lastSeq := c.latest, c.lastSeq
	c.mu.Unlock()
	size := c.tree.Size()
	if size <= latest.Size {
		return nil
	}
	if latest.Size > 0 {
		old, err := c.tree.Root(latest.Size)
		if err != nil {
			return err
		}
		if old != latest.Root {
			return fmt.Errorf("%w: the first %d events hash to %s, checkpoint %d signed %s", ErrRewritten, latest.Size, old, latest.Size, latest.Root)
		}
	}
	root, err := c.tree.Root(size)
	if err != nil {
		return err
	}
	cp, err := SignCheckpoint(c.cfg.Signer, c.cfg.Origin, size, root)
	if err != nil {
		return err
	}
	seq, err := c.log.Append(ctx, size, cp.Signed, lastSeq)
	var ce *eventstore.ConflictError
	if errors.As(err, &ce) {
		// Another ledger process signed first: take its checkpoint as the latest.
		stored, err := c.log.All(ctx)
		if err != nil || len(stored) == 0 {
			return err
		}
		last := stored[len(stored)-1]
		other, err := OpenCheckpoint(last.Signed, c.cfg.Key)
		if err != nil {
			return fmt.Errorf("checkpoint %d stored by another writer: %w", last.Size, err)
		}
		c.mu.Lock()
		c.latest, c.lastSeq = other, last.Seq
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.latest, c.lastSeq = cp, seq
	c.mu.Unlock()
	c.cfg.Logger.Debug("checkpoint signed", "size", size, "root", root.String())
	return nil
}

// Latest returns the latest checkpoint (zero before the first) and the tree size now.
func (c *Checkpointer) Latest() (Checkpoint, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest, c.tree.Size()
}

// Err returns why the worker stopped, or nil while it runs.
func (c *Checkpointer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Prove returns the inclusion proof of the event at stream sequence seq in
// the latest checkpoint, with that checkpoint.
func (c *Checkpointer) Prove(seq uint64) (tlog.RecordProof, Checkpoint, error) {
	c.mu.Lock()
	cp := c.latest
	c.mu.Unlock()
	if cp.Size == 0 || int64(seq) > cp.Size || seq == 0 {
		return nil, cp, fmt.Errorf("event %d is not covered by a checkpoint yet (latest covers %d)", seq, cp.Size)
	}
	p, err := c.tree.ProveRecord(cp.Size, int64(seq)-1)
	return p, cp, err
}
