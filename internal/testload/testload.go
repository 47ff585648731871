// Package testload fills an event store with seeded random project
// histories for tests, through the store's append path: each command's
// events (or, to be quick, each project's whole history) in one atomic,
// hash-chained append at the project's expected sequence.
package testload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/domain/domaintest"
	"github.com/zjfund/ledger/eventstore"
)

var (
	cst = time.FixedZone("CST", 8*3600)
	// Start is when the first history begins; Now is the recording clock.
	Start = time.Date(2009, 3, 1, 9, 0, 0, 0, cst)
	Now   = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
)

// TB is what Load needs of a test (testing.TB has it).
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Load appends random histories for n projects of steps random commands
// each, seeded with seed, and returns their ids. With wholeHistory each
// project's events go in one atomic append (at most 1000), else one append
// per command.
func Load(t TB, st *eventstore.Store, seed uint64, n, steps int, wholeHistory bool) []domain.ProjectID {
	t.Helper()
	ctx := context.Background()
	var ids []domain.ProjectID
	for i := 0; i < n; i++ {
		id := domain.ProjectID(fmt.Sprintf("S%d-P%05d", seed, i))
		ids = append(ids, id)
		g := domaintest.New(seed*100000 + uint64(i))
		groups := g.History(id, Start.AddDate(0, i%12, 0), steps, Now)
		reg := groups[0][0].Event.(domain.ProjectRegistered)
		var last uint64
		var prev string
		var drafts []eventstore.Draft
		flush := func() {
			if len(drafts) == 0 {
				return
			}
			stored, err := st.Append(ctx, eventstore.AppendRequest{Project: id, City: reg.City, County: reg.County, Expected: last, PrevHash: prev, Events: drafts})
			if err != nil {
				t.Fatal(err)
			}
			last, prev, drafts = stored[len(stored)-1].Seq, stored[len(stored)-1].Envelope.Hash, nil
		}
		for _, group := range groups {
			for _, rec := range group {
				drafts = append(drafts, eventstore.Draft{ID: uuid.Must(uuid.NewV7()).String(), Event: rec.Event, Time: rec.At, Actor: rec.Actor})
			}
			if !wholeHistory || len(drafts) > 900 {
				flush()
			}
		}
		flush()
	}
	return ids
}

// Store starts an embedded nats-server on dir for the test's lifetime and
// opens the ledger's stream on it.
func Store(t testing.TB, dir string) *eventstore.Store {
	t.Helper()
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	st, err := eventstore.Open(context.Background(), nc, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close) // before the connection and the server (cleanups run last first)
	return st
}

// Prepared returns a store on dir holding projects random histories (about
// 30 events each, each project in one atomic append), loading them only when
// dir holds no store yet, so that a benchmark can reuse a large store run
// after run. An empty dir means a temporary one.
func Prepared(t testing.TB, dir string, projects int) *eventstore.Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	_, statErr := os.Stat(filepath.Join(dir, "jetstream"))
	st := Store(t, dir)
	if statErr != nil {
		start := time.Now()
		Load(t, st, 1, projects, 200, true)
		t.Logf("loaded %d projects in %s", projects, time.Since(start))
	}
	return st
}
