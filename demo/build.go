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
	"strings"
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
	AlsoIn          []string        `json:"also_in,omitempty"` // further programmes the project is listed under
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
	added           []Aggregate    // figures of the text seed_aggregates.json does not list
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
			"dates are filled in: the reports give years at most; every history follows the paths and rules of its programmes in rulebook 2 (GET /v1/programmes): screening and the application report only for central-budget projects, the national reply before a central plan, the special account for central money, progress reports before every central tranche (R6), preparing for acceptance before the request (R14), termination recognised by province and nation (R12), the pilot path and its 50% pre-disbursement (R18)",
			"R2 (L1140-1147): '完成投资不超过总投资30%—40%' is stated for central-budget candidates only: rulebook 2 refuses above 40% and records a warning above 30%; no screen for the 991, city and pilot programmes",
			"R3 (L1168-1176): the attachments are required of central-budget applications; 节能审查 ('去年十月开始', the report written in 2011) only of applications from 2010-10-01, so Shangyu's applications before then carry none; the list ends in 等, so other documents are accepted (kind other)",
			"R4/R18 (L1841-1861, L2576-2586): a pilot city registers its implementation plan (实施方案), the NDRC's expert review is the review, the designation notice 发改办环资〔2011〕1669号 (end of July 2011) is the plan with the award, 50% is paid (财建〔2011〕408号), the rest after the assessment",
			"R5 (L1199, L1282-1286): the special account is a rule of central-budget money; the provincial and city programmes and the pilots open none",
			"R6 (L1207-1210, 根据进度由财政拨付): central money follows checked progress: cumulative disbursement per source at most the award times the progress last reported or inspected; no advance is stated, so none is allowed; the dataset files a progress report before each central tranche and pays the last tenth after completion",
			"R8/R9 (L1233-1242): pending changes holding back payments is not in the text: off in every programme of rulebook 2; a central project's change is approved above the city (province or NDRC)",
			"R12 (L1254-1258, 取得了国家和省的认可): a central project's termination is recognised by the province and by the nation, two recorded recognitions, before the refund falls due; a city cannot terminate one",
			"R14 (L1070, L1217-1221): '准备申请验收' is a state between completion and the acceptance request; Shangyu's 3 such projects stand in it; construction start (开工) is a recorded step (Jiaxing's 20 listings: '全部开工', L2319)",
			"R20 (L1590-1598): Hangzhou's 770 programme ('建成一批、验收一批') takes applications for completed projects (the issue's 'Huzhou 770' is Hangzhou's, L1592); R21 (L3063-3069): Shaoxing 850 lists without award and awards after acceptance at most 20% of the actual equipment purchase or 5% of the actual investment",
			"Shangyu first applied in 2006 (L1184-1185): applications are dated in their plan year, none before 2006; the terminated project's award is filled in as 2000万, half paid by half the work done, the 1000万 refunded (L1258)",
			"Zhoushan's 8 listings are the 8 the text names (L3573-3581), none unnamed; 岑港 and 东福山 are read as in 定海区 and 普陀区, 白沙 as in 普陀区 (inferred, not stated); the projects the text names without owner carry a filled owner",
			"Taizhou's five enterprises (L3825-3830) are funded by the provincial circular-economy fund (zj_ce_fund), 145万 split equally (filled); the text does not list them among the 17 991 listings",
			"Shaoxing's 4 projects with the 2012 复函 (L3137-3139) are read as having the reply by the end of 2011, before the 2012 plan; one of the 12 projects of the 2011 plan is the strategic-emerging one (L3135-3137), listed under central_sei too (which one is filled in)",
			"Huzhou's national funds (L2858-2870): 国家资金 of the 产业类 (2138万) and 高技类 (2200万, with 425万 省级配套) are read as central-budget money of the programmes central_industry and central_hightech, each '等' read as two projects (the named one and a filled one); the park subsidy of 100万 (L194-197) is read as the four parks' total under zj_park_eco",
			"the 2011 investment completed by the 991 listings of Jiaxing (L2321), Jinhua (L3379-3381), Zhoushan (L3587-3588) and Lishui (L4382-4384): each listing's year-end progress report (filled) makes the listings' investment completed during 2011 (the report's investment_completed_by_year) add up to the stated figure",
			"Taizhou's 511 list after the 2011 adjustment (L3844-3848): 32 projects of 36.39亿 in all, split unevenly (filled), listed without award; 万里扬's remanufacturing project (L3394-3398): total 5327万 and 5300万 completed, as stated",
			"categories follow the stated names where they say it (印染企业系统节水改造 is water saving, 风电场 renewable energy, 海水淡化 water saving, 垃圾焚烧发电 resource utilisation), marked inferred; otherwise they are filled",
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
	d.Aggregates = append(d.Aggregates, b.added...)
	return d, nil
}

