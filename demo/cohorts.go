package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/zjfund/ledger/domain"
)

// divisionNames are the GB/T 2260 codes the dataset uses, as in force in 2011.
var divisionNames = map[string]string{
	"330100": "杭州市", "330200": "宁波市", "330300": "温州市", "330400": "嘉兴市", "330500": "湖州市", "330600": "绍兴市",
	"330700": "金华市", "330800": "衢州市", "330900": "舟山市", "331000": "台州市", "331100": "丽水市",
	"330302": "鹿城区", "330303": "龙湾区", "330304": "瓯海区", "330327": "苍南县", "330381": "瑞安市", "330382": "乐清市",
	"330402": "南湖区", "330411": "秀洲区", "330421": "嘉善县", "330424": "海盐县", "330481": "海宁市", "330482": "平湖市", "330483": "桐乡市",
	"330502": "吴兴区", "330503": "南浔区", "330521": "德清县", "330522": "长兴县", "330523": "安吉县",
	"330602": "越城区", "330621": "绍兴县", "330624": "新昌县", "330681": "诸暨市", "330682": "上虞市", "330683": "嵊州市",
	"330702": "婺城区", "330703": "金东区", "330726": "浦江县", "330781": "兰溪市", "330782": "义乌市", "330784": "永康市",
	"330802": "柯城区", "330803": "衢江区", "330822": "常山县", "330824": "开化县", "330825": "龙游县", "330881": "江山市",
	"330902": "定海区", "330903": "普陀区", "330921": "岱山县", "330922": "嵊泗县",
	"331002": "椒江区", "331003": "黄岩区", "331004": "路桥区", "331021": "玉环县", "331022": "三门县", "331023": "天台县",
	"331024": "仙居县", "331081": "温岭市", "331082": "临海市",
	"331102": "莲都区", "331121": "青田县", "331122": "缙云县", "331123": "遂昌县", "331124": "松阳县", "331125": "云和县",
	"331126": "庆元县", "331181": "龙泉市",
}

const province = "浙江省发改委资环处"

var categoriesByCohort = []string{"energy_saving", "resource_utilization", "cleaner_production", "water_saving", "waste_heat", "renewable_resources", "pollution_control", "material_saving"}

// award is a group award from one source over some of a cohort's projects.
type award struct {
	source domain.Source
	total  int64   // 万元
	funded int     // how many projects share it (0: all)
	split  []int64 // 万元 per funded project, when the dataset fixes it
	stated string  // the line that states the total
}

func (b *builder) namedProject(line int, owner, name string) (seedProject, error) {
	for _, p := range b.seedProjectsAll {
		if p.Line == line && (owner == "" || strings.Contains(p.Owner, owner)) && (name == "" || strings.Contains(p.Name, name)) {
			return p, nil
		}
	}
	return seedProject{}, fmt.Errorf("no project at line %d with owner %q and name %q in seed_projects.json", line, owner, name)
}

// categoryByName is the category a stated project name implies, or "".
func categoryByName(name string) string {
	for _, k := range []struct{ word, cat string }{
		{"节水", "water_saving"}, {"海水淡化", "water_saving"}, {"风电", "renewable_energy"}, {"风力", "renewable_energy"},
		{"垃圾焚烧", "resource_utilization"}, {"生态化建设", "park_transformation"}, {"再制造", "remanufacturing"},
		{"秸秆", "resource_utilization"}, {"脱销", "pollution_control"}, {"脱硝", "pollution_control"}, {"节能", "energy_saving"},
		{"清洁生产", "cleaner_production"}, {"膜法水处理", "pollution_control"},
	} {
		if strings.Contains(name, k.word) {
			return k.cat
		}
	}
	return ""
}

