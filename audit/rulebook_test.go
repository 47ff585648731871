package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// TestVerifyReproducesEachEventUnderItsRulebook: a history decided under
// rulebook 1 (a central project screened against 30%, paid with no progress
// reported, terminated by the province alone) verifies after rulebook 2
// changed those rules, because its events record rulebook 1; the same
// events recorded as rulebook 2's, or as a rulebook the ledger does not
// know, fail verification at the first event the rules would not have made.
func TestVerifyReproducesEachEventUnderItsRulebook(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	at := time.Date(2009, 3, 1, 10, 0, 0, 0, cst)
	d := func(n int) domain.At { return domain.At{EffectiveTime: at.AddDate(0, 0, n)} }
	drc := domain.Actor{Name: "上虞市发改局", Role: domain.RoleCountyDRC}
	prov := domain.Actor{Name: "省发改委资环处", Role: domain.RoleProvinceDRC}
	ndrc := domain.Actor{Name: "国家发改委", Role: domain.RoleNDRC}
	fin := domain.Actor{Name: "上虞市财政局", Role: domain.RoleFinance}
	own := domain.Actor{Name: "浙江某化工有限公司", Role: domain.RoleOwner}
	var atts []domain.Attachment
	for _, k := range domain.RequiredAttachments {
		atts = append(atts, domain.Attachment{Kind: k, Reference: k})
	}
	script := []struct {
		a domain.Actor
		c domain.Command
	}{
		{drc, &domain.RegisterProject{At: d(0), ID: "RB", Name: "余热发电", Owner: own.Name, City: "330600", County: "330682", Category: "waste_heat",
			Programmes: []string{"central_rcep"}, TotalInvestment: 5000 * domain.Wan, CompletedInvestment: 500 * domain.Wan,
			PlannedStart: "2009-01-01", PlannedEnd: "2010-12-31", Requested: domain.Amounts{domain.SourceCentralBudget: 600 * domain.Wan}}},
		{drc, &domain.Screen{At: d(1)}},
		{own, &domain.SubmitApplicationReport{At: d(2), Reference: "r", Attachments: atts}},
		{prov, &domain.RecordReview{At: d(3), Outcome: "passed", Reference: "r"}},
		{ndrc, &domain.RecordNationalReply{At: d(4), Reference: "r"}},
		{ndrc, &domain.IssueInvestmentPlan{At: d(5), Reference: "r", Awards: domain.Amounts{domain.SourceCentralBudget: 400 * domain.Wan}}},
		{own, &domain.OpenSpecialAccount{At: d(6), Bank: "b", AccountRef: "1"}},
		{fin, &domain.Disburse{At: d(7), Source: domain.SourceCentralBudget, Amount: 300 * domain.Wan, Basis: "b"}},
		{prov, &domain.Terminate{At: d(8), Reason: "r", Reference: "r"}},
	}
	v1, _ := domain.RulebookVersion("1")
	now := time.Now()
	record := func(stamp string) *ledgerT {
		l := openLedger(t, t.TempDir())
		p := domain.NewProject("RB")
		var last uint64
		var prev string
		for i, s := range script {
			evs, err := p.DecideUnder(v1, s.c, s.a, now)
			if err != nil {
				t.Fatalf("rulebook 1, step %d: %v", i, err)
			}
			var drafts []eventstore.Draft
			for _, e := range evs {
				drafts = append(drafts, eventstore.Draft{ID: uuid.Must(uuid.NewV7()).String(), Event: e, Time: s.c.EffectiveAt(), Actor: s.a, Rulebook: stamp})
				p.Apply(e, s.c.EffectiveAt())
			}
			st, err := l.store.Append(context.Background(), eventstore.AppendRequest{Project: "RB", City: "330600", County: "330682", Expected: last, PrevHash: prev, Events: drafts})
			if err != nil {
				t.Fatal(err)
			}
			last, prev = st[len(st)-1].Seq, st[len(st)-1].Envelope.Hash
			if got := st[0].Envelope.Rulebook; got != stamp {
				t.Fatalf("stored rulebook %q, want %q", got, stamp)
			}
		}
		return l
	}
	run := func(stamp string) (audit.Result, error) {
		l := record(stamp)
		return audit.Verify(context.Background(), l.store, audit.VerifyOptions{})
	}
	res, err := run("1")
	if err != nil || res.Events != uint64(len(script)) {
		t.Fatalf("rulebook 1 events: %+v, %v", res, err)
	}
	for _, c := range []struct{ stamp, want string }{
		{"2", `"threshold_bp":4000`}, // the screening's threshold is 40% in rulebook 2
		{"7", "rulebook version"},
	} {
		_, err := run(c.stamp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("the same events recorded as rulebook %s: %v, want a failure naming %s", c.stamp, err, c.want)
		}
		t.Logf("as rulebook %s: %v", c.stamp, err)
	}
}
