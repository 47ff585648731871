// Package demo is the ledger's demo data: the Zhejiang projects and city
// figures of the 2011–2012 reports, as complete project histories, loaded
// through the HTTP API like any client's commands.
//
// The dataset (dataset.json) is built by Build from the copies of the
// research files in sources/ and the cohorts below. Every project says, fact
// by fact, whether the reports state it or the dataset fills it in to make a
// history complete, and where the reports give only totals, filled-in
// projects make the totals match exactly, in fen.
package demo

//go:generate go run ./gen

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/zjfund/ledger/domain"
)

//go:embed sources/seed_projects.json
var seedProjectsJSON []byte

//go:embed sources/seed_aggregates.json
var seedAggregatesJSON []byte

// Fact basis: stated by the reports, filled in by the dataset, or inferred
// from the text (a reading the text suggests but does not state).
const (
	Stated   = "stated"
	Filled   = "filled"
	Inferred = "inferred"
)

// Fact says where one fact of a project comes from.
type Fact struct {
	Basis  string `json:"basis"`
	Source string `json:"source,omitempty"` // line of the original reports, and what it says
}

// Step is one command of a project's history, as a client posts it.
type Step struct {
	Path  string         `json:"path"`
	Actor string         `json:"actor"`
	Role  domain.Role    `json:"role"`
	Body  map[string]any `json:"body"`
}

// Project is one project of the dataset with its whole history.
type Project struct {
	ID              string          `json:"id"`
	Cohort          string          `json:"cohort"`
	Name            string          `json:"name"`
	Owner           string          `json:"owner"`
	City            string          `json:"city"`
	County          string          `json:"county"`
	Category        string          `json:"category"`
	Programme       string          `json:"programme"`
	PlanYear        int             `json:"plan_year"`
	TotalInvestment int64           `json:"total_investment"` // fen
	Awards          domain.Amounts  `json:"awards"`
	Outcome         string          `json:"outcome"` // where the history ends by 2011-12-31
	Facts           map[string]Fact `json:"facts"`
	Steps           []Step          `json:"steps"`
}

// Check is how a test (or a reader) verifies an aggregate against the loaded
// ledger: GET Query and compare Field of its "figures" with Want.
type Check struct {
	Query string `json:"query"`
	Field string `json:"field"`
	Want  int64  `json:"want"`
}

// Aggregate is one figure of seed_aggregates.json and whether the dataset
// reproduces it.
type Aggregate struct {
	Index      int     `json:"index"`
	Line       int     `json:"line"`
	Who        string  `json:"who"`
	What       string  `json:"what"`
	Value      float64 `json:"value"`
	Unit       string  `json:"unit"`
	Reproduced bool    `json:"reproduced"`
	Check      *Check  `json:"check,omitempty"`
	Reason     string  `json:"reason,omitempty"` // why it is not reproduced, or the reading taken
}

// Dataset is the whole demo dataset.
type Dataset struct {
	About      About       `json:"about"`
	Projects   []Project   `json:"projects"`
	Aggregates []Aggregate `json:"aggregates"`
}

// About records the choices the dataset makes.
type About struct {
	Source   string   `json:"source"`
	Regions  string   `json:"regions"`
	AsOf     string   `json:"as_of"`
	Readings []string `json:"readings"`
}

type seedAggregate struct {
	Who   string  `json:"who"`
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Line  int     `json:"line"`
	Quote string  `json:"quote_zh"`
}

type seedProject struct {
	Name   string `json:"name_zh"`
	Owner  string `json:"owner_zh"`
	City   string `json:"city"`
	County string `json:"county"`
	Line   int    `json:"line"`
}

const wan = int64(domain.Wan)

var cst = time.FixedZone("CST", 8*3600)

// builder accumulates projects and checks.
type builder struct {
	seedProjectsAll []seedProject
	aggs            []seedAggregate
	projects        []Project
	checks          map[int]Check  // aggregate index → check
	readings        map[int]string // aggregate index → the reading taken
	r               *rand.Rand
}

