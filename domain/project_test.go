package domain

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var (
	t0  = time.Date(2009, 3, 1, 9, 0, 0, 0, cst)
	now = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
)

func day(n int) At { return At{EffectiveTime: t0.AddDate(0, 0, n)} }

var (
	drc      = Actor{Name: "王芳", Role: RoleCountyDRC}
	province = Actor{Name: "省发改委资环处", Role: RoleProvinceDRC}
	ndrc     = Actor{Name: "国家发改委", Role: RoleNDRC}
	finance  = Actor{Name: "上虞市财政局", Role: RoleFinance}
	owner    = Actor{Name: "浙江某化工有限公司", Role: RoleOwner}
	auditor  = Actor{Name: "审计署上海特派办", Role: RoleAuditor}
)

func registration(at At) *RegisterProject {
	return &RegisterProject{At: at, ID: "P1", Name: "余热发电项目", Owner: "浙江某化工有限公司", City: "330600", County: "330682",
		Category: "waste_heat", Programmes: []string{"central_rcep", "kitchen_waste_pilot"}, TotalInvestment: 5000 * Wan,
		CompletedInvestment: 1000 * Wan, PlannedStart: "2009-01-01", PlannedEnd: "2010-12-31",
		Requested: Amounts{SourceCentralBudget: 600 * Wan}}
}

var allAttachments = func() []Attachment {
	var as []Attachment
	for _, k := range RequiredAttachments {
		as = append(as, Attachment{Kind: k, Reference: "doc-" + k})
	}
	return as
}()

// step is one command in a test script, with the actor who records it.
type step struct {
	actor Actor
	cmd   Command
}

// stages bring a fresh project to each status. Every stage is valid in order.
func stages() map[Status][]step {
	base := []step{
		{drc, registration(day(0))},
		{drc, &Screen{At: day(1)}},
		{owner, &SubmitApplicationReport{At: day(2), Reference: "上虞发改〔2009〕12号", Attachments: allAttachments}},
	}
	approved := append(clone(base), step{province, &RecordReview{At: day(3), Outcome: "passed", Reference: "浙发改资环〔2009〕5号"}})
	replied := append(clone(approved), step{ndrc, &RecordNationalReply{At: day(4), Reference: "发改办环资〔2009〕100号"}})
	implementing := append(clone(replied),
		step{ndrc, &IssueInvestmentPlan{At: day(5), Reference: "发改投资〔2009〕1号", Awards: Amounts{SourceCentralBudget: 500 * Wan}}},
		step{owner, &OpenSpecialAccount{At: day(6), Bank: "工商银行上虞支行", AccountRef: "****1234"}},
		step{owner, &ReportProgress{At: day(7), AsOf: "2009-03-08", InvestmentCompleted: 2000 * Wan, PhysicalProgressBP: 6000}},
		step{finance, &Disburse{At: day(7), Source: SourceCentralBudget, Amount: 200 * Wan, Basis: "进度检查 2009-03"}},
	)
	completed := append(clone(implementing),
		step{owner, &FileAcceptanceItem{At: day(8), Item: ItemSpecialAcceptance, Reference: "环保验收 1"}},
		step{owner, &FileAcceptanceItem{At: day(9), Item: ItemAuditReport, Reference: "审计报告 1"}},
		step{owner, &FileAcceptanceItem{At: day(10), Item: ItemCompletionReport, Reference: "竣工报告 1"}},
		step{owner, &Complete{At: day(11), ActualTotalInvestment: 5000 * Wan}},
	)
	preparing := append(clone(completed), step{owner, &PrepareAcceptance{At: day(12)}})
	requested := append(clone(preparing), step{owner, &RequestAcceptance{At: day(12)}})
	accepted := append(clone(requested), step{province, &RecordAcceptance{At: day(13), Outcome: "passed", Reference: "验收 1"}})
	return map[Status][]step{
		StatusApplied:              base[:1],
		StatusScreened:             base[:2],
		StatusReportSubmitted:      base,
		StatusProvinciallyApproved: approved,
		StatusReviewRejected:       append(clone(base), step{province, &RecordReview{At: day(3), Outcome: "rejected", Reason: "不符合选项要求"}}),
		StatusReplyReceived:        replied,
		StatusImplementing:         implementing,
		StatusCompleted:            completed,
		StatusPreparingAcceptance:  preparing,
		StatusAcceptanceRequested:  requested,
		StatusAccepted:             accepted,
		StatusAcceptanceFailed:     append(clone(requested), step{province, &RecordAcceptance{At: day(13), Outcome: "failed", Reason: "资料不全"}}),
		StatusTerminated: append(clone(implementing), step{province, &Terminate{At: day(8), Reason: "市场变化", Reference: "浙发改〔2010〕9号"}},
			step{ndrc, &Terminate{At: day(8), Reason: "市场变化", Reference: "发改办环资〔2010〕9号"}}),
		StatusClosed: append(clone(accepted), step{drc, &Close{At: day(14)}}),
	}
}

