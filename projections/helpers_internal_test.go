package projections

import (
	"testing"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/testload"
)

// testStore returns a store filled with random histories.
func testStore(t *testing.T) *eventstore.Store {
	st := testload.Store(t, t.TempDir())
	testload.Load(t, st, 21, 30, 60, false)
	return st
}

// testloadMore adds the histories of ten more projects.
func testloadMore(t *testing.T, st *eventstore.Store, round int) {
	testload.Load(t, st, uint64(30+round), 10, 60, false)
}