// shangyu builds the 26 central-budget projects of 上虞市 (L1041-1286), the
// reports' main lifecycle source.
func (b *builder) shangyu() error {
	type yr struct {
		year       int
		n          int
		investment int64 // 万元 over the year's projects
		award      int64
		outcomes   []string
	}
	years := []yr{
		{2006, 2, 20000, 1200, []string{Accepted, Accepted}},
		{2007, 2, 21000, 1260, []string{Accepted, PreparingAcceptance}},
		{2008, 2, 23568, 1400, []string{Accepted, PreparingAcceptance}},
		{2009, 7, 72000, 4500, []string{Terminated, PreparingAcceptance, Completed, Completed, Completed, Completed, Completed}},
		{2010, 7, 75108, 4515, []string{Completed, Completed, Completed, Completed, Completed, Completed, InProgress}},
		{2011, 6, 60000, 3000, []string{InProgress, InProgress, InProgress, InProgress, InProgress, InProgress}},
	}
	// L1152-1156: 节能16项，清洁生产示范5项，余热利用2项，能量系统优化2项，节水1项.
	cats := []string{}
	for _, c := range []struct {
		cat string
		n   int
	}{{"energy_saving", 16}, {"cleaner_production", 5}, {"waste_heat", 2}, {"energy_optimization", 2}, {"water_saving", 1}} {
		for i := 0; i < c.n; i++ {
			cats = append(cats, c.cat)
		}
	}
	b.r.Shuffle(len(cats), func(i, j int) { cats[i], cats[j] = cats[j], cats[i] })
	k := 0
	for _, y := range years {
		inv := b.split(y.investment, y.n)
		var awards []int64
		if y.year == 2009 {
			// The terminated project received 1000万 and refunded it (L1258):
			// its award is filled in as 2000万, paid half, by half the work
			// done, before it stopped.
			awards = append([]int64{2000}, b.split(y.award-2000, y.n-1)...)
		} else {
			awards = b.split(y.award, y.n)
		}
		for i := 0; i < y.n; i++ {
			id := fmt.Sprintf("SY-%d-%02d", y.year, i+1)
			p := Project{ID: id, Cohort: "上虞市中央预算内资源节约和环境保护项目（2006年起26项，2009年起20项）", City: "330600", County: "330682",
				Name:     fmt.Sprintf("上虞市资源节约和环境保护项目 %d-%02d（报告未具名）", y.year, i+1),
				Owner:    fmt.Sprintf("上虞市企业 %d-%02d（报告未具名）", y.year, i+1),
				Category: cats[k], Programme: "central_rcep", PlanYear: y.year, TotalInvestment: inv[i] * wan,
				Awards: domain.Amounts{domain.SourceCentralBudget: domain.Fen(awards[i] * wan)}, Outcome: y.outcomes[i],
				Facts: map[string]Fact{
					"name": {Basis: Filled}, "owner": {Basis: Filled},
					"region":           {Basis: Stated, Source: "L1044 上虞市发改局; 上虞市 is a county-level city of 绍兴市"},
					"programme":        {Basis: Stated, Source: b.aggLine(45)},
					"plan_year":        {Basis: Filled, Source: "since 2006 (L1054) and, for 20 of them, since 2009 (L1064) are stated; the year is filled in"},
					"total_investment": {Basis: Filled, Source: "the group totals are stated (" + b.aggLine(46) + "; " + b.aggLine(49) + "); this project's share is filled in"},
					"award":            {Basis: Filled, Source: "the group totals are stated (" + b.aggLine(47) + "; " + b.aggLine(50) + "); this project's share is filled in"},
					"category":         {Basis: Filled, Source: "the counts per category are stated (L1152-1156); which project is which is filled in"},
					"outcome":          {Basis: Filled, Source: "the counts are stated (L1068-1070, L1254-1258, L1268); which project is which is filled in"},
					"application":      {Basis: Stated, Source: "Shangyu first applied in 2006 (L1184-1185): every application is dated in or after its plan year, none before 2006"},
					"dates":            {Basis: Filled},
				}}
			if p.Outcome == Terminated {
				p.Facts["refund"] = Fact{Basis: Stated, Source: b.aggLine(60)}
				p.Facts["award"] = Fact{Basis: Filled, Source: "at least the 1000万 refunded (L1258); 2000万 is filled in, half of it paid"}
			}
			k++
			tr := centralTranches
			if p.Outcome == Terminated {
				tr = [][2]int{{120, 50}}
			}
			b.lifecycle(&p, life{plan: time.Date(y.year, 6, 15, 10, 0, 0, 0, cst), planRef: fmt.Sprintf("%d年资源节约和环境保护中央预算内投资计划（文号补足）", y.year),
				drc: "上虞市发改局", tranches: tr})
			b.projects = append(b.projects, p)
		}
	}
	q26 := "/v1/report?county=330682&programme=central_rcep&as_of=2011-12-31"
	q20 := q26 + "&year_from=2009"
	reading := "read over the 26 projects since 2006 (see about.readings)"
	b.check(45, q26, "projects", 26)
	b.check(46, q26, "total_investment", 271676*wan)
	b.check(47, q26, "awarded.central_budget", 15875*wan)
	b.check(48, q20, "projects", 20)
	b.check(49, q20, "total_investment", 207108*wan)
	b.check(50, q20, "awarded.central_budget", 12015*wan)
	b.check(51, q26, "completed", 18, reading)
	b.check(52, q26, "accepted", 4, reading)
	b.check(53, q26, "preparing_acceptance", 3, reading+"; 准备申请验收 is the status preparing_acceptance (R14, rulebook 2)")
	for i, c := range []struct {
		cat string
		n   int64
	}{{"energy_saving", 16}, {"cleaner_production", 5}, {"waste_heat", 2}, {"energy_optimization", 2}, {"water_saving", 1}} {
		b.check(54+i, q26+"&category="+c.cat, "projects", c.n, "the categories of the 26 projects applied for (L1152-1156)")
	}
	b.check(59, q26, "terminated", 1)
	b.check(60, q26, "refunded.central_budget", 1000*wan)
	b.check(61, q26, "in_progress", 7, reading)
	return nil
}

// cohortSpec is a group of projects a city report states together.
type cohortSpec struct {
	prefix     string
	name       string
	city       string
	counties   []string
	programme  string
	n          int
	stated     string // the sentence that states the group
	named      []namedRef
	investment int64 // 万元 over the cohort (0: not stated, filled per project)
	awards     []award
	outcome    string
	checks     func(b *builder, q string)
	// completed2011, when positive, is the investment the cohort completed
	// in 2011 (万元) as stated at completedLine: the year-end progress
	// reports add up to it.
	completed2011 int64
	completedLine string
	started       string   // when set, the line that states every project started (开工)
	alsoIn        []string // further programmes of the first unnamed project
	alsoInBasis   string
	plan          time.Time // the plan's day; zero: 2011-06-15 (the 991 plan: 2011-05-20)
	planRef       string
	reply         time.Time // the national reply's day, for a cohort that stops there
	amountsSplit  string    // how a group award is split, when the dataset fixes it
}