func clone(s []step) []step { return append([]step(nil), s...) }

// run folds a script into a fresh project, failing the test on any refusal.
func run(t *testing.T, script []step) *Project {
	t.Helper()
	p := NewProject("P1")
	for i, s := range script {
		evs, err := p.Decide(s.cmd, s.actor, now)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, s.cmd.CommandName(), err)
		}
		for _, e := range evs {
			p.Apply(e, s.cmd.EffectiveAt())
		}
	}
	return p
}

// TestTransitions tries every command in every status and checks that it is
// allowed exactly where the lifecycle allows it, and otherwise refused with
// the expected code.
func TestTransitions(t *testing.T) {
	late := day(100)
	probes := []struct {
		actor Actor
		cmd   func() Command
		// allowed statuses; every other status maps to the code in refused,
		// or to wrong-status (after-termination for terminated and closed).
		allowed []Status
		refused map[Status]string
	}{
		{drc, func() Command { return registration(late) }, nil, allStatuses(CodeExists)},
		{drc, func() Command { return &Screen{At: late} }, []Status{StatusApplied}, nil},
		{owner, func() Command { return &SubmitApplicationReport{At: late, Reference: "r", Attachments: allAttachments} }, []Status{StatusScreened}, nil},
		{province, func() Command { return &RecordReview{At: late, Outcome: "passed", Reference: "r"} }, []Status{StatusReportSubmitted}, nil},
		{ndrc, func() Command { return &RecordNationalReply{At: late, Reference: "r"} }, []Status{StatusProvinciallyApproved},
			beforeReview(CodeBeforeReview)},
		{ndrc, func() Command {
			return &IssueInvestmentPlan{At: late, Reference: "r", Awards: Amounts{SourceCentralBudget: 100 * Wan}}
		}, []Status{StatusReplyReceived},
			merge(beforeReview(CodeBeforeReview), map[Status]string{StatusProvinciallyApproved: CodeBeforeReply})},
		{owner, func() Command { return &OpenSpecialAccount{At: late, Bank: "b", AccountRef: "1"} }, []Status{StatusReplyReceived},
			merge(beforeReview(CodeBeforeReview), map[Status]string{StatusProvinciallyApproved: CodeBeforeReply,
				StatusImplementing: CodeNoChange, StatusCompleted: CodeNoChange, StatusPreparingAcceptance: CodeNoChange, StatusAcceptanceRequested: CodeNoChange,
				StatusAccepted: CodeNoChange, StatusAcceptanceFailed: CodeNoChange, StatusTerminated: CodeNoChange, StatusClosed: CodeNoChange})},
		{finance, func() Command { return &Disburse{At: late, Source: SourceCentralBudget, Amount: 10 * Wan, Basis: "b"} },
			[]Status{StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested, StatusAccepted, StatusAcceptanceFailed},
			merge(beforeReview(CodeBeforePlan), map[Status]string{StatusProvinciallyApproved: CodeBeforePlan, StatusReplyReceived: CodeBeforePlan, StatusReviewRejected: CodeBeforePlan})},
		{ndrc, func() Command { return &PassPilotAssessment{At: late, Reference: "r"} },
			[]Status{StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested, StatusAccepted, StatusAcceptanceFailed}, nil},
		{owner, func() Command { return &StartConstruction{At: late, StartedOn: "2009-02-01"} },
			[]Status{StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing}, nil},
		{owner, func() Command { return &PrepareAcceptance{At: late} }, []Status{StatusCompleted},
			merge(beforeReview(CodeBeforeCompletion), map[Status]string{StatusProvinciallyApproved: CodeBeforeCompletion,
				StatusReplyReceived: CodeBeforeCompletion, StatusImplementing: CodeBeforeCompletion})},
		{owner, func() Command {
			return &ReportProgress{At: late, AsOf: "2009-05-01", InvestmentCompleted: 2000 * Wan, PhysicalProgressBP: 4000}
		},
			[]Status{StatusImplementing}, nil},
		{owner, func() Command { return &RequestChange{At: late, ChangeID: "c1", Kind: ChangeContent, Description: "d"} },
			[]Status{StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing}, nil},
		{province, func() Command { return &DecideChange{At: late, ChangeID: "c9", Outcome: "approved", Reference: "r"} },
			nil, allStatuses(CodeNoSuchChange)},
		{finance, func() Command { return &ApproveDisbursement{At: late, PreparationID: "D9"} }, nil, allStatuses(CodeNoSuchPreparation)},
		{auditor, func() Command { return &RecordInspection{At: day(-1), Kind: "audit", Body: "审计署"} }, allStatusList(), nil},
		{owner, func() Command { return &Complete{At: day(20), ActualTotalInvestment: 5000 * Wan} }, []Status{StatusImplementing}, nil},
		{owner, func() Command { return &FileAcceptanceItem{At: late, Item: ItemAuditReport, Reference: "r"} },
			[]Status{StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceFailed}, nil},
		{owner, func() Command { return &RequestAcceptance{At: late} }, []Status{StatusPreparingAcceptance, StatusAcceptanceFailed},
			merge(beforeReview(CodeBeforeCompletion), map[Status]string{StatusProvinciallyApproved: CodeBeforeCompletion,
				StatusReplyReceived: CodeBeforeCompletion, StatusImplementing: CodeBeforeCompletion})},
		{province, func() Command { return &RecordAcceptance{At: late, Outcome: "passed", Reference: "r"} }, []Status{StatusAcceptanceRequested},
			merge(beforeReview(CodeBeforeCompletion), map[Status]string{StatusProvinciallyApproved: CodeBeforeCompletion,
				StatusReplyReceived: CodeBeforeCompletion, StatusImplementing: CodeBeforeCompletion})},
		{province, func() Command { return &Terminate{At: late, Reason: "r", Reference: "r"} },
			[]Status{StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReplyReceived,
				StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested, StatusAcceptanceFailed}, nil},
		{finance, func() Command {
			return &Refund{At: late, Source: SourceCentralBudget, Amount: 10 * Wan, Reference: "r"}
		},
			[]Status{StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested, StatusAccepted, StatusAcceptanceFailed, StatusTerminated},
			merge(beforeReview(CodeRefundExceeds), map[Status]string{StatusProvinciallyApproved: CodeRefundExceeds,
				StatusReplyReceived: CodeRefundExceeds, StatusReviewRejected: CodeRefundExceeds})},
		{drc, func() Command { return &Close{At: late} }, []Status{StatusAccepted, StatusReviewRejected},
			map[Status]string{StatusTerminated: CodeRefundOutstanding}},
	}
	st := stages()
	seen := map[string]bool{}
	for _, pr := range probes {
		name := pr.cmd().CommandName()
		seen[name] = true
		for _, status := range allStatusList() {
			t.Run(fmt.Sprintf("%s/in_%s", name, status), func(t *testing.T) {
				p := run(t, st[status])
				if p.Status() != status {
					t.Fatalf("stage for %s reached %s", status, p.Status())
				}
				evs, err := p.Decide(pr.cmd(), pr.actor, now)
				want := ""
				if !hasStatus(pr.allowed, status) {
					want = pr.refused[status]
					if want == "" {
						want = CodeWrongStatus
						if status == StatusTerminated || status == StatusClosed {
							want = CodeAfterTermination
						}
					}
				}
				if got := Code(err); got != want {
					t.Fatalf("Decide(%s) in %s: got code %q (%v), want %q", name, status, got, err, want)
				}
				if want == "" && len(evs) == 0 {
					t.Fatalf("Decide(%s) in %s: allowed but yielded no event", name, status)
				}
				if want != "" && evs != nil {
					t.Fatalf("Decide(%s) in %s: refused but yielded %v", name, status, evs)
				}
			})
		}
	}
	for _, n := range CommandNames() {
		if !seen[n] {
			t.Errorf("command %s has no row in the transition table", n)
		}
	}
}

