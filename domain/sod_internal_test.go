package domain

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestSeparationOfDutiesKeysOnUserIDs: the same user id on both sides of a
// duty is refused with the rule's code; steps recorded by names alone,
// before the ledger authenticated, are outside the rule (so such history
// still verifies); two users are fine.
func TestSeparationOfDutiesKeysOnUserIDs(t *testing.T) {
	script := stages()[StatusAcceptanceRequested]
	fold := func(requesterID string) *Project {
		p := NewProject("P1")
		for i, s := range script {
			a := s.actor
			if _, ok := s.cmd.(*RequestAcceptance); ok {
				a.ID = requesterID
			}
			evs, err := p.Decide(s.cmd, a, now)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			for _, e := range evs {
				p.ApplyBy(e, s.cmd.EffectiveAt(), a)
			}
		}
		return p
	}
	decide := &RecordAcceptance{At: day(13), Outcome: "passed", Reference: "验收 1"}
	for _, c := range []struct {
		requester, decider string
		code               string
	}{
		{"u-1", "u-1", CodeSoDAcceptance},
		{"u-1", "u-2", ""},
		{"", "", ""},    // names only, before authentication
		{"", "u-1", ""}, // requested before authentication
	} {
		p := fold(c.requester)
		a := province
		a.ID = c.decider
		_, err := p.Decide(decide, a, now)
		var de *Error
		switch {
		case c.code == "" && err != nil:
			t.Fatalf("requested by %q, decided by %q: %v", c.requester, c.decider, err)
		case c.code != "" && (!errors.As(err, &de) || de.Code != c.code || de.Kind != KindForbidden || de.Rule != "SoD"):
			t.Fatalf("requested by %q, decided by %q: %v, want %s", c.requester, c.decider, err, c.code)
		}
	}
}

// TestPropertyAcceptanceSeparated walks 200 lifecycles to an acceptance
// request, each step by one of a few users (an office may hold several
// roles), then has a random one of them decide: no accepted decision is by
// the user who requested it, and each refusal names the rule.
func TestPropertyAcceptanceSeparated(t *testing.T) {
	script := stages()[StatusAcceptanceRequested]
	refused, decided := 0, 0
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		pick := func() string { return []string{"u-0", "u-1", "u-2"}[r.IntN(3)] }
		p := NewProject("P1")
		requester := ""
		for i, s := range script {
			a := s.actor
			a.ID = pick()
			evs, err := p.Decide(s.cmd, a, now)
			if err != nil {
				// A disbursement by the plan's issuer: another user pays.
				var de *Error
				if !errors.As(err, &de) || de.Code != CodeSoDDisburse {
					t.Fatalf("seed %d step %d: %v", seed, i, err)
				}
				a.ID = "u-finance"
				if evs, err = p.Decide(s.cmd, a, now); err != nil {
					t.Fatalf("seed %d step %d: %v", seed, i, err)
				}
			}
			if _, ok := s.cmd.(*RequestAcceptance); ok {
				requester = a.ID
			}
			for _, e := range evs {
				p.ApplyBy(e, s.cmd.EffectiveAt(), a)
			}
		}
		a := province
		a.ID = pick()
		_, err := p.Decide(&RecordAcceptance{At: day(13), Outcome: "passed", Reference: "验收"}, a, now)
		var de *Error
		switch {
		case err == nil && a.ID == requester:
			t.Fatalf("seed %d: acceptance requested and decided by %s", seed, a.ID)
		case err == nil:
			decided++
		case errors.As(err, &de) && de.Code == CodeSoDAcceptance && a.ID == requester:
			refused++
		default:
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	t.Logf("200 lifecycles: %d acceptances decided by another user, %d refused to their requester", decided, refused)
	if refused == 0 || decided == 0 {
		t.Fatal("the property was not exercised both ways")
	}
}
