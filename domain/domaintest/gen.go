// Package domaintest generates random but plausible project histories for
// tests: commands that are right often enough to carry projects through
// their whole lifecycle and wrong often enough to hit every refusal. Seeded,
// so a failing run can be repeated.
package domaintest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zjfund/ledger/domain"
)

// Actors, one per role.
var (
	DRC      = domain.Actor{Name: "上虞市发改局", Role: domain.RoleCountyDRC}
	Province = domain.Actor{Name: "省发改委资环处", Role: domain.RoleProvinceDRC}
	NDRC     = domain.Actor{Name: "国家发改委", Role: domain.RoleNDRC}
	Finance  = domain.Actor{Name: "财政局", Role: domain.RoleFinance}
	Owner    = domain.Actor{Name: "项目业主", Role: domain.RoleOwner}
	Auditor  = domain.Actor{Name: "审计署上海特派办", Role: domain.RoleAuditor}
	City     = domain.Actor{Name: "绍兴市发改委", Role: domain.RoleCityDRC}
)

// actorFor is the actor of role, or Province when no role is named.
func actorFor(roles []domain.Role) domain.Actor {
	if len(roles) == 0 {
		return Province
	}
	for _, a := range []domain.Actor{Province, NDRC, City, DRC, Finance, Owner, Auditor} {
		if a.Role == roles[0] {
			return a
		}
	}
	return Province
}

var regions = [][2]domain.DivisionCode{{"330600", "330682"}, {"330600", "330681"}, {"330200", "330206"}, {"330100", "330100"}, {"331000", "331082"}}

var programmeSets = [][]string{{"central_rcep"}, {"zj_991"}, {"central_rcep", "zj_991"}, {"kitchen_waste_pilot"}, {"city_fund"}}

// Gen generates commands for one project at a time.
type Gen struct {
	r         *rand.Rand
	changeSeq int
}

// New returns a generator seeded with seed.
func New(seed uint64) *Gen { return &Gen{r: rand.New(rand.NewPCG(seed, 2026))} }

// Registration returns a random registration of project id, taking effect at at.
func (g *Gen) Registration(id domain.ProjectID, at time.Time) *domain.RegisterProject {
	reg := regions[g.r.IntN(len(regions))]
	total := domain.Fen(g.r.IntN(9000)+1000) * domain.Wan
	start := at.AddDate(0, -g.r.IntN(6), 0)
	return &domain.RegisterProject{At: domain.At{EffectiveTime: at}, ID: id, Name: fmt.Sprintf("项目 %s", id), Owner: fmt.Sprintf("企业 %s", id),
		City: reg[0], County: reg[1], Category: domain.Categories[g.r.IntN(len(domain.Categories))],
		Programmes: programmeSets[g.r.IntN(len(programmeSets))], TotalInvestment: total,
		CompletedInvestment: total * domain.Fen(g.r.IntN(34)) / 100,
		PlannedStart:        domain.Date(start.Format(time.DateOnly)), PlannedEnd: domain.Date(start.AddDate(1+g.r.IntN(2), 0, 0).Format(time.DateOnly)),
		Requested: domain.Amounts{domain.SourceCentralBudget: total / 10}}
}

