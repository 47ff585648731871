package domain

import (
	"sort"
	"time"
)

// Status is where a project stands in its lifecycle. Persisted: add new values
// only at the end.
type Status string

const (
	StatusNone                 Status = ""
	StatusApplied              Status = "applied"
	StatusScreened             Status = "screened"
	StatusReportSubmitted      Status = "report_submitted"
	StatusProvinciallyApproved Status = "provincially_approved"
	StatusReviewRejected       Status = "review_rejected"
	StatusReplyReceived        Status = "reply_received"
	StatusImplementing         Status = "implementing" // the investment plan is issued
	StatusCompleted            Status = "completed"
	StatusAcceptanceRequested  Status = "acceptance_requested"
	StatusAccepted             Status = "accepted"
	StatusAcceptanceFailed     Status = "acceptance_failed"
	StatusTerminated           Status = "terminated"
	StatusClosed               Status = "closed"
	StatusPreparingAcceptance  Status = "preparing_acceptance" // 准备申请验收 (rulebook 2)
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReviewRejected,
	StatusReplyReceived, StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested,
	StatusAccepted, StatusAcceptanceFailed, StatusTerminated, StatusClosed}

// Change is a change request and its outcome.
type Change struct {
	ID                 string     `json:"change_id"`
	Kind               ChangeKind `json:"kind"`
	Description        string     `json:"description"`
	NewOwner           string     `json:"new_owner,omitempty"`
	NewTotalInvestment Fen        `json:"new_total_investment,omitempty"`
	Explanation        string     `json:"explanation,omitempty"`
	State              string     `json:"state"` // pending, approved, rejected
	RequestedAt        time.Time  `json:"requested_at"`
	DecidedAt          *time.Time `json:"decided_at,omitempty"`
	RequestedBy        string     `json:"requested_by,omitempty"` // the requester's user id, when authenticated
}

// Project is the aggregate: the state folded from a project's events. Its
// fields are unexported; read it through View. The zero value is a project
// that does not exist yet.
type Project struct {
	id      ProjectID
	version int // number of events applied
	status  Status
	reg     ProjectRegistered
	owner   string
	total   Fen // current total investment: registered, then the plan's, then revised

	reviewPassed   bool
	replyReceived  bool
	accountOpened  bool
	pilotAssessed  bool
	awarded        Amounts
	disbursed      Amounts
	refunded       Amounts
	refundDue      Amounts
	tranches       int
	progress       *ProgressReported
	completion     *ConstructionCompleted
	changes        map[string]*Change
	items          map[string]string // acceptance item → reference
	inspections    int
	milestones     map[string]time.Time
	lastEffective  time.Time
	terminatedFrom Status

	// Who did the steps separation of duties is about: user ids of
	// authenticated actors ("" for steps recorded before authentication).
	planIssuedBy          string
	acceptanceRequestedBy string
	// Prepared disbursements awaiting a second finance user (four-eyes).
	preparations map[string]*Preparation

	started      *ConstructionStarted
	progressBP   int64     // R6: the share of the work done, by the latest report or inspection
	progressAt   time.Time // its effective time
	recognitions map[string]bool

	// While a command is decided: the rulebook and the acting person.
	rb    *Rulebook
	actor Actor
	eff   *ProgrammeRules // the table of rb for the project's programmes, once asked for
}

// Preparation is a disbursement prepared for a second user's approval.
type Preparation struct {
	DisbursementPrepared
	PreparedBy string `json:"prepared_by"` // the preparer's user id, or name before authentication
	State      string `json:"state"`       // pending, approved
}

// actorKey is who took a step, for rules about persons: the user id, or the
// name on steps recorded before the ledger authenticated.
func actorKey(a Actor) string {
	if a.ID != "" {
		return "id:" + a.ID
	}
	return "name:" + a.Name
}

// NewProject returns the empty aggregate for id, ready to fold its history.
func NewProject(id ProjectID) *Project {
	return &Project{id: id}
}

