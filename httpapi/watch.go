package httpapi

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// StreamWatch asks the event stream for its last sequence a few times a
// second, so that /healthz answers from what it last heard — at once, even
// while the stream's server is too busy to answer quickly — and says the
// stream is unavailable when it has not answered for a while.
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

// LastSequence is the last sequence the stream reported, if it answered
// within the last few seconds; before the first answer it asks the stream.
func (w *StreamWatch) LastSequence(ctx context.Context) (uint64, error) {
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
