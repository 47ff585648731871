package projections

import (
	"context"
	"testing"
	"time"

	"github.com/zjfund/ledger/internal/testload"
)

// TestContinueEqualsReplay: a replay as of a date, continued over the
// events stored after it (back-dated ones among them), equals a replay of
// the whole stream as of that date — what the API's as-of cache relies on.
func TestContinueEqualsReplay(t *testing.T) {
	st := testStore(t)
	ctx := context.Background()
	for _, asOf := range []time.Time{testload.Start.AddDate(0, 6, 0), testload.Start.AddDate(1, 0, 0), testload.Start.AddDate(5, 0, 0)} {
		m, err := Replay(ctx, st, ReplayOptions{AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		before := m.Applied
		// More histories: their events take effect from the same start, so
		// many of them fall before asOf although they are stored after.
		testloadMore(t, st, int(asOf.Unix()%1000))
		if err := Continue(ctx, st, m, ReplayOptions{AsOf: asOf}); err != nil {
			t.Fatal(err)
		}
		whole, err := Replay(ctx, st, ReplayOptions{AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		if m.Applied == before || m.Applied != whole.Applied || !Equal(m, whole) {
			t.Fatalf("as of %s: continued from %d to %d (%d projects); a whole replay to %d (%d projects)",
				asOf, before, m.Applied, len(m.Projects), whole.Applied, len(whole.Projects))
		}
		if len(whole.Projects) == 0 {
			t.Fatalf("as of %s: no project; the test shows nothing", asOf)
		}
	}
}
