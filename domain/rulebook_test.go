package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// register is a registration of project P1 under programmes, applied at.
func register(at time.Time, completed Fen, programmes ...string) *RegisterProject {
	return &RegisterProject{At: At{EffectiveTime: at}, ID: "P1", Name: "余热发电项目", Owner: "浙江某化工有限公司", City: "330600", County: "330682",
		Category: "waste_heat", Programmes: programmes, TotalInvestment: 5000 * Wan, CompletedInvestment: completed,
		PlannedStart: "2009-01-01", PlannedEnd: "2012-12-31", Requested: Amounts{SourceCentralBudget: 600 * Wan}}
}

var (
	city   = Actor{Name: "绍兴市发改委", Role: RoleCityDRC}
	rules2 = CurrentRulebook()
)

func actorOfRole(r Role) Actor {
	for _, a := range []Actor{province, ndrc, city, drc, finance, owner, auditor} {
		if a.Role == r {
			return a
		}
	}
	panic("no actor for role " + r)
}

// walk takes a project of programmes along its path as rulebook 2 states it,
// by the roles the table names, up to an implementing project with award
// (awards empty for a programme that awards after acceptance).
func walk(at time.Time, awards Amounts, programmes ...string) []step {
	r := rules2.effective(programmes)
	d := func(n int) At { return At{EffectiveTime: at.AddDate(0, 0, n)} }
	completed := Fen(500 * Wan)
	if r.CompletedOnly {
		completed = 5000 * Wan
	}
	s := []step{{drc, register(at, completed, programmes...)}}
	if r.Has("screen") {
		s = append(s, step{drc, &Screen{At: d(1)}})
	}
	if r.Has("submit_report") {
		s = append(s, step{owner, &SubmitApplicationReport{At: d(2), Reference: "r", Attachments: allAttachments}})
	}
	s = append(s, step{actorOfRole(r.Reviewers[0]), &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}})
	if r.Has("record_national_reply") {
		s = append(s, step{ndrc, &RecordNationalReply{At: d(4), Reference: "r"}})
	}
	if r.AwardAfter == AwardAfterAcceptance {
		awards = nil
	}
	s = append(s, step{actorOfRole(r.Planners[0]), &IssueInvestmentPlan{At: d(5), Reference: "r", Awards: awards}})
	if r.Has("open_special_account") {
		s = append(s, step{owner, &OpenSpecialAccount{At: d(6), Bank: "b", AccountRef: "1"}})
	}
	return s
}

// toAcceptance completes a project being built (actual total 5000万, the
// equipment purchase given) and takes it through preparing for acceptance,
// the three items and the request to a passed acceptance, days 9 to 12
// after at.
func toAcceptance(at time.Time, equipment Fen) []step {
	d := func(n int) At { return At{EffectiveTime: at.AddDate(0, 0, n)} }
	return []step{
		{owner, &Complete{At: d(9), ActualTotalInvestment: 5000 * Wan, ActualEquipmentPurchase: equipment}},
		{owner, &PrepareAcceptance{At: d(10)}},
		{owner, &FileAcceptanceItem{At: d(10), Item: ItemSpecialAcceptance, Reference: "r"}},
		{owner, &FileAcceptanceItem{At: d(10), Item: ItemAuditReport, Reference: "r"}},
		{owner, &FileAcceptanceItem{At: d(10), Item: ItemCompletionReport, Reference: "r"}},
		{owner, &RequestAcceptance{At: d(11)}},
		{province, &RecordAcceptance{At: d(12), Outcome: "passed", Reference: "r"}},
	}
}