// Next returns a random command taking effect at at, and who records it.
func (g *Gen) Next(at time.Time) (domain.Actor, domain.Command) {
	r := g.r
	a := domain.At{EffectiveTime: at}
	srcs := []domain.Source{domain.SourceCentralBudget, domain.SourceProvincialFund, domain.SourceCityFund}
	src := srcs[r.IntN(len(srcs))]
	amt := domain.Fen(r.IntN(400)+1) * domain.Wan / 4
	switch r.IntN(23) {
	case 0:
		return DRC, &domain.Screen{At: a}
	case 1:
		var atts []domain.Attachment
		for _, k := range domain.RequiredAttachments[:4+r.IntN(3)] {
			atts = append(atts, domain.Attachment{Kind: k, Reference: "r"})
		}
		return Owner, &domain.SubmitApplicationReport{At: a, Reference: "r", Attachments: atts}
	case 2:
		reviewer := []domain.Actor{Province, NDRC, City}[r.IntN(3)]
		if r.IntN(6) == 0 {
			return reviewer, &domain.RecordReview{At: a, Outcome: "rejected", Reason: "r"}
		}
		return reviewer, &domain.RecordReview{At: a, Outcome: "passed", Reference: "r"}
	case 3:
		return NDRC, &domain.RecordNationalReply{At: a, Reference: "r"}
	case 4:
		return NDRC, &domain.IssueInvestmentPlan{At: a, Reference: "r", Awards: domain.Amounts{domain.SourceCentralBudget: domain.Fen(r.IntN(800)+1) * domain.Wan, domain.SourceProvincialFund: domain.Fen(r.IntN(200)+1) * domain.Wan}}
	case 5:
		return Owner, &domain.OpenSpecialAccount{At: a, Bank: "b", AccountRef: "1"}
	case 6, 7, 8, 9:
		return Finance, &domain.Disburse{At: a, Source: src, Amount: amt, Basis: "b"}
	case 10:
		return NDRC, &domain.PassPilotAssessment{At: a, Reference: "r"}
	case 11:
		return Owner, &domain.ReportProgress{At: a, AsOf: domain.Date(at.Format(time.DateOnly)), InvestmentCompleted: amt * 10, PhysicalProgressBP: int64(r.IntN(10001))}
	case 22:
		return Owner, &domain.PrepareAcceptance{At: a}
	case 12:
		g.changeSeq++
		kinds := []domain.ChangeKind{domain.ChangeContent, domain.ChangeOwnerRename, domain.ChangeTotalInvestment}
		c := &domain.RequestChange{At: a, ChangeID: fmt.Sprintf("c%d", g.changeSeq), Kind: kinds[r.IntN(3)], Description: "d"}
		switch c.Kind {
		case domain.ChangeOwnerRename:
			c.NewOwner = fmt.Sprintf("owner %d", g.changeSeq)
		case domain.ChangeTotalInvestment:
			c.NewTotalInvestment, c.Explanation = domain.Fen(r.IntN(6000)+1000)*domain.Wan, "e"
		}
		return Owner, c
	case 13:
		out := "approved"
		if r.IntN(3) == 0 {
			out = "rejected"
		}
		return Province, &domain.DecideChange{At: a, ChangeID: fmt.Sprintf("c%d", r.IntN(g.changeSeq+1)), Outcome: out, Reference: "r", Reason: "r"}
	case 14:
		return Auditor, &domain.RecordInspection{At: a, Kind: "audit", Body: "b"}
	case 15:
		return Owner, &domain.Complete{At: a, ActualTotalInvestment: domain.Fen(r.IntN(6000)+1000) * domain.Wan, DelayExplanation: "d", VarianceExplanation: "v"}
	case 16:
		return Owner, &domain.FileAcceptanceItem{At: a, Item: domain.RequiredAcceptanceItems[r.IntN(3)], Reference: "r"}
	case 17:
		return Owner, &domain.RequestAcceptance{At: a}
	case 18:
		if r.IntN(4) == 0 {
			return Province, &domain.RecordAcceptance{At: a, Outcome: "failed", Reason: "r"}
		}
		return Province, &domain.RecordAcceptance{At: a, Outcome: "passed", Reference: "r"}
	case 19:
		if r.IntN(3) == 0 {
			return []domain.Actor{Province, NDRC}[r.IntN(2)], &domain.Terminate{At: a, Reason: "r", Reference: "r"}
		}
		return Finance, &domain.Disburse{At: a, Source: src, Amount: amt, Basis: "b"}
	case 20:
		return Finance, &domain.Refund{At: a, Source: src, Amount: amt / domain.Fen(r.IntN(3)+1), Reference: "r"}
	default:
		return DRC, &domain.Close{At: a}
	}
}

// Recorded is an event with the time it took effect and who recorded it.
type Recorded struct {
	Event domain.Event
	At    time.Time
	Actor domain.Actor
}

// History runs a registration and steps random commands for project id,
// starting at start, one a week, and returns the events the accepted
// commands yielded (each command's events as one group), as the domain
// decided them against now.
func (g *Gen) History(id domain.ProjectID, start time.Time, steps int, now time.Time) [][]Recorded {
	p := domain.NewProject(id)
	var out [][]Recorded
	try := func(actor domain.Actor, cmd domain.Command) {
		evs, err := p.Decide(cmd, actor, now)
		if err != nil {
			return
		}
		var group []Recorded
		for _, e := range evs {
			p.Apply(e, cmd.EffectiveAt())
			group = append(group, Recorded{e, cmd.EffectiveAt(), actor})
		}
		out = append(out, group)
	}
	try(DRC, g.Registration(id, start))
	for i := 1; i <= steps; i++ {
		at := start.AddDate(0, 0, 7*i)
		if g.r.IntN(4) == 0 {
			try(g.Next(at))
		} else {
			try(g.natural(p.View(), at))
		}
	}
	return out
}

