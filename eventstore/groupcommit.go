package eventstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zjfund/ledger/domain"
)

// Group commit: with sync_interval always, JetStream fsyncs every message on
// its own (≈ 9,000 appends/s on the reference machine, whatever the
// concurrency), but an atomic batch once. Appends to different projects that
// wait at the same moment are therefore packed into one atomic batch, each
// project's first message carrying its own expected sequence.
//
// An atomic batch has a fixed cost (≈ 1.5–3 ms), so when no batch is in
// flight a group smaller than minAtomicGroup is published message by
// message, concurrently, as without group commit; a lone append is published
// at once, so a single client is not slowed down. When a batch is in flight,
// the next group is sealed only once it has committed — everything that
// arrived meanwhile joins it — and goes as a batch from two appends on: under
// load the groups grow with the load. If a batch fails — one stale expectation fails it whole, and
// JetStream does not say which — nothing of it is stored; it is split in
// halves committed again as batches, down to groups published append by
// append: the stale one fails alone with a *ConflictError, the others commit.
const (
	maxGroupedMsgs  = 64  // an append with more events is published on its own
	maxBatchMsgs    = 512 // messages in one atomic batch (JetStream allows 1,000)
	minAtomicGroup  = 16  // fewer appends than this go message by message
	maxBatchesAloft = 1   // atomic batches in flight at once: JetStream commits a stream's batches one by one, and one at a time lets the next grow
	maxSinglesAloft = 8   // appends published on their own in flight at once
)

type groupCommit struct {
	s       *Store
	mu      sync.RWMutex // guards closed; held for reading while an append is queued
	closed  bool
	stop    chan struct{} // closed by close: the loop finishes what is queued and returns
	done    chan struct{} // closed when the loop and every commit it started have returned
	queue   chan *pendingAppend
	aloft   chan struct{} // a token per batch in flight
	singles chan struct{} // a token per single append in flight

	batches, batched, fallbacks atomic.Int64
	active                      atomic.Int64 // appends submitted and not yet answered
}

// GroupStats counts what group commit did: atomic batches committed, the
// appends they carried, and batches that failed and were published append
// by append.
type GroupStats struct {
	Batches, Appends, Fallbacks int64
}

// GroupStats returns the counts of group commit (zero when it is off).
func (s *Store) GroupStats() GroupStats {
	if s.group == nil {
		return GroupStats{}
	}
	return GroupStats{Batches: s.group.batches.Load(), Appends: s.group.batched.Load(), Fallbacks: s.group.fallbacks.Load()}
}

type pendingAppend struct {
	ctx  context.Context
	req  AppendRequest
	msgs []*nats.Msg
	out  []Stored
	done chan appendResult
}

type appendResult struct {
	stored []Stored
	err    error
}

func newGroupCommit(s *Store) *groupCommit {
	g := &groupCommit{s: s, queue: make(chan *pendingAppend, 4096), aloft: make(chan struct{}, maxBatchesAloft),
		singles: make(chan struct{}, maxSinglesAloft), stop: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

// close stops taking appends, commits those already queued, and returns when
// the loop and every commit in flight have finished.
func (g *groupCommit) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.stop)
	}
	g.mu.Unlock()
	<-g.done
}

// submit queues an append and waits for its result. An append that finds
// nothing else in flight is published at once by its caller: a lone client
// pays nothing for group commit.
func (g *groupCommit) submit(ctx context.Context, req AppendRequest, msgs []*nats.Msg, out []Stored) ([]Stored, error) {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return nil, ErrClosed
	}
	defer g.active.Add(-1)
	if g.active.Add(1) == 1 {
		g.mu.RUnlock()
		return g.s.commit(ctx, req, msgs, out)
	}
	p := &pendingAppend{ctx: ctx, req: req, msgs: msgs, out: out, done: make(chan appendResult, 1)}
	select {
	case g.queue <- p:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued the append will be published: wait for the outcome even if
	// ctx ends, so that the caller never mistakes a stored append for a lost one.
	r := <-p.done
	return r.stored, r.err
}