func allStatusList() []Status {
	return []Status{StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReviewRejected,
		StatusReplyReceived, StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested, StatusAccepted,
		StatusAcceptanceFailed, StatusTerminated, StatusClosed}
}

func allStatuses(code string) map[Status]string {
	m := map[Status]string{}
	for _, s := range allStatusList() {
		m[s] = code
	}
	return m
}

func beforeReview(code string) map[Status]string {
	return map[Status]string{StatusApplied: code, StatusScreened: code, StatusReportSubmitted: code}
}

func merge(a, b map[Status]string) map[Status]string {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func hasStatus(ss []Status, s Status) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestRules checks each named rule with the exact refusal it gives.
func TestRules(t *testing.T) {
	st := stages()
	tests := []struct {
		name  string
		stage Status
		pre   []step
		actor Actor
		cmd   Command
		code  string
		rule  string
		field string
	}{
		{name: "R2 completed investment above 40% of total", stage: StatusApplied, actor: drc, cmd: &Screen{At: day(1)},
			pre: nil, code: CodeEligibility, rule: "R2", field: "completed_investment"},
		{name: "R3 report lacks the loan agreement", stage: StatusScreened, actor: owner,
			cmd: &SubmitApplicationReport{At: day(2), Reference: "r", Attachments: allAttachments[:4]}, code: CodeMissingAttachments, rule: "R3", field: "attachments"},
		{name: "R4 plan before the national reply", stage: StatusProvinciallyApproved, actor: ndrc,
			cmd: &IssueInvestmentPlan{At: day(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 1}}, code: CodeBeforeReply, rule: "R4"},
		{name: "R4 awards above the plan's total", stage: StatusReplyReceived, actor: ndrc,
			cmd: &IssueInvestmentPlan{At: day(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 5001 * Wan}}, code: CodeOverAward, rule: "R4", field: "awards"},
		{name: "R5 disbursement before the special account", stage: StatusReplyReceived, actor: finance,
			pre: []step{{ndrc, &IssueInvestmentPlan{At: day(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 500 * Wan}}}},
			cmd: &Disburse{At: day(6), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: CodeNoAccount, rule: "R5"},
		{name: "R6 disbursement above the award", stage: StatusImplementing, actor: finance,
			pre: []step{{ndrc, &PassPilotAssessment{At: day(8), Reference: "r"}}},
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: 300*Wan + 1, Basis: "b"}, code: CodeOverAward, rule: "R6", field: "amount"},
		{name: "R6 disbursement ahead of the reported progress", stage: StatusImplementing, actor: finance,
			pre: []step{{ndrc, &PassPilotAssessment{At: day(8), Reference: "r"}}},
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: 100*Wan + 1, Basis: "b"}, code: CodeAheadOfProgress, rule: "R6", field: "amount"},
		{name: "R6 disbursement from a source without award", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{At: day(9), Source: SourceCityFund, Amount: 1, Basis: "b"}, code: CodeOverAward, rule: "R6", field: "amount"},
		{name: "R18 more than half before the pilot assessment", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: 50*Wan + 1, Basis: "b"}, code: CodePredisbursementLimit, rule: "R18", field: "amount"},
		{name: "R8 a city DRC approving a central project's content change", stage: StatusImplementing, actor: Actor{Name: "绍兴市发改委", Role: RoleCityDRC},
			pre: []step{{owner, &RequestChange{At: day(8), ChangeID: "c1", Kind: ChangeContent, Description: "改为两台余热锅炉"}}},
			cmd: &DecideChange{At: day(9), ChangeID: "c1", Outcome: "approved", Reference: "r"}, code: CodeRole, rule: "programme"},
		{name: "R10 approving a total investment below the awards", stage: StatusProvinciallyApproved, actor: province,
			pre: []step{{owner, &RequestChange{At: day(4), ChangeID: "c1", Kind: ChangeTotalInvestment, Description: "d", NewTotalInvestment: 400 * Wan, Explanation: "缩小规模"}},
				{ndrc, &RecordNationalReply{At: day(4), Reference: "r"}},
				{ndrc, &IssueInvestmentPlan{At: day(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 500 * Wan}}}},
			cmd: &DecideChange{At: day(6), ChangeID: "c1", Outcome: "approved", Reference: "r"}, code: CodeOverAward, rule: "R10"},
		{name: "R12 a city DRC terminating a central project", stage: StatusImplementing, actor: Actor{Name: "绍兴市发改委", Role: RoleCityDRC},
			cmd: &Terminate{At: day(9), Reason: "r", Reference: "r"}, code: CodeRole, rule: "R12"},
		{name: "R12 disbursement once the province recognised the termination", stage: StatusImplementing, actor: finance,
			pre: []step{{province, &Terminate{At: day(8), Reason: "r", Reference: "r"}}},
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: CodeAfterTermination, rule: "R12"},
		{name: "R14 acceptance request without preparing for it", stage: StatusCompleted, actor: owner,
			cmd: &RequestAcceptance{At: day(12)}, code: CodeWrongStatus, rule: "R14"},
		{name: "R10 total-investment change without explanation", stage: StatusImplementing, actor: owner,
			cmd: &RequestChange{At: day(8), ChangeID: "c1", Kind: ChangeTotalInvestment, Description: "d", NewTotalInvestment: 6000 * Wan}, code: "invalid-field", rule: "R10", field: "explanation"},
		{name: "R10 completion with unexplained variance", stage: StatusImplementing, actor: owner,
			cmd: &Complete{At: day(9), ActualTotalInvestment: 4800 * Wan}, code: CodeVarianceUnexplained, rule: "R10", field: "variance_explanation"},
		{name: "R13 late completion without explanation", stage: StatusImplementing, actor: owner,
			cmd: &Complete{At: At{EffectiveTime: time.Date(2011, 1, 1, 0, 0, 0, 0, cst)}, ActualTotalInvestment: 5000 * Wan}, code: CodeLateUnexplained, rule: "R13", field: "delay_explanation"},
		{name: "R12 disbursement after termination", stage: StatusTerminated, actor: finance,
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: CodeAfterTermination, rule: "R12"},
		{name: "R12 refund above what was disbursed", stage: StatusTerminated, actor: finance,
			cmd: &Refund{At: day(9), Source: SourceCentralBudget, Amount: 200*Wan + 1, Reference: "r"}, code: CodeRefundExceeds, rule: "R12", field: "amount"},
		{name: "R12 closing with a refund outstanding", stage: StatusTerminated, actor: drc,
			cmd: &Close{At: day(9)}, code: CodeRefundOutstanding, rule: "R12"},
		{name: "R14 acceptance request without the audit report", stage: StatusImplementing, actor: owner,
			pre: []step{{owner, &FileAcceptanceItem{At: day(8), Item: ItemSpecialAcceptance, Reference: "r"}},
				{owner, &Complete{At: day(9), ActualTotalInvestment: 5000 * Wan}}, {owner, &PrepareAcceptance{At: day(9)}}},
			cmd: &RequestAcceptance{At: day(10)}, code: CodeAcceptanceItems, rule: "R14"},
		{name: "R14 accepting before completion", stage: StatusImplementing, actor: province,
			cmd: &RecordAcceptance{At: day(9), Outcome: "passed", Reference: "r"}, code: CodeBeforeCompletion, rule: "R14"},
		{name: "finance may not screen", stage: StatusApplied, actor: finance, cmd: &Screen{At: day(1)}, code: CodeRole},
		{name: "the owner may not disburse", stage: StatusImplementing, actor: owner,
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: CodeRole},
		{name: "effective time before the last step", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{At: day(6), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: CodeEffectiveTime, field: "effective_time"},
		{name: "effective time in the future", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{At: At{EffectiveTime: now.Add(time.Hour)}, Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: CodeEffectiveTime, field: "effective_time"},
		{name: "effective time missing", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{Source: SourceCentralBudget, Amount: 1, Basis: "b"}, code: "invalid-field", field: "effective_time"},
		{name: "amount negative", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{At: day(9), Source: SourceCentralBudget, Amount: -5, Basis: "b"}, code: "invalid-field", field: "amount"},
		{name: "unknown source", stage: StatusImplementing, actor: finance,
			cmd: &Disburse{At: day(9), Source: "bank_loan", Amount: 5, Basis: "b"}, code: "invalid-field", field: "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := clone(st[tc.stage])
			if tc.name == "R2 completed investment above 40% of total" {
				r := *registration(day(0))
				r.CompletedInvestment = 2000*Wan + 1
				script = []step{{drc, &r}}
			}
			p := run(t, append(script, tc.pre...))
			before := p.View()
			evs, err := p.Decide(tc.cmd, tc.actor, now)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Decide(%s): got %v, %v; want refusal %s", tc.cmd.CommandName(), evs, err, tc.code)
			}
			if de.Code != tc.code || de.Rule != tc.rule || de.Field != tc.field || de.Project != "P1" {
				t.Fatalf("Decide(%s): got code=%s rule=%s field=%s project=%s (%v); want code=%s rule=%s field=%s",
					tc.cmd.CommandName(), de.Code, de.Rule, de.Field, de.Project, err, tc.code, tc.rule, tc.field)
			}
			if !reflect.DeepEqual(before, p.View()) {
				t.Fatalf("a refused command changed the state")
			}
		})
	}
}

func TestRegisterValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *RegisterProject)
		field string
	}{
		{"id with a dot", func(r *RegisterProject) { r.ID = "a.b" }, "id"},
		{"empty name", func(r *RegisterProject) { r.Name = " " }, "name"},
		{"city not a prefecture", func(r *RegisterProject) { r.City = "330682" }, "city"},
		{"county outside the city", func(r *RegisterProject) { r.County = "330782" }, "county"},
		{"unknown category", func(r *RegisterProject) { r.Category = "misc" }, "category"},
		{"no programme", func(r *RegisterProject) { r.Programmes = nil }, "programmes"},
		{"unknown programme", func(r *RegisterProject) { r.Programmes = []string{"central_rcep", "x"} }, "programmes[1]"},
		{"zero total", func(r *RegisterProject) { r.TotalInvestment = 0 }, "total_investment"},
		{"completed above total", func(r *RegisterProject) { r.CompletedInvestment = r.TotalInvestment + 1 }, "completed_investment"},
		{"bad planned start", func(r *RegisterProject) { r.PlannedStart = "2009-13-01" }, "planned_start"},
		{"end before start", func(r *RegisterProject) { r.PlannedEnd = "2008-12-31" }, "planned_end"},
		{"requested from unknown source", func(r *RegisterProject) { r.Requested = Amounts{"bank": 1} }, "requested.bank"},
		{"requested above total", func(r *RegisterProject) { r.Requested = Amounts{SourceCentralBudget: r.TotalInvestment + 1} }, "requested"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := registration(day(0))
			tc.edit(r)
			_, err := NewProject(r.ID).Decide(r, drc, now)
			var de *Error
			if !errors.As(err, &de) || de.Kind != KindInvalid || de.Field != tc.field {
				t.Fatalf("got %v, want an invalid-field error naming %s", err, tc.field)
			}
		})
	}
	if _, err := NewProject("P1").Decide(&Screen{At: day(1)}, drc, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("screening an unknown project: got %v, want ErrNotFound", err)
	}
}

