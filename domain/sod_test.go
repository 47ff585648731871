package domain_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/domain/domaintest"
)

// TestPropertySeparationOfDuties drives random command sequences in which
// each step is taken by one of two users of the step's role, chosen at
// random, and checks every accepted history: no change is decided by the
// user who requested it, no tranche is disbursed by the user who issued
// the plan, no acceptance is decided by the user who requested it. The
// refusals carry the rule's code.
func TestPropertySeparationOfDuties(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	start := time.Date(2009, 3, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	refusedBy := map[string]int{}
	histories, steps := 0, 0
	for seed := 1; seed <= 600; seed++ {
		g := domaintest.New(uint64(seed))
		r := rand.New(rand.NewPCG(uint64(seed), 11))
		// Two users per role; a county user and a province user may also hold
		// the roles that issue plans and decide changes, to make clashes likely.
		who := func(a domain.Actor) domain.Actor {
			a.ID = fmt.Sprintf("%s-%d", a.Role, r.IntN(2))
			return a
		}
		id := domain.ProjectID(fmt.Sprintf("S%d", seed))
		p := domain.NewProject(id)
		type rec struct {
			e  domain.Event
			by string
		}
		var hist []rec
		try := func(actor domain.Actor, cmd domain.Command) {
			evs, err := p.Decide(cmd, actor, now)
			var de *domain.Error
			if errors.As(err, &de) && de.Rule == "SoD" {
				refusedBy[de.Code]++
				if de.Kind != domain.KindForbidden {
					t.Fatalf("seed %d: a separation-of-duties refusal of kind %v", seed, de.Kind)
				}
			}
			if err != nil {
				return
			}
			for _, e := range evs {
				p.ApplyBy(e, cmd.EffectiveAt(), actor)
				hist = append(hist, rec{e, actor.ID})
			}
			steps++
		}
		try(who(domaintest.DRC), g.Registration(id, start))
		for i := 1; i <= 80; i++ {
			actor, cmd := g.Next(start.AddDate(0, 0, 7*i))
			actor = who(actor)
			// Now and then the user who took the other side of a duty (an
			// office holding both roles) tries this step.
			if r.IntN(2) == 0 {
				for _, h := range hist {
					switch e := h.e.(type) {
					case domain.ChangeRequested:
						if c, ok := cmd.(*domain.DecideChange); ok && c.ChangeID == e.ChangeID {
							actor.ID = h.by
						}
					case domain.InvestmentPlanIssued:
						if _, ok := cmd.(*domain.Disburse); ok {
							actor.ID = h.by
						}
					case domain.AcceptanceRequested:
						if _, ok := cmd.(*domain.RecordAcceptance); ok {
							actor.ID = h.by
						}
					}
				}
			}
			try(actor, cmd)
		}
		histories++
		// The invariants, over what was accepted.
		requester := map[string]string{}
		var planBy, acceptanceBy string
		for _, h := range hist {
			switch e := h.e.(type) {
			case domain.ChangeRequested:
				requester[e.ChangeID] = h.by
			case domain.ChangeApproved:
				if requester[e.ChangeID] == h.by {
					t.Fatalf("seed %d: change %s requested and approved by %s", seed, e.ChangeID, h.by)
				}
			case domain.ChangeRejected:
				if requester[e.ChangeID] == h.by {
					t.Fatalf("seed %d: change %s requested and rejected by %s", seed, e.ChangeID, h.by)
				}
			case domain.InvestmentPlanIssued:
				planBy = h.by
			case domain.FundsDisbursed:
				if planBy == h.by {
					t.Fatalf("seed %d: plan issued and funds disbursed by %s", seed, h.by)
				}
			case domain.AcceptanceRequested:
				acceptanceBy = h.by
			case domain.AcceptancePassed, domain.AcceptanceFailed:
				if acceptanceBy == h.by {
					t.Fatalf("seed %d: acceptance requested and decided by %s", seed, h.by)
				}
			}
		}
	}
	t.Logf("%d histories, %d accepted commands; separation-of-duties refusals: %v", histories, steps, refusedBy)
	// (Random sequences rarely reach a decided acceptance; the internal
	// TestPropertyAcceptanceSeparated walks the lifecycle to it.)
	for _, code := range []string{domain.CodeSoDChange, domain.CodeSoDDisburse} {
		if refusedBy[code] == 0 {
			t.Errorf("no history tried %s: the property was not exercised", code)
		}
	}
}