// Build returns the dataset. It is deterministic.
func Build() (*Dataset, error) {
	b := &builder{checks: map[int]Check{}, readings: map[int]string{}, r: rand.New(rand.NewPCG(2011, 12))}
	if err := json.Unmarshal(seedProjectsJSON, &b.seedProjectsAll); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(seedAggregatesJSON, &b.aggs); err != nil {
		return nil, err
	}
	if err := b.shangyu(); err != nil {
		return nil, err
	}
	for _, c := range cohorts() {
		if err := b.cohort(c); err != nil {
			return nil, fmt.Errorf("cohort %s: %w", c.prefix, err)
		}
	}
	b.pilots()
	d := &Dataset{About: About{
		Source: "the 2011–2012 reports of Zhejiang's cities to the provincial Circular Economy Office (shared/seed), distilled in sources/seed_projects.json and sources/seed_aggregates.json; lines refer to the original text",
		Regions: "GB/T 2260 administrative division codes as in force in 2011 (GB/T 2260-2007 with the Ministry of Civil Affairs' changes up to 2011): " +
			"上虞市 is 330682 (it became 绍兴市上虞区, 330604, only in 2013)",
		AsOf: "histories end by 2011-12-31, the date the reports speak of; report queries use as_of=2011-12-31",
		Readings: []string{
			"Shangyu (L1054-1070, L1254-1268): the 18 completed, 4 accepted, 3 preparing acceptance, 7 in progress and 1 terminated are read as counts over the 26 projects since 2006 (18 + 7 + 1 = 26), not the 20 since 2009 (domain notes §9.1); the 20 since 2009 are a subset of the 26; the 4 accepted and 3 preparing are among the 18 completed",
			"Shangyu's 6 projects of the 2011 plan are among Shaoxing's 12 projects of the 2011 central-budget plan (L3131-3135), which the dataset reads as the 2011 plan year",
			"the provincial circular-economy special fund (省循环经济发展专项资金) goes to projects listed in the 991 plan (domain notes §4.2 step 3), so each city's funded projects are among its 991 listings",
			"Quzhou's '2010年实施计划' (L4103-4105) is read as the 2011 plan, a typo (domain notes §9.5)",
			"'已到位' pre-disbursements (Ningbo L1859, Jiaxing L2586) were paid by 2011-12-31; Jiaxing's total award is not stated and is filled in as twice the pre-disbursed 455万, the 50% rule of R18",
			"where only group totals are stated, the dataset splits them over the projects unevenly but exactly, and marks each project's amount filled; names of unnamed projects say so",
			"dates are filled in: the reports give years at most; every history follows the lifecycle rules (R2 screening, R3 attachments, R4 order, R5 account, R6 caps, R12 refund, R14 acceptance items, R18 pre-disbursement)",
		},
	}}
	d.Projects = b.projects
	sort.Slice(d.Projects, func(i, j int) bool { return d.Projects[i].ID < d.Projects[j].ID })
	for i, a := range b.aggs {
		ag := Aggregate{Index: i, Line: a.Line, Who: a.Who, What: a.What, Value: a.Value, Unit: a.Unit}
		if c, ok := b.checks[i]; ok {
			cc := c
			ag.Reproduced, ag.Check = true, &cc
			ag.Reason = b.readings[i]
		} else {
			ag.Reason = notReproduced(i, a)
		}
		d.Aggregates = append(d.Aggregates, ag)
	}
	return d, nil
}

func (b *builder) check(index int, query, field string, want int64, reading ...string) {
	b.checks[index] = Check{Query: query, Field: field, Want: want}
	if len(reading) > 0 {
		b.readings[index] = reading[0]
	}
}

func (b *builder) aggLine(i int) string {
	a := b.aggs[i]
	return fmt.Sprintf("L%d %s", a.Line, a.Quote)
}

// split divides total (万元) into n positive parts, unevenly but exactly.
func (b *builder) split(total int64, n int) []int64 {
	w := make([]int64, n)
	var sum int64
	for i := range w {
		w[i] = int64(b.r.IntN(9) + 4)
		sum += w[i]
	}
	parts := make([]int64, n)
	var given int64
	for i := range parts {
		parts[i] = total * w[i] / sum
		if parts[i] == 0 {
			parts[i] = 1
		}
		given += parts[i]
	}
	parts[n-1] += total - given
	return parts
}

// Outcomes: where a history stands at the end of 2011.
const (
	Accepted          = "accepted"
	AcceptancePending = "acceptance_pending"
	Completed         = "completed"
	InProgress        = "in_progress"
	Terminated        = "terminated_refunded"
	Listed            = "listed" // listed in the plan, being built, no money yet
)

