package projections

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zjfund/ledger/domain"
)

// ProgressView is where construction stands against the plan.
type ProgressView struct {
	PlannedStart        domain.Date          `json:"planned_start"`
	PlannedEnd          domain.Date          `json:"planned_end"`
	PlannedInvestment   int64                `json:"planned_investment"`
	InvestmentCompleted int64                `json:"investment_completed"`
	CompletedBP         int64                `json:"investment_completed_bp"` // of the planned investment, basis points
	PhysicalBP          int64                `json:"physical_progress_bp"`
	ElapsedBP           int64                `json:"period_elapsed_bp"` // share of the planned construction period elapsed at the reference time
	BehindSchedule      bool                 `json:"behind_schedule"`
	LateDays            int                  `json:"late_days"` // at completion
	Milestones          map[string]time.Time `json:"milestones"`
}

// FundingView is where every fen of the project stands.
type FundingView struct {
	Requested   domain.Amounts `json:"requested"`
	Awarded     domain.Amounts `json:"awarded"`
	Disbursed   domain.Amounts `json:"disbursed"`
	Refunded    domain.Amounts `json:"refunded"`
	Outstanding domain.Amounts `json:"outstanding"` // disbursed − refunded
	RefundDue   domain.Amounts `json:"refund_due"`  // fixed at termination
	Undisbursed domain.Amounts `json:"undisbursed"` // awarded − disbursed
	Totals      MoneyTotals    `json:"totals"`
	Tranches    int            `json:"tranches"`
}

// MoneyTotals sums the amounts over all sources.
type MoneyTotals struct {
	Requested   int64 `json:"requested"`
	Awarded     int64 `json:"awarded"`
	Disbursed   int64 `json:"disbursed"`
	Refunded    int64 `json:"refunded"`
	Outstanding int64 `json:"outstanding"`
}

// AcceptanceView is where completion acceptance stands.
type AcceptanceView struct {
	Filed                 []string   `json:"items_filed"`
	Missing               []string   `json:"items_missing"`
	Requested             bool       `json:"requested"`
	Passed                bool       `json:"passed"`
	Failures              int        `json:"failures"`
	CompletedAt           *time.Time `json:"completed_at,omitempty"`
	DaysWithoutAcceptance *int       `json:"days_since_completion_without_acceptance,omitempty"`
}

// ProjectView is a project's read model as the API shows it, with what is
// derived from the reference time (now, or the as-of time).
type ProjectView struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Owner           string         `json:"owner"`
	City            string         `json:"city"`
	County          string         `json:"county"`
	Category        string         `json:"category"`
	Programmes      []string       `json:"programmes"`
	Year            int            `json:"year"`
	Status          domain.Status  `json:"status"`
	TotalInvestment int64          `json:"total_investment"`
	Progress        ProgressView   `json:"progress"`
	Funding         FundingView    `json:"funding"`
	Acceptance      AcceptanceView `json:"acceptance"`
	PendingChanges  []string       `json:"pending_changes"`
	Inspections     int            `json:"inspections"`
	Events          int            `json:"events"`
	Version         uint64         `json:"version"` // stream sequence of its last event
}

// bp returns floor(part × 10000 / whole) in basis points, 0 when either is
// not positive, without overflow.
func bp(part, whole int64) int64 {
	if whole <= 0 || part <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(part), 10000)
	if hi >= uint64(whole) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(whole))
	return int64(min(q, math.MaxInt64))
}

func clampBP(v int64) int64 { return min(max(v, 0), 10000) }

// active reports whether the project is being built: plan issued, not yet completed, stopped or closed.
func (p *Project) active() bool { return p.Status == domain.StatusImplementing }

// elapsedBP is the share of the planned construction period passed at ref.
func (p *Project) elapsedBP(ref time.Time) int64 {
	start, end := p.PlannedStart.Time(), p.PlannedEnd.Time().AddDate(0, 0, 1)
	if !end.After(start) {
		return 0
	}
	return clampBP(int64(ref.Sub(start)/time.Hour) * 10000 / int64(end.Sub(start)/time.Hour))
}