type namedRef struct {
	line     int
	owner    string // part of the owner's name, to tell apart projects on one line
	name     string // part of the project's name, for projects the text names without an owner
	county   string // "" for city-level or not stated
	inferred bool   // the county is read from a place name, not stated as a county
	award    int64  // 万元 stated for this project alone
	total    int64  // 万元 stated total investment
	done     int64  // 万元 stated investment completed to date
	fillOwn  string // the owner to record when the text names none
	title    string // the name to record for a project seed_projects.json does not list
}

func cohorts() []cohortSpec {
	return []cohortSpec{
		{prefix: "SX-C11", name: "绍兴市2011年资源节约和环境保护中央预算内投资项目（上虞以外6项）", city: "330600",
			counties: []string{"330602", "330621", "330681", "330683", "330624"}, programme: "central_rcep", n: 6, stated: "L3131-3135",
			named: []namedRef{{line: 3131, owner: "国周"}}, awards: []award{{source: domain.SourceCentralBudget, total: 8375 - 3000, stated: "L3135 累计获得中央预算内资金8375万元, less Shangyu's 2011 share"}},
			alsoIn: []string{"central_sei"}, alsoInBasis: "L3135-3137 包括战略性新兴产业〈节能环保类〉项目1个: one of the 12 is listed under the strategic-emerging sub-line too; which one is filled in",
			outcome: InProgress, checks: func(b *builder, q string) {
				q = "/v1/report?city=330600&programme=central_rcep&year=2011&as_of=2011-12-31"
				r := "read as the 2011 plan year, with Shangyu's 6 projects of 2011 among the 12"
				b.check(114, q+"&status=implementing", "projects", 12, r+"; the 4 projects with the 2012 reply have no plan yet, so the 12 of the 2011 plan are those being implemented")
				b.check(115, q, "awarded.central_budget", 8375*wan, r)
				b.check(116, "/v1/report?city=330600&programme=central_sei&year=2011&as_of=2011-12-31", "projects", 1,
					"the strategic-emerging project is one of the 12, listed under central_sei as well")
			}},
		{prefix: "SX-C12", name: "绍兴市通过2012年资源节约和环境保护中央预算内投资项目复函的项目（4项）", city: "330600",
			counties: []string{"330602", "330621", "330681", "330683"}, programme: "central_rcep", n: 4, stated: "L3137-3139",
			outcome: ReplyReceived, plan: time.Date(2012, 3, 1, 10, 0, 0, 0, cst), reply: time.Date(2011, 11, 25, 10, 0, 0, 0, cst),
			checks: func(b *builder, q string) {
				b.check(117, "/v1/report?city=330600&programme=central_rcep&status=reply_received&as_of=2011-12-31", "projects", 4,
					"the 2012 replies (复函) are read as received by the end of 2011, the reports' date, before the 2012 plan; the projects stand at reply_received")
			}},
		{prefix: "SX-991", name: "绍兴市2011年度省991行动计划重点项目（21项）", city: "330600",
			counties: []string{"330602", "330621", "330681", "330683", "330624"}, programme: "zj_991", n: 21, stated: "L3139-3143",
			named:   []namedRef{{line: 3139, owner: "德创"}},
			awards:  []award{{source: domain.SourceProvincialFund, total: 140, funded: 5, stated: "L3143 5个项目获得省循环经济发展专项资金140万元"}},
			outcome: Listed, checks: func(b *builder, q string) {
				b.check(118, q, "projects", 21)
				b.check(119, q, "funded", 5)
				b.check(120, q, "awarded.provincial_fund", 140*wan)
			}},
		{prefix: "JH-C11", name: "金华市2011年节能重点工程、循环经济和资源节约重大项目中央预算内投资项目（6项）", city: "330700",
			counties: []string{"330702", "330703", "330782", "330784", "330781", "330726"}, programme: "central_rcep", n: 6, stated: "L3373-3377",
			investment: 48383, awards: []award{{source: domain.SourceCentralBudget, total: 3570, stated: "L3377 获得中央预算内资金3570万元"}},
			outcome: InProgress, checks: func(b *builder, q string) {
				b.check(125, q, "projects", 6)
				b.check(126, q, "total_investment", 48383*wan)
				b.check(127, q, "awarded.central_budget", 3570*wan)
			}},
		{prefix: "JH-991", name: "金华市2011年度省991行动计划重点项目（17项）", city: "330700",
			counties: []string{"330702", "330703", "330782", "330784", "330781", "330726"}, programme: "zj_991", n: 17, stated: "L3377-3379",
			investment: 402171, outcome: Listed, completed2011: 146082, completedLine: "L3379-3381 完成投资146082万元",
			checks: func(b *builder, q string) {
				b.check(128, q, "projects", 17)
				b.check(129, q, "total_investment", 402171*wan)
				b.check(131, q, "investment_completed_by_year.2011", 146082*wan, "the year-end progress reports (filled) add up to the stated 2011 figure")
			}},
		{prefix: "ZS-991", name: "舟山市2011年度省991行动计划重点项目（8项）", city: "330900",
			counties: []string{"330902", "330903", "330921", "330922"}, programme: "zj_991", n: 8, stated: "L3573-3585",
			named: []namedRef{{line: 3573, owner: "旺能"}, {line: 3575, name: "定海工业园区", county: "330902", fillOwn: "定海工业园区（业主未载明）"},
				{line: 3575, owner: "华电", county: "330902"}, {line: 3577, owner: "岑港", county: "330902", inferred: true},
				{line: 3579, name: "嵊泗县黄龙", county: "330922", fillOwn: "嵊泗县（业主未载明）"}, {line: 3579, owner: "国电", county: "330903", inferred: true},
				{line: 3581, name: "白沙", county: "330903", inferred: true, fillOwn: "白沙海水淡化工程业主（未载明）"}, {line: 3581, owner: "神鹰"}},
			investment: 147593, outcome: Listed, completed2011: 43000, completedLine: "L3587-3588 2011年实际完成投资4.3亿元",
			checks: func(b *builder, q string) {
				b.check(138, q, "projects", 8)
				b.check(139, q, "total_investment", 147593*wan)
				b.check(141, q, "investment_completed_by_year.2011", 43000*wan, "the year-end progress reports (filled) add up to the stated 2011 figure")
			}},
		{prefix: "JX-991", name: "嘉兴市2011年省991行动计划重点项目（20项）", city: "330400",
			counties: []string{"330402", "330411", "330421", "330424", "330481", "330482", "330483"}, programme: "zj_991", n: 20, stated: "L2315-2321",
			investment: 276634, outcome: Listed, completed2011: 85085, completedLine: "L2321 其中2011年完成投资85085万元",
			started: "L2319 全部开工",
			checks: func(b *builder, q string) {
				b.check(90, q, "projects", 20)
				b.check(91, q, "total_investment", 276634*wan)
				b.check(92, q, "in_progress", 20, "开工 by end-2011 (each records construction_started) and not completed: being built")
				b.check(93, q, "investment_completed_by_year.2011", 85085*wan, "the year-end progress reports (filled) add up to the stated 2011 figure")
			}},
		{prefix: "QZ-991", name: "衢州市2011年度省991行动计划重点项目（14项）", city: "330800",
			counties: []string{"330802", "330803", "330881", "330825", "330822", "330824"}, programme: "zj_991", n: 14, stated: "L4103-4105",
			investment: 128336, awards: []award{{source: domain.SourceProvincialFund, total: 185, funded: 6, stated: "L4125-4126 6个项目争取到省级循环经济专项资金185万元"}},
			outcome: Listed, checks: func(b *builder, q string) {
				r := "'2010年实施计划' read as the 2011 plan"
				b.check(168, q, "projects", 14, r)
				b.check(169, q, "total_investment", 128336*wan, r)
				b.check(170, q, "funded", 6, "the 6 funded projects are among the 14 listed")
				b.check(171, q, "awarded.provincial_fund", 185*wan)
			}},
		{prefix: "QZ-C11", name: "衢州市2011年中央预算内资金项目（2项）", city: "330800",
			counties: []string{"330802", "330803"}, programme: "central_rcep", n: 2, stated: "L4126-4128",
			awards:  []award{{source: domain.SourceCentralBudget, total: 940, stated: "L4128 2个项目获中央预算内资金940万元"}},
			outcome: InProgress, checks: func(b *builder, q string) {
				b.check(172, q, "funded", 2)
				b.check(173, q, "awarded.central_budget", 940*wan)
			}},
		{prefix: "TZ-C11", name: "台州亚达聚氨酯有限公司中央预算内投资补助项目", city: "331000", counties: []string{"331000"},
			programme: "central_rcep", n: 1, stated: "L3819-3823", named: []namedRef{{line: 3819, owner: "亚达", award: 1000}},
			awards:  []award{{source: domain.SourceCentralBudget, total: 1000, stated: "L3823 获得中央预算内投资补助1000万元"}},
			outcome: InProgress, checks: func(b *builder, q string) {
				b.check(150, q+"&owner=%E5%8F%B0%E5%B7%9E%E4%BA%9A%E8%BE%BE", "awarded.central_budget", 1000*wan)
			}},
		{prefix: "TZ-991", name: "台州市2011年度省991行动计划重点项目（17项）", city: "331000",
			counties: []string{"331081", "331082", "331021", "331022", "331002", "331004"}, programme: "zj_991", n: 17, stated: "L3854-3856",
			outcome: Listed, checks: func(b *builder, q string) {
				b.check(156, q, "projects", 17)
			}},
		{prefix: "TZ-CEF", name: "台州市获省循环经济资金补助的5家企业项目", city: "331000", counties: []string{"331000"},
			programme: "zj_ce_fund", n: 5, stated: "L3827-3830",
			named: []namedRef{{line: 3825, owner: "新云峰", county: "331002"}, {line: 3827, owner: "巨东", county: "331004"},
				{line: 3827, owner: "王野", county: "331003"}, {line: 3827, owner: "圣达", county: "331023"}, {line: 3828, owner: "帕迩玛", county: "331024"}},
			awards:  []award{{source: domain.SourceProvincialFund, total: 145, funded: 5, split: []int64{29, 29, 29, 29, 29}, stated: "L3827-3830 5家企业，争取省循环经济资金补助145万元 (split equally, filled in)"}},
			planRef: "省循环经济资金补助（文号补足）", outcome: InProgress, checks: func(b *builder, q string) {
				r := "the five enterprises are funded by the provincial circular-economy fund (zj_ce_fund); the text does not say they are 991 listings"
				b.check(151, q, "funded", 5, r)
				b.check(152, q, "awarded.provincial_fund", 145*wan, r)
			}},
		{prefix: "LS-991", name: "丽水市2011年度省991行动计划重点项目（16项）", city: "331100",
			counties: []string{"331102", "331181", "331122", "331125", "331124", "331126", "331121", "331123"}, programme: "zj_991", n: 16, stated: "L4380-4382",
			awards:  []award{{source: domain.SourceProvincialFund, total: 95, funded: 4, stated: "L4400 获得省级循环经济专项资金补助项目4个，补助资金95万元"}},
			outcome: Listed, completed2011: 50400, completedLine: "L4382-4384 全年实际完成投资5.04亿元",
			checks: func(b *builder, q string) {
				b.check(183, q, "projects", 16)
				b.check(184, q, "investment_completed_by_year.2011", 50400*wan, "the year-end progress reports (filled) add up to the stated 2011 figure")
				b.check(189, q, "funded", 4, "the 4 funded projects are among the 16 listed")
				b.check(190, q, "awarded.provincial_fund", 95*wan)
			}},
		{prefix: "LS-C11", name: "丽水市循环经济和资源节约重大示范项目中央预算内补助（3个具名项目）", city: "331100", counties: []string{"331100"},
			programme: "central_rcep", n: 3, stated: "L4392-4400",
			named:   []namedRef{{line: 4392, owner: "双益"}, {line: 4394, owner: "龙泉阳光", county: "331181"}, {line: 4396, owner: "新永茂", county: "331122"}},
			awards:  []award{{source: domain.SourceCentralBudget, total: 1980, split: []int64{700, 650, 630}, stated: "L4400 共补助资金近2000万元 (approximate; 1980万 filled in)"}},
			outcome: InProgress},
		{prefix: "HZ-991", name: "湖州市2011年省991行动计划重点项目（20项）", city: "330500",
			counties: []string{"330502", "330503", "330521", "330522", "330523"}, programme: "zj_991", n: 20, stated: "L150-152",
			named: []namedRef{{line: 150, owner: "四通"}}, outcome: Listed, checks: func(b *builder, q string) {
				b.check(1, q, "projects", 20)
			}},
		{prefix: "HZ-C11", name: "湖州市2011年资环类国家资金项目（6项）", city: "330500",
			counties: []string{"330502", "330503", "330521", "330522", "330523"}, programme: "central_rcep", n: 6, stated: "L154-156, L2866-2868",
			named: []namedRef{{line: 154, owner: "瑞明"}},
			awards: []award{{source: domain.SourceCentralBudget, total: 3830, stated: "L2868 资环类项目国家资金3830万"},
				{source: domain.SourceProvincialMatch, total: 125, funded: 3, stated: "L2868 省级资金125万"}},
			outcome: InProgress, checks: func(b *builder, q string) {
				b.check(2, q, "projects", 6)
				b.check(15, q, "awarded.central_budget", 3830*wan)
				b.check(16, q, "awarded.provincial_match", 125*wan, "省级资金 for 资环类 projects is the provincial top-up (省级配套) source")
			}},
		{prefix: "HZ-IND", name: "湖州市2011年产业类项目国家资金（2项）", city: "330500",
			counties: []string{"330502", "330503"}, programme: "central_industry", n: 2, stated: "L2858-2862",
			named:   []namedRef{{line: 2858, owner: "中新"}},
			awards:  []award{{source: domain.SourceCentralBudget, total: 2138, stated: "L2862 等产业类项目国家资金2138万"}},
			planRef: "2011年产业类项目国家资金（文号补足）", outcome: InProgress, checks: func(b *builder, q string) {
				b.check(12, q, "awarded.central_budget", 2138*wan, "国家资金 read as central-budget money; '等' read as two projects, the second filled in")
			}},
		{prefix: "HZ-HT", name: "湖州市2011年高技类项目国家资金及省级配套（2项）", city: "330500",
			counties: []string{"330502", "330521"}, programme: "central_hightech", n: 2, stated: "L2862-2866",
			named: []namedRef{{line: 2862, owner: "美欣达"}},
			awards: []award{{source: domain.SourceCentralBudget, total: 2200, stated: "L2864 等高技类项目国家资金2200万"},
				{source: domain.SourceProvincialMatch, total: 425, stated: "L2864 省级配套425万"}},
			planRef: "2011年高技类项目国家资金（文号补足）", outcome: InProgress, checks: func(b *builder, q string) {
				b.check(13, q, "awarded.central_budget", 2200*wan, "国家资金 read as central-budget money; '等' read as two projects, the second filled in")
				b.check(14, q, "awarded.provincial_match", 425*wan)
			}},
		{prefix: "HZ-PARK", name: "湖州市获浙江省2011年工业园区（开发区）专项补助资金的园区项目（4项）", city: "330500",
			counties: []string{"330503", "330502", "330523", "330521"}, programme: "zj_park_eco", n: 4, stated: "L194-197",
			named: []namedRef{{line: 194, name: "南浔", title: "南浔经济开发区生态化建设与改造项目", county: "330503", fillOwn: "南浔经济开发区管委会"}, {line: 194, name: "吴兴", title: "吴兴工业园区生态化建设与改造项目", county: "330502", fillOwn: "吴兴工业园区管委会"},
				{line: 194, name: "安吉", title: "安吉经济开发区生态化建设与改造项目", county: "330523", fillOwn: "安吉经济开发区管委会"}, {line: 194, name: "德清", title: "德清工业园生态化建设与改造项目", county: "330521", fillOwn: "德清工业园管委会"}},
			awards:  []award{{source: domain.SourceProvincialFund, total: 100, split: []int64{25, 25, 25, 25}, stated: "L194-197 四个项目获得浙江省2011年工业园区（开发区）专项补助资金100万 (read as 100万 in all, split equally, filled in)"}},
			planRef: "浙江省2011年工业园区（开发区）专项补助资金（文号补足）", outcome: InProgress, checks: func(b *builder, q string) {
				r := "the park subsidy is a provincial special fund (provincial_fund); 100万 read as the four parks' total"
				b.check(5, q, "projects", 4, r)
				b.check(6, q, "awarded.provincial_fund", 100*wan, r)
			}},
		{prefix: "TZ-511", name: "台州市循环经济511行动计划重点项目（2011年动态调整后32项）", city: "331000",
			counties: []string{"331002", "331003", "331004", "331081", "331082", "331021", "331022", "331023", "331024"}, programme: "tz_511", n: 32, stated: "L3844-3848",
			investment: 363900, outcome: Listed, planRef: "台州市发展循环经济重点项目2011年实施计划（文号补足）", checks: func(b *builder, q string) {
				b.check(153, q, "projects", 32, "the list after the 2011 dynamic adjustment (R22)")
				b.check(154, q, "total_investment", 363900*wan)
			}},
		{prefix: "JH-REMAN", name: "汽车零部件再制造国家试点：浙江万里扬汽车变速器再制造项目", city: "330700", counties: []string{"330700"},
			programme: "remanufacturing_pilot", n: 1, stated: "L3394-3398",
			named:   []namedRef{{line: 3396, owner: "万里扬", total: 5327, done: 5300}},
			planRef: "汽车零部件再制造试点（文号补足）", outcome: InProgress, checks: func(b *builder, q string) {
				b.addFigure(3396, "金华市", "total investment of the 万里扬 gearbox remanufacturing project", 5327, "万元", q, "total_investment", 5327*wan)
				b.addFigure(3397, "金华市", "investment completed by the 万里扬 gearbox remanufacturing project", 5300, "万元", q, "investment_completed", 5300*wan)
			}},
		{prefix: "WZ-991", name: "温州市2011年省991行动计划重点项目（15项）", city: "330300",
			counties: []string{"330302", "330303", "330304", "330381", "330382", "330327"}, programme: "zj_991", n: 15, stated: "L2161-2164",
			awards:  []award{{source: domain.SourceProvincialFund, total: 100, funded: 2, stated: "L2163-2164 争取到补助资金100万"}},
			outcome: Listed, checks: func(b *builder, q string) {
				b.check(81, q, "projects", 15)
				b.check(82, q, "awarded.provincial_fund", 100*wan, "the 100万 is read as provincial CE special funds to 2 of the 15 (how many is filled in)")
			}},
	}
}

