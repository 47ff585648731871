package domain

import (
	"testing"
)

// TestFourEyesDisbursement: above the threshold a tranche is prepared, not
// paid; its preparer may not approve it; a second finance user's approval
// pays it (two events, atomically: the approval and the payment); the award
// cap counts what is prepared; and Reproduce accounts for both steps, so
// that such history verifies.
func TestFourEyesDisbursement(t *testing.T) {
	p := run(t, stages()[StatusImplementing]) // award 500万, 200万 paid; a pilot programme: 250万 before its assessment
	a, b := finance, finance
	a.ID, b.ID = "cw-1", "cw-2"
	apply := func(evs []Event, by Actor, cmd Command) {
		for _, e := range evs {
			p.ApplyBy(e, cmd.EffectiveAt(), by)
		}
	}
	prep := &Disburse{At: day(20), Source: SourceCentralBudget, Amount: 30 * Wan, Basis: "进度检查", FourEyesAbove: 10 * Wan}
	evs, err := p.Decide(prep, a, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("prepare: %v %v", evs, err)
	}
	pe, ok := evs[0].(DisbursementPrepared)
	if !ok || pe.PreparationID != "D1" || pe.Threshold != 10*Wan {
		t.Fatalf("prepare yields %#v", evs[0])
	}
	apply(evs, a, prep)
	if v := p.View(); v.Disbursed[SourceCentralBudget] != 200*Wan || len(v.Preparations) != 1 || v.Preparations[0].State != "pending" {
		t.Fatalf("after preparing: disbursed %v, preparations %+v", v.Disbursed, v.Preparations)
	}
	// What is prepared counts against the caps: 200 paid + 30 prepared + 30 > 250 (R18).
	if _, err := p.Decide(&Disburse{At: day(21), Source: SourceCentralBudget, Amount: 30 * Wan, Basis: "b", FourEyesAbove: 10 * Wan}, b, now); Code(err) != CodePredisbursementLimit {
		t.Fatalf("preparing beyond the award: %v", err)
	}
	approve := &ApproveDisbursement{At: day(22), PreparationID: "D1"}
	if _, err := p.Decide(approve, a, now); Code(err) != CodeFourEyes {
		t.Fatalf("approved by its preparer: %v", err)
	}
	evs, err = p.Decide(approve, b, now)
	if err != nil || len(evs) != 2 {
		t.Fatalf("approve: %v %v", evs, err)
	}
	if _, ok := evs[0].(DisbursementApproved); !ok {
		t.Fatalf("approve yields %#v first", evs[0])
	}
	if fd, ok := evs[1].(FundsDisbursed); !ok || fd.Amount != 30*Wan || fd.Tranche != 2 {
		t.Fatalf("approve yields %#v second", evs[1])
	}
	// Reproduce accounts for the approval's two events.
	q := run(t, stages()[StatusImplementing])
	q.ApplyBy(pe, day(20).EffectiveAt(), a)
	if n, err := q.Reproduce(CurrentRulebook(), evs, b, day(22).EffectiveAt(), now); err != nil || n != 2 {
		t.Fatalf("reproduce the approval: %d, %v", n, err)
	}
	apply(evs, b, approve)
	if _, err := p.Decide(approve, b, now); Code(err) != CodeNoSuchPreparation {
		t.Fatalf("approving twice: %v", err)
	}
	if v := p.View(); v.Disbursed[SourceCentralBudget] != 230*Wan || v.Preparations[0].State != "approved" {
		t.Fatalf("after approval: %v %+v", v.Disbursed, v.Preparations)
	}
	// At or below the threshold a tranche is paid at once.
	evs, err = p.Decide(&Disburse{At: day(23), Source: SourceCentralBudget, Amount: 10 * Wan, Basis: "b", FourEyesAbove: 10 * Wan}, a, now)
	if err != nil || len(evs) != 1 {
		t.Fatalf("a tranche at the threshold: %v %v", evs, err)
	}
	if _, ok := evs[0].(FundsDisbursed); !ok {
		t.Fatalf("a tranche at the threshold yields %#v", evs[0])
	}
}
