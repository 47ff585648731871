package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/zjfund/ledger/projections"
)

// asOfCache keeps the models of the last few as-of dates asked for, each
// replayed up to some stream position. A query for one of those dates
// folds only the events stored since (the replay is incremental: what was
// stored later changes a past date only by being folded in, in stream
// order), and concurrent queries for one date share one replay, so that
// the stream is read from its start once per date, not once per query.
type asOfCache struct {
	mu      sync.Mutex // guards entries, order
	entries map[time.Time]*asOfEntry
	order   []time.Time // least recently used first
	max     int
}

type asOfEntry struct {
	mu sync.RWMutex // held to advance m; held for reading while a query reads it
	m  *projections.Model
}

func newAsOfCache(max int) *asOfCache {
	return &asOfCache{entries: map[time.Time]*asOfEntry{}, max: max}
}

func (c *asOfCache) entry(asOf time.Time) *asOfEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := asOf.UTC()
	e := c.entries[key]
	if e == nil {
		e = &asOfEntry{m: projections.NewModel()}
		c.entries[key] = e
		if len(c.order) >= c.max {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
	} else {
		for i, k := range c.order {
			if k.Equal(key) {
				c.order = append(c.order[:i], c.order[i+1:]...)
				break
			}
		}
	}
	c.order = append(c.order, key)
	return e
}

// read brings the date's model up to the stream's last position (calling
// replay, which bounds concurrent replays, only when there is something to
// fold) and calls fn with it under the entry's read lock.
func (c *asOfCache) read(ctx context.Context, src projections.Source, asOf time.Time, replay func(func() error) error, fn func(*projections.Model)) error {
	e := c.entry(asOf)
	last, err := src.LastSequence(ctx)
	if err != nil {
		return err
	}
	e.mu.RLock()
	behind := e.m.Applied < last
	e.mu.RUnlock()
	if behind {
		e.mu.Lock()
		if e.m.Applied < last {
			err = replay(func() error {
				return projections.Continue(ctx, src, e.m, projections.ReplayOptions{Until: last, AsOf: asOf})
			})
		}
		e.mu.Unlock()
		if err != nil {
			return err
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.m)
	return nil
}