// TestEveryProgrammeWalksItsPath: for every programme of rulebook 2, a
// project goes along the path its table states, by the roles it names, to
// closure: applied, reviewed, planned, paid, completed, prepared for and
// passed acceptance, closed. Steps its path does not have are refused.
func TestEveryProgrammeWalksItsPath(t *testing.T) {
	at := time.Date(2011, 1, 10, 10, 0, 0, 0, cst)
	for _, code := range rules2.Codes() {
		t.Run(code, func(t *testing.T) {
			r := rules2.effective([]string{code})
			if len(r.Rules) == 0 || r.Rules[0].Lines == "" {
				t.Fatalf("programme %s names no rule and seed line", code)
			}
			src := SourceCentralBudget
			script := walk(at, Amounts{src: 400 * Wan}, code)
			d := func(n int) At { return At{EffectiveTime: at.AddDate(0, 0, n)} }
			if r.ProgressCap {
				script = append(script, step{owner, &ReportProgress{At: d(7), AsOf: "2011-01-17", InvestmentCompleted: 2500 * Wan, PhysicalProgressBP: 5000}})
			}
			if r.AwardAfter != AwardAfterAcceptance {
				script = append(script, step{finance, &Disburse{At: d(8), Source: src, Amount: 200 * Wan, Basis: "b"}})
			}
			script = append(script, toAcceptance(at, 3000*Wan)...)
			if r.AwardAfter == AwardAfterAcceptance {
				script = append(script, step{actorOfRole(r.Planners[0]), &IssueInvestmentPlan{At: d(13), Reference: "award", Awards: Amounts{src: 150 * Wan}}},
					step{finance, &Disburse{At: d(14), Source: src, Amount: 150 * Wan, Basis: "b"}})
			} else {
				if r.Has("pass_pilot_assessment") {
					script = append(script, step{ndrc, &PassPilotAssessment{At: d(13), Reference: "考核合格"}})
				}
				script = append(script, step{finance, &Disburse{At: d(13), Source: src, Amount: 200 * Wan, Basis: "b"}})
			}
			script = append(script, step{drc, &Close{At: d(15)}})
			p := run(t, script)
			if p.Status() != StatusClosed || p.disbursed[src] == 0 {
				t.Fatalf("%s: ended %s with %v disbursed", code, p.Status(), p.disbursed)
			}
			// The steps the path leaves out are refused with the rule that says so.
			q := run(t, script[:1])
			for _, c := range []struct {
				step  string
				actor Actor
				cmd   Command
			}{{"screen", drc, &Screen{At: d(1)}}, {"submit_report", owner, &SubmitApplicationReport{At: d(1), Reference: "r", Attachments: allAttachments}}} {
				if r.Has(c.step) {
					continue
				}
				if _, err := q.Decide(c.cmd, c.actor, now); Code(err) != CodeNotOnPath {
					t.Errorf("%s: %s: got %v, want %s", code, c.step, err, CodeNotOnPath)
				}
			}
		})
	}
}

