package domain

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// A rulebook is the set of programme tables the deciders follow: per funding
// programme, its path and the rules that differ between programmes, each
// with the lines of the reports it rests on. Rulebooks are versioned and
// never edited once events were decided under them: every event records the
// version that decided it (the envelope's "rulebook"; absent on events
// recorded before rulebooks were versioned, which are version 1), and
// verification reproduces each event under its own version, so a later
// correction of a rule never invalidates recorded history.

// RuleRef names one rule of a programme and the lines of the reports it rests on.
type RuleRef struct {
	ID    string `json:"id"`    // the domain notes' rule number, e.g. "R2"
	Lines string `json:"lines"` // physical lines of the seed, e.g. "L1140-1147"
	Text  string `json:"text"`  // the rule as the ledger applies it
}

// AttachmentRule is one attachment of the application report: required for
// applications registered on or after From (all, when From is empty).
type AttachmentRule struct {
	Kind string `json:"kind"`
	From Date   `json:"from,omitempty"`
}

// AwardCap caps an award decided after acceptance (Shaoxing 850): at most
// EquipmentBP of the actual equipment purchase or InvestmentBP of the actual
// investment, whichever basis allows more.
type AwardCap struct {
	EquipmentBP  int64 `json:"equipment_bp"`
	InvestmentBP int64 `json:"investment_bp"`
}

// Award timings.
const (
	AwardBeforeConstruction = ""           // the plan fixes the award, then money follows progress
	AwardAfterAcceptance    = "acceptance" // the award is decided once acceptance has passed
)

// ProgrammeRules is one programme's table in a rulebook.
type ProgrammeRules struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level string `json:"level"` // national, provincial or city
	// Path is the programme's steps in order, by command name. Screening,
	// the application report, the national reply, the special account and
	// the pilot assessment are steps only where the path names them.
	// Progress reports, inspections, changes and termination may come at
	// any time while the project is being carried out.
	Path []string `json:"path"`
	// R2: completed investment at screening, in basis points of the total:
	// refused above ScreenLimitBP, a warning above ScreenWarnBP (0: none).
	ScreenLimitBP int64 `json:"screen_limit_bp,omitempty"`
	ScreenWarnBP  int64 `json:"screen_warn_bp,omitempty"`
	// CompletedOnly: only completed projects apply (Hangzhou 770, R20).
	CompletedOnly bool             `json:"completed_only,omitempty"`
	Attachments   []AttachmentRule `json:"attachments,omitempty"` // R3, when the path has the report
	// Who may review, issue the plan, decide changes; empty: any role the
	// command's role table permits.
	Reviewers       []Role `json:"reviewers,omitempty"`
	Planners        []Role `json:"planners,omitempty"`
	ChangeApprovers []Role `json:"change_approvers,omitempty"`
	// AwardAfter is when the award is decided: "" with the plan, before
	// construction; "acceptance" after completion acceptance (Shaoxing 850).
	AwardAfter string    `json:"award_after,omitempty"`
	AwardCap   *AwardCap `json:"award_cap,omitempty"`
	// R6: cumulative disbursement per source at most the award times the
	// progress share last reported or inspected, plus AdvanceBP of the award.
	ProgressCap bool  `json:"progress_cap"`
	AdvanceBP   int64 `json:"advance_bp,omitempty"`
	// R18: the share of each award payable before the pilot assessment.
	PredisbursementBP int64 `json:"predisbursement_bp,omitempty"`
	// ChangesBlock: a pending change holds back disbursements, completion
	// and the acceptance request (a policy, not a rule of the reports).
	ChangesBlock bool `json:"changes_block"`
	// R12: the levels ("nation", "province") that must each recognise a
	// termination before it takes effect; empty: one termination by a
	// permitted role.
	TerminationRecognitions []string  `json:"termination_recognitions,omitempty"`
	AcceptanceItems         []string  `json:"acceptance_items"` // R14
	Rules                   []RuleRef `json:"rules"`
}

// Has reports whether the programme's path has the step named cmd.
func (r *ProgrammeRules) Has(cmd string) bool { return hasString(r.Path, cmd) }

// Rulebook is one version of every programme's table.
type Rulebook struct {
	Version int    `json:"version"`
	Since   string `json:"since"` // the day the ledger began deciding under it
	Note    string `json:"note"`
	// PreparingAcceptance: completion is followed by preparing for
	// acceptance (准备申请验收) before the acceptance request (R14).
	PreparingAcceptance bool `json:"preparing_acceptance"`
	// ReviseCheckedAtDecision: a total-investment change is checked against
	// the awards again when it is approved (R10).
	ReviseCheckedAtDecision bool                      `json:"revise_checked_at_decision"`
	Programmes              map[string]ProgrammeRules `json:"programmes"`

	merged  sync.Map     // programme codes joined by "," → *ProgrammeRules, made once
	nMerged atomic.Int64 // entries of merged, at most maxMerged
}