// behind reports whether a project being built is late at ref: past its
// planned end, or more than a quarter of the period behind its reported
// physical progress.
func (p *Project) behind(ref time.Time) bool {
	if !p.active() {
		return false
	}
	el := p.elapsedBP(ref)
	return el >= 10000 || (p.Milestones[MLastProgressReport] != 0 && el-p.PhysicalBP > 2500)
}

// View returns the project's view at reference time ref.
func (p *Project) View(ref time.Time) ProjectView {
	v := ProjectView{ID: p.ID, Name: p.Name, Owner: p.Owner, City: p.City, County: p.County, Category: p.Category,
		Programmes: append([]string{}, p.Programmes...), Year: p.Year(), Status: p.Status, TotalInvestment: p.TotalInvestment,
		PendingChanges: append([]string{}, p.PendingIDs...), Inspections: p.Inspections, Events: p.Events, Version: p.LastSeq}
	ms := map[string]time.Time{}
	for i, t := range p.Milestones {
		if t != 0 {
			ms[milestoneNames[i]] = time.Unix(t, 0).In(cst)
		}
	}
	v.Progress = ProgressView{PlannedStart: p.PlannedStart, PlannedEnd: p.PlannedEnd, PlannedInvestment: p.TotalInvestment,
		InvestmentCompleted: p.InvestmentCompleted, CompletedBP: clampBP(bp(p.InvestmentCompleted, p.TotalInvestment)),
		PhysicalBP: p.PhysicalBP, ElapsedBP: p.elapsedBP(ref), BehindSchedule: p.behind(ref), LateDays: p.LateDays, Milestones: ms}
	out := p.Outstanding()
	var undis Money
	for i := range undis {
		undis[i] = p.Awarded[i] - p.Disbursed[i]
	}
	v.Funding = FundingView{Requested: p.Requested.Amounts(), Awarded: p.Awarded.Amounts(), Disbursed: p.Disbursed.Amounts(),
		Refunded: p.Refunded.Amounts(), Outstanding: out.Amounts(), RefundDue: p.RefundDue.Amounts(), Undisbursed: undis.Amounts(),
		Totals: MoneyTotals{Requested: p.Requested.Sum(), Awarded: p.Awarded.Sum(), Disbursed: p.Disbursed.Sum(),
			Refunded: p.Refunded.Sum(), Outstanding: out.Sum()}, Tranches: p.Tranches}
	a := AcceptanceView{Filed: []string{}, Missing: []string{}, Requested: p.Milestones[MAcceptanceRequested] != 0,
		Passed: p.Status == domain.StatusAccepted || p.Milestones[MAccepted] != 0, Failures: p.AcceptanceFailures}
	for i, it := range domain.RequiredAcceptanceItems {
		if p.Items&(1<<i) != 0 {
			a.Filed = append(a.Filed, it)
		} else {
			a.Missing = append(a.Missing, it)
		}
	}
	if c := p.Milestones[MCompleted]; c != 0 {
		t := time.Unix(c, 0).In(cst)
		a.CompletedAt = &t
		if !a.Passed && p.Status != domain.StatusTerminated && p.Status != domain.StatusClosed {
			d := int(ref.Sub(t).Hours() / 24)
			a.DaysWithoutAcceptance = &d
		}
	}
	v.Acceptance = a
	return v
}

// Filter selects projects. Empty fields match everything.
type Filter struct {
	City, County, Programme, Category string
	Status                            domain.Status
	Year, YearFrom, YearTo            int    // the programme year, exactly or within a range
	Owner, Name                       string // substrings
	OwnerExact                        string // the owner, exactly: what an owner's queries are narrowed to
}

// Match reports whether p passes the filter.
func (f Filter) Match(p *Project) bool {
	if (f.City != "" && p.City != f.City) || (f.County != "" && p.County != f.County) ||
		(f.Category != "" && p.Category != f.Category) || (f.Status != "" && p.Status != f.Status) ||
		(f.Year != 0 && p.Year() != f.Year) || (f.YearFrom != 0 && p.Year() < f.YearFrom) || (f.YearTo != 0 && p.Year() > f.YearTo) ||
		(f.Owner != "" && !strings.Contains(p.Owner, f.Owner)) ||
		(f.Name != "" && !strings.Contains(p.Name, f.Name)) || (f.OwnerExact != "" && p.Owner != f.OwnerExact) {
		return false
	}
	if f.Programme != "" {
		for _, pr := range p.Programmes {
			if pr == f.Programme {
				return true
			}
		}
		return false
	}
	return true
}