func (b *builder) check(index int, query, field string, want int64, reading ...string) {
	b.checks[index] = Check{Query: query, Field: field, Want: want}
	if len(reading) > 0 {
		b.readings[index] = reading[0]
	}
}

// addFigure adds a figure of the text that seed_aggregates.json does not
// list, with the check that reproduces it.
func (b *builder) addFigure(line int, who, what string, value float64, unit, query, field string, want int64) {
	b.added = append(b.added, Aggregate{Index: len(b.aggs) + len(b.added), Line: line, Who: who, What: what, Value: value, Unit: unit,
		Reproduced: true, Check: &Check{Query: query, Field: field, Want: want}, Reason: "a figure of the text not in seed_aggregates.json, added with issue 13"})
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
	Accepted            = "accepted"
	PreparingAcceptance = "preparing_acceptance" // 准备申请验收
	Completed           = "completed"
	InProgress          = "in_progress"
	Terminated          = "terminated_refunded"
	Listed              = "listed"         // listed in the plan, being built, no money yet
	ReplyReceived       = "reply_received" // the national reply came; the plan had not yet
)

var attachmentNames = map[string]string{
	domain.AttachFiling: "项目备案通知书", domain.AttachEIA: "环评批复", domain.AttachSitePlanning: "规划选址意见",
	domain.AttachLandPreReview: "用地预审意见", domain.AttachLoanAgreement: "贷款协议", domain.AttachEnergyReview: "节能审查意见",
	domain.AttachOther: "其他材料",
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

// life is what the dataset fixes of one history beyond the project itself.
type life struct {
	apply    time.Time // the application; zero: 150 days before the plan
	plan     time.Time // the plan, listing or designation notice
	reply    time.Time // the national reply, where the path has one; zero: 30 days before the plan
	review   time.Time // the review; zero: 100 days after the application
	planRef  string
	drc      string   // the DRC that registers and screens
	tranches [][2]int // (days after the plan, cumulative % of each award)
	// completedEnd, when positive, is the investment completed to date at
	// the end of 2011 (fen), the year-end progress report's figure; the
	// dataset makes these add up to a stated figure.
	completedEnd int64
	started      bool   // record the start of construction (开工)
	startBasis   string // what says it started
}

// actorOf names who acts in role for p.
func (p *Project) actorOf(role domain.Role, drc string) string {
	switch role {
	case domain.RoleNDRC:
		return "国家发展改革委"
	case domain.RoleProvinceDRC:
		return province
	case domain.RoleCityDRC:
		return divisionNames[p.City] + "发改委"
	}
	return drc
}

// programmes is the project's programmes, the main one first.
func (p *Project) programmes() []string { return append([]string{p.Programme}, p.AlsoIn...) }

var end2011 = time.Date(2011, 12, 31, 12, 0, 0, 0, cst)

// lifecycle builds the whole history of p up to its outcome, along the path
// and rules of its programmes in the rulebook in force: screening, the
// application report, the national reply and the special account only where
// the path has them; progress reports before every tranche where money
// follows progress (R6); preparing for acceptance before the request (R14);
// termination recognised by every level the programme names (R12).
func (b *builder) lifecycle(p *Project, l life) {
	rules := domain.CurrentRulebook().Effective(p.programmes())
	if l.apply.IsZero() {
		l.apply = day(l.plan, -150)
	}
	if l.reply.IsZero() {
		l.reply = day(l.plan, -30)
	}
	if l.review.IsZero() {
		l.review = day(l.apply, 100)
	}
	h := &history{}
	pp := "/v1/projects/" + p.ID
	requested := domain.Amounts{}
	for s, v := range p.Awards {
		requested[s] = v + v/5
	}
	if len(requested) == 0 {
		requested[domain.SourceProvincialFund] = domain.Fen(p.TotalInvestment / 20)
	}
	completedAtApply := p.TotalInvestment / 10
	if rules.CompletedOnly {
		completedAtApply = p.TotalInvestment
	}
	registrar := domain.RoleCountyDRC
	if strings.HasSuffix(l.drc, "市发改委") {
		registrar = domain.RoleCityDRC
	}
	h.add("/v1/projects", l.drc, registrar, l.apply, map[string]any{
		"id": p.ID, "name": p.Name, "owner": p.Owner, "city": p.City, "county": p.County, "category": p.Category,
		"programmes": p.programmes(), "total_investment": p.TotalInvestment, "completed_investment": completedAtApply,
		"planned_start": day(l.apply, 60).Format(time.DateOnly), "planned_end": day(l.plan, 700).Format(time.DateOnly),
		"requested":   requested,
		"description": "演示数据：" + p.Cohort,
	})
	p.Facts["requested"] = Fact{Basis: Filled, Source: "not stated; filled in as the award plus a fifth (or a twentieth of the total without award)"}
	p.Facts["completed_investment"] = Fact{Basis: Filled, Source: "investment completed at application is not stated; filled in as a tenth of the total"}
	if rules.Has("screen") {
		h.add(pp+"/screening", l.drc, registrar, day(l.apply, 14), map[string]any{"note": "已开工，完成投资约10%（补足）"})
	}
	if rules.Has("submit_report") {
		var atts []map[string]string
		for _, a := range rules.Attachments {
			if a.From != "" && l.apply.Before(a.From.Time()) {
				continue // the energy review began in October 2010 (L1176)
			}
			atts = append(atts, map[string]string{"kind": a.Kind, "reference": attachmentNames[a.Kind] + "（补足）"})
		}
		h.add(pp+"/application-report", p.Owner, domain.RoleOwner, day(l.apply, 45), map[string]any{"reference": "项目资金申请报告（补足）", "attachments": atts})
	}
	reviewer := domain.RoleProvinceDRC
	if len(rules.Reviewers) > 0 {
		reviewer = rules.Reviewers[0]
	}
	h.add(pp+"/review", p.actorOf(reviewer, l.drc), reviewer, l.review, map[string]any{"outcome": "passed", "reference": reviewReference(reviewer, l.review)})
	if rules.Has("record_national_reply") {
		h.add(pp+"/national-reply", "国家发展改革委", domain.RoleNDRC, l.reply, map[string]any{"reference": fmt.Sprintf("发改办环资〔%d〕复函（补足）", l.reply.Year())})
	}
	if p.Outcome == ReplyReceived {
		p.Steps = h.steps
		return
	}
	planner := domain.RoleProvinceDRC
	if len(rules.Planners) > 0 {
		planner = rules.Planners[0]
	}
	awards := map[string]int64{}
	for s, v := range p.Awards {
		awards[string(s)] = int64(v)
	}
	h.add(pp+"/investment-plan", p.actorOf(planner, l.drc), planner, l.plan, map[string]any{"reference": l.planRef, "awards": awards})
	if len(p.Awards) > 0 && rules.Has("open_special_account") {
		h.add(pp+"/special-account", p.Owner, domain.RoleOwner, day(l.plan, 20), map[string]any{"bank": "（补足）", "account_ref": "****"})
	}
	if l.started {
		h.add(pp+"/construction-start", p.Owner, domain.RoleOwner, day(l.plan, 1), map[string]any{"started_on": day(l.apply, 60).Format(time.DateOnly), "note": l.startBasis})
		p.Facts["construction_start"] = Fact{Basis: Stated, Source: l.startBasis + "; the day is filled in as the planned start"}
	}
	finance := p.countyName() + "财政局"
	paid := domain.Amounts{}
	reported := 0 // the progress last reported, in percent
	report := func(at time.Time, pct int, note string) {
		h.add(pp+"/progress-reports", p.Owner, domain.RoleOwner, at, map[string]any{"as_of": at.Format(time.DateOnly),
			"investment_completed": p.TotalInvestment * int64(pct) / 100, "physical_progress_bp": pct * 100, "note": note})
		reported = pct
		p.Facts["progress_reports"] = Fact{Basis: Filled, Source: "progress reports are not stated; the dataset files them so that money follows progress (R6)"}
	}
	pay := func(at time.Time, pct int, basis string) {
		if rules.ProgressCap && reported < pct {
			report(day(at, -5), pct, "进度报表（补足）")
		}
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
	}
	last := day(l.plan, 20)
	switch p.Outcome {
	case Terminated:
		// Paid by progress, then stopped (L1254-1258): recognised by each
		// level the programme names, refunded, closed.
		pay(day(l.plan, 120), l.tranches[0][1], "首期按进度拨付（补足）")
		levels := rules.TerminationRecognitions
		if len(levels) == 0 {
			levels = []string{"province"}
		}
		for i, lv := range levels {
			role, who, ref := domain.RoleProvinceDRC, province, "省发改委认可中止实施（补足）"
			if lv == "nation" {
				role, who, ref = domain.RoleNDRC, "国家发展改革委", "国家发展改革委认可中止实施（补足）"
			}
			h.add(pp+"/termination", who, role, day(l.plan, 400+10*i), map[string]any{"reason": "企业生产经营形势变化，项目中止实施（L1254-1256）", "reference": ref})
		}
		for _, s := range domain.Sources {
			if v := paid[s]; v > 0 {
				h.add(pp+"/refunds", finance, domain.RoleFinance, day(l.plan, 470), map[string]any{"source": s, "amount": v, "reference": "与财政一起退还财政资金（L1258）"})
			}
		}
		h.add(pp+"/closure", l.drc, registrar, day(l.plan, 480), map[string]any{"note": "已全部退还"})
		p.Steps = h.steps
		return
	case Listed, InProgress:
		for i, t := range l.tranches {
			at := day(l.plan, t[0])
			if at.After(end2011) || (rules.ProgressCap && t[1] == 100) {
				break // the last tranche follows completion
			}
			pay(at, t[1], fmt.Sprintf("第%d期，按进度检查拨付（补足）", i+1))
			last = at
		}
		if l.completedEnd > 0 {
			pct := int(l.completedEnd * 100 / p.TotalInvestment)
			h.add(pp+"/progress-reports", p.Owner, domain.RoleOwner, end2011, map[string]any{"as_of": end2011.Format(time.DateOnly),
				"investment_completed": l.completedEnd, "physical_progress_bp": max(pct, reported) * 100, "note": "2011年度进度报表（补足，合计与报告所载年度完成投资一致）"})
			p.Facts["progress_reports"] = Fact{Basis: Filled, Source: p.Facts["progress_reports"].Source}
			p.Steps = h.steps
			return
		}
		at := day(last, 30)
		if at.After(end2011) {
			at = end2011
		}
		report(at, min(max(reported+10, 50), 95), "进度报表（补足）")
		p.Steps = h.steps
		return
	}
	// Completed, then perhaps preparing for acceptance, then acceptance.
	done := day(l.plan, 420)
	for i, t := range l.tranches {
		if at := day(l.plan, t[0]); at.Before(done) {
			pay(at, t[1], fmt.Sprintf("第%d期，按进度检查拨付（补足）", i+1))
		}
	}
	h.add(pp+"/acceptance-items", p.Owner, domain.RoleOwner, day(done, -5), map[string]any{"item": domain.ItemSpecialAcceptance, "reference": "环保、消防专项验收（补足）"})
	h.add(pp+"/completion", p.Owner, domain.RoleOwner, done, map[string]any{"actual_total_investment": p.TotalInvestment})
	reported = 100
	for i, t := range l.tranches {
		if at := day(l.plan, t[0]); !at.Before(done) {
			pay(day(done, 10+i), t[1], "竣工后拨付余款（补足）")
		}
	}
	if p.Outcome == Completed {
		p.Steps = h.steps
		return
	}
	h.add(pp+"/acceptance-preparation", p.Owner, domain.RoleOwner, day(done, 30), map[string]any{"note": "准备申请验收（补足）"})
	h.add(pp+"/acceptance-items", p.Owner, domain.RoleOwner, day(done, 40), map[string]any{"item": domain.ItemAuditReport, "reference": "项目审计报告（补足）"})
	h.add(pp+"/acceptance-items", p.Owner, domain.RoleOwner, day(done, 45), map[string]any{"item": domain.ItemCompletionReport, "reference": "项目竣工总结报告（补足）"})
	if p.Outcome == PreparingAcceptance {
		p.Steps = h.steps
		return
	}
	h.add(pp+"/acceptance-request", p.Owner, domain.RoleOwner, day(done, 50), nil)
	h.add(pp+"/acceptance", province, domain.RoleProvinceDRC, day(done, 120), map[string]any{"outcome": "passed", "reference": "通过省组织竣工验收（补足）"})
	p.Steps = h.steps
}

// reviewReference is the filled-in reference of a review by role.
func reviewReference(role domain.Role, at time.Time) string {
	switch role {
	case domain.RoleNDRC:
		return fmt.Sprintf("国家发展改革委专家评审意见（%d，补足）", at.Year())
	case domain.RoleCityDRC:
		return fmt.Sprintf("市发改委评审意见（%d，补足）", at.Year())
	}
	return fmt.Sprintf("浙发改资环〔%d〕评审意见（补足）", at.Year())
}

// countyName is the name of the project's county, for actors' names.
func (p *Project) countyName() string {
	if n, ok := divisionNames[p.County]; ok {
		return n
	}
	return divisionNames[p.City]
}