// maxMerged bounds the cache of merged tables: combinations of programmes
// beyond it are merged on each use.
const maxMerged = 4096

// Codes returns the rulebook's programme codes, sorted.
func (b *Rulebook) Codes() []string {
	cs := make([]string, 0, len(b.Programmes))
	for c := range b.Programmes {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs
}

// VersionString is the version as the envelope records it.
func (b *Rulebook) VersionString() string { return strconv.Itoa(b.Version) }

// Rulebooks lists every version, oldest first; the last one is in force.
var Rulebooks = []*Rulebook{rulebookV1(), rulebookV2()}

// CurrentRulebook is the rulebook new commands are decided under.
func CurrentRulebook() *Rulebook { return Rulebooks[len(Rulebooks)-1] }

// RulebookVersion returns the rulebook an event records: "" (events before
// rulebooks were versioned) is version 1.
func RulebookVersion(v string) (*Rulebook, error) {
	if v == "" {
		v = "1"
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > len(Rulebooks) || strconv.Itoa(n) != v {
		return nil, fmt.Errorf("rulebook version %q is not one this ledger knows (1 to %d)", v, len(Rulebooks))
	}
	return Rulebooks[n-1], nil
}

// Programmes is the table of known programmes of the current rulebook.
var Programmes = CurrentRulebook().Programmes

// ProgrammeCodes returns the programme codes of the current rulebook, sorted.
func ProgrammeCodes() []string { return CurrentRulebook().Codes() }

// Effective is the table a project listed under codes follows: see effective.
// The result is shared: read it, never change it.
func (b *Rulebook) Effective(codes []string) *ProgrammeRules { return b.effective(codes) }

// effective is merge's table for codes, made once per rulebook and set of
// codes (a rulebook never changes once made).
func (b *Rulebook) effective(codes []string) *ProgrammeRules {
	key := strings.Join(codes, ",")
	if r, ok := b.merged.Load(key); ok {
		return r.(*ProgrammeRules)
	}
	m := b.merge(codes)
	if b.nMerged.Load() >= maxMerged {
		return m
	}
	r, loaded := b.merged.LoadOrStore(key, m)
	if !loaded {
		b.nMerged.Add(1)
	}
	return r.(*ProgrammeRules)
}

// merge merges the tables of a project's programmes: a step or a
// requirement of any of them holds, the strictest limit applies, and the
// roles are those every programme allows (the first programme's, when they
// share none).
func (b *Rulebook) merge(codes []string) *ProgrammeRules {
	var e ProgrammeRules
	first := true
	attach := map[string]Date{}
	var kinds []string
	for _, c := range codes {
		r, ok := b.Programmes[c]
		if !ok {
			continue
		}
		if first {
			e.Code, e.Name, e.Level = r.Code, r.Name, r.Level
			e.Reviewers, e.Planners, e.ChangeApprovers = r.Reviewers, r.Planners, r.ChangeApprovers
			e.AwardAfter, e.AwardCap, e.AdvanceBP = r.AwardAfter, r.AwardCap, r.AdvanceBP
			e.ScreenLimitBP, e.ScreenWarnBP = r.ScreenLimitBP, r.ScreenWarnBP
		} else {
			e.Reviewers = intersect(e.Reviewers, r.Reviewers)
			e.Planners = intersect(e.Planners, r.Planners)
			e.ChangeApprovers = intersect(e.ChangeApprovers, r.ChangeApprovers)
			if r.Has("screen") && (e.ScreenLimitBP == 0 || r.ScreenLimitBP < e.ScreenLimitBP) {
				e.ScreenLimitBP = r.ScreenLimitBP
			}
			if r.ScreenWarnBP > 0 && (e.ScreenWarnBP == 0 || r.ScreenWarnBP < e.ScreenWarnBP) {
				e.ScreenWarnBP = r.ScreenWarnBP
			}
			if r.ProgressCap && (!e.ProgressCap || r.AdvanceBP < e.AdvanceBP) {
				e.AdvanceBP = r.AdvanceBP
			}
			if e.AwardAfter == "" {
				e.AwardAfter, e.AwardCap = r.AwardAfter, r.AwardCap
			}
		}
		first = false
		for _, s := range r.Path {
			if !hasString(e.Path, s) {
				e.Path = append(e.Path, s)
			}
		}
		e.CompletedOnly = e.CompletedOnly || r.CompletedOnly
		e.ProgressCap = e.ProgressCap || r.ProgressCap
		e.ChangesBlock = e.ChangesBlock || r.ChangesBlock
		e.PredisbursementBP = max(e.PredisbursementBP, r.PredisbursementBP)
		for _, a := range r.Attachments {
			if f, ok := attach[a.Kind]; !ok || a.From < f {
				if !ok {
					kinds = append(kinds, a.Kind)
				}
				attach[a.Kind] = a.From
			}
		}
		for _, l := range r.TerminationRecognitions {
			if !hasString(e.TerminationRecognitions, l) {
				e.TerminationRecognitions = append(e.TerminationRecognitions, l)
			}
		}
		for _, it := range r.AcceptanceItems {
			if !hasString(e.AcceptanceItems, it) {
				e.AcceptanceItems = append(e.AcceptanceItems, it)
			}
		}
		e.Rules = append(e.Rules, r.Rules...)
	}
	for _, k := range kinds {
		e.Attachments = append(e.Attachments, AttachmentRule{Kind: k, From: attach[k]})
	}
	return &e
}

func intersect(a, b []Role) []Role {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	var out []Role
	for _, r := range a {
		if hasRole(b, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return a
	}
	return out
}

// levelOf is the level of government a role recognises a termination for.
func levelOf(r Role) string {
	switch r {
	case RoleNDRC:
		return "nation"
	case RoleProvinceDRC:
		return "province"
	case RoleCityDRC:
		return "city"
	}
	return string(r)
}

// The paths of the rulebooks.
var (
	pathV1 = []string{"register", "screen", "submit_report", "record_review", "record_national_reply", "issue_plan",
		"open_special_account", "disburse", "report_progress", "complete", "file_acceptance_item", "request_acceptance",
		"record_acceptance", "close"}
	pathV1Provincial = []string{"register", "screen", "submit_report", "record_review", "issue_plan",
		"open_special_account", "disburse", "report_progress", "complete", "file_acceptance_item", "request_acceptance",
		"record_acceptance", "close"}
)

// rulebookV1 is the rules as the ledger applied them before rulebooks were
// versioned (every event without a "rulebook" attribute was decided under
// it). It is kept exactly as it was so that those events still verify.
func rulebookV1() *Rulebook {
	all := []AttachmentRule{{Kind: AttachFiling}, {Kind: AttachEIA}, {Kind: AttachSitePlanning}, {Kind: AttachLandPreReview}, {Kind: AttachLoanAgreement}, {Kind: AttachEnergyReview}}
	mk := func(code, name, level string, limit int64, national bool, pre int64) ProgrammeRules {
		path := pathV1Provincial
		if national {
			path = pathV1
		}
		if pre > 0 {
			path = append(append([]string(nil), path...), "pass_pilot_assessment")
		}
		return ProgrammeRules{Code: code, Name: name, Level: level, Path: path, ScreenLimitBP: limit, Attachments: all,
			PredisbursementBP: pre, ChangesBlock: true, AcceptanceItems: RequiredAcceptanceItems,
			Rules: []RuleRef{{ID: "R2", Lines: "L1144-1147", Text: fmt.Sprintf("completed investment at screening at most %d%% of the total", limit/100)}}}
	}
	return &Rulebook{Version: 1, Since: "2026-01-01", Note: "the rules before they were read programme by programme: one path for every programme, a 30%/40% screen, six attachments, the special account and pending changes holding back payments everywhere",
		Programmes: map[string]ProgrammeRules{
			"central_rcep":        mk("central_rcep", "资源节约和环境保护中央预算内投资", "national", 3000, true, 0),
			"kitchen_waste_pilot": mk("kitchen_waste_pilot", "餐厨废弃物资源化利用和无害化处理试点城市", "national", 3000, true, 5000),
			"urban_mine":          mk("urban_mine", "城市矿产示范基地", "national", 3000, true, 0),
			"zj_991":              mk("zj_991", "浙江省循环经济991行动计划", "provincial", 4000, false, 0),
			"zj_park_eco":         mk("zj_park_eco", "工业园区生态化建设与改造", "provincial", 4000, false, 0),
			"hz_770":              mk("hz_770", "杭州市循环经济770工程", "city", 4000, false, 0),
			"sx_850":              mk("sx_850", "绍兴市循环经济850工程", "city", 4000, false, 0),
			"tz_511":              mk("tz_511", "台州市循环经济511行动计划", "city", 4000, false, 0),
			"city_fund":           mk("city_fund", "市/县循环经济专项资金", "city", 4000, false, 0),
		}}
}

// rulebookV2 is the rules read programme by programme against the reports
// (issue 13). Every reading is named in the rule's text and in the README.
func rulebookV2() *Rulebook {
	attach := []AttachmentRule{{Kind: AttachFiling}, {Kind: AttachEIA}, {Kind: AttachSitePlanning}, {Kind: AttachLandPreReview},
		{Kind: AttachLoanAgreement}, {Kind: AttachEnergyReview, From: "2010-10-01"}}
	items := RequiredAcceptanceItems
	during := []string{"report_progress", "record_inspection", "request_change", "decide_change", "start_construction"}
	tail := []string{"complete", "prepare_acceptance", "file_acceptance_item", "request_acceptance", "record_acceptance", "close"}
	path := func(parts ...[]string) []string {
		var p []string
		for _, x := range parts {
			p = append(p, x...)
		}
		return p
	}
	drcs := []Role{RoleCityDRC, RoleProvinceDRC, RoleNDRC}
	central := func(code, name string, rules ...RuleRef) ProgrammeRules {
		return ProgrammeRules{Code: code, Name: name, Level: "national",
			Path: path([]string{"register", "screen", "submit_report", "record_review", "record_national_reply", "issue_plan",
				"open_special_account", "disburse"}, during, tail),
			ScreenLimitBP: 4000, ScreenWarnBP: 3000, Attachments: attach,
			Reviewers: []Role{RoleProvinceDRC}, Planners: []Role{RoleNDRC, RoleProvinceDRC},
			ChangeApprovers: []Role{RoleProvinceDRC, RoleNDRC}, ProgressCap: true,
			TerminationRecognitions: []string{"nation", "province"}, AcceptanceItems: items,
			Rules: append([]RuleRef{
				{"R2", "L1140-1147", "screening: completed investment at most 40% of the total; above 30% the screening records a warning (the text's '30%—40%' read as a limit of 40% and a warning at 30%)"},
				{"R3", "L1168-1176", "the application report carries 项目前期备案, 环保审批, 规划选址, 土地预审 and 资金贷款协议; 节能审查 only for applications from 2010-10-01 ('去年十月开始', the report written in 2011); the list ends in 等, so other attachments are accepted"},
				{"R4", "L1176-1178, L1197-1199", "the province reviews, the NDRC's 复函 follows, then the investment plan"},
				{"R5", "L1199, L1282-1286", "the special account (银行专户) is opened once the 复函 arrives; no central money is paid before it"},
				{"R6", "L1207-1210", "根据进度由财政拨付: cumulative disbursement per source at most the award times the progress share last reported or inspected (no advance is stated)"},
				{"R8-R10", "L1233-1247", "a change (content, owner's name, total investment) is approved above the city: by the province or the NDRC; pending changes do not hold back payments (not in the text)"},
				{"R10", "L1242-1247", "a total-investment change below the awards is refused, when requested and when approved"},
				{"R12", "L1254-1258", "termination is recognised by both the nation and the province (两次认可) before the refund falls due; a city alone cannot terminate"},
				{"R14", "L1070, L1217-1221", "completion, then preparing for acceptance (准备申请验收) with 专项验收, 项目审计报告 and 项目竣工总结报告, then the acceptance request; the province decides"},
			}, rules...)}
	}
	provincial := func(code, name string, rules ...RuleRef) ProgrammeRules {
		return ProgrammeRules{Code: code, Name: name, Level: "provincial",
			Path:      path([]string{"register", "record_review", "issue_plan", "disburse"}, during, tail),
			Reviewers: []Role{RoleProvinceDRC}, Planners: []Role{RoleProvinceDRC}, ChangeApprovers: drcs,
			AcceptanceItems: items, Rules: rules}
	}
	city := func(code, name string, rules ...RuleRef) ProgrammeRules {
		return ProgrammeRules{Code: code, Name: name, Level: "city",
			Path:      path([]string{"register", "record_review", "issue_plan", "disburse"}, during, tail),
			Reviewers: []Role{RoleCityDRC}, Planners: []Role{RoleCityDRC}, ChangeApprovers: drcs,
			AcceptanceItems: items, Rules: rules}
	}
	base := func(code, name string, rules ...RuleRef) ProgrammeRules {
		return ProgrammeRules{Code: code, Name: name, Level: "national",
			Path:      path([]string{"register", "record_review", "issue_plan", "disburse"}, during, tail),
			Reviewers: []Role{RoleNDRC}, Planners: []Role{RoleNDRC}, ChangeApprovers: []Role{RoleProvinceDRC, RoleNDRC},
			AcceptanceItems: items, Rules: rules}
	}
	pilot := base("kitchen_waste_pilot", "餐厨废弃物资源化利用和无害化处理试点城市",
		RuleRef{"R4/R18", "L1841-1861, L2576-2586", "the pilot path: implementation plan (the registration) → national expert review (NDRC) → designation notice with the award (发改办环资〔2011〕1669号, the plan) → 50% pre-disbursed (财建〔2011〕408号) → pilot assessment → the rest; no screening, application report, 复函 or special account"},
		RuleRef{"R18", "L1859-1861", "before the pilot assessment passes at most 50% of each award is paid"})
	pilot.Path = path([]string{"register", "record_review", "issue_plan", "disburse", "pass_pilot_assessment"}, during, tail)
	pilot.PredisbursementBP = 5000
	hz770 := city("hz_770", "杭州市循环经济770工程",
		RuleRef{"R20", "L1590-1598", "建成一批、验收一批: the special fund is applied for completed projects; an application states completed investment equal to the total (no screening)"})
	hz770.CompletedOnly = true
	sx850 := city("sx_850", "绍兴市循环经济850工程",
		RuleRef{"R21", "L3063-3069", "listed without award; after completion acceptance an award of at most 20% of the actual equipment purchase or 5% of the actual investment"})
	sx850.AwardAfter, sx850.AwardCap = AwardAfterAcceptance, &AwardCap{EquipmentBP: 2000, InvestmentBP: 500}
	sei := central("central_sei", "中央预算内投资 战略性新兴产业（节能环保类）",
		RuleRef{"-", "L3135-3137", "a sub-line of the central budget: the central path and rules"})
	return &Rulebook{Version: 2, Since: "2026-11-30", PreparingAcceptance: true, ReviseCheckedAtDecision: true,
		Note: "the rules read programme by programme against the reports (issue 13): a path per programme; R2 only for central candidates, 40% with a warning at 30%; R3 per programme and dated; R5 and R6 central; the pilot path; changes approved above the city; termination recognised by nation and province; preparing for acceptance",
		Programmes: map[string]ProgrammeRules{
			"central_rcep": central("central_rcep", "资源节约和环境保护中央预算内投资"),
			"central_sei":  sei,
			"central_industry": base("central_industry", "国家产业类项目资金",
				RuleRef{"-", "L2858-2862", "national industrial-category funds (产业类) as Huzhou reports them; the path the text implies: review, plan, payment; no rule of the text beyond it"}),
			"central_hightech": base("central_hightech", "国家高技类项目资金",
				RuleRef{"-", "L2862-2864", "national high-tech-category funds (高技类) with provincial matching (省级配套)"}),
			"kitchen_waste_pilot": pilot,
			"urban_mine": base("urban_mine", "城市矿产示范基地",
				RuleRef{"R19", "L1810-1825", "built strictly per the approved implementation plan; the plan reply (发改环资〔2010〕1735号) is the review and the plan"}),
			"remanufacturing_pilot": base("remanufacturing_pilot", "汽车零部件再制造国家试点",
				RuleRef{"-", "L3394-3404", "a national pilot whose funding the text does not state"}),
			"zj_991": provincial("zj_991", "浙江省循环经济991行动计划",
				RuleRef{"R30", "L3569-3573, L3585-3588", "listed (列入) in the annual plan, a 函 of 省发改委 and 省循环经济工作办公室; progress reports give the investment completed; no screening is stated"}),
			"zj_ce_fund": provincial("zj_ce_fund", "浙江省循环经济发展专项资金",
				RuleRef{"-", "L3143-3144, L3827-3830, L4125-4126, L4400", "the provincial circular-economy special fund subsidises projects; no screening or special account is stated"}),
			"zj_park_eco": provincial("zj_park_eco", "工业园区生态化建设与改造",
				RuleRef{"R24", "L1583-1590, L194-197", "park projects with the provincial park special subsidy; annual target assessment"}),
			"hz_770": hz770,
			"sx_850": sx850,
			"tz_511": city("tz_511", "台州市循环经济511行动计划",
				RuleRef{"R22", "L3844-3846", "the key-project list is adjusted each year (动态调整)"}),
			"city_fund": city("city_fund", "市/县循环经济专项资金",
				RuleRef{"-", "L983-997, L3830-3832", "standing city and county funds: subsidies, interest subsidies, rewards"}),
		}}
}