// Row is a project in a list.
type Row struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Owner           string        `json:"owner"`
	City            string        `json:"city"`
	County          string        `json:"county"`
	Category        string        `json:"category"`
	Programmes      []string      `json:"programmes"`
	Year            int           `json:"year"`
	Status          domain.Status `json:"status"`
	TotalInvestment int64         `json:"total_investment"`
	Awarded         int64         `json:"awarded"`
	Disbursed       int64         `json:"disbursed"`
	Outstanding     int64         `json:"outstanding"`
	BehindSchedule  bool          `json:"behind_schedule"`
	Version         uint64        `json:"version"`
}

// SortKeys are the orders a list can take; a leading "-" reverses one.
var SortKeys = []string{"id", "name", "registered", "total_investment", "awarded", "disbursed", "outstanding"}

func sortValue(p *Project, key string) (int64, string) {
	switch key {
	case "name":
		return 0, p.Name
	case "registered":
		return p.Milestones[MRegistered], ""
	case "total_investment":
		return p.TotalInvestment, ""
	case "awarded":
		return p.Awarded.Sum(), ""
	case "disbursed":
		return p.Disbursed.Sum(), ""
	case "outstanding":
		return p.Outstanding().Sum(), ""
	}
	return 0, p.ID
}

// cursor is the position after which a page starts: the sort key and id of
// the last row of the page before.
type cursor struct {
	Sort string `json:"s"`
	N    int64  `json:"n,omitempty"`
	S    string `json:"t,omitempty"`
	ID   string `json:"id"`
}

// ErrBadQuery is returned (wrapped) for a malformed query; ErrBadCursor for
// a cursor this list did not give.
var (
	ErrBadQuery  = errors.New("bad query")
	ErrBadCursor = fmt.Errorf("%w: cursor", ErrBadQuery)
)

// List returns up to limit rows matching f in the order sort, starting after
// the cursor (opaque, from an earlier page; "" for the first), and the cursor
// of the next page ("" when this is the last).
func List(m *Model, f Filter, sortBy, after string, limit int, ref time.Time) ([]Row, string, error) {
	key, desc := strings.CutPrefix(sortBy, "-")
	if key == "" {
		key = "id"
	}
	known := false
	for _, k := range SortKeys {
		known = known || k == key
	}
	if !known {
		return nil, "", fmt.Errorf("%w: sort %q: want one of %v, optionally with a leading -", ErrBadQuery, sortBy, SortKeys)
	}
	var cur *cursor
	if after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(after)
		cur = &cursor{}
		if err != nil || json.Unmarshal(raw, cur) != nil || cur.Sort != sortBy {
			return nil, "", fmt.Errorf("%w is not one this list gave for sort %q", ErrBadCursor, sortBy)
		}
	}
	type item struct {
		p *Project
		n int64
		s string
	}
	less := func(a, b item) bool {
		if a.n != b.n {
			return a.n < b.n != desc
		}
		if a.s != b.s {
			return a.s < b.s != desc
		}
		if a.p.ID == b.p.ID {
			return false
		}
		return a.p.ID < b.p.ID != desc
	}
	var items []item
	if key == "id" {
		// The candidates are in id order: walk them from the cursor and stop
		// at the page's end.
		cands := m.candidates(f)
		take := func(p *Project) bool {
			if f.Match(p) {
				items = append(items, item{p, 0, p.ID})
			}
			return len(items) <= limit
		}
		if !desc {
			i := 0
			if cur != nil {
				i = sort.Search(len(cands), func(k int) bool { return cands[k].ID > cur.ID })
			}
			for ; i < len(cands) && take(cands[i]); i++ {
			}
		} else {
			i := len(cands) - 1
			if cur != nil {
				i = sort.Search(len(cands), func(k int) bool { return cands[k].ID >= cur.ID }) - 1
			}
			for ; i >= 0 && take(cands[i]); i-- {
			}
		}
	} else {
		var pivot item
		if cur != nil {
			pivot = item{&Project{ID: cur.ID}, cur.N, cur.S}
		}
		// Keep the limit+1 first rows after the cursor in a max-heap: one scan,
		// no sort of every match.
		var top []item
		up := func(i int) {
			for i > 0 {
				parent := (i - 1) / 2
				if !less(top[parent], top[i]) {
					return
				}
				top[parent], top[i] = top[i], top[parent]
				i = parent
			}
		}
		down := func(i int) {
			for {
				l, r, big := 2*i+1, 2*i+2, i
				if l < len(top) && less(top[big], top[l]) {
					big = l
				}
				if r < len(top) && less(top[big], top[r]) {
					big = r
				}
				if big == i {
					return
				}
				top[big], top[i] = top[i], top[big]
				i = big
			}
		}
		for _, p := range m.candidates(f) {
			if !f.Match(p) {
				continue
			}
			n, s := sortValue(p, key)
			it := item{p, n, s}
			if cur != nil && !less(pivot, it) {
				continue
			}
			switch {
			case len(top) <= limit:
				top = append(top, it)
				up(len(top) - 1)
			case less(it, top[0]):
				top[0] = it
				down(0)
			}
		}
		sort.Slice(top, func(i, j int) bool { return less(top[i], top[j]) })
		items = top
	}
	end := min(limit, len(items))
	rows := make([]Row, 0, end)
	for _, it := range items[:end] {
		p := it.p
		rows = append(rows, Row{ID: p.ID, Name: p.Name, Owner: p.Owner, City: p.City, County: p.County, Category: p.Category,
			Programmes: p.Programmes, Year: p.Year(), Status: p.Status, TotalInvestment: p.TotalInvestment, Awarded: p.Awarded.Sum(),
			Disbursed: p.Disbursed.Sum(), Outstanding: p.Outstanding().Sum(), BehindSchedule: p.behind(ref), Version: p.LastSeq})
	}
	next := ""
	if len(items) > limit {
		last := items[end-1]
		raw, _ := json.Marshal(cursor{Sort: sortBy, N: last.n, S: last.s, ID: last.p.ID})
		next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return rows, next, nil
}

