package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/domain/domaintest"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/testload"
	"github.com/zjfund/ledger/projections"
)

var (
	cst   = time.FixedZone("CST", 8*3600)
	start = time.Date(2009, 3, 1, 9, 0, 0, 0, cst)
	now   = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
)

func openStore(t *testing.T, dir string) *eventstore.Store { return testload.Store(t, dir) }

func load(t *testing.T, st *eventstore.Store, seed uint64, n, steps int) []domain.ProjectID {
	return testload.Load(t, st, seed, n, steps, false)
}

func runEngine(t *testing.T, st *eventstore.Store, cfg projections.Config) (*projections.Engine, func()) {
	t.Helper()
	e, err := projections.NewEngine(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return e, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	}
}

func caughtUp(t *testing.T, st *eventstore.Store, e *projections.Engine) uint64 {
	t.Helper()
	last, err := st.LastSequence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.WaitFor(ctx, last); err != nil {
		t.Fatalf("projections did not reach %d: %v", last, err)
	}
	return last
}

// TestReadModelsEqualAnIndependentFold runs many seeded random lifecycles
// and checks every project's read model against the domain's own fold of its
// stored events, and the summary against sums taken straight from the events.
func TestReadModelsEqualAnIndependentFold(t *testing.T) {
	st := openStore(t, t.TempDir())
	var ids []domain.ProjectID
	for seed := uint64(1); seed <= 4; seed++ {
		ids = append(ids, load(t, st, seed, 40, 120)...)
	}
	e, stop := runEngine(t, st, projections.Config{})
	defer stop()
	last := caughtUp(t, st, e)
	ctx := context.Background()

	type sums struct {
		projects                             int
		awarded, disbursed, refunded, invest int64
		status                               map[domain.Status]int
	}
	want := map[string]*sums{}
	statuses := map[domain.Status]int{}
	terminated := 0 // projects that were terminated at some point
	for _, id := range ids {
		hist, err := st.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		p, err := app.Fold(id, hist)
		if err != nil {
			t.Fatal(err)
		}
		fold := p.View()
		statuses[fold.Status]++
		if _, ok := fold.Milestones["project_terminated"]; ok {
			terminated++
		}
		var got projections.ProjectView
		var found bool
		e.Read(func(m *projections.Model) {
			if r := m.Projects[string(id)]; r != nil {
				got, found = r.View(now), true
			}
		})
		if !found {
			t.Fatalf("project %s is missing from the read models", id)
		}
		check := func(what string, g, w any) {
			t.Helper()
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("project %s: %s: read model %v, fold %v", id, what, g, w)
			}
		}
		check("status", got.Status, fold.Status)
		check("owner", got.Owner, fold.Owner)
		check("total investment", got.TotalInvestment, int64(fold.TotalInvestment))
		check("awarded", got.Funding.Awarded, fold.Awarded)
		check("disbursed", got.Funding.Disbursed, fold.Disbursed)
		check("refunded", got.Funding.Refunded, fold.Refunded)
		check("outstanding", got.Funding.Outstanding, fold.Outstanding)
		check("refund due", got.Funding.RefundDue, orEmpty(fold.RefundDue))
		check("tranches", got.Funding.Tranches, fold.Tranches)
		check("inspections", got.Inspections, fold.Inspections)
		check("events", got.Events, fold.EventCount)
		check("version", got.Version, hist[len(hist)-1].Seq)
		var pending []string
		for _, c := range fold.Changes {
			if c.State == "pending" {
				pending = append(pending, c.ID)
			}
		}
		check("pending changes", got.PendingChanges, orNone(pending))
		var filed []string
		for _, it := range domain.RequiredAcceptanceItems {
			if _, ok := fold.AcceptanceItems[it]; ok {
				filed = append(filed, it)
			}
		}
		check("acceptance items", got.Acceptance.Filed, orNone(filed))
		for name, at := range fold.Milestones {
			ms, ok := map[string]string{"project_registered": "registered", "investment_plan_issued": "plan_issued",
				"construction_completed": "completed", "project_terminated": "terminated", "project_closed": "closed"}[name]
			if ok && !got.Progress.Milestones[ms].Equal(at) {
				t.Fatalf("project %s: milestone %s at %v, fold %v", id, ms, got.Progress.Milestones[ms], at)
			}
		}
		// Sums straight from the events, by city.
		for _, h := range hist {
			ev, err := h.Decode()
			if err != nil {
				t.Fatal(err)
			}
			s := want[string(fold.City)]
			if s == nil {
				s = &sums{status: map[domain.Status]int{}}
				want[string(fold.City)] = s
			}
			switch ev := ev.(type) {
			case domain.ProjectRegistered:
				s.projects++
			case domain.InvestmentPlanIssued:
				s.awarded += int64(ev.Awards.Total())
			case domain.FundsDisbursed:
				s.disbursed += int64(ev.Amount)
			case domain.FundsRefunded:
				s.refunded += int64(ev.Amount)
			}
		}
		want[string(fold.City)].invest += int64(fold.TotalInvestment)
		want[string(fold.City)].status[fold.Status]++
	}
	var groups []*projections.Group
	e.Read(func(m *projections.Model) {
		if m.Applied != last {
			t.Fatalf("model at %d, stream at %d", m.Applied, last)
		}
		groups, _, _ = projections.Summary(m, "city", projections.Filter{})
	})
	if len(groups) != len(want) {
		t.Fatalf("summary has %d cities, the events %d", len(groups), len(want))
	}
	for _, g := range groups {
		w := want[g.Key]
		if g.Projects != w.projects || g.Totals.Awarded != w.awarded || g.Totals.Disbursed != w.disbursed || g.Totals.Refunded != w.refunded ||
			g.TotalInvestment != w.invest || !reflect.DeepEqual(g.ByStatus, w.status) {
			t.Fatalf("city %s: summary %d projects, awarded %d, disbursed %d, refunded %d, investment %d, %v; events say %d, %d, %d, %d, %d, %v",
				g.Key, g.Projects, g.Totals.Awarded, g.Totals.Disbursed, g.Totals.Refunded, g.TotalInvestment, g.ByStatus,
				w.projects, w.awarded, w.disbursed, w.refunded, w.invest, w.status)
		}
	}
	t.Logf("%d projects, %d events; final statuses %v", len(ids), last, statuses)
	t.Logf("%d projects were terminated on the way", terminated)
	if statuses[domain.StatusClosed] == 0 || terminated == 0 {
		t.Fatalf("the random lifecycles reach too little of the lifecycle: %v", statuses)
	}
}

