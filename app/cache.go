package app

import (
	"container/list"
	"crypto/sha256"
	"sync"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// aggregate is a project's folded state as this process last saw it on the
// stream. mu serializes this process's commands on the project, so that they
// do not race each other into optimistic-concurrency conflicts; writers in
// other processes are caught by the expected sequence on append, which then
// marks the aggregate stale.
type aggregate struct {
	mu     sync.Mutex // guards everything below
	valid  bool       // false: reload from the stream before use
	p      *domain.Project
	last   uint64 // stream sequence of the project's last event
	prev   string // its hash
	events int    // events folded, for the size estimate
	// keys are, for each idempotency key (by actor and key, hashed), the
	// request it was recorded for and where its events are: 40 bytes a key,
	// whatever the events; a replayed answer reads the events back.
	keys map[[16]byte]keyRef
}

// keyRef is what a project remembers of an idempotency key: the digest of
// its request, and the stream sequences of its events.
type keyRef struct {
	digest [16]byte
	first  uint64
	n      uint32
}

func idemKey(actor, key string) [16]byte {
	sum := sha256.Sum256([]byte(actor + "\x00" + key))
	return [16]byte(sum[:16])
}

func digestOf(d string) [16]byte {
	sum := sha256.Sum256([]byte(d))
	return [16]byte(sum[:16])
}

// actorKey is who an idempotency key belongs to: the authenticated user's
// id, or, on events recorded before the ledger authenticated, the actor's name.
func actorKey(name, id string) string {
	if id != "" {
		return "id:" + id
	}
	return name
}

// load rebuilds the aggregate from the project's stored history.
func (a *aggregate) load(id domain.ProjectID, hist []eventstore.Stored) error {
	p, err := Fold(id, hist)
	if err != nil {
		return err
	}
	a.p, a.last, a.prev, a.keys, a.events = p, 0, "", nil, 0
	for _, h := range hist {
		a.record(h)
	}
	a.valid = true
	return nil
}

// record notes a stored event of the project: its sequence, its hash, its idempotency key.
func (a *aggregate) record(s eventstore.Stored) {
	a.last, a.prev = s.Seq, s.Envelope.Hash
	a.events++
	if k := s.Envelope.IdempotencyKey; k != "" {
		if a.keys == nil {
			a.keys = map[[16]byte]keyRef{}
		}
		ik := idemKey(actorKey(s.Envelope.Actor, s.Envelope.ActorID), k)
		if r, ok := a.keys[ik]; ok {
			r.n++
			a.keys[ik] = r
		} else {
			a.keys[ik] = keyRef{digest: digestOf(s.Envelope.RequestDigest), first: s.Seq, n: 1}
		}
	}
}

// size estimates the bytes the aggregate holds: the folded project (which
// grows with its changes, inspections and tranches), and each idempotency
// key's references.
func (a *aggregate) size() int64 {
	return int64(2048 + 96*a.events + 64*len(a.keys))
}

// cache keeps the aggregates of the most recently used projects, within a
// number of projects and an estimate of their bytes.
type cache struct {
	mu       sync.Mutex // guards everything below
	max      int
	maxBytes int64
	bytes    int64
	byID     map[domain.ProjectID]*list.Element
	order    *list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	id   domain.ProjectID
	agg  *aggregate
	size int64
}

func newCache(max int, maxBytes int64) *cache {
	return &cache{max: max, maxBytes: maxBytes, byID: map[domain.ProjectID]*list.Element{}, order: list.New()}
}

// get returns the project's aggregate, a new invalid one when it is not cached.
func (c *cache) get(id domain.ProjectID) *aggregate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry).agg
	}
	a := &aggregate{}
	c.byID[id] = c.order.PushFront(&cacheEntry{id: id, agg: a})
	c.evict()
	return a
}

// resize records the aggregate's new size and evicts the least recently used
// beyond the budget.
func (c *cache) resize(id domain.ProjectID, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return
	}
	e := el.Value.(*cacheEntry)
	c.bytes += size - e.size
	e.size = size
	c.evict()
}

func (c *cache) evict() {
	for c.order.Len() > 1 && (c.order.Len() > c.max || c.bytes > c.maxBytes) {
		old := c.order.Back()
		c.order.Remove(old)
		e := old.Value.(*cacheEntry)
		c.bytes -= e.size
		delete(c.byID, e.id)
	}
}

// stats returns the number of cached projects and their estimated bytes.
func (c *cache) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}