// TestProgrammeRules checks each rule of rulebook 2 programme by programme,
// each row naming the rule and the lines of the seed it rests on.
func TestProgrammeRules(t *testing.T) {
	at := time.Date(2011, 1, 10, 10, 0, 0, 0, cst)
	d := func(n int) At { return At{EffectiveTime: at.AddDate(0, 0, n)} }
	central := func() []step { return walk(at, Amounts{SourceCentralBudget: 400 * Wan}, "central_rcep") }
	progress := func(n int, bp int64) step {
		return step{owner, &ReportProgress{At: d(n), AsOf: Date(at.AddDate(0, 0, n).Format(time.DateOnly)), InvestmentCompleted: 0, PhysicalProgressBP: bp}}
	}
	before := func(reg *RegisterProject) []step {
		return []step{{drc, reg}, {drc, &Screen{At: At{EffectiveTime: reg.EffectiveTime.Add(time.Hour)}}}}
	}
	noEnergy := allAttachments[:5]
	bp := func(v int64) *int64 { return &v }
	completed850 := func() []step {
		return append(walk(at, nil, "sx_850"), toAcceptance(at, 1000*Wan)...)
	}
	tests := []struct {
		programme, rule, lines, what string
		script                       []step
		actor                        Actor
		cmd                          Command
		code, gotRule                string // "" code: accepted
		events                       []string
	}{
		{"central_rcep", "R2", "L1140-1147", "35% completed passes screening with a warning",
			[]step{{drc, register(at, 1750*Wan, "central_rcep")}}, drc, &Screen{At: d(1)}, "", "", []string{"project_screened"}},
		{"central_rcep", "R2", "L1140-1147", "40% completed and a fen more is refused",
			[]step{{drc, register(at, 2000*Wan+1, "central_rcep")}}, drc, &Screen{At: d(1)}, CodeEligibility, "R2", nil},
		{"central_rcep", "R3", "L1172-1176", "an application before October 2010 needs no energy review",
			before(register(time.Date(2010, 9, 30, 10, 0, 0, 0, cst), 0, "central_rcep")), owner,
			&SubmitApplicationReport{At: At{EffectiveTime: time.Date(2010, 10, 5, 10, 0, 0, 0, cst)}, Reference: "r", Attachments: noEnergy}, "", "", []string{"application_report_submitted"}},
		{"central_rcep", "R3", "L1172-1176", "an application from October 2010 needs the energy review",
			before(register(time.Date(2010, 10, 1, 10, 0, 0, 0, cst), 0, "central_rcep")), owner,
			&SubmitApplicationReport{At: At{EffectiveTime: time.Date(2010, 10, 5, 10, 0, 0, 0, cst)}, Reference: "r", Attachments: noEnergy}, CodeMissingAttachments, "R3", nil},
		{"central_rcep", "R3", "L1176 (等)", "other documents are accepted",
			before(register(at, 0, "central_rcep")), owner,
			&SubmitApplicationReport{At: d(2), Reference: "r", Attachments: append(append([]Attachment(nil), allAttachments...), Attachment{Kind: AttachOther, Reference: "资金证明"})}, "", "", []string{"application_report_submitted"}},
		{"central_rcep", "R4", "L1197-1199", "the plan waits for the national reply",
			central()[:4], ndrc, &IssueInvestmentPlan{At: d(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 1}}, CodeBeforeReply, "R4", nil},
		{"central_rcep", "R5", "L1199, L1282-1286", "no central money before the special account",
			central()[:6], finance, &Disburse{At: d(8), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, CodeNoAccount, "R5", nil},
		{"central_rcep", "R6", "L1207-1210", "no money before progress is reported",
			central(), finance, &Disburse{At: d(8), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, CodeAheadOfProgress, "R6", nil},
		{"central_rcep", "R6", "L1207-1210", "money up to the award times the progress reported",
			append(central(), progress(7, 5000)), finance, &Disburse{At: d(8), Source: SourceCentralBudget, Amount: 200 * Wan, Basis: "b"}, "", "", []string{"funds_disbursed"}},
		{"central_rcep", "R6", "L1207-1210", "and not a fen beyond it",
			append(central(), progress(7, 5000)), finance, &Disburse{At: d(8), Source: SourceCentralBudget, Amount: 200*Wan + 1, Basis: "b"}, CodeAheadOfProgress, "R6", nil},
		{"central_rcep", "R6", "L1207-1210", "an inspection's progress counts too",
			append(central(), step{auditor, &RecordInspection{At: d(7), Kind: "inspection", Body: "市财政局", PhysicalProgressBP: bp(2500)}}), finance,
			&Disburse{At: d(8), Source: SourceCentralBudget, Amount: 100 * Wan, Basis: "b"}, "", "", []string{"funds_disbursed"}},
		{"central_rcep", "R8", "L1235-1237", "a pending content change does not hold back payments",
			append(central(), progress(7, 5000), step{owner, &RequestChange{At: d(7), ChangeID: "c1", Kind: ChangeContent, Description: "d"}}), finance,
			&Disburse{At: d(8), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, "", "", []string{"funds_disbursed"}},
		{"central_rcep", "R8-R10", "L1233-1242", "a city DRC may not approve a central project's change",
			append(central(), step{owner, &RequestChange{At: d(7), ChangeID: "c1", Kind: ChangeContent, Description: "d"}}), city,
			&DecideChange{At: d(8), ChangeID: "c1", Outcome: "approved", Reference: "r"}, CodeRole, "programme", nil},
		{"central_rcep", "R9", "L1240-1242", "the province confirms an owner's new name",
			append(central(), step{owner, &RequestChange{At: d(7), ChangeID: "c1", Kind: ChangeOwnerRename, Description: "d", NewOwner: "浙江某化工股份有限公司"}}), province,
			&DecideChange{At: d(8), ChangeID: "c1", Outcome: "approved", Reference: "r"}, "", "", []string{"change_approved", "owner_renamed"}},
		{"central_rcep", "R10", "L1242-1247", "approving a total investment below the awards is refused",
			append(central()[:4], step{owner, &RequestChange{At: d(3), ChangeID: "c1", Kind: ChangeTotalInvestment, Description: "d", NewTotalInvestment: 300 * Wan, Explanation: "缩小"}},
				central()[4], central()[5]), province, &DecideChange{At: d(6), ChangeID: "c1", Outcome: "approved", Reference: "r"}, CodeOverAward, "R10", nil},
		{"central_rcep", "R12", "L1254-1258", "the province's recognition alone does not terminate",
			central(), province, &Terminate{At: d(8), Reason: "r", Reference: "r"}, "", "", []string{"termination_recognised"}},
		{"central_rcep", "R12", "L1254-1258", "the nation's recognition after the province's terminates",
			append(central(), step{province, &Terminate{At: d(8), Reason: "r", Reference: "r"}}), ndrc, &Terminate{At: d(9), Reason: "r", Reference: "r"}, "", "",
			[]string{"termination_recognised", "project_terminated"}},
		{"central_rcep", "R12", "L1254-1258", "the same level twice is no second recognition",
			append(central(), step{province, &Terminate{At: d(8), Reason: "r", Reference: "r"}}), province, &Terminate{At: d(9), Reason: "r", Reference: "r"}, CodeNoChange, "R12", nil},
		{"central_rcep", "R12", "L1254-1258", "a city cannot terminate a central project",
			central(), city, &Terminate{At: d(8), Reason: "r", Reference: "r"}, CodeRole, "R12", nil},
		{"central_rcep", "R14", "L1070, L1217-1221", "the acceptance request follows preparing for it",
			append(central(), progress(7, 5000), step{owner, &Complete{At: d(9), ActualTotalInvestment: 5000 * Wan}}), owner, &RequestAcceptance{At: d(10)}, CodeWrongStatus, "R14", nil},
		{"central_rcep", "R14", "L1070", "preparing for acceptance follows completion",
			append(central(), progress(7, 5000), step{owner, &Complete{At: d(9), ActualTotalInvestment: 5000 * Wan}}), owner, &PrepareAcceptance{At: d(10)}, "", "", []string{"acceptance_preparation_started"}},
		{"central_rcep", "R14", "L2319", "construction start is recorded once, on a day not after it is recorded",
			central(), owner, &StartConstruction{At: d(8), StartedOn: "2010-12-01"}, "", "", []string{"construction_started"}},
		{"central_sei", "R6", "L1207-1210, L3135-3137", "the strategic-emerging sub-line follows progress like the central budget",
			walk(at, Amounts{SourceCentralBudget: 400 * Wan}, "central_sei"), finance, &Disburse{At: d(8), Source: SourceCentralBudget, Amount: 1, Basis: "b"}, CodeAheadOfProgress, "R6", nil},
		{"zj_991", "R2", "L1140-1147", "no screening is stated for the 991 plan",
			[]step{{drc, register(at, 4000*Wan, "zj_991")}}, drc, &Screen{At: d(1)}, CodeNotOnPath, "R2", nil},
		{"zj_991", "R30", "L3569-3573", "the province lists a 991 project without a national reply",
			walk(at, Amounts{SourceProvincialFund: 100 * Wan}, "zj_991")[:2], province, &IssueInvestmentPlan{At: d(5), Reference: "浙发改函〔2011〕89号"}, "", "", []string{"investment_plan_issued"}},
		{"zj_991", "R5/R6", "L1199, L1207-1210", "provincial money needs neither a special account nor progress",
			walk(at, Amounts{SourceProvincialFund: 100 * Wan}, "zj_991"), finance, &Disburse{At: d(8), Source: SourceProvincialFund, Amount: 100 * Wan, Basis: "b"}, "", "", []string{"funds_disbursed"}},
		{"zj_ce_fund", "-", "L3827-3830", "a city DRC does not review a provincial fund's project",
			[]step{{drc, register(at, 0, "zj_ce_fund")}}, city, &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}, CodeRole, "programme", nil},
		{"zj_park_eco", "R24", "L194-197", "a park project is reviewed and listed by the province",
			[]step{{drc, register(at, 0, "zj_park_eco")}}, province, &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}, "", "", []string{"provincial_review_passed"}},
		{"kitchen_waste_pilot", "R4/R18", "L1841-1845, L2578-2582", "the pilot's review is the NDRC's expert review, straight after the implementation plan",
			[]step{{drc, register(at, 0, "kitchen_waste_pilot")}}, ndrc, &RecordReview{At: d(3), Outcome: "passed", Reference: "专家评审"}, "", "", []string{"provincial_review_passed"}},
		{"kitchen_waste_pilot", "R4/R18", "L1841-1845", "the province does not review a pilot city",
			[]step{{drc, register(at, 0, "kitchen_waste_pilot")}}, province, &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}, CodeRole, "programme", nil},
		{"kitchen_waste_pilot", "R4", "L1845-1851", "the designation notice needs no 复函",
			walk(at, nil, "kitchen_waste_pilot")[:2], ndrc, &IssueInvestmentPlan{At: d(5), Reference: "发改办环资〔2011〕1669号", Awards: Amounts{SourceCentralFiscal: 1200 * Wan}}, "", "", []string{"investment_plan_issued"}},
		{"kitchen_waste_pilot", "R18", "L1857-1861", "50% is pre-disbursed without a special account",
			walk(at, Amounts{SourceCentralFiscal: 1200 * Wan}, "kitchen_waste_pilot"), finance, &Disburse{At: d(8), Source: SourceCentralFiscal, Amount: 600 * Wan, Basis: "财建〔2011〕408号"}, "", "", []string{"funds_disbursed"}},
		{"kitchen_waste_pilot", "R18", "L1859-1861", "the rest waits for the assessment",
			walk(at, Amounts{SourceCentralFiscal: 1200 * Wan}, "kitchen_waste_pilot"), finance, &Disburse{At: d(8), Source: SourceCentralFiscal, Amount: 600*Wan + 1, Basis: "b"}, CodePredisbursementLimit, "R18", nil},
		{"urban_mine", "R19", "L1810-1825", "the NDRC reviews a base's implementation plan",
			[]step{{drc, register(at, 0, "urban_mine")}}, ndrc, &RecordReview{At: d(3), Outcome: "passed", Reference: "发改环资〔2010〕1735号"}, "", "", []string{"provincial_review_passed"}},
		{"remanufacturing_pilot", "-", "L3394-3404", "no screening is stated for the remanufacturing pilot",
			[]step{{drc, register(at, 0, "remanufacturing_pilot")}}, drc, &Screen{At: d(1)}, CodeNotOnPath, "R2", nil},
		{"central_industry", "-", "L2858-2862", "the NDRC lists an industrial-category project",
			walk(at, Amounts{SourceCentralBudget: 100 * Wan}, "central_industry")[:2], ndrc, &IssueInvestmentPlan{At: d(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 100 * Wan}}, "", "", []string{"investment_plan_issued"}},
		{"central_hightech", "-", "L2862-2866", "a city DRC does not list a high-tech-category project",
			walk(at, Amounts{SourceCentralBudget: 100 * Wan}, "central_hightech")[:2], city, &IssueInvestmentPlan{At: d(5), Reference: "r"}, CodeRole, "programme", nil},
		{"hz_770", "R20", "L1590-1598", "an application for a project not yet completed is refused",
			nil, drc, register(at, 4999*Wan, "hz_770"), CodeEligibility, "R20", nil},
		{"hz_770", "R20", "L1590-1598", "a completed project applies",
			nil, drc, register(at, 5000*Wan, "hz_770"), "", "", []string{"project_registered"}},
		{"sx_850", "R21", "L3063-3069", "the 850 listing carries no award",
			walk(at, nil, "sx_850")[:2], city, &IssueInvestmentPlan{At: d(5), Reference: "r", Awards: Amounts{SourceCityFund: 1}}, CodeAwardAfterAcceptance, "R21", nil},
		{"sx_850", "R21", "L3065-3069", "after acceptance: at most 20% of the equipment or 5% of the investment, whichever allows more",
			completed850(), city, &IssueInvestmentPlan{At: d(13), Reference: "r", Awards: Amounts{SourceCityFund: 250*Wan + 1}}, CodeOverAward, "R21", nil},
		{"sx_850", "R21", "L3065-3069", "an award within the cap leaves the project accepted",
			completed850(), city, &IssueInvestmentPlan{At: d(13), Reference: "r", Awards: Amounts{SourceCityFund: 250 * Wan}}, "", "", []string{"investment_plan_issued"}},
		{"tz_511", "R22", "L3844-3846", "the city reviews its 511 key projects",
			[]step{{drc, register(at, 0, "tz_511")}}, city, &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}, "", "", []string{"provincial_review_passed"}},
		{"city_fund", "-", "L983-997", "a city fund's project is reviewed by the city, not the province",
			[]step{{drc, register(at, 0, "city_fund")}}, province, &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}, CodeRole, "programme", nil},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.programme] = true
		t.Run(fmt.Sprintf("%s/%s %s/%s", tc.programme, tc.rule, tc.lines, tc.what), func(t *testing.T) {
			p := run(t, tc.script)
			evs, err := p.Decide(tc.cmd, tc.actor, now)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				var names []string
				for _, e := range evs {
					names = append(names, Name(e))
				}
				if strings.Join(names, ",") != strings.Join(tc.events, ",") {
					t.Fatalf("yielded %v, want %v", names, tc.events)
				}
				if s, ok := evs[0].(ProjectScreened); ok && (s.WarnBP != 3000 || s.Warning == "") {
					t.Fatalf("screening above 30%% without the warning: %+v", s)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Code != tc.code || de.Rule != tc.gotRule {
				t.Fatalf("got %v (%#v), want code %s rule %s", err, de, tc.code, tc.gotRule)
			}
		})
	}
	for _, c := range rules2.Codes() {
		if !covered[c] {
			t.Errorf("programme %s has no row", c)
		}
	}
}