// GroupBys are the dimensions a summary can group by.
var GroupBys = []string{"city", "county", "programme", "year", "status", "category", "all"}

// Group is one line of a summary: counts and money of the projects in it.
type Group struct {
	Key             string                `json:"key"`
	Projects        int                   `json:"projects"`
	ByStatus        map[domain.Status]int `json:"by_status"`
	TotalInvestment int64                 `json:"total_investment"`
	// InvestmentCompleted is the investment completed to date: the latest
	// progress report, the actual total once completed.
	InvestmentCompleted int64          `json:"investment_completed"`
	Requested           domain.Amounts `json:"requested"`
	Awarded             domain.Amounts `json:"awarded"`
	Disbursed           domain.Amounts `json:"disbursed"`
	Refunded            domain.Amounts `json:"refunded"`
	Outstanding         domain.Amounts `json:"outstanding"`
	Totals              MoneyTotals    `json:"totals"`
	// Milestone counts: projects that ever completed, passed acceptance or
	// were terminated; projects now being built or awaiting acceptance.
	Funded              int `json:"funded"` // projects with any award
	Completed           int `json:"completed"`
	Accepted            int `json:"accepted"`
	PreparingAcceptance int `json:"preparing_acceptance"` // 准备申请验收 (rulebook 2)
	AcceptancePending   int `json:"acceptance_pending"`   // acceptance requested, not yet decided
	InProgress          int `json:"in_progress"`
	Terminated          int `json:"terminated"`
	// InvestmentCompletedByYear is the investment the projects completed
	// during each year (万元 figures such as "2011年完成投资"), by year, from
	// what they reported at application, in progress reports and at completion.
	InvestmentCompletedByYear map[string]int64 `json:"investment_completed_by_year"`
	req, awd, dis, ref        Money
	byYear                    map[int]int64
}

func (g *Group) add(p *Project) { g.apply(p, 1) }

