// Package projections keeps the ledger's read models: one record per project
// with its progress, funding and acceptance, folded from the event stream in
// order, and the queries over them (lists, summaries, the watchlist). The
// engine consumes the stream and checkpoints the stream sequence it has
// applied together with the model.
package projections

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// Milestone indexes the dates a project record keeps. Persisted in
// snapshots: add new values only at the end.
type Milestone int

const (
	MRegistered Milestone = iota
	MScreened
	MReportSubmitted
	MReviewPassed
	MReviewRejected
	MReplyReceived
	MPlanIssued
	MAccountOpened
	MFirstDisbursement
	MLastDisbursement
	MPilotAssessed
	MLastProgressReport
	MCompleted
	MAcceptanceRequested
	MAccepted
	MAcceptanceFailed
	MTerminated
	MClosed
	MConstructionStarted
	MPreparingAcceptance
	MTerminationRecognised
	numMilestones
)

var milestoneNames = [numMilestones]string{"registered", "screened", "report_submitted", "review_passed", "review_rejected",
	"reply_received", "plan_issued", "account_opened", "first_disbursement", "last_disbursement", "pilot_assessed",
	"last_progress_report", "completed", "acceptance_requested", "accepted", "acceptance_failed", "terminated", "closed",
	"construction_started", "preparing_acceptance", "termination_recognised"}

// Money is an amount per funding source, indexed like domain.Sources.
type Money [6]int64

func init() {
	if len(domain.Sources) != len(Money{}) {
		panic("projections.Money must have one entry per domain.Sources")
	}
}

func sourceIndex(s domain.Source) int {
	for i, x := range domain.Sources {
		if x == s {
			return i
		}
	}
	return -1
}

func moneyOf(a domain.Amounts) Money {
	var m Money
	for s, v := range a {
		if i := sourceIndex(s); i >= 0 {
			m[i] += int64(v)
		}
	}
	return m
}

// Sum is the total over all sources.
func (m Money) Sum() int64 {
	var t int64
	for _, v := range m {
		t += v
	}
	return t
}

// Amounts returns the non-zero entries as a map.
func (m Money) Amounts() domain.Amounts {
	a := domain.Amounts{}
	for i, v := range m {
		if v != 0 {
			a[domain.Sources[i]] = domain.Fen(v)
		}
	}
	return a
}

// Project is the read model of one project. Times are Unix seconds of the
// effective time (0: not reached).
type Project struct {
	ID                  string               `json:"id"`
	Name                string               `json:"name"`
	Owner               string               `json:"owner"`
	City                string               `json:"city"`
	County              string               `json:"county"`
	Category            string               `json:"category"`
	Programmes          []string             `json:"programmes"`
	Status              domain.Status        `json:"status"`
	TotalInvestment     int64                `json:"total_investment"`
	CompletedAtApply    int64                `json:"completed_at_application"`
	PlannedStart        domain.Date          `json:"planned_start"`
	PlannedEnd          domain.Date          `json:"planned_end"`
	InvestmentCompleted int64                `json:"investment_completed"` // latest progress report, or the actual total at completion
	PhysicalBP          int64                `json:"physical_bp"`
	ActualTotal         int64                `json:"actual_total"`
	LateDays            int                  `json:"late_days"`
	Requested           Money                `json:"requested"`
	Awarded             Money                `json:"awarded"`
	Disbursed           Money                `json:"disbursed"`
	Refunded            Money                `json:"refunded"`
	RefundDue           Money                `json:"refund_due"`
	Tranches            int                  `json:"tranches"`
	Items               uint8                `json:"items"` // bit i: domain.RequiredAcceptanceItems[i] filed
	AcceptanceFailures  int                  `json:"acceptance_failures"`
	PendingChanges      int                  `json:"pending_changes"`
	Inspections         int                  `json:"inspections"`
	Milestones          [numMilestones]int64 `json:"milestones"`
	Events              int                  `json:"events"`
	LastSeq             uint64               `json:"last_seq"`
	PendingIDs          []string             `json:"pending_ids,omitempty"` // pending change requests, sorted
	// CompletedByYear is the investment completed to date at the end of
	// each year something was reported: at application, by progress
	// reports (by their as-of day) and at completion. Ordered by year.
	CompletedByYear []YearFigure `json:"completed_by_year,omitempty"`
}