// TestEventsVerifyUnderTheirRulebook: an event decided under rulebook 1 is
// reproduced under rulebook 1 after rulebook 2 changed the rule that
// decided it; under rulebook 2 the same event is refused.
func TestEventsVerifyUnderTheirRulebook(t *testing.T) {
	v1, err := RulebookVersion("")
	if err != nil || v1.Version != 1 {
		t.Fatalf("an event without a rulebook attribute: %v, %v", v1, err)
	}
	if _, err := RulebookVersion("9"); err == nil {
		t.Fatal("rulebook 9: want an error")
	}
	if b, _ := RulebookVersion("2"); b != CurrentRulebook() {
		t.Fatal("rulebook 2 is not the current one")
	}
	// Under rulebook 1 a central project was screened against 30%, paid with
	// no progress reported, and terminated by the province alone.
	at := time.Date(2009, 3, 1, 9, 0, 0, 0, cst)
	d := func(n int) At { return At{EffectiveTime: at.AddDate(0, 0, n)} }
	script := []step{
		{drc, register(at, 500*Wan, "central_rcep")},
		{drc, &Screen{At: d(1)}},
		{owner, &SubmitApplicationReport{At: d(2), Reference: "r", Attachments: allAttachments}},
		{province, &RecordReview{At: d(3), Outcome: "passed", Reference: "r"}},
		{ndrc, &RecordNationalReply{At: d(4), Reference: "r"}},
		{ndrc, &IssueInvestmentPlan{At: d(5), Reference: "r", Awards: Amounts{SourceCentralBudget: 400 * Wan}}},
		{owner, &OpenSpecialAccount{At: d(6), Bank: "b", AccountRef: "1"}},
		{finance, &Disburse{At: d(7), Source: SourceCentralBudget, Amount: 300 * Wan, Basis: "b"}},
		{province, &Terminate{At: d(8), Reason: "r", Reference: "r"}},
	}
	p := NewProject("P1")
	type rec struct {
		evs   []Event
		actor Actor
		at    time.Time
	}
	var history []rec
	for i, s := range script {
		evs, err := p.DecideUnder(v1, s.cmd, s.actor, now)
		if err != nil {
			t.Fatalf("rulebook 1, step %d %s: %v", i, s.cmd.CommandName(), err)
		}
		for _, e := range evs {
			p.Apply(e, s.cmd.EffectiveAt())
		}
		history = append(history, rec{evs, s.actor, s.cmd.EffectiveAt()})
	}
	if p.Status() != StatusTerminated {
		t.Fatalf("rulebook 1: one province decision terminated; status %s", p.Status())
	}
	replay := func(rb *Rulebook) error {
		q := NewProject("P1")
		for i, h := range history {
			n, err := q.Reproduce(rb, h.evs, h.actor, h.at, now)
			if err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			if n != len(h.evs) {
				return fmt.Errorf("step %d: %d of %d events", i, n, len(h.evs))
			}
			for _, e := range h.evs {
				q.Apply(e, h.at)
			}
		}
		return nil
	}
	if err := replay(v1); err != nil {
		t.Fatalf("rulebook 1 events under rulebook 1: %v", err)
	}
	// Under rulebook 2 the first event that differs is the screening: the
	// threshold it records was 30% and is 40% now.
	err = replay(CurrentRulebook())
	if err == nil || !strings.Contains(err.Error(), `"threshold_bp":4000`) {
		t.Fatalf("the same events under rulebook 2: %v, want the screening's changed threshold", err)
	}
	// And with the screening set aside, the payment made with no progress
	// reported is refused by rulebook 2's R6.
	q := NewProject("P1")
	for _, h := range history[:7] {
		for _, e := range h.evs {
			q.Apply(e, h.at)
		}
	}
	if _, err := q.Reproduce(CurrentRulebook(), history[7].evs, history[7].actor, history[7].at, now); err == nil || !strings.Contains(err.Error(), "R6") {
		t.Fatalf("the rulebook-1 payment under rulebook 2: %v, want R6", err)
	}
	if _, err := q.Reproduce(v1, history[7].evs, history[7].actor, history[7].at, now); err != nil {
		t.Fatalf("the rulebook-1 payment under rulebook 1: %v", err)
	}
}