var attachmentNames = map[string]string{
	domain.AttachFiling: "项目备案通知书", domain.AttachEIA: "环评批复", domain.AttachSitePlanning: "规划选址意见",
	domain.AttachLandPreReview: "用地预审意见", domain.AttachLoanAgreement: "贷款协议", domain.AttachEnergyReview: "节能审查意见",
}

// history collects the steps of one project.
type history struct {
	steps []Step
}

func (h *history) add(path, actor string, role domain.Role, at time.Time, body map[string]any) {
	if body == nil {
		body = map[string]any{}
	}
	body["effective_time"] = at.Format(time.RFC3339)
	h.steps = append(h.steps, Step{Path: path, Actor: actor, Role: role, Body: body})
}

func day(t time.Time, days int) time.Time { return t.AddDate(0, 0, days) }

// lifecycle builds the whole history of p up to its outcome: the plan is
// issued on plan (the 991 plan: May 2011, L3569-3573), the national reply
// arrives on reply (zero: 60 days before the plan); tranches are (days after
// the plan, cumulative share in percent of each award) of the disbursements.
func (b *builder) lifecycle(p *Project, plan, reply time.Time, planRef string, national bool, drc string, tranches [][2]int) {
	if p.Programme == "zj_991" {
		plan = time.Date(2011, 5, 20, 10, 0, 0, 0, cst)
	}
	if reply.IsZero() {
		reply = day(plan, -60)
	}
	apply := day(plan, -240)
	h := &history{}
	pp := "/v1/projects/" + p.ID
	requested := domain.Amounts{}
	for s, v := range p.Awards {
		requested[s] = v + v/5
	}
	if len(requested) == 0 {
		src := domain.SourceProvincialFund
		requested[src] = domain.Fen(p.TotalInvestment / 20)
	}
	h.add("/v1/projects", drc, domain.RoleCountyDRC, apply, map[string]any{
		"id": p.ID, "name": p.Name, "owner": p.Owner, "city": p.City, "county": p.County, "category": p.Category,
		"programmes": []string{p.Programme}, "total_investment": p.TotalInvestment, "completed_investment": p.TotalInvestment / 10,
		"planned_start": day(apply, 60).Format(time.DateOnly), "planned_end": day(plan, 700).Format(time.DateOnly),
		"requested":   requested,
		"description": "演示数据：" + p.Cohort,
	})
	h.add(pp+"/screening", drc, domain.RoleCountyDRC, day(apply, 14), map[string]any{"note": "已开工，完成投资约10%（补足）"})
	var atts []map[string]string
	for _, k := range domain.RequiredAttachments {
		atts = append(atts, map[string]string{"kind": k, "reference": attachmentNames[k] + "（补足）"})
	}
	h.add(pp+"/application-report", p.Owner, domain.RoleOwner, day(apply, 45), map[string]any{"reference": "项目资金申请报告（补足）", "attachments": atts})
	h.add(pp+"/review", province, domain.RoleProvinceDRC, day(apply, 100), map[string]any{"outcome": "passed", "reference": fmt.Sprintf("浙发改资环〔%d〕评审意见（补足）", day(apply, 100).Year())})
	planner, planRole := province, domain.RoleProvinceDRC
	if national {
		h.add(pp+"/national-reply", "国家发展改革委", domain.RoleNDRC, reply, map[string]any{"reference": fmt.Sprintf("发改办环资〔%d〕复函（补足）", reply.Year())})
		planner, planRole = "国家发展改革委", domain.RoleNDRC
	}
	awards := map[string]int64{}
	for s, v := range p.Awards {
		awards[string(s)] = int64(v)
	}
	h.add(pp+"/investment-plan", planner, planRole, plan, map[string]any{"reference": planRef, "awards": awards})
	if len(p.Awards) > 0 {
		h.add(pp+"/special-account", p.Owner, domain.RoleOwner, day(plan, 20), map[string]any{"bank": "（补足）", "account_ref": "****"})
	}
	finance := p.countyName() + "财政局"
	paid := domain.Amounts{}
	last := day(plan, 20)
	pay := func(at time.Time, pct int, basis string) {
		for _, s := range domain.Sources {
			v := p.Awards[s]
			if v == 0 {
				continue
			}
			amt := v*domain.Fen(pct)/100 - paid[s] // pct is cumulative
			if pct == 100 {
				amt = v - paid[s]
			}
			if amt <= 0 {
				continue
			}
			paid[s] += amt
			h.add(pp+"/disbursements", finance, domain.RoleFinance, at, map[string]any{"source": s, "amount": amt, "basis": basis})
		}
		last = at
	}
	end := time.Date(2011, 12, 31, 12, 0, 0, 0, cst)
	switch p.Outcome {
	case Terminated:
		// Paid one tranche, then stopped (L1254-1258); the tranche is refunded.
		pay(day(plan, 120), tranches[0][1], "首期按进度拨付（补足）")
		h.add(pp+"/progress-reports", p.Owner, domain.RoleOwner, day(plan, 180), map[string]any{"as_of": day(plan, 175).Format(time.DateOnly), "investment_completed": p.TotalInvestment / 5, "physical_progress_bp": 1500})
		h.add(pp+"/termination", province, domain.RoleProvinceDRC, day(plan, 400), map[string]any{"reason": "企业生产经营形势变化，项目中止实施（L1254-1256）", "reference": "国家、省同意中止实施（补足）"})
		for _, s := range domain.Sources {
			if v := paid[s]; v > 0 {
				h.add(pp+"/refunds", finance, domain.RoleFinance, day(plan, 470), map[string]any{"source": s, "amount": v, "reference": "与财政一起退还财政资金（L1258）"})
			}
		}
		h.add(pp+"/closure", drc, domain.RoleCountyDRC, day(plan, 480), map[string]any{"note": "已全部退还"})
		p.Steps = h.steps
		return
	case Listed, InProgress:
		for i, t := range tranches {
			at := day(plan, t[0])
			if at.After(end) {
				break
			}
			pay(at, t[1], fmt.Sprintf("第%d期，按进度检查拨付（补足）", i+1))
		}
		at := day(last, 30)
		if at.After(end) {
			at = end
		}
		h.add(pp+"/progress-reports", p.Owner, domain.RoleOwner, at, map[string]any{"as_of": at.Format(time.DateOnly), "investment_completed": p.TotalInvestment / 2, "physical_progress_bp": 5000})
		p.Steps = h.steps
		return
	}
	// Completed, then perhaps acceptance.
	for i, t := range tranches {
		pay(day(plan, t[0]), t[1], fmt.Sprintf("第%d期，按进度检查拨付（补足）", i+1))
	}
	done := day(plan, 420)
	h.add(pp+"/progress-reports", p.Owner, domain.RoleOwner, day(done, -15), map[string]any{"as_of": day(done, -16).Format(time.DateOnly), "investment_completed": p.TotalInvestment * 9 / 10, "physical_progress_bp": 9000})
	h.add(pp+"/acceptance-items", p.Owner, domain.RoleOwner, day(done, -5), map[string]any{"item": domain.ItemSpecialAcceptance, "reference": "环保、消防专项验收（补足）"})
	h.add(pp+"/completion", p.Owner, domain.RoleOwner, done, map[string]any{"actual_total_investment": p.TotalInvestment})
	if p.Outcome == Completed {
		p.Steps = h.steps
		return
	}
	h.add(pp+"/acceptance-items", p.Owner, domain.RoleOwner, day(done, 40), map[string]any{"item": domain.ItemAuditReport, "reference": "项目审计报告（补足）"})
	h.add(pp+"/acceptance-items", p.Owner, domain.RoleOwner, day(done, 45), map[string]any{"item": domain.ItemCompletionReport, "reference": "项目竣工总结报告（补足）"})
	h.add(pp+"/acceptance-request", p.Owner, domain.RoleOwner, day(done, 50), nil)
	if p.Outcome == Accepted {
		h.add(pp+"/acceptance", province, domain.RoleProvinceDRC, day(done, 120), map[string]any{"outcome": "passed", "reference": "通过省组织竣工验收（补足）"})
	}
	p.Steps = h.steps
}

// countyName is the name of the project's county, for actors' names.
func (p *Project) countyName() string {
	if n, ok := divisionNames[p.County]; ok {
		return n
	}
	return divisionNames[p.City]
}