// cohort builds the projects of one cohort.
func (b *builder) cohort(c cohortSpec) error {
	var inv []int64
	if c.investment > 0 {
		inv = b.split(c.investment, c.n)
	}
	// awards[i][source] in 万元
	per := make([]map[domain.Source]int64, c.n)
	for i := range per {
		per[i] = map[domain.Source]int64{}
	}
	for _, a := range c.awards {
		funded := a.funded
		if funded == 0 {
			funded = c.n
		}
		parts := a.split
		if parts == nil {
			parts = b.split(a.total, funded)
		}
		for i := 0; i < funded; i++ {
			per[i][a.source] = parts[i]
		}
	}
	var done []int64 // 万元 completed in 2011, per project
	if c.completed2011 > 0 {
		done = b.split(c.completed2011, c.n)
	}
	first := len(b.projects)
	for i := 0; i < c.n; i++ {
		id := fmt.Sprintf("%s-%02d", c.prefix, i+1)
		p := Project{ID: id, Cohort: c.name, City: c.city, Programme: c.programme, PlanYear: 2011, Outcome: c.outcome,
			Category: categoriesByCohort[(i+len(c.prefix))%len(categoriesByCohort)], Awards: domain.Amounts{},
			Facts: map[string]Fact{"programme": {Basis: Stated, Source: c.stated}, "plan_year": {Basis: Stated, Source: c.stated},
				"category": {Basis: Filled}, "outcome": {Basis: Filled}, "dates": {Basis: Filled}}}
		p.County = c.counties[i%len(c.counties)]
		p.Facts["region"] = Fact{Basis: Filled, Source: "the city is stated (" + c.stated + "); the county is filled in"}
		var stated namedRef
		if i < len(c.named) {
			n := c.named[i]
			stated = n
			sp, err := b.namedProject(n.line, n.owner, n.name)
			if err != nil && n.title == "" {
				return err
			}
			if err != nil {
				sp = seedProject{Name: n.title, Line: n.line}
			}
			p.Owner, p.Name = sp.Owner, sp.Name
			p.Facts["owner"] = Fact{Basis: Stated, Source: fmt.Sprintf("L%d", sp.Line)}
			if p.Owner == "" {
				p.Owner = n.fillOwn
				p.Facts["owner"] = Fact{Basis: Filled, Source: fmt.Sprintf("the project is named at L%d, its owner is not", sp.Line)}
			}
			if p.Name == "" {
				p.Name = sp.Owner + "循环经济项目（项目名称未载）"
				p.Facts["name"] = Fact{Basis: Filled, Source: fmt.Sprintf("the owner is named at L%d, the project is not", sp.Line)}
			} else {
				p.Facts["name"] = Fact{Basis: Stated, Source: fmt.Sprintf("L%d", sp.Line)}
			}
			if cat := categoryByName(p.Name); cat != "" {
				p.Category = cat
				p.Facts["category"] = Fact{Basis: Inferred, Source: fmt.Sprintf("read from the stated name (L%d)", sp.Line)}
			}
			p.County = c.city
			p.Facts["region"] = Fact{Basis: Stated, Source: fmt.Sprintf("L%d: the city; the county is not stated", sp.Line)}
			switch {
			case n.county != "" && n.inferred:
				p.County = n.county
				p.Facts["region"] = Fact{Basis: Inferred, Source: fmt.Sprintf("L%d names the place, not the county; %s is read from it", sp.Line, divisionNames[n.county])}
			case n.county != "":
				p.County = n.county
				p.Facts["region"] = Fact{Basis: Stated, Source: fmt.Sprintf("L%d %s", sp.Line, divisionNames[n.county])}
			}
		} else {
			p.Name = fmt.Sprintf("%s 第%d项（报告未具名）", c.name, i+1)
			p.Owner = fmt.Sprintf("%s%s企业（报告未具名）%02d", divisionNames[c.city], divisionNames[p.County], i+1)
			if p.County == c.city {
				p.Owner = fmt.Sprintf("%s企业（报告未具名）%02d", divisionNames[c.city], i+1)
			}
			p.Facts["name"], p.Facts["owner"] = Fact{Basis: Filled}, Fact{Basis: Filled}
		}
		switch {
		case stated.total > 0:
			p.TotalInvestment = stated.total * wan
			p.Facts["total_investment"] = Fact{Basis: Stated, Source: fmt.Sprintf("L%d", stated.line)}
		case inv != nil:
			p.TotalInvestment = inv[i] * wan
			p.Facts["total_investment"] = Fact{Basis: Filled, Source: "the group total is stated (" + c.stated + "); this project's share is filled in"}
		default:
			p.TotalInvestment = int64(b.r.IntN(40)+8) * 1000 * wan
			p.Facts["total_investment"] = Fact{Basis: Filled, Source: "not stated"}
		}
		for s, v := range per[i] {
			p.Awards[s] = domain.Fen(v * wan)
		}
		if len(p.Awards) > 0 {
			src := []string{}
			for _, a := range c.awards {
				if per[i][a.source] > 0 {
					src = append(src, a.stated)
				}
			}
			basis := Filled
			if i < len(c.named) && c.named[i].award > 0 {
				basis = Stated
			}
			p.Facts["award"] = Fact{Basis: basis, Source: strings.Join(src, "; ") + map[bool]string{true: "", false: "; this project's share is filled in"}[basis == Stated]}
		}
		// Awards must fit the investment; a listing without money has none.
		if p.Awards.Total() > domain.Fen(p.TotalInvestment) {
			p.TotalInvestment = int64(p.Awards.Total()) * 4
		}
		if c.programme == "zj_991" && per[i][domain.SourceProvincialFund] > 0 {
			// The special fund's money (省循环经济发展专项资金) is its own programme.
			p.AlsoIn = []string{"zj_ce_fund"}
			p.Facts["also_in"] = Fact{Basis: Stated, Source: "the 991 listing's provincial subsidy is the provincial circular-economy special fund (" + c.awards[0].stated + ")"}
		}
		if i == len(c.named) && len(c.alsoIn) > 0 {
			p.AlsoIn = c.alsoIn
			p.Facts["also_in"] = Fact{Basis: Filled, Source: c.alsoInBasis}
		}
		rules := domain.CurrentRulebook().Effective(p.programmes())
		l := life{plan: c.plan, reply: c.reply, planRef: c.planRef, tranches: [][2]int{{60, 100}}}
		if l.plan.IsZero() {
			l.plan = time.Date(2011, 6, 15, 10, 0, 0, 0, cst)
		}
		if c.programme == "zj_991" {
			l.plan = time.Date(2011, 5, 20, 10, 0, 0, 0, cst) // 浙发改函〔2011〕89号, May 2011 (L3569-3573)
			l.planRef = "浙发改函〔2011〕89号 浙江省发展循环经济991行动计划重点项目2011年实施计划"
		}
		if l.planRef == "" {
			l.planRef = "2011年资源节约和环境保护中央预算内投资计划（文号补足）"
		}
		if rules.ProgressCap {
			l.tranches = centralTranches
		}
		if !c.reply.IsZero() {
			l.apply, l.review = day(c.reply, -200), day(c.reply, -60)
		}
		county := divisionNames[p.County]
		l.drc = county + "发改局"
		if p.County == p.City {
			l.drc = county + "发改委"
		}
		if done != nil {
			l.completedEnd = (p.TotalInvestment/10 + done[i]*wan)
			if l.completedEnd > p.TotalInvestment {
				return fmt.Errorf("project %s: completed by end-2011 %d exceeds its total %d", id, l.completedEnd, p.TotalInvestment)
			}
			p.Facts["progress_reports"] = Fact{Basis: Filled, Source: "the year-end report is filled in; the cohort's reports add up to the stated " + c.completedLine}
		}
		if stated.done > 0 {
			l.completedEnd = stated.done * wan
			p.Facts["investment_completed"] = Fact{Basis: Stated, Source: fmt.Sprintf("L%d 实际完成投资%d万元", stated.line+1, stated.done)}
		}
		if c.started != "" {
			l.started, l.startBasis = true, c.started
		}
		b.lifecycle(&p, l)
		b.projects = append(b.projects, p)
	}
	_ = first
	if c.checks != nil {
		c.checks(b, fmt.Sprintf("/v1/report?city=%s&programme=%s&year=2011&as_of=2011-12-31", c.city, c.programme))
	}
	return nil
}

