package domain_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/domain/domaintest"
)

// TestPropertyMoneyConservedAndReplayDeterministic drives many random command
// sequences and checks, after every accepted command, that per funding source
// 0 ≤ disbursed − refunded ≤ disbursed ≤ awarded; and at the end, that folding
// the recorded events into a fresh project gives exactly the same state.
func TestPropertyMoneyConservedAndReplayDeterministic(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 50
	}
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	start := time.Date(2009, 3, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	statuses := map[domain.Status]int{}
	accepted, refused := 0, 0
	for seed := 1; seed <= seeds; seed++ {
		g := domaintest.New(uint64(seed))
		id := domain.ProjectID(fmt.Sprintf("P%d", seed))
		p := domain.NewProject(id)
		var history []domaintest.Recorded
		try := func(actor domain.Actor, cmd domain.Command) error {
			evs, err := p.Decide(cmd, actor, now)
			if err != nil {
				if _, ok := err.(*domain.Error); !ok {
					t.Fatalf("seed %d %s: error is not a domain refusal: %v", seed, cmd.CommandName(), err)
				}
				refused++
				return err
			}
			accepted++
			for _, e := range evs {
				p.Apply(e, cmd.EffectiveAt())
				history = append(history, domaintest.Recorded{Event: e, At: cmd.EffectiveAt(), Actor: actor})
			}
			return nil
		}
		reg := g.Registration(id, start)
		reg.Programmes = []string{"kitchen_waste_pilot"} // exercises R18 too
		reg.CompletedInvestment = 0
		if err := try(domaintest.DRC, reg); err != nil {
			t.Fatalf("seed %d: register: %v", seed, err)
		}
		for i := 1; i <= 80; i++ {
			actor, cmd := g.Next(start.AddDate(0, 0, 7*i))
			if try(actor, cmd) != nil {
				continue
			}
			v := p.View()
			for _, s := range domain.Sources {
				d, f, a := v.Disbursed[s], v.Refunded[s], v.Awarded[s]
				if !(0 <= d-f && d-f <= d && d <= a) {
					t.Fatalf("seed %d step %d after %s: source %s disbursed %d refunded %d awarded %d", seed, i, cmd.CommandName(), s, d, f, a)
				}
			}
		}
		statuses[p.Status()]++
		replayed := domain.NewProject(id)
		for _, h := range history {
			replayed.Apply(h.Event, h.At)
		}
		if got, want := replayed.View(), p.View(); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: replay differs:\n got %+v\nwant %+v", seed, got, want)
		}
	}
	t.Logf("%d seeds: %d commands accepted, %d refused; final statuses %v", seeds, accepted, refused, statuses)
	// The generator must reach deep into the lifecycle, or the property says little.
	for _, s := range []domain.Status{domain.StatusImplementing, domain.StatusClosed, domain.StatusTerminated} {
		if statuses[s] == 0 && !testing.Short() {
			t.Errorf("no random history ended in %s: the generator is too weak", s)
		}
	}
}

// TestReproduceAcceptsEveryHistoryTheRulesMake: the recorded events of random
// histories are exactly what the rules yield, command by command; and an
// event the rules would never have produced is refused.
func TestReproduceAcceptsEveryHistoryTheRulesMake(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	start := time.Date(2009, 3, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for seed := uint64(1); seed <= 100; seed++ {
		id := domain.ProjectID(fmt.Sprintf("P%d", seed))
		groups := domaintest.New(seed).History(id, start, 80, now)
		var flat []domaintest.Recorded
		for _, g := range groups {
			flat = append(flat, g...)
		}
		p := domain.NewProject(id)
		for i := 0; i < len(flat); {
			evs := make([]domain.Event, 0, len(flat)-i)
			for _, r := range flat[i:] {
				evs = append(evs, r.Event)
			}
			n, err := p.Reproduce(domain.CurrentRulebook(), evs, flat[i].Actor, flat[i].At, now)
			if err != nil {
				t.Fatalf("seed %d event %d %s: %v", seed, i, evs[0].EventType(), err)
			}
			for _, r := range flat[i : i+n] {
				p.Apply(r.Event, r.At)
			}
			i += n
		}
	}
	// An over-award disbursement is refused.
	p := domain.NewProject("X")
	reg := domaintest.New(1).Registration("X", start)
	evs, err := p.Decide(reg, domaintest.DRC, now)
	if err != nil {
		t.Fatal(err)
	}
	p.Apply(evs[0], start)
	if _, err := p.Reproduce(domain.CurrentRulebook(), []domain.Event{domain.FundsDisbursed{Source: domain.SourceCentralBudget, Amount: 1, Tranche: 1, Basis: "b"}}, domaintest.Finance, start.AddDate(0, 1, 0), now); err == nil {
		t.Fatal("a disbursement before any plan: want a refusal")
	}
}