// loop takes what waits, groups it and publishes it, until close. A group
// holds one append per project; a second append to a project waits for the
// next group.
func (g *groupCommit) loop() {
	defer close(g.done)
	var carry []*pendingAppend
	defer func() {
		// Closed: whatever is queued still gets its answer, then the commits
		// in flight are waited for (by taking every token).
		for {
			select {
			case p := <-g.queue:
				carry = append(carry, p)
				continue
			default:
			}
			break
		}
		for _, p := range carry {
			stored, err := g.s.commit(p.ctx, p.req, p.msgs, p.out)
			p.done <- appendResult{stored, err}
		}
		for range cap(g.aloft) {
			g.aloft <- struct{}{}
		}
		for range cap(g.singles) {
			g.singles <- struct{}{}
		}
	}()
	for {
		var group, next []*pendingAppend
		projects := map[domain.ProjectID]bool{}
		msgs := 0
		take := func(p *pendingAppend) {
			if projects[p.req.Project] {
				next = append(next, p)
				return
			}
			projects[p.req.Project] = true
			msgs += len(p.msgs)
			group = append(group, p)
		}
		if len(carry) == 0 { // wait for work only when there is none
			select {
			case p := <-g.queue:
				take(p)
			case <-g.stop:
				return
			}
		}
		for _, p := range carry {
			take(p)
		}
		// A batch in flight: wait for it to commit before sealing this group,
		// so that what arrives meanwhile joins it rather than waiting a round.
		waited := false
		select {
		case g.aloft <- struct{}{}:
		default:
			waited = true
			select {
			case g.aloft <- struct{}{}:
			case <-g.stop:
				// Closing: the deferred drain answers what is carried.
				carry = append(group, next...)
				group, next = nil, nil
				return
			}
		}
		// Take whatever else waits now, without waiting for more: a lone
		// append goes out at once.
	drain:
		for msgs < maxBatchMsgs {
			select {
			case p := <-g.queue:
				take(p)
			default:
				break drain
			}
		}
		carry = next
		g.dispatch(group, waited)
	}
}

// dispatch publishes a group, holding the batch token the loop took: as an
// atomic batch when it is large, or when it waited for a batch in flight and
// holds two appends or more; append by append otherwise (the token given
// back at once). When as many single appends as the disk can take are in
// flight, it waits, and what arrives meanwhile makes the next group larger.
func (g *groupCommit) dispatch(group []*pendingAppend, waited bool) {
	if len(group) < minAtomicGroup && !(waited && len(group) >= 2) {
		<-g.aloft
		for _, p := range group {
			g.singles <- struct{}{}
			go func(p *pendingAppend) {
				defer func() { <-g.singles }()
				stored, err := g.s.commit(p.ctx, p.req, p.msgs, p.out)
				p.done <- appendResult{stored, err}
			}(p)
		}
		return
	}
	go func() {
		defer func() { <-g.aloft }()
		g.commitBatch(group)
	}()
}

// commitBatch publishes the group as one atomic batch, or, if the batch
// fails, each append on its own.
func (g *groupCommit) commitBatch(group []*pendingAppend) {
	var all []*nats.Msg
	for _, p := range group {
		all = append(all, p.msgs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	ack, err := g.s.publishBatch(ctx, all)
	if err == nil && !ack.Duplicate {
		g.batches.Add(1)
		g.batched.Add(int64(len(group)))
		first := ack.Sequence - uint64(len(all)) + 1
		for _, p := range group {
			for i := range p.out {
				p.out[i].Seq = first
				first++
			}
			p.done <- appendResult{p.out, nil}
		}
		return
	}
	// Nothing of a failed atomic batch is stored. Split it: halves go again
	// as batches, small parts append by append, so that a stale append ends
	// up failing alone while the rest still share fsyncs.
	g.fallbacks.Add(1)
	if len(group) >= 2*minAtomicGroup {
		half := len(group) / 2
		var wg sync.WaitGroup
		for _, part := range [][]*pendingAppend{group[:half], group[half:]} {
			wg.Add(1)
			go func(part []*pendingAppend) {
				defer wg.Done()
				g.commitBatch(part)
			}(part)
		}
		wg.Wait()
		return
	}
	var wg sync.WaitGroup
	for _, p := range group {
		wg.Add(1)
		go func(p *pendingAppend) {
			defer wg.Done()
			stored, err := g.s.commit(p.ctx, p.req, p.msgs, p.out)
			p.done <- appendResult{stored, err}
		}(p)
	}
	wg.Wait()
}

// batchTimeout is JetStream's own limit for an atomic batch.
const batchTimeout = 10 * time.Second
