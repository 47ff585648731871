package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/internal/testload"
)

func newService(t *testing.T) *Service { return New(testload.Store(t, t.TempDir()), nil) }

var cst = time.FixedZone("CST", 8*3600)

func at(y int, m time.Month, d int) domain.At {
	return domain.At{EffectiveTime: time.Date(y, m, d, 10, 0, 0, 0, cst)}
}

func must(t *testing.T, s *Service, role domain.Role, cmd domain.Command) Result {
	t.Helper()
	res, err := s.Handle(context.Background(), Request{Project: "P1", Command: cmd, Actor: domain.Actor{Name: "test", Role: role}})
	if err != nil {
		t.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	return res
}

// implementing brings project P1 to an open special account with an award of 700万 from the central budget.
func implementing(t *testing.T, s *Service) {
	must(t, s, domain.RoleCountyDRC, &domain.RegisterProject{At: at(2009, 3, 1), ID: "P1", Name: "n", Owner: "o", City: "330600", County: "330682",
		Category: "waste_heat", Programmes: []string{"central_rcep"}, TotalInvestment: 20000 * domain.Wan, PlannedStart: "2009-01-01",
		PlannedEnd: "2010-12-31", Requested: domain.Amounts{domain.SourceCentralBudget: 800 * domain.Wan}})
	must(t, s, domain.RoleCountyDRC, &domain.Screen{At: at(2009, 3, 2)})
	var atts []domain.Attachment
	for _, k := range domain.RequiredAttachments {
		atts = append(atts, domain.Attachment{Kind: k, Reference: k})
	}
	must(t, s, domain.RoleOwner, &domain.SubmitApplicationReport{At: at(2009, 3, 3), Reference: "r", Attachments: atts})
	must(t, s, domain.RoleProvinceDRC, &domain.RecordReview{At: at(2009, 3, 4), Outcome: "passed", Reference: "r"})
	must(t, s, domain.RoleNDRC, &domain.RecordNationalReply{At: at(2009, 3, 5), Reference: "r"})
	must(t, s, domain.RoleNDRC, &domain.IssueInvestmentPlan{At: at(2009, 3, 6), Reference: "r", Awards: domain.Amounts{domain.SourceCentralBudget: 700 * domain.Wan}})
	must(t, s, domain.RoleOwner, &domain.OpenSpecialAccount{At: at(2009, 3, 7), Bank: "b", AccountRef: "1"})
	// R6 (rulebook 2): central money follows progress; the work is done.
	must(t, s, domain.RoleOwner, &domain.ReportProgress{At: at(2009, 3, 7), AsOf: "2009-03-07", InvestmentCompleted: 20000 * domain.Wan, PhysicalProgressBP: 10000})
}

// TestConcurrentDisbursementsNeverExceedTheAward races disbursements on one
// project without If-Match: each loser of a race is decided again on the new
// state, so no update is lost and the award holds — exactly 7 of 12 tranches
// of 100万 fit an award of 700万.
func TestConcurrentDisbursementsNeverExceedTheAward(t *testing.T) {
	s := newService(t)
	implementing(t, s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, over := 0, 0
	var other []error
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Handle(context.Background(), Request{Project: "P1", Actor: domain.Actor{Name: "f", Role: domain.RoleFinance},
				Command: &domain.Disburse{At: at(2009, 4, 1), Source: domain.SourceCentralBudget, Amount: 100 * domain.Wan, Basis: "b"}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case domain.Code(err) == domain.CodeOverAward:
				over++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if ok != 7 || over != 5 || len(other) > 0 {
		t.Fatalf("12 concurrent tranches of 100万 against 700万: %d paid, %d refused over-award, other %v; want 7 and 5", ok, over, other)
	}
	v, _, err := s.Project(context.Background(), "P1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Disbursed[domain.SourceCentralBudget] != 700*domain.Wan || v.Tranches != 7 {
		t.Fatalf("disbursed %d in %d tranches, want 700万 in 7", v.Disbursed[domain.SourceCentralBudget], v.Tranches)
	}
}

func TestIfMatchPinsTheVersion(t *testing.T) {
	s := newService(t)
	implementing(t, s)
	_, version, _ := s.Project(context.Background(), "P1")
	stale := version - 1
	_, err := s.Handle(context.Background(), Request{Project: "P1", IfMatch: &stale, Actor: domain.Actor{Name: "f", Role: domain.RoleFinance},
		Command: &domain.Disburse{At: at(2009, 4, 1), Source: domain.SourceCentralBudget, Amount: 1, Basis: "b"}})
	var pe *PreconditionError
	if !errors.As(err, &pe) || pe.Expected != stale || pe.Actual != version {
		t.Fatalf("stale If-Match: got %v, want *PreconditionError{%d, %d}", err, stale, version)
	}
	res, err := s.Handle(context.Background(), Request{Project: "P1", IfMatch: &version, Actor: domain.Actor{Name: "f", Role: domain.RoleFinance},
		Command: &domain.Disburse{At: at(2009, 4, 1), Source: domain.SourceCentralBudget, Amount: 1, Basis: "b"}})
	if err != nil || res.Version <= version {
		t.Fatalf("current If-Match: %v, version %d", err, res.Version)
	}
}

// TestTwoServicesOnOneStream: two ledger processes share a stream; each
// one's cached state goes stale when the other writes, and every command is
// still decided on the stream's state.
func TestTwoServicesOnOneStream(t *testing.T) {
	st := testload.Store(t, t.TempDir())
	a, b := New(st, nil), New(st, nil)
	implementing(t, a)
	// b caches the project now.
	if _, err := b.Handle(context.Background(), Request{Project: "P1", Actor: domain.Actor{Name: "f", Role: domain.RoleFinance},
		Command: &domain.Disburse{At: at(2009, 4, 1), Source: domain.SourceCentralBudget, Amount: 300 * domain.Wan, Basis: "b"}}); err != nil {
		t.Fatal(err)
	}
	// a (whose cache is stale now) pays 400万: the stream says 300万 are paid, so it fits exactly.
	if _, err := a.Handle(context.Background(), Request{Project: "P1", Actor: domain.Actor{Name: "f", Role: domain.RoleFinance},
		Command: &domain.Disburse{At: at(2009, 4, 2), Source: domain.SourceCentralBudget, Amount: 400 * domain.Wan, Basis: "b"}}); err != nil {
		t.Fatalf("a on a stale cache: %v", err)
	}
	// b (stale now) must refuse even 1 fen more, from the stream's state.
	_, err := b.Handle(context.Background(), Request{Project: "P1", Actor: domain.Actor{Name: "f", Role: domain.RoleFinance},
		Command: &domain.Disburse{At: at(2009, 4, 3), Source: domain.SourceCentralBudget, Amount: 1, Basis: "b"}})
	if domain.Code(err) != domain.CodeOverAward {
		t.Fatalf("b on a stale cache, 1 fen over: %v, want over-award", err)
	}
	// A refusal on a stale cache is re-decided on the stream: b's stale copy
	// says 'implementing'; a completes the project; b's request to report
	// progress is then refused for the stream's reason.
	if _, err := a.Handle(context.Background(), Request{Project: "P1", Actor: domain.Actor{Name: "o", Role: domain.RoleOwner},
		Command: &domain.Complete{At: at(2010, 1, 1), ActualTotalInvestment: 20000 * domain.Wan}}); err != nil {
		t.Fatal(err)
	}
	_, err = b.Handle(context.Background(), Request{Project: "P1", Actor: domain.Actor{Name: "o", Role: domain.RoleOwner},
		Command: &domain.FileAcceptanceItem{At: at(2010, 2, 1), Item: domain.ItemAuditReport, Reference: "r"}})
	if err != nil {
		t.Fatalf("b files an acceptance item after a's completion: %v", err)
	}
	v, version, _ := a.Project(context.Background(), "P1")
	if v.Status != domain.StatusCompleted || v.Disbursed[domain.SourceCentralBudget] != 700*domain.Wan || version == 0 {
		t.Fatalf("final state: %s, disbursed %d", v.Status, v.Disbursed[domain.SourceCentralBudget])
	}
}