// apply adds (sign 1) or takes away (sign -1) one project's figures.
func (g *Group) apply(p *Project, sign int) {
	g.Projects += sign
	if g.ByStatus == nil {
		g.ByStatus = map[domain.Status]int{}
	}
	g.ByStatus[p.Status] += sign
	if p.Awarded.Sum() > 0 {
		g.Funded += sign
	}
	if p.Milestones[MCompleted] != 0 {
		g.Completed += sign
	}
	if p.Milestones[MAccepted] != 0 {
		g.Accepted += sign
	}
	if p.Milestones[MTerminated] != 0 {
		g.Terminated += sign
	}
	switch p.Status {
	case domain.StatusPreparingAcceptance:
		g.PreparingAcceptance += sign
	case domain.StatusAcceptanceRequested:
		g.AcceptancePending += sign
	case domain.StatusImplementing:
		g.InProgress += sign
	}
	s := int64(sign)
	for _, f := range p.CompletedByYear {
		if g.byYear == nil {
			g.byYear = map[int]int64{}
		}
		g.byYear[f.Year] += s * p.completedIn(f.Year)
	}
	g.TotalInvestment += s * p.TotalInvestment
	g.InvestmentCompleted += s * p.InvestmentCompleted
	for i := range g.req {
		g.req[i] += s * p.Requested[i]
		g.awd[i] += s * p.Awarded[i]
		g.dis[i] += s * p.Disbursed[i]
		g.ref[i] += s * p.Refunded[i]
	}
}

// groupKeys are the keys of the groups p belongs to when grouped by by.
func groupKeys(p *Project, by string) []string {
	switch by {
	case "city":
		return []string{p.City}
	case "county":
		return []string{p.County}
	case "programme":
		return p.Programmes
	case "year":
		return []string{strconv.Itoa(p.Year())}
	case "status":
		return []string{string(p.Status)}
	case "category":
		return []string{p.Category}
	}
	return nil
}

// finished returns a finished copy of g, leaving g as it is.
func (g *Group) finished() *Group {
	c := *g
	c.ByStatus = map[domain.Status]int{}
	c.InvestmentCompletedByYear = map[string]int64{}
	for y, v := range g.byYear {
		if v != 0 {
			c.InvestmentCompletedByYear[strconv.Itoa(y)] = v
		}
	}
	c.byYear = nil
	for k, v := range g.ByStatus {
		if v != 0 {
			c.ByStatus[k] = v
		}
	}
	c.finish()
	return &c
}

func (g *Group) finish() {
	var out Money
	for i := range out {
		out[i] = g.dis[i] - g.ref[i]
	}
	g.Requested, g.Awarded, g.Disbursed, g.Refunded, g.Outstanding = g.req.Amounts(), g.awd.Amounts(), g.dis.Amounts(), g.ref.Amounts(), out.Amounts()
	g.Totals = MoneyTotals{Requested: g.req.Sum(), Awarded: g.awd.Sum(), Disbursed: g.dis.Sum(), Refunded: g.ref.Sum(), Outstanding: out.Sum()}
}

// Summary groups the projects matching f by the dimension by. A project
// listed under several programmes counts once in each programme's group, and
// once in the total.
func Summary(m *Model, by string, f Filter) ([]*Group, *Group, error) {
	known := false
	for _, k := range GroupBys {
		known = known || k == by
	}
	if !known {
		return nil, nil, fmt.Errorf("%w: group_by %q: want one of %v", ErrBadQuery, by, GroupBys)
	}
	if f == (Filter{}) && m.sums.ready {
		// The live model keeps its unfiltered summaries as events are applied.
		return m.sums.summary(by)
	}
	groups := map[string]*Group{}
	total := &Group{Key: "total", ByStatus: map[domain.Status]int{}}
	for _, p := range m.candidates(f) {
		if !f.Match(p) {
			continue
		}
		total.add(p)
		for _, k := range groupKeys(p, by) {
			g := groups[k]
			if g == nil {
				g = &Group{Key: k, ByStatus: map[domain.Status]int{}}
				groups[k] = g
			}
			g.add(p)
		}
	}
	return sortedGroups(groups), total.finished(), nil
}