// natural returns a command that usually moves a project in state v along
// its lifecycle (or, often enough, pays, reports or changes it).
func (g *Gen) natural(v domain.View, at time.Time) (domain.Actor, domain.Command) {
	a := domain.At{EffectiveTime: at}
	r := g.r
	rules := domain.CurrentRulebook().Effective(v.Programmes)
	review := func() (domain.Actor, domain.Command) {
		return actorFor(rules.Reviewers), &domain.RecordReview{At: a, Outcome: "passed", Reference: "r"}
	}
	plan := func() (domain.Actor, domain.Command) {
		return actorFor(rules.Planners), &domain.IssueInvestmentPlan{At: a, Reference: "r", Awards: domain.Amounts{domain.SourceCentralBudget: domain.Fen(r.IntN(800)+100) * domain.Wan, domain.SourceProvincialFund: domain.Fen(r.IntN(200)+50) * domain.Wan}}
	}
	if len(v.TerminationRecognisedBy) > 0 && v.Status != domain.StatusTerminated && v.Status != domain.StatusClosed {
		return NDRC, &domain.Terminate{At: a, Reason: "r", Reference: "r"}
	}
	switch v.Status {
	case domain.StatusApplied:
		switch {
		case rules.Has("screen"):
			return DRC, &domain.Screen{At: a}
		case rules.Has("submit_report"):
			break
		default:
			return review()
		}
		fallthrough
	case domain.StatusScreened:
		var atts []domain.Attachment
		for _, k := range domain.RequiredAttachments {
			atts = append(atts, domain.Attachment{Kind: k, Reference: "r"})
		}
		return Owner, &domain.SubmitApplicationReport{At: a, Reference: "r", Attachments: atts}
	case domain.StatusReportSubmitted:
		return review()
	case domain.StatusProvinciallyApproved:
		if r.IntN(2) == 0 {
			if rules.Has("record_national_reply") {
				return NDRC, &domain.RecordNationalReply{At: a, Reference: "r"}
			}
			return plan()
		}
		return g.Next(at)
	case domain.StatusReplyReceived:
		return plan()
	case domain.StatusImplementing:
		if !v.SpecialAccountOpened && rules.Has("open_special_account") {
			return Owner, &domain.OpenSpecialAccount{At: a, Bank: "b", AccountRef: "1"}
		}
		switch r.IntN(10) {
		case 0, 1, 2, 3:
			src := domain.SourceCentralBudget
			if r.IntN(3) == 0 {
				src = domain.SourceProvincialFund
			}
			left := v.Awarded[src] - v.Disbursed[src]
			if left <= 0 {
				left = domain.Wan
			}
			return Finance, &domain.Disburse{At: a, Source: src, Amount: left/domain.Fen(r.IntN(3)+1) + 1, Basis: "b"}
		case 4, 8:
			bp := min(v.ProgressShareBP+int64(r.IntN(4000)), 10000)
			return Owner, &domain.ReportProgress{At: a, AsOf: domain.Date(at.Format(time.DateOnly)), InvestmentCompleted: v.TotalInvestment * domain.Fen(bp) / 10000, PhysicalProgressBP: bp}
		case 5, 6:
			return Owner, &domain.FileAcceptanceItem{At: a, Item: domain.RequiredAcceptanceItems[r.IntN(3)], Reference: "r"}
		case 7:
			return Owner, &domain.Complete{At: a, ActualTotalInvestment: v.TotalInvestment, DelayExplanation: "d"}
		}
		return g.Next(at)
	case domain.StatusCompleted:
		return Owner, &domain.PrepareAcceptance{At: a}
	case domain.StatusPreparingAcceptance, domain.StatusAcceptanceFailed:
		for _, it := range domain.RequiredAcceptanceItems {
			if _, ok := v.AcceptanceItems[it]; !ok {
				return Owner, &domain.FileAcceptanceItem{At: a, Item: it, Reference: "r"}
			}
		}
		return Owner, &domain.RequestAcceptance{At: a}
	case domain.StatusAcceptanceRequested:
		if r.IntN(5) == 0 {
			return Province, &domain.RecordAcceptance{At: a, Outcome: "failed", Reason: "r"}
		}
		return Province, &domain.RecordAcceptance{At: a, Outcome: "passed", Reference: "r"}
	case domain.StatusTerminated:
		if r.IntN(3) == 0 { // refunds take their time
			return g.Next(at)
		}
		for _, s := range domain.Sources {
			if o := v.Outstanding[s]; o > 0 {
				return Finance, &domain.Refund{At: a, Source: s, Amount: o, Reference: "r"}
			}
		}
		return DRC, &domain.Close{At: a}
	}
	return g.Next(at)
}
