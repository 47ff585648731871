package domain

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomCommand returns a plausible command with random fields: right often
// enough to move a project along, wrong often enough to hit every refusal.
func randomCommand(r *rand.Rand, at At, changeSeq *int) (Actor, Command) {
	srcs := []Source{SourceCentralBudget, SourceProvincialFund, SourceCityFund}
	src := srcs[r.IntN(len(srcs))]
	amt := Fen(r.IntN(400)+1) * Wan / 4
	switch r.IntN(22) {
	case 0:
		return drc, &Screen{At: at}
	case 1:
		n := 4 + r.IntN(3)
		return owner, &SubmitApplicationReport{At: at, Reference: "r", Attachments: allAttachments[:n]}
	case 2:
		if r.IntN(6) == 0 {
			return province, &RecordReview{At: at, Outcome: "rejected", Reason: "r"}
		}
		return province, &RecordReview{At: at, Outcome: "passed", Reference: "r"}
	case 3:
		return ndrc, &RecordNationalReply{At: at, Reference: "r"}
	case 4:
		return ndrc, &IssueInvestmentPlan{At: at, Reference: "r", Awards: Amounts{SourceCentralBudget: Fen(r.IntN(800)+1) * Wan, SourceProvincialFund: Fen(r.IntN(200)+1) * Wan}}
	case 5:
		return owner, &OpenSpecialAccount{At: at, Bank: "b", AccountRef: "1"}
	case 6, 7, 8, 9:
		return finance, &Disburse{At: at, Source: src, Amount: amt, Basis: "b"}
	case 10:
		return ndrc, &PassPilotAssessment{At: at, Reference: "r"}
	case 11:
		return owner, &ReportProgress{At: at, AsOf: Date(at.EffectiveTime.Format(time.DateOnly)), InvestmentCompleted: amt * 10, PhysicalProgressBP: int64(r.IntN(10001))}
	case 12:
		*changeSeq++
		kinds := []ChangeKind{ChangeContent, ChangeOwnerRename, ChangeTotalInvestment}
		c := &RequestChange{At: at, ChangeID: fmt.Sprintf("c%d", *changeSeq), Kind: kinds[r.IntN(3)], Description: "d"}
		switch c.Kind {
		case ChangeOwnerRename:
			c.NewOwner = fmt.Sprintf("owner %d", *changeSeq)
		case ChangeTotalInvestment:
			c.NewTotalInvestment, c.Explanation = Fen(r.IntN(6000)+1000)*Wan, "e"
		}
		return owner, c
	case 13:
		out := "approved"
		if r.IntN(3) == 0 {
			out = "rejected"
		}
		return province, &DecideChange{At: at, ChangeID: fmt.Sprintf("c%d", r.IntN(*changeSeq+1)), Outcome: out, Reference: "r", Reason: "r"}
	case 14:
		return auditor, &RecordInspection{At: at, Kind: "audit", Body: "b"}
	case 15:
		return owner, &Complete{At: at, ActualTotalInvestment: Fen(r.IntN(6000)+1000) * Wan, DelayExplanation: "d", VarianceExplanation: "v"}
	case 16:
		return owner, &FileAcceptanceItem{At: at, Item: RequiredAcceptanceItems[r.IntN(3)], Reference: "r"}
	case 17:
		return owner, &RequestAcceptance{At: at}
	case 18:
		if r.IntN(4) == 0 {
			return province, &RecordAcceptance{At: at, Outcome: "failed", Reason: "r"}
		}
		return province, &RecordAcceptance{At: at, Outcome: "passed", Reference: "r"}
	case 19:
		if r.IntN(3) == 0 {
			return province, &Terminate{At: at, Reason: "r", Reference: "r"}
		}
		return finance, &Disburse{At: at, Source: src, Amount: amt, Basis: "b"}
	case 20:
		return finance, &Refund{At: at, Source: src, Amount: amt / Fen(r.IntN(3)+1), Reference: "r"}
	default:
		return drc, &Close{At: at}
	}
}

type recorded struct {
	e  Event
	at time.Time
}

// TestPropertyMoneyConservedAndReplayDeterministic drives many random command
// sequences and checks, after every accepted command, that per funding source
// 0 ≤ disbursed − refunded ≤ disbursed ≤ awarded; and at the end, that folding
// the recorded events into a fresh project gives exactly the same state.
func TestPropertyMoneyConservedAndReplayDeterministic(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 50
	}
	statuses := map[Status]int{}
	accepted, refused := 0, 0
	for seed := 1; seed <= seeds; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 2026))
		p := NewProject("P1")
		reg := registration(day(0))
		reg.CompletedInvestment = Fen(r.IntN(2000)) * Wan
		var history []recorded
		apply := func(evs []Event, at time.Time) {
			for _, e := range evs {
				p.Apply(e, at)
				history = append(history, recorded{e, at})
			}
		}
		evs, err := p.Decide(reg, drc, now)
		if err != nil {
			t.Fatalf("seed %d: register: %v", seed, err)
		}
		apply(evs, reg.EffectiveTime)
		changeSeq := 0
		for i := 1; i <= 80; i++ {
			at := day(i * 7)
			actor, cmd := randomCommand(r, at, &changeSeq)
			evs, err := p.Decide(cmd, actor, now)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("seed %d step %d %s: error is not a domain refusal: %v", seed, i, cmd.CommandName(), err)
				}
				refused++
				continue
			}
			accepted++
			apply(evs, at.EffectiveTime)
			for _, s := range Sources {
				d, f, a := p.disbursed[s], p.refunded[s], p.awarded[s]
				if !(0 <= d-f && d-f <= d && d <= a) {
					t.Fatalf("seed %d step %d after %s: source %s disbursed %d refunded %d awarded %d", seed, i, cmd.CommandName(), s, d, f, a)
				}
			}
		}
		statuses[p.Status()]++
		replayed := NewProject("P1")
		for _, h := range history {
			replayed.Apply(h.e, h.at)
		}
		if got, want := replayed.View(), p.View(); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: replay differs:\n got %+v\nwant %+v", seed, got, want)
		}
	}
	t.Logf("%d seeds: %d commands accepted, %d refused; final statuses %v", seeds, accepted, refused, statuses)
	// The generator must reach deep into the lifecycle, or the property says little.
	for _, s := range []Status{StatusImplementing, StatusClosed, StatusTerminated} {
		if statuses[s] == 0 && !testing.Short() {
			t.Errorf("no random history ended in %s: the generator is too weak", s)
		}
	}
}