// ID returns the project's id.
func (p *Project) ID() ProjectID { return p.id }

// Exists reports whether the project has been registered.
func (p *Project) Exists() bool { return p.version > 0 }

// Version is the number of events folded into the project.
func (p *Project) Version() int { return p.version }

// Status returns the lifecycle status.
func (p *Project) Status() Status { return p.status }

// OwnerNames returns the names the project's owner has borne: at
// application, then after each approved rename, the current one last.
func (p *Project) OwnerNames() []string {
	names := []string{p.reg.Owner}
	for _, c := range p.changes {
		if c.Kind == ChangeOwnerRename && c.State == "approved" && c.NewOwner != p.owner {
			names = append(names, c.NewOwner)
		}
	}
	if p.owner != p.reg.Owner {
		names = append(names, p.owner)
	}
	return names
}

// Region returns the project's city and county codes.
func (p *Project) Region() (city, county DivisionCode) { return p.reg.City, p.reg.County }

// Apply folds one recorded event, which took effect at effective, into the
// state. It does not validate: history is history. Events of a type Apply does
// not know leave the state as it is but for the version.
func (p *Project) Apply(e Event, effective time.Time) { p.ApplyBy(e, effective, Actor{}) }

// ApplyBy is Apply for an event recorded by actor: the state also keeps who
// issued the plan, requested a change and requested acceptance, for the
// separation of duties.
func (p *Project) ApplyBy(e Event, effective time.Time, by Actor) {
	switch e := e.(type) {
	case InvestmentPlanIssued:
		p.planIssuedBy = by.ID
	case AcceptanceRequested:
		p.acceptanceRequestedBy = by.ID
	case DisbursementPrepared:
		if p.preparations == nil {
			p.preparations = map[string]*Preparation{}
		}
		p.preparations[e.PreparationID] = &Preparation{DisbursementPrepared: e, PreparedBy: actorKey(by), State: "pending"}
	case DisbursementApproved:
		if pr := p.preparations[e.PreparationID]; pr != nil {
			pr.State = "approved"
		}
	}
	defer func() {
		if c, ok := e.(ChangeRequested); ok && p.changes[c.ChangeID] != nil {
			p.changes[c.ChangeID].RequestedBy = by.ID
		}
	}()
	p.version++
	if effective.After(p.lastEffective) {
		p.lastEffective = effective
	}
	if p.milestones == nil {
		p.milestones = map[string]time.Time{}
	}
	if _, ok := p.milestones[Name(e)]; !ok {
		p.milestones[Name(e)] = effective
	}
	switch e := e.(type) {
	case ProjectRegistered:
		p.reg = e
		p.owner = e.Owner
		p.total = e.TotalInvestment
		p.status = StatusApplied
		p.awarded, p.disbursed, p.refunded = Amounts{}, Amounts{}, Amounts{}
		p.changes = map[string]*Change{}
		p.items = map[string]string{}
	case ProjectScreened:
		p.status = StatusScreened
	case ApplicationReportSubmitted:
		p.status = StatusReportSubmitted
	case ProvincialReviewPassed:
		p.reviewPassed = true
		p.status = StatusProvinciallyApproved
	case ProvincialReviewRejected:
		p.status = StatusReviewRejected
	case NationalReplyReceived:
		p.replyReceived = true
		p.status = StatusReplyReceived
	case InvestmentPlanIssued:
		p.awarded = e.Awards.Clone()
		if p.awarded == nil {
			p.awarded = Amounts{}
		}
		if e.TotalInvestment > 0 {
			p.total = e.TotalInvestment
		}
		if p.status != StatusAccepted { // an award after acceptance (R21) leaves the project accepted
			p.status = StatusImplementing
		}
	case SpecialAccountOpened:
		p.accountOpened = true
	case FundsDisbursed:
		p.disbursed[e.Source] += e.Amount
		p.tranches = e.Tranche
	case PilotAssessmentPassed:
		p.pilotAssessed = true
	case ProgressReported:
		r := e
		p.progress = &r
		p.setProgress(max(e.PhysicalProgressBP, min(basisPoints(e.InvestmentCompleted, p.total), 10000)), effective)
	case ChangeRequested:
		p.changes[e.ChangeID] = &Change{ID: e.ChangeID, Kind: e.Kind, Description: e.Description, NewOwner: e.NewOwner,
			NewTotalInvestment: e.NewTotalInvestment, Explanation: e.Explanation, State: "pending", RequestedAt: effective}
	case ChangeApproved:
		if c := p.changes[e.ChangeID]; c != nil {
			c.State = "approved"
			t := effective
			c.DecidedAt = &t
		}
	case ChangeRejected:
		if c := p.changes[e.ChangeID]; c != nil {
			c.State = "rejected"
			t := effective
			c.DecidedAt = &t
		}
	case ContentChanged:
	case OwnerRenamed:
		p.owner = e.To
	case TotalInvestmentRevised:
		p.total = e.To
	case InspectionRecorded:
		p.inspections++
		if e.PhysicalProgressBP != nil {
			p.setProgress(*e.PhysicalProgressBP, effective)
		}
	case ConstructionStarted:
		s := e
		p.started = &s
	case AcceptancePreparationStarted:
		p.status = StatusPreparingAcceptance
	case TerminationRecognised:
		if p.recognitions == nil {
			p.recognitions = map[string]bool{}
		}
		p.recognitions[e.Level] = true
	case ConstructionCompleted:
		c := e
		p.completion = &c
		p.status = StatusCompleted
		p.setProgress(10000, effective)
	case AcceptanceItemFiled:
		p.items[e.Item] = e.Reference
	case AcceptanceRequested:
		p.status = StatusAcceptanceRequested
	case AcceptancePassed:
		p.status = StatusAccepted
	case AcceptanceFailed:
		p.status = StatusAcceptanceFailed
	case ProjectTerminated:
		p.terminatedFrom = p.status
		p.refundDue = e.RefundDue.Clone()
		p.status = StatusTerminated
	case FundsRefunded:
		p.refunded[e.Source] += e.Amount
	case ProjectClosed:
		p.status = StatusClosed
	}
}