// TestChangeApprovalTakesEffect checks that approving a change yields the
// approval and its effect together, and that rejection changes nothing.
func TestChangeApprovalTakesEffect(t *testing.T) {
	p := run(t, append(stages()[StatusImplementing],
		step{owner, &RequestChange{At: day(8), ChangeID: "rename", Kind: ChangeOwnerRename, Description: "股份制改造", NewOwner: "浙江某化工股份有限公司"}},
		step{owner, &RequestChange{At: day(8), ChangeID: "grow", Kind: ChangeTotalInvestment, Description: "增加设备", NewTotalInvestment: 5600 * Wan, Explanation: "设备涨价"}},
	))
	evs, err := p.Decide(&DecideChange{At: day(9), ChangeID: "rename", Outcome: "approved", Reference: "绍市发改〔2010〕3号"}, province, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{ChangeApproved{ChangeID: "rename", Reference: "绍市发改〔2010〕3号"}, OwnerRenamed{ChangeID: "rename", From: "浙江某化工有限公司", To: "浙江某化工股份有限公司"}}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("approve rename: got %#v, want %#v", evs, want)
	}
	for _, e := range evs {
		p.Apply(e, day(9).EffectiveTime)
	}
	evs, err = p.Decide(&DecideChange{At: day(10), ChangeID: "grow", Outcome: "rejected", Reason: "超出计划"}, province, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		p.Apply(e, day(10).EffectiveTime)
	}
	v := p.View()
	if v.Owner != "浙江某化工股份有限公司" || v.OwnerAtApplication != "浙江某化工有限公司" || v.TotalInvestment != 5000*Wan {
		t.Fatalf("after approve+reject: owner %q (was %q), total %d", v.Owner, v.OwnerAtApplication, v.TotalInvestment)
	}
	if _, err := p.Decide(&Disburse{At: day(11), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, finance, now); err != nil {
		t.Fatalf("disbursing once no change is pending: %v", err)
	}
}

func TestDecodeRoundTripsEveryEventType(t *testing.T) {
	samples := []Event{
		ProjectRegistered{Name: "n", Owner: "o", City: "330600", County: "330682", Category: "waste_heat", Programmes: []string{"zj_991"},
			TotalInvestment: 1, CompletedInvestment: 0, PlannedStart: "2009-01-01", PlannedEnd: "2010-01-01", Requested: Amounts{SourceProvincialFund: 1}},
		ProjectScreened{CompletedBP: 12, ThresholdBP: 3000, Programme: "central_rcep"},
		ApplicationReportSubmitted{Reference: "r", Attachments: allAttachments},
		ProvincialReviewPassed{Reference: "r"}, ProvincialReviewRejected{Reason: "r"}, NationalReplyReceived{Reference: "r"},
		InvestmentPlanIssued{Reference: "r", Awards: Amounts{SourceCentralBudget: 5}, TotalInvestment: 9},
		SpecialAccountOpened{Bank: "b", AccountRef: "a"}, FundsDisbursed{Source: SourceCentralBudget, Amount: 5, Tranche: 1, Basis: "b"},
		DisbursementPrepared{PreparationID: "D1", Source: SourceCentralBudget, Amount: 5, Basis: "b", Threshold: 4}, DisbursementApproved{PreparationID: "D1"},
		PilotAssessmentPassed{Reference: "r"}, ProgressReported{AsOf: "2010-01-01", InvestmentCompleted: 5, PhysicalProgressBP: 10},
		ChangeRequested{ChangeID: "c", Kind: ChangeContent, Description: "d"}, ChangeApproved{ChangeID: "c", Reference: "r"},
		ChangeRejected{ChangeID: "c", Reason: "r"}, ContentChanged{ChangeID: "c", Description: "d"}, OwnerRenamed{ChangeID: "c", From: "a", To: "b"},
		TotalInvestmentRevised{ChangeID: "c", From: 1, To: 2, Explanation: "e"}, InspectionRecorded{Kind: "audit", Body: "b"},
		ConstructionCompleted{ActualTotalInvestment: 5, LateDays: 3, DelayExplanation: "d"}, AcceptanceItemFiled{Item: ItemAuditReport, Reference: "r"},
		AcceptanceRequested{}, AcceptancePassed{Reference: "r"}, AcceptanceFailed{Reason: "r"},
		ProjectTerminated{Reason: "r", Reference: "r", RefundDue: Amounts{SourceCentralBudget: 5}}, FundsRefunded{Source: SourceCentralBudget, Amount: 5, Reference: "r"},
		ProjectClosed{}, ConstructionStarted{StartedOn: "2009-01-01"}, AcceptancePreparationStarted{Note: "n"},
		TerminationRecognised{Level: "nation", Reason: "r", Reference: "r"},
	}
	if len(samples) != len(EventTypes()) {
		t.Fatalf("%d samples for %d event types", len(samples), len(EventTypes()))
	}
	for _, e := range samples {
		data, err := jsonMarshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeEvent(e.EventType(), data)
		if err != nil {
			t.Fatalf("decode %s: %v", e.EventType(), err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip %s: got %#v, want %#v", e.EventType(), got, e)
		}
	}
	if _, err := DecodeEventStrict("funds_disbursed.v1", []byte(`{"source":"central_budget","amount":5,"extra":1}`)); err == nil {
		t.Fatal("strict decode with an unknown field: want an error")
	}
	if e, err := DecodeEvent("funds_disbursed.v1", []byte(`{"source":"central_budget","amount":5,"extra":1}`)); err != nil || e.(FundsDisbursed).Amount != 5 {
		t.Fatalf("lenient decode with an unknown field: %v, %v", e, err)
	}
	if _, err := DecodeEvent("funds_disbursed.v1", []byte(`{"source":"central_budget","amount":"5"}`)); err == nil {
		t.Fatal("decode with a string amount: want an error")
	}
	if _, err := DecodeEvent("funds_moved.v9", []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
		t.Fatalf("decode an unknown type: got %v, want ErrUnknownEventType", err)
	}
}