func sortedGroups(groups map[string]*Group) []*Group {
	out := make([]*Group, 0, len(groups))
	for _, g := range groups {
		if g.Projects != 0 {
			out = append(out, g.finished())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// sums keeps the unfiltered summary of every dimension as events are
// applied: each applied event takes its project's figures out of its groups
// and puts them back as they now are. The live model keeps them (KeepSums);
// a rebuild or a replay does not pay for them.
type sums struct {
	ready  bool
	total  *Group
	groups map[string]map[string]*Group // group_by → key → group
}

func (s *sums) start(m *Model) {
	if s.ready {
		return
	}
	s.total = &Group{Key: "total", ByStatus: map[domain.Status]int{}}
	s.groups = map[string]map[string]*Group{}
	for _, p := range m.all() {
		s.apply(p, 1)
	}
	s.ready = true
}

func (s *sums) summary(by string) ([]*Group, *Group, error) {
	if by == "all" {
		return []*Group{}, s.total.finished(), nil
	}
	return sortedGroups(s.groups[by]), s.total.finished(), nil
}

// apply adds or takes away one project from every group it is in.
func (s *sums) apply(p *Project, sign int) {
	s.total.apply(p, sign)
	for _, by := range GroupBys {
		gs := s.groups[by]
		if gs == nil {
			gs = map[string]*Group{}
			s.groups[by] = gs
		}
		for _, k := range groupKeys(p, by) {
			g := gs[k]
			if g == nil {
				g = &Group{Key: k, ByStatus: map[domain.Status]int{}}
				gs[k] = g
			}
			g.apply(p, sign)
		}
	}
}

// WatchItem is a project that needs attention, and why.
type WatchItem struct {
	Project string        `json:"project"`
	Name    string        `json:"name"`
	City    string        `json:"city"`
	County  string        `json:"county"`
	Status  domain.Status `json:"status"`
	Kind    string        `json:"kind"`
	Detail  string        `json:"detail"`
	Since   *time.Time    `json:"since,omitempty"`
	Amount  int64         `json:"amount,omitempty"` // fen, where the kind is about money
}

// Watch kinds.
const (
	WatchDisbursedAhead    = "disbursed_ahead_of_progress"
	WatchNotAccepted       = "completed_not_accepted"
	WatchPastPlannedEnd    = "past_planned_end"
	WatchRefundOutstanding = "refund_outstanding"
)

// followsProgress reports whether the money of a project of programmes
// follows progress (R6) in the rulebook in force: only there is money paid
// ahead of the work a finding.
func followsProgress(programmes []string) bool {
	r := domain.CurrentRulebook().Effective(programmes)
	return r.ProgressCap
}

// Watchlist returns the projects that need attention at ref: money paid
// ahead of the investment reported done (where the programme's money
// follows progress); completed but not accepted after
// acceptWithin; being built past the planned end; terminated with a refund
// outstanding. Items are ordered by kind, then project.
func Watchlist(m *Model, f Filter, ref time.Time, acceptWithin time.Duration) []WatchItem {
	var items []WatchItem
	for _, p := range m.candidates(f) {
		if !f.Match(p) {
			continue
		}
		base := WatchItem{Project: p.ID, Name: p.Name, City: p.City, County: p.County, Status: p.Status}
		if p.active() && followsProgress(p.Programmes) {
			paid, award := p.Outstanding().Sum(), p.Awarded.Sum()
			paidBP, doneBP := bp(paid, award), max(p.PhysicalBP, clampBP(bp(p.InvestmentCompleted, p.TotalInvestment)))
			if award > 0 && paid > 0 && paidBP > doneBP {
				it := base
				it.Kind, it.Amount = WatchDisbursedAhead, paid
				it.Detail = fmt.Sprintf("%d.%02d%% of the award paid, %d.%02d%% of the work reported done", paidBP/100, paidBP%100, doneBP/100, doneBP%100)
				items = append(items, it)
			}
			if end := p.PlannedEnd.Time().AddDate(0, 0, 1); !ref.Before(end) {
				it := base
				it.Kind, it.Since = WatchPastPlannedEnd, &end
				it.Detail = fmt.Sprintf("planned to end %s; %d days past it, not completed", p.PlannedEnd, int(ref.Sub(end).Hours()/24))
				items = append(items, it)
			}
		}
		if c := p.Milestones[MCompleted]; c != 0 && (p.Status == domain.StatusCompleted || p.Status == domain.StatusPreparingAcceptance || p.Status == domain.StatusAcceptanceRequested || p.Status == domain.StatusAcceptanceFailed) {
			t := time.Unix(c, 0).In(cst)
			if ref.Sub(t) > acceptWithin {
				it := base
				it.Kind, it.Since = WatchNotAccepted, &t
				it.Detail = fmt.Sprintf("completed %s, %d days without acceptance", t.Format(time.DateOnly), int(ref.Sub(t).Hours()/24))
				items = append(items, it)
			}
		}
		if p.Status == domain.StatusTerminated {
			if o := p.Outstanding().Sum(); o > 0 {
				t := time.Unix(p.Milestones[MTerminated], 0).In(cst)
				it := base
				it.Kind, it.Since, it.Amount = WatchRefundOutstanding, &t, o
				it.Detail = fmt.Sprintf("terminated %s; %s yuan still to refund", t.Format(time.DateOnly), domain.Fen(o))
				items = append(items, it)
			}
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Kind != items[j].Kind {
			return items[i].Kind < items[j].Kind
		}
		return items[i].Project < items[j].Project
	})
	return items
}

// Wan formats fen as 万元 exactly: "12015", "0.5", "1.000001".
func Wan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	w, rest := fen/1_000_000, fen%1_000_000
	if rest == 0 {
		return sign + strconv.FormatInt(w, 10)
	}
	return sign + strconv.FormatInt(w, 10) + "." + strings.TrimRight(fmt.Sprintf("%06d", rest), "0")
}

var sourceNames = map[domain.Source]string{
	domain.SourceCentralBudget: "中央预算内投资", domain.SourceCentralFiscal: "中央财政补助资金", domain.SourceProvincialFund: "省循环经济发展专项资金",
	domain.SourceProvincialMatch: "省级配套资金", domain.SourceCityFund: "市级资金", domain.SourceCountyFund: "县级资金",
}

// ReportLines states a group's figures the way the city reports do: the
// kinds of figure the reports themselves state (projects listed, total
// investment, awards per source, completed, accepted, preparing for
// acceptance, being built, terminated and refunded, investment completed in
// a year). ComputedLines gives the figures the ledger derives that the
// reports do not state, marked as computed.
func ReportLines(g *Group) []string {
	lines := []string{
		fmt.Sprintf("列入计划项目 %d 个，总投资 %s 万元", g.Projects, Wan(g.TotalInvestment)),
	}
	for _, s := range domain.Sources {
		if v := g.Awarded[s]; v != 0 {
			lines = append(lines, fmt.Sprintf("获得%s %s 万元", sourceNames[s], Wan(int64(v))))
		}
	}
	lines = append(lines,
		fmt.Sprintf("已经完工项目 %d 项，通过验收项目 %d 项，准备申请验收项目 %d 项", g.Completed, g.Accepted, g.PreparingAcceptance),
		fmt.Sprintf("尚在实施项目 %d 个", g.InProgress),
	)
	if g.Terminated > 0 || g.Totals.Refunded > 0 {
		lines = append(lines, fmt.Sprintf("中止实施项目 %d 个，退还资金 %s 万元", g.Terminated, Wan(g.Totals.Refunded)))
	}
	return lines
}

// ComputedLines are the figures of a group the reports do not state but
// the ledger computes from what was recorded, each marked as computed.
func ComputedLines(g *Group) []string {
	var lines []string
	for _, s := range domain.Sources {
		if v := g.Disbursed[s]; v != 0 {
			lines = append(lines, fmt.Sprintf("（计算）%s已拨付 %s 万元", sourceNames[s], Wan(int64(v))))
		}
	}
	if g.AcceptancePending > 0 {
		lines = append(lines, fmt.Sprintf("（计算）已申请验收待验收项目 %d 项", g.AcceptancePending))
	}
	if g.Funded > 0 {
		lines = append(lines, fmt.Sprintf("（计算）获得补助项目 %d 个", g.Funded))
	}
	years := make([]string, 0, len(g.InvestmentCompletedByYear))
	for y := range g.InvestmentCompletedByYear {
		years = append(years, y)
	}
	sort.Strings(years)
	for _, y := range years {
		lines = append(lines, fmt.Sprintf("（计算）%s年完成投资 %s 万元（据进度报表）", y, Wan(g.InvestmentCompletedByYear[y])))
	}
	return lines
}