// centralTranches are the central budget's tranches: 60% and 90% by
// progress while building, the rest after completion (R6).
var centralTranches = [][2]int{{120, 60}, {380, 90}, {430, 100}}

// pilots builds the two kitchen-waste pilot cities (L1827-1861, L2570-2599):
// 50% of the central subsidy pre-disbursed, the rest after the assessment (R18).
func (b *builder) pilots() {
	for _, c := range []struct {
		id, city, name                    string
		award, predisbursed, investment   int64
		awardBasis, awardSource, paidLine string
		check                             func(q string)
	}{
		{"NB-KW-2011", "330200", "宁波市餐厨废弃物资源化利用和无害化处理试点", 1200, 600, 12000, Stated, b.aggLine(70), b.aggLine(72),
			func(q string) {
				b.check(70, q, "awarded.central_fiscal", 1200*wan)
				b.check(71, q, "disbursed.central_fiscal", 600*wan, "50% of the 1200万: the pre-disbursed 600万 (R18)")
				b.check(72, q, "disbursed.central_fiscal", 600*wan)
			}},
		{"JX-KW-2011", "330400", "嘉兴市餐厨废弃物资源化利用和无害化处理试点", 910, 455, 9100, Inferred,
			"not stated; twice the pre-disbursed 455万 by the 50% rule (R18)", b.aggLine(107),
			func(q string) { b.check(107, q, "disbursed.central_fiscal", 455*wan) }},
	} {
		p := Project{ID: c.id, Cohort: "国家餐厨废弃物资源化利用和无害化处理试点城市（发改办环资〔2011〕1669号）", Name: c.name,
			Owner: divisionNames[c.city] + "人民政府（试点城市）", City: c.city, County: c.city, Category: "kitchen_waste",
			Programme: "kitchen_waste_pilot", PlanYear: 2011, TotalInvestment: c.investment * wan,
			Awards: domain.Amounts{domain.SourceCentralFiscal: domain.Fen(c.award * wan)}, Outcome: InProgress,
			Facts: map[string]Fact{
				"name": {Basis: Stated, Source: "L1845-1851 / L2582-2584"}, "owner": {Basis: Stated, Source: "the pilot city itself"},
				"region": {Basis: Stated}, "programme": {Basis: Stated, Source: "发改办环资〔2011〕1669号 (L1847-1851)"},
				"plan_year": {Basis: Stated, Source: "July 2011 (L1851)"}, "award": {Basis: c.awardBasis, Source: c.awardSource},
				"predisbursement": {Basis: Stated, Source: c.paidLine}, "total_investment": {Basis: Filled, Source: "not stated"},
				"dates": {Basis: Filled, Source: "the notices are of 2011; the days are filled in"}, "category": {Basis: Stated},
				"outcome": {Basis: Stated, Source: "the rest of the subsidy waits for the pilot assessment (L1859-1861)"},
			}}
		// The pilot path (R4/R18, rulebook 2): the implementation plan is the
		// application; the NDRC's expert review; the designation notice of
		// July 2011 with the award; 50% pre-disbursed (财建〔2011〕408号).
		b.lifecycle(&p, life{apply: time.Date(2011, 3, 1, 10, 0, 0, 0, cst), review: time.Date(2011, 6, 10, 10, 0, 0, 0, cst),
			plan: time.Date(2011, 7, 28, 10, 0, 0, 0, cst), planRef: "发改办环资〔2011〕1669号 确定为试点城市（L1845-1851）",
			drc: divisionNames[c.city] + "发改委", tranches: [][2]int{{35, 50}}})
		b.projects = append(b.projects, p)
		c.check(fmt.Sprintf("/v1/report?city=%s&programme=kitchen_waste_pilot&as_of=2011-12-31", c.city))
	}
}

