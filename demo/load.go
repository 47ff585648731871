package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Stats tells what a load did.
type Stats struct {
	Projects int
	Commands int
	Recorded int // commands that recorded events now
	Replayed int // commands an earlier load had recorded already
}

// Apply posts every step of the dataset to the ledger at base, as any client
// would, each with an Idempotency-Key derived from the project and step, so
// that loading twice records nothing the second time. Projects load in
// parallel (workers), each project's steps in order. progress, when not nil,
// is called after each command with the count done and the total, by one
// worker at a time.
//
// token returns the bearer token of the user who records a step (the user
// UserID names); nil sends none (a ledger without authentication).
func Apply(ctx context.Context, client *http.Client, base string, d *Dataset, workers int, token func(Step) string, progress func(done, total int)) (Stats, error) {
	base = strings.TrimRight(base, "/")
	total := 0
	for _, p := range d.Projects {
		total += len(p.Steps)
	}
	var done, recorded, replayed atomic.Int64
	var progressMu sync.Mutex // progress is called by one worker at a time
	jobs := make(chan *Project)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				for i, s := range p.Steps {
					rep, err := post(ctx, client, base, p.ID, i, s, token)
					if err != nil {
						errs <- err
						cancel()
						return
					}
					if rep {
						replayed.Add(1)
					} else {
						recorded.Add(1)
					}
					if progress != nil {
						progressMu.Lock()
						progress(int(done.Add(1)), total)
						progressMu.Unlock()
					}
				}
			}
		}()
	}
feed:
	for i := range d.Projects {
		select {
		case jobs <- &d.Projects[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	return Stats{Projects: len(d.Projects), Commands: total, Recorded: int(recorded.Load()), Replayed: int(replayed.Load())}, nil
}

// post sends one step and reports whether the ledger replayed an earlier result.
func post(ctx context.Context, client *http.Client, base, id string, i int, s Step, token func(Step) string) (bool, error) {
	body, err := json.Marshal(s.Body)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+s.Path, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != nil {
		req.Header.Set("Authorization", "Bearer "+token(s))
	} else {
		req.Header.Set("Ledger-Actor", url.PathEscape(s.Actor))
	}
	req.Header.Set("Ledger-Role", string(s.Role))
	req.Header.Set("Idempotency-Key", fmt.Sprintf(`"demo:%s:%d"`, id, i))
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("demo project %s step %d (POST %s): %w", id, i, s.Path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return false, fmt.Errorf("demo project %s step %d (POST %s): %s: %s", id, i, s.Path, resp.Status, msg)
	}
	return resp.Header.Get("Idempotent-Replayed") == "true", nil
}
