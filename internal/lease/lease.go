// Package lease elects one holder among the ledger's instances for work that
// must have a single writer (the checkpointer, webhook delivery): a key in a
// NATS KV bucket whose entries expire TTL after their last write. The holder
// creates the key (which fails while another holds it), renews it with
// revision-checked updates every TTL/3, and stops its work before the TTL
// would let another instance take the key: when a renewal is refused (the
// key was taken or changed) or when renewals have failed for TTL/2 (it may
// have lost NATS). An instance that restarts under the same name takes its
// own lease back at once. So two holders never act at once as long as their clocks
// advance at a like rate; the work behind a lease is also fenced where it
// writes (the checkpoint stream's expected sequence, the webhook consumer's
// one message in flight), so a late holder cannot fork what it writes.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of the leases.
const Bucket = "LEDGER_LEASES"

// Holding says who holds a lease, as the key's value records it.
type Holding struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// Leases opens leases in the bucket.
type Leases struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	log *slog.Logger

	mu   sync.Mutex
	held map[string]bool
}

// Open opens (creating it) the lease bucket with replicas replicas; a lease
// not renewed for ttl expires.
func Open(ctx context.Context, nc *nats.Conn, replicas int, ttl time.Duration, log *slog.Logger) (*Leases, error) {
	if replicas <= 0 {
		replicas = 1
	}
	if ttl < 300*time.Millisecond {
		return nil, fmt.Errorf("lease time %s: want at least 300ms", ttl)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, Description: "single-writer leases of the ledger's instances",
			History: 1, TTL: ttl, Storage: jetstream.FileStorage, Replicas: replicas})
	}
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	if st.TTL() != ttl {
		// Every instance must agree on the lease time: the bucket's rules.
		log.Warn("the lease bucket's TTL differs from --lease-ttl; using the bucket's", "bucket", st.TTL().String(), "asked", ttl.String())
		ttl = st.TTL()
	}
	return &Leases{kv: kv, ttl: ttl, log: log, held: map[string]bool{}}, nil
}

// TTL is the lease time.
func (l *Leases) TTL() time.Duration { return l.ttl }

// Held reports whether this process holds the lease name now.
func (l *Leases) Held(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[name]
}

// Holder returns who holds the lease name, as its key says ("" when no one).
func (l *Leases) Holder(ctx context.Context, name string) (Holding, error) {
	e, err := l.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Holding{}, nil
	}
	if err != nil {
		return Holding{}, err
	}
	var h Holding
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return Holding{}, fmt.Errorf("lease %s: %w", name, err)
	}
	return h, nil
}

// Revision is the revision of the lease key (it grows with each renewal),
// 0 when no one holds it.
func (l *Leases) Revision(ctx context.Context, name string) (uint64, error) {
	e, err := l.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return e.Revision(), nil
}

// Run holds the lease name for holder whenever it can, and runs work while
// it holds it: work's context ends when the lease is lost or ctx ends, and
// Run waits for work to return before it tries again (or returns, once ctx
// has ended, releasing the lease so that another may take it at once).
func (l *Leases) Run(ctx context.Context, name, holder string, work func(ctx context.Context)) {
	retry := l.ttl / 3
	for ctx.Err() == nil {
		val, _ := json.Marshal(Holding{Holder: holder, Since: time.Now().UTC()})
		rev, err := l.kv.Create(ctx, name, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			// Held — by this very instance before it restarted (a crash
			// leaves the key until it expires)? Then it is ours to take back.
			if e, gerr := l.kv.Get(ctx, name); gerr == nil {
				var h Holding
				if json.Unmarshal(e.Value(), &h) == nil && h.Holder == holder {
					rev, err = l.kv.Update(ctx, name, val, e.Revision())
				}
			}
		}
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				l.log.Warn("cannot take a lease", "lease", name, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			continue
		}
		l.log.Info("lease taken", "lease", name, "holder", holder)
		l.hold(ctx, name, holder, val, rev, work)
	}
}

// hold runs work and renews the lease until it is lost or ctx ends.
func (l *Leases) hold(ctx context.Context, name, holder string, val []byte, rev uint64, work func(ctx context.Context)) {
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	l.set(name, true)
	go func() {
		defer close(done)
		work(wctx)
	}()
	defer func() {
		stop()
		<-done
		l.set(name, false)
	}()
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			// Release: another instance may take the lease at once.
			stop()
			<-done
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.kv.Delete(dctx, name, jetstream.LastRevision(rev))
			cancel()
			l.log.Info("lease released", "lease", name, "holder", holder)
			return
		case <-done:
			// The work ended on its own: give the lease up.
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.kv.Delete(dctx, name, jetstream.LastRevision(rev))
			cancel()
			return
		case <-tick.C:
			rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
			r, err := l.kv.Update(rctx, name, val, rev)
			cancel()
			switch {
			case err == nil:
				rev, renewed = r, time.Now()
			case isWrongRevision(err):
				l.log.Warn("lease lost: another instance holds it", "lease", name, "holder", holder)
				return
			case time.Since(renewed) >= l.ttl/2:
				l.log.Warn("lease given up: it could not be renewed", "lease", name, "holder", holder, "err", err)
				return
			}
		}
	}
}

func (l *Leases) set(name string, held bool) {
	l.mu.Lock()
	l.held[name] = held
	l.mu.Unlock()
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}