// setProgress keeps the progress share of the latest effective time: an
// inspection recorded late does not override a later report.
func (p *Project) setProgress(bp int64, at time.Time) {
	if !at.Before(p.progressAt) {
		p.progressBP, p.progressAt = bp, at
	}
}

// pendingChange returns a pending change, preferring kind when given.
func (p *Project) pendingChange() *Change {
	var ids []string
	for id, c := range p.changes {
		if c.State == "pending" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	return p.changes[ids[0]]
}

// outstanding returns disbursed − refunded per source (only non-zero entries).
func (p *Project) outstanding() Amounts {
	o := Amounts{}
	for s, d := range p.disbursed {
		if v := d - p.refunded[s]; v != 0 {
			o[s] = v
		}
	}
	return o
}

// View is the read-only picture of a project's current state, as the API shows it.
type View struct {
	ID                     ProjectID              `json:"id"`
	EventCount             int                    `json:"event_count"`
	Status                 Status                 `json:"status"`
	Name                   string                 `json:"name"`
	Owner                  string                 `json:"owner"`
	OwnerAtApplication     string                 `json:"owner_at_application"`
	City                   DivisionCode           `json:"city"`
	County                 DivisionCode           `json:"county"`
	Category               Category               `json:"category"`
	Programmes             []string               `json:"programmes"`
	TotalInvestment        Fen                    `json:"total_investment"`
	CompletedAtApplication Fen                    `json:"completed_investment_at_application"`
	PlannedStart           Date                   `json:"planned_start"`
	PlannedEnd             Date                   `json:"planned_end"`
	Requested              Amounts                `json:"requested"`
	Awarded                Amounts                `json:"awarded"`
	Disbursed              Amounts                `json:"disbursed"`
	Refunded               Amounts                `json:"refunded"`
	Outstanding            Amounts                `json:"outstanding"`
	RefundDue              Amounts                `json:"refund_due,omitempty"`
	Tranches               int                    `json:"tranches"`
	SpecialAccountOpened   bool                   `json:"special_account_opened"`
	PilotAssessmentPassed  bool                   `json:"pilot_assessment_passed"`
	Progress               *ProgressReported      `json:"progress,omitempty"`
	Completion             *ConstructionCompleted `json:"completion,omitempty"`
	Changes                []Change               `json:"changes"`
	Preparations           []Preparation          `json:"prepared_disbursements,omitempty"`
	AcceptanceItems        map[string]string      `json:"acceptance_items"`
	Inspections            int                    `json:"inspections"`
	Milestones             map[string]time.Time   `json:"milestones"`
	LastEffective          time.Time              `json:"last_effective_time"`
	ConstructionStarted    *ConstructionStarted   `json:"construction_started,omitempty"`
	// ProgressShareBP is the share of the work done by the latest report or
	// inspection, what disbursement follows (R6).
	ProgressShareBP int64 `json:"progress_share_bp"`
	// TerminationRecognisedBy lists the levels that recognised a termination (R12).
	TerminationRecognisedBy []string `json:"termination_recognised_by,omitempty"`
}

// View returns a copy of the state that callers may keep.
func (p *Project) View() View {
	v := View{
		ID: p.id, EventCount: p.version, Status: p.status, Name: p.reg.Name, Owner: p.owner, OwnerAtApplication: p.reg.Owner,
		City: p.reg.City, County: p.reg.County, Category: p.reg.Category, Programmes: append([]string(nil), p.reg.Programmes...),
		TotalInvestment: p.total, CompletedAtApplication: p.reg.CompletedInvestment, PlannedStart: p.reg.PlannedStart,
		PlannedEnd: p.reg.PlannedEnd, Requested: p.reg.Requested.Clone(), Awarded: nonNil(p.awarded), Disbursed: nonNil(p.disbursed),
		Refunded: nonNil(p.refunded), Outstanding: p.outstanding(), RefundDue: p.refundDue.Clone(), Tranches: p.tranches,
		SpecialAccountOpened: p.accountOpened, PilotAssessmentPassed: p.pilotAssessed, Inspections: p.inspections,
		AcceptanceItems: map[string]string{}, Milestones: map[string]time.Time{}, Changes: []Change{}, LastEffective: p.lastEffective,
	}
	if p.progress != nil {
		r := *p.progress
		v.Progress = &r
	}
	if p.started != nil {
		s := *p.started
		v.ConstructionStarted = &s
	}
	v.ProgressShareBP = p.progressBP
	if len(p.recognitions) > 0 {
		v.TerminationRecognisedBy = p.recognised()
	}
	if p.completion != nil {
		c := *p.completion
		v.Completion = &c
	}
	for k, r := range p.items {
		v.AcceptanceItems[k] = r
	}
	for k, t := range p.milestones {
		v.Milestones[k] = t
	}
	ids := make([]string, 0, len(p.changes))
	for id := range p.changes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := *p.changes[id]
		if c.DecidedAt != nil {
			t := *c.DecidedAt
			c.DecidedAt = &t
		}
		v.Changes = append(v.Changes, c)
	}
	for _, pr := range p.preparations {
		v.Preparations = append(v.Preparations, *pr)
	}
	sort.Slice(v.Preparations, func(i, j int) bool { return v.Preparations[i].PreparationID < v.Preparations[j].PreparationID })
	return v
}

func nonNil(a Amounts) Amounts {
	c := a.Clone()
	if c == nil {
		c = Amounts{}
	}
	for k, v := range c {
		if v == 0 {
			delete(c, k)
		}
	}
	return c
}