// YearFigure is the investment completed to date as of AsOf, the latest
// day known of Year.
type YearFigure struct {
	Year      int         `json:"year"`
	AsOf      domain.Date `json:"as_of"`
	Completed int64       `json:"completed"`
}

// reportCompleted records that completed was the investment completed to
// date on asOf.
func (p *Project) reportCompleted(asOf domain.Date, completed int64) {
	y := asOf.Time().Year()
	i := sort.Search(len(p.CompletedByYear), func(i int) bool { return p.CompletedByYear[i].Year >= y })
	switch {
	case i < len(p.CompletedByYear) && p.CompletedByYear[i].Year == y:
		if asOf >= p.CompletedByYear[i].AsOf {
			p.CompletedByYear[i] = YearFigure{y, asOf, completed}
		}
	default:
		p.CompletedByYear = slices.Insert(p.CompletedByYear, i, YearFigure{y, asOf, completed})
	}
}

// completedIn is the investment completed during year: the figure at its
// end less the figure at the end of the year before (the latest earlier
// one known), 0 when nothing is known of the year.
func (p *Project) completedIn(year int) int64 {
	var before, at int64
	found := false
	for _, f := range p.CompletedByYear {
		switch {
		case f.Year < year:
			before = f.Completed
		case f.Year == year:
			at, found = f.Completed, true
		}
	}
	if !found {
		return 0
	}
	return at - before
}

// Year is the project's programme year: the year its investment plan was
// issued, or, before that, the year it applied (China Standard Time).
func (p *Project) Year() int {
	t := p.Milestones[MPlanIssued]
	if t == 0 {
		t = p.Milestones[MRegistered]
	}
	return time.Unix(t, 0).In(cst).Year()
}

var cst = time.FixedZone("CST", 8*3600)

// Outstanding is disbursed − refunded per source.
func (p *Project) Outstanding() Money {
	var o Money
	for i := range o {
		o[i] = p.Disbursed[i] - p.Refunded[i]
	}
	return o
}

// Model is every project's record and the stream sequence applied to them.
// Only the writer (Apply, under the engine's write lock) changes it, its
// indexes included; readers only read.
type Model struct {
	Applied  uint64                `json:"applied"`
	Skipped  uint64                `json:"skipped"` // events of types this model does not know
	Projects map[string]*Project   `json:"projects"`
	list     []*Project            // the same projects in id order, for scans cheaper than a map's
	sums     sums                  // unfiltered summaries, when kept (the live model)
	byCity   map[string][]*Project // a city's projects, in id order
	byCounty map[string][]*Project // a county's projects, in id order
}

// candidates returns the projects a filter can match, in id order: a city's
// or a county's when it names one (a project's region never changes), else
// all.
func (m *Model) candidates(f Filter) []*Project {
	switch {
	case f.County != "":
		return m.byCounty[f.County]
	case f.City != "":
		return m.byCity[f.City]
	}
	return m.list
}

// all returns every project, in no particular order, for a scan.
func (m *Model) all() []*Project { return m.list }

// reindex builds the list and the region indexes of a model decoded from a
// checkpoint.
func (m *Model) reindex() {
	m.list = m.list[:0]
	m.byCity, m.byCounty = map[string][]*Project{}, map[string][]*Project{}
	for _, p := range m.Projects {
		m.list = append(m.list, p)
		m.byCity[p.City] = append(m.byCity[p.City], p)
		m.byCounty[p.County] = append(m.byCounty[p.County], p)
	}
	slices.SortFunc(m.list, byID)
	for _, l := range m.byCity {
		slices.SortFunc(l, byID)
	}
	for _, l := range m.byCounty {
		slices.SortFunc(l, byID)
	}
}

// index adds a new project to the list and the region indexes, each kept
// in id order (ids are mostly time-ordered UUIDs, so this is mostly an
// append).
func (m *Model) index(p *Project) {
	m.list = insertByID(m.list, p)
	m.byCity[p.City] = insertByID(m.byCity[p.City], p)
	m.byCounty[p.County] = insertByID(m.byCounty[p.County], p)
}