func orEmpty(a domain.Amounts) domain.Amounts {
	if a == nil {
		return domain.Amounts{}
	}
	return a
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestRestartFromCheckpointEqualsRebuild stops the engine in the middle
// of the stream, resumes from its checkpoint, and checks the result against
// a rebuild from zero — the same records, nothing applied twice.
func TestRestartFromCheckpointEqualsRebuild(t *testing.T) {
	st := openStore(t, t.TempDir())
	load(t, st, 7, 30, 50)
	snap := filepath.Join(t.TempDir(), "model.json")
	e, stop := runEngine(t, st, projections.Config{SnapshotPath: snap, SnapshotEvery: 100})
	caughtUp(t, st, e)
	stop() // writes a checkpoint at the end
	load(t, st, 8, 10, 50)
	e2, stop2 := runEngine(t, st, projections.Config{SnapshotPath: snap})
	if e2.Applied() == 0 {
		t.Fatal("the engine did not resume from its checkpoint")
	}
	caughtUp(t, st, e2)
	stop2()
	rebuilt, err := projections.Rebuild(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	e2.Read(func(m *projections.Model) {
		if !projections.Equal(m, rebuilt) {
			t.Fatalf("resumed model differs from a rebuild: applied %d vs %d, %d vs %d projects", m.Applied, rebuilt.Applied, len(m.Projects), len(rebuilt.Projects))
		}
	})
}

// badDisbursement has a known type with data that does not decode into it.
type badDisbursement struct {
	Amount string `json:"amount"`
}

func (badDisbursement) EventType() string { return "funds_disbursed.v1" }

// grantAwarded is a type the read models do not know.
type grantAwarded struct {
	Amount int64 `json:"amount"`
}

func (grantAwarded) EventType() string { return "grant_awarded.v9" }

func TestUnknownTypesAreSkippedAndUndecodableOnesStopTheWorker(t *testing.T) {
	st := openStore(t, t.TempDir())
	ids := load(t, st, 3, 2, 20)
	ctx := context.Background()
	appendRaw := func(e domain.Event) uint64 {
		hist, _ := st.Load(ctx, ids[0])
		last := hist[len(hist)-1]
		s, err := st.Append(ctx, eventstore.AppendRequest{Project: ids[0], City: "330600", County: "330682", Expected: last.Seq, PrevHash: last.Envelope.Hash,
			Events: []eventstore.Draft{{ID: uuid.NewString(), Event: e, Time: start, Actor: domaintest.DRC}}})
		if err != nil {
			t.Fatal(err)
		}
		return s[0].Seq
	}
	skipped := appendRaw(grantAwarded{Amount: 5})
	e, err := projections.NewEngine(ctx, st, projections.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	caughtUp(t, st, e)
	e.Read(func(m *projections.Model) {
		if m.Skipped != 1 || m.Applied != skipped {
			t.Fatalf("after an unknown type: skipped %d, applied %d; want 1 and %d", m.Skipped, m.Applied, skipped)
		}
	})
	bad := appendRaw(badDisbursement{Amount: "lots"})
	var de *projections.DecodeError
	select {
	case err := <-done:
		if !errors.As(err, &de) || de.Seq != bad || de.Type != "funds_disbursed.v1" {
			t.Fatalf("worker stopped with %v; want a DecodeError at %d of funds_disbursed.v1", err, bad)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop on an undecodable event")
	}
	if !errors.As(e.Err(), &de) || e.Applied() != bad-1 {
		t.Fatalf("after the stop: Err %v, applied %d; want the DecodeError and %d", e.Err(), e.Applied(), bad-1)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	if err := e.WaitFor(wctx, bad); !errors.Is(err, projections.ErrStopped) {
		t.Fatalf("waiting for a position past the stop: %v, want ErrStopped", err)
	}
}

func TestRedeliveredSequenceIsANoOp(t *testing.T) {
	st := openStore(t, t.TempDir())
	load(t, st, 5, 3, 30)
	m := projections.NewModel()
	var all []eventstore.Stored
	if err := st.Read(context.Background(), eventstore.ReadOptions{}, func(s eventstore.Stored) error {
		all = append(all, s)
		return m.Apply(s)
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := snapshotOf(m)
	for _, s := range all {
		if err := m.Apply(s); err != nil { // every event again
			t.Fatal(err)
		}
	}
	if after, _ := snapshotOf(m); after != before {
		t.Fatal("applying redelivered sequences changed the model")
	}
}

// snapshotOf encodes the model deterministically (JSON sorts map keys).
func snapshotOf(m *projections.Model) (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

func TestAsOfReplay(t *testing.T) {
	st := openStore(t, t.TempDir())
	svc := app.New(st, nil)
	ctx := context.Background()
	do := func(actor domain.Actor, cmd domain.Command) {
		t.Helper()
		if _, err := svc.Handle(ctx, app.Request{Project: "A", Command: cmd, Actor: actor}); err != nil {
			t.Fatalf("%s: %v", cmd.CommandName(), err)
		}
	}
	at := func(y int, m time.Month, d int) domain.At {
		return domain.At{EffectiveTime: time.Date(y, m, d, 10, 0, 0, 0, cst)}
	}
	reg := domaintest.New(1).Registration("A", at(2011, 1, 5).EffectiveTime)
	reg.Programmes, reg.CompletedInvestment = []string{"central_rcep"}, 0
	do(domaintest.DRC, reg)
	do(domaintest.DRC, &domain.Screen{At: at(2011, 1, 6)})
	var atts []domain.Attachment
	for _, k := range domain.RequiredAttachments {
		atts = append(atts, domain.Attachment{Kind: k, Reference: k})
	}
	do(domaintest.Owner, &domain.SubmitApplicationReport{At: at(2011, 2, 1), Reference: "r", Attachments: atts})
	do(domaintest.Province, &domain.RecordReview{At: at(2011, 3, 1), Outcome: "passed", Reference: "r"})
	do(domaintest.NDRC, &domain.RecordNationalReply{At: at(2011, 4, 1), Reference: "r"})
	do(domaintest.NDRC, &domain.IssueInvestmentPlan{At: at(2011, 5, 1), Reference: "r", Awards: domain.Amounts{domain.SourceCentralBudget: 500 * domain.Wan}})
	do(domaintest.Owner, &domain.OpenSpecialAccount{At: at(2011, 5, 2), Bank: "b", AccountRef: "1"})
	do(domaintest.Owner, &domain.ReportProgress{At: at(2011, 8, 30), AsOf: "2011-08-30", InvestmentCompleted: reg.TotalInvestment, PhysicalProgressBP: 10000})
	do(domaintest.Finance, &domain.Disburse{At: at(2011, 9, 1), Source: domain.SourceCentralBudget, Amount: 200 * domain.Wan, Basis: "b"})
	do(domaintest.Finance, &domain.Disburse{At: at(2012, 2, 1), Source: domain.SourceCentralBudget, Amount: 100 * domain.Wan, Basis: "b"})

	asOf := func(date string, until uint64) (int64, uint64) {
		d, _ := domain.ParseDate(date)
		m, err := projections.Replay(ctx, st, projections.ReplayOptions{AsOf: d.Time().AddDate(0, 0, 1).Add(-time.Nanosecond), Until: until})
		if err != nil {
			t.Fatal(err)
		}
		return m.Projects["A"].Disbursed.Sum(), m.Applied
	}
	if got, _ := asOf("2011-08-31", 0); got != 0 {
		t.Fatalf("as of 2011-08-31 disbursed %d, want 0 (the first tranche is on 2011-09-01)", got)
	}
	first, pos := asOf("2011-12-31", 0)
	if first != int64(200*domain.Wan) {
		t.Fatalf("as of 2011-12-31 disbursed %d, want 200万", first)
	}
	do(domaintest.Finance, &domain.Disburse{At: at(2012, 3, 1), Source: domain.SourceCentralBudget, Amount: 100 * domain.Wan, Basis: "b"})
	again, pos2 := asOf("2011-12-31", 0)
	if again != first || pos2 <= pos {
		t.Fatalf("as of 2011-12-31 again after an append: %d at %d, first %d at %d", again, pos2, first, pos)
	}
	if got, _ := asOf("2026-01-01", pos); got != int64(300*domain.Wan) {
		t.Fatalf("as of stream position %d: %d, want 300万", pos, got)
	}
	if got, _ := asOf("2026-01-01", 0); got != int64(400*domain.Wan) {
		t.Fatalf("now: %d, want 400万", got)
	}
}
