package app

import (
	"container/list"
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
	mu    sync.Mutex // guards everything below
	valid bool       // false: reload from the stream before use
	p     *domain.Project
	last  uint64 // stream sequence of the project's last event
	prev  string // its hash
	// keys are the events each idempotency key recorded, by actor and key.
	keys map[string][]eventstore.Stored
}

func idemKey(actor, key string) string { return actor + "\x00" + key }

// load rebuilds the aggregate from the project's stored history.
func (a *aggregate) load(id domain.ProjectID, hist []eventstore.Stored) error {
	p, err := Fold(id, hist)
	if err != nil {
		return err
	}
	a.p, a.last, a.prev, a.keys = p, 0, "", nil
	for _, h := range hist {
		a.record(h)
	}
	a.valid = true
	return nil
}

// record notes a stored event of the project: its sequence, its hash, its idempotency key.
func (a *aggregate) record(s eventstore.Stored) {
	a.last, a.prev = s.Seq, s.Envelope.Hash
	if k := s.Envelope.IdempotencyKey; k != "" {
		if a.keys == nil {
			a.keys = map[string][]eventstore.Stored{}
		}
		s.Raw = nil // the references are enough for a replayed answer
		a.keys[idemKey(s.Envelope.Actor, k)] = append(a.keys[idemKey(s.Envelope.Actor, k)], s)
	}
}

// cache keeps the aggregates of the most recently used projects.
type cache struct {
	mu    sync.Mutex // guards byID, order
	max   int
	byID  map[domain.ProjectID]*list.Element
	order *list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	id  domain.ProjectID
	agg *aggregate
}

func newCache(max int) *cache {
	return &cache{max: max, byID: map[domain.ProjectID]*list.Element{}, order: list.New()}
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
	c.byID[id] = c.order.PushFront(&cacheEntry{id, a})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.byID, old.Value.(*cacheEntry).id)
	}
	return a
}