func byID(a, b *Project) int { return strings.Compare(a.ID, b.ID) }

func insertByID(l []*Project, p *Project) []*Project {
	i, _ := slices.BinarySearchFunc(l, p, byID)
	return slices.Insert(l, i, p)
}

// KeepSums makes the model keep its unfiltered summaries up to date as
// events are applied (the live model does; a one-off replay need not). Call
// it before the model is shared with readers.
func (m *Model) KeepSums() { m.sums.start(m) }

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{Projects: map[string]*Project{}, byCity: map[string][]*Project{}, byCounty: map[string][]*Project{}}
}

// DecodeError stops a projection: a stored event of a known type does not decode.
type DecodeError struct {
	Seq  uint64
	Type string
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("event at sequence %d of type %s does not decode: %v", e.Seq, e.Type, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Apply folds one stored event into the model. A sequence at or below
// Applied is a redelivery and changes nothing. An event of an unknown type is
// skipped (and counted); one of a known type that does not decode returns a
// *DecodeError and changes nothing.
func (m *Model) Apply(s eventstore.Stored) error {
	if s.Seq <= m.Applied {
		return nil
	}
	typ := s.Envelope.EventType()
	e, err := domain.DecodeEvent(typ, s.Envelope.Data)
	if errors.Is(err, domain.ErrUnknownEventType) {
		m.Skipped++
		m.Applied = s.Seq
		return nil
	}
	if err != nil {
		return &DecodeError{Seq: s.Seq, Type: typ, Err: err}
	}
	id := s.Envelope.Subject
	p := m.Projects[id]
	if p == nil {
		if _, ok := e.(domain.ProjectRegistered); !ok {
			// An event of a project whose registration this model never saw
			// (as-of views filter by effective time): keep it out.
			m.Applied = s.Seq
			return nil
		}
		p = &Project{ID: id}
		m.Projects[id] = p
	}
	if m.sums.ready {
		if p.Events > 0 { // a new project is in no group yet
			m.sums.apply(p, -1)
		}
		defer m.sums.apply(p, 1)
	}
	if p.Events == 0 {
		defer m.index(p) // once its region is known
	}
	apply(p, e, s.Envelope.Time.Unix())
	p.Events++
	p.LastSeq = s.Seq
	m.Applied = s.Seq
	return nil
}

func apply(p *Project, e domain.Event, at int64) {
	mark := func(ms Milestone) {
		if p.Milestones[ms] == 0 {
			p.Milestones[ms] = at
		}
	}
	switch e := e.(type) {
	case domain.ProjectRegistered:
		p.Name, p.Owner, p.City, p.County = e.Name, e.Owner, string(e.City), string(e.County)
		p.Category, p.Programmes = string(e.Category), append([]string(nil), e.Programmes...)
		p.TotalInvestment, p.CompletedAtApply = int64(e.TotalInvestment), int64(e.CompletedInvestment)
		p.InvestmentCompleted = int64(e.CompletedInvestment)
		p.reportCompleted(domain.Date(time.Unix(at, 0).In(cst).Format(time.DateOnly)), int64(e.CompletedInvestment))
		p.PlannedStart, p.PlannedEnd = e.PlannedStart, e.PlannedEnd
		p.Requested = moneyOf(e.Requested)
		p.Status = domain.StatusApplied
		mark(MRegistered)
	case domain.ProjectScreened:
		p.Status = domain.StatusScreened
		mark(MScreened)
	case domain.ApplicationReportSubmitted:
		p.Status = domain.StatusReportSubmitted
		mark(MReportSubmitted)
	case domain.ProvincialReviewPassed:
		p.Status = domain.StatusProvinciallyApproved
		mark(MReviewPassed)
	case domain.ProvincialReviewRejected:
		p.Status = domain.StatusReviewRejected
		mark(MReviewRejected)
	case domain.NationalReplyReceived:
		p.Status = domain.StatusReplyReceived
		mark(MReplyReceived)
	case domain.InvestmentPlanIssued:
		p.Awarded = moneyOf(e.Awards)
		if e.TotalInvestment > 0 {
			p.TotalInvestment = int64(e.TotalInvestment)
		}
		p.Status = domain.StatusImplementing
		mark(MPlanIssued)
	case domain.SpecialAccountOpened:
		mark(MAccountOpened)
	case domain.FundsDisbursed:
		if i := sourceIndex(e.Source); i >= 0 {
			p.Disbursed[i] += int64(e.Amount)
		}
		p.Tranches = e.Tranche
		mark(MFirstDisbursement)
		p.Milestones[MLastDisbursement] = at
	case domain.PilotAssessmentPassed:
		mark(MPilotAssessed)
	case domain.ProgressReported:
		p.InvestmentCompleted, p.PhysicalBP = int64(e.InvestmentCompleted), e.PhysicalProgressBP
		p.Milestones[MLastProgressReport] = at
		p.reportCompleted(e.AsOf, int64(e.InvestmentCompleted))
	case domain.ChangeRequested:
		i := sort.SearchStrings(p.PendingIDs, e.ChangeID)
		if i == len(p.PendingIDs) || p.PendingIDs[i] != e.ChangeID {
			p.PendingIDs = slices.Insert(p.PendingIDs, i, e.ChangeID)
		}
		p.PendingChanges = len(p.PendingIDs)
	case domain.ChangeApproved:
		p.resolve(e.ChangeID)
	case domain.ChangeRejected:
		p.resolve(e.ChangeID)
	case domain.ContentChanged:
	case domain.OwnerRenamed:
		p.Owner = e.To
	case domain.TotalInvestmentRevised:
		p.TotalInvestment = int64(e.To)
	case domain.InspectionRecorded:
		p.Inspections++
		if e.PhysicalProgressBP != nil {
			p.PhysicalBP = *e.PhysicalProgressBP
		}
	case domain.ConstructionStarted:
		mark(MConstructionStarted)
	case domain.AcceptancePreparationStarted:
		p.Status = domain.StatusPreparingAcceptance
		mark(MPreparingAcceptance)
	case domain.TerminationRecognised:
		mark(MTerminationRecognised)
	case domain.ConstructionCompleted:
		p.ActualTotal, p.LateDays = int64(e.ActualTotalInvestment), e.LateDays
		p.InvestmentCompleted, p.PhysicalBP = int64(e.ActualTotalInvestment), 10000
		p.reportCompleted(domain.Date(time.Unix(at, 0).In(cst).Format(time.DateOnly)), int64(e.ActualTotalInvestment))
		p.Status = domain.StatusCompleted
		mark(MCompleted)
	case domain.AcceptanceItemFiled:
		for i, it := range domain.RequiredAcceptanceItems {
			if it == e.Item {
				p.Items |= 1 << i
			}
		}
	case domain.AcceptanceRequested:
		p.Status = domain.StatusAcceptanceRequested
		p.Milestones[MAcceptanceRequested] = at
	case domain.AcceptancePassed:
		p.Status = domain.StatusAccepted
		mark(MAccepted)
	case domain.AcceptanceFailed:
		p.Status = domain.StatusAcceptanceFailed
		p.AcceptanceFailures++
		p.Milestones[MAcceptanceFailed] = at
	case domain.ProjectTerminated:
		p.RefundDue = moneyOf(e.RefundDue)
		p.Status = domain.StatusTerminated
		mark(MTerminated)
	case domain.FundsRefunded:
		if i := sourceIndex(e.Source); i >= 0 {
			p.Refunded[i] += int64(e.Amount)
		}
	case domain.ProjectClosed:
		p.Status = domain.StatusClosed
		mark(MClosed)
	}
}

func (p *Project) resolve(id string) {
	if i := sort.SearchStrings(p.PendingIDs, id); i < len(p.PendingIDs) && p.PendingIDs[i] == id {
		p.PendingIDs = slices.Delete(p.PendingIDs, i, i+1)
	}
	if len(p.PendingIDs) == 0 {
		p.PendingIDs = nil
	}
	p.PendingChanges = len(p.PendingIDs)
}

// Equal reports whether two models hold the same records at the same position.
func Equal(a, b *Model) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
