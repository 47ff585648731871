package httpapi

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// StreamWatch asks the event stream for its last sequence a few times a
// second. /healthz asks the stream itself first, briefly, and when the
// stream's server is too busy to answer that quickly it answers from what
// the watch last heard; it says the stream is unavailable only when it has
// not answered for a while.
type StreamWatch struct {
	src   Health
	every time.Duration
	stale time.Duration

	mu   sync.Mutex // guards last, at, err
	last uint64
	at   time.Time // when the stream last answered
	err  error     // its last failure
}

// NewStreamWatch watches src every 250 ms; an answer older than 5 s is stale.
func NewStreamWatch(src Health) *StreamWatch {
	return &StreamWatch{src: src, every: 250 * time.Millisecond, stale: 5 * time.Second}
}

// Run polls until ctx ends.
func (w *StreamWatch) Run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, w.stale)
		seq, err := w.src.LastSequence(pctx)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.last, w.at, w.err = seq, time.Now(), nil
		} else if ctx.Err() == nil {
			w.err = err
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// quick is how long LastSequence waits for the stream before it answers
// from the watch.
const quick = 250 * time.Millisecond

// LastSequence is the stream's last sequence as it answers within a
// quarter of a second, or else as it last reported, if that was within the
// last few seconds.
func (w *StreamWatch) LastSequence(ctx context.Context) (uint64, error) {
	qctx, cancel := context.WithTimeout(ctx, quick)
	seq, err := w.src.LastSequence(qctx)
	cancel()
	if err == nil {
		w.mu.Lock()
		if seq >= w.last {
			w.last, w.at, w.err = seq, time.Now(), nil
		}
		w.mu.Unlock()
		return seq, nil
	}
	w.mu.Lock()
	last, at, err := w.last, w.at, w.err
	w.mu.Unlock()
	switch {
	case at.IsZero():
		return w.src.LastSequence(ctx)
	case time.Since(at) > w.stale:
		return 0, fmt.Errorf("the event stream has not answered for %s: %v", time.Since(at).Round(time.Second), err)
	}
	return last, nil
}