// notReproduced says why the dataset does not reproduce aggregate i.
func notReproduced(i int, a seedAggregate) string {
	switch i {
	case 3:
		return "a lower bound ('3800多万', 2011 to date); the dataset carries the 3830万 of L2868 (aggregate 15), which satisfies it"
	case 17:
		return "the sum of aggregates 12-16 (2138 + 2200 + 425 + 3830 + 125 = 8718万), each reproduced; one query over Huzhou's 2011 projects also holds the park subsidy (aggregate 6), which the report states apart"
	case 188:
		return "approximate ('近2000万'); the dataset's three named projects carry 1980万 in all, consistent with it but not the stated figure"
	case 130, 140, 155:
		return "annual planned investment of listed projects: the ledger records investment completed (progress reports), not the year's plan"
	case 185:
		return "a share of planned investment (102.3%) of the 1030 programme, whose projects are not broken down"
	case 121, 79, 80, 162, 163, 164, 165, 186:
		return "a city programme's list (850, 551, 68 key projects, 1030) whose projects are not funded through the lifecycle the ledger models, or are not broken down"
	}
	switch a.Unit {
	case "projects", "万元", "enterprises", "%":
		return "a figure about a fund, programme, base, park, plan or target, not about the lifecycles of individual funded projects"
	}
	return "not a figure about funded projects (unit: " + a.Unit + ")"
}

// DivisionName is the name of a GB/T 2260 code of Zhejiang as in force in
// 2011 ("330682" → "上虞市"), "" for one the dataset does not use.
func DivisionName(code string) string { return divisionNames[code] }
