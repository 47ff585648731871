package domain

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Command is a request to record a step of a project's life. Each command
// names itself, validates its own fields, and decides against the project's
// state which events it yields.
type Command interface {
	// CommandName is stable and used in the role table and the API ("disburse").
	CommandName() string
	// EffectiveAt is when the step took effect (never defaulted to now).
	EffectiveAt() time.Time
	validate() error
	decide(p *Project) ([]Event, error)
}

// At carries a command's effective time ("effective_time" in JSON, RFC 3339).
type At struct {
	EffectiveTime time.Time `json:"effective_time"`
}

// EffectiveAt returns the effective time.
func (a At) EffectiveAt() time.Time { return a.EffectiveTime }

// permitted lists, for each command, the roles that may record it.
var permitted = map[string][]Role{
	"register":              {RoleOwner, RoleCountyDRC, RoleCityDRC},
	"screen":                {RoleCountyDRC, RoleCityDRC},
	"submit_report":         {RoleOwner, RoleCountyDRC},
	"record_review":         {RoleProvinceDRC, RoleCityDRC, RoleNDRC},
	"record_national_reply": {RoleNDRC, RoleProvinceDRC},
	"issue_plan":            {RoleNDRC, RoleProvinceDRC, RoleCityDRC},
	"open_special_account":  {RoleOwner, RoleFinance},
	"disburse":              {RoleFinance},
	"approve_disbursement":  {RoleFinance},
	"pass_pilot_assessment": {RoleNDRC, RoleProvinceDRC},
	"report_progress":       {RoleOwner, RoleCountyDRC},
	"request_change":        {RoleOwner, RoleCountyDRC},
	"decide_change":         {RoleCityDRC, RoleProvinceDRC, RoleNDRC},
	"record_inspection":     {RoleAuditor, RoleCountyDRC, RoleCityDRC, RoleProvinceDRC, RoleFinance},
	"complete":              {RoleOwner, RoleCountyDRC},
	"start_construction":    {RoleOwner, RoleCountyDRC},
	"prepare_acceptance":    {RoleOwner, RoleCountyDRC},
	"file_acceptance_item":  {RoleOwner, RoleCountyDRC},
	"request_acceptance":    {RoleOwner, RoleCountyDRC, RoleCityDRC},
	"record_acceptance":     {RoleProvinceDRC, RoleCityDRC},
	"terminate":             {RoleProvinceDRC, RoleNDRC, RoleCityDRC},
	"refund":                {RoleFinance},
	"close":                 {RoleCountyDRC, RoleCityDRC, RoleProvinceDRC},
}

// PermittedRoles returns the roles that may issue the command named name.
func PermittedRoles(name string) []Role { return append([]Role(nil), permitted[name]...) }

// Decide checks cmd against the project's state and returns the events it
// yields, or why it may not be recorded: a *Error of kind KindInvalid (a field),
// KindForbidden (the role), KindNotFound (no such project), KindExists (register
// twice) or KindRule (a named rule). now is the recording time; the effective
// time may not lie after it, nor before the project's last step.
func (p *Project) Decide(cmd Command, actor Actor, now time.Time) ([]Event, error) {
	return p.DecideUnder(CurrentRulebook(), cmd, actor, now)
}

// DecideUnder is Decide under the rulebook rb: what verification uses to
// reproduce an event under the rulebook it was decided by.
func (p *Project) DecideUnder(rb *Rulebook, cmd Command, actor Actor, now time.Time) ([]Event, error) {
	p.rb, p.actor, p.eff = rb, actor, nil
	defer func() { p.rb, p.actor, p.eff = nil, Actor{}, nil }()
	name := cmd.CommandName()
	if strings.TrimSpace(actor.Name) == "" {
		return nil, invalid("actor", "the acting person is required")
	}
	if !actor.Role.Valid() {
		return nil, invalid("role", "unknown role %q", actor.Role)
	}
	if !hasRole(permitted[name], actor.Role) {
		return nil, &Error{Kind: KindForbidden, Code: CodeRole, Project: p.id,
			Msg: fmt.Sprintf("role %s may not %s (permitted: %v)", actor.Role, name, permitted[name])}
	}
	if _, isReg := cmd.(*RegisterProject); isReg {
		if p.Exists() {
			return nil, &Error{Kind: KindExists, Code: CodeExists, Project: p.id, Msg: "project is registered already"}
		}
	} else if !p.Exists() {
		return nil, &Error{Kind: KindNotFound, Code: CodeNotFound, Project: p.id, Msg: "no such project"}
	}
	at := cmd.EffectiveAt()
	if at.IsZero() {
		return nil, withProject(p.id, invalid("effective_time", "when the step took effect is required (RFC 3339, e.g. 2011-08-15T00:00:00+08:00)"))
	}
	if at.After(now) {
		return nil, withProject(p.id, &Error{Kind: KindRule, Code: CodeEffectiveTime, Field: "effective_time",
			Msg: fmt.Sprintf("effective time %s lies in the future (now %s)", at.Format(time.RFC3339), now.Format(time.RFC3339))})
	}
	if err := cmd.validate(); err != nil {
		return nil, withProject(p.id, err)
	}
	// Inspections and audits may be recorded late, out of order; every other
	// step follows the one before it.
	if _, late := cmd.(*RecordInspection); !late && at.Before(p.lastEffective) {
		return nil, withProject(p.id, &Error{Kind: KindRule, Code: CodeEffectiveTime, Field: "effective_time",
			Msg: fmt.Sprintf("effective time %s precedes the project's last step at %s", at.Format(time.RFC3339), p.lastEffective.Format(time.RFC3339))})
	}
	if err := p.separateDuties(cmd, actor); err != nil {
		return nil, withProject(p.id, err)
	}
	if err := p.programmeRoles(cmd, actor); err != nil {
		return nil, withProject(p.id, err)
	}
	evs, err := cmd.decide(p)
	if err != nil {
		return nil, withProject(p.id, err)
	}
	return evs, nil
}

// separateDuties refuses a step that the same person may not take twice in
// one project (NIST AC-5, and the reports' practice of one office applying
// and another approving): deciding a change one requested, disbursing under
// a plan one issued, passing or failing an acceptance one requested. It
// holds between authenticated users (their ids); steps recorded before the
// ledger authenticated carry no id, and are outside it.
func (p *Project) separateDuties(cmd Command, actor Actor) error {
	// Four-eyes holds by name too: it is new, so no history predates it.
	if c, ok := cmd.(*ApproveDisbursement); ok {
		if pr := p.preparations[c.PreparationID]; pr != nil && pr.PreparedBy == actorKey(actor) {
			return &Error{Kind: KindForbidden, Code: CodeFourEyes, Rule: "SoD", Field: "preparation_id",
				Msg: fmt.Sprintf("%s prepared disbursement %s; another finance user must approve it", actor.Name, c.PreparationID)}
		}
	}
	if actor.ID == "" {
		return nil
	}
	switch c := cmd.(type) {
	case *DecideChange:
		if ch := p.changes[c.ChangeID]; ch != nil && ch.RequestedBy == actor.ID {
			return &Error{Kind: KindForbidden, Code: CodeSoDChange, Rule: "SoD", Field: "change_id",
				Msg: fmt.Sprintf("user %s requested change %s and may not decide it", actor.ID, c.ChangeID)}
		}
	case *Disburse:
		if p.planIssuedBy == actor.ID {
			return &Error{Kind: KindForbidden, Code: CodeSoDDisburse, Rule: "SoD",
				Msg: fmt.Sprintf("user %s issued the investment plan and may not disburse under it", actor.ID)}
		}
	case *RecordAcceptance:
		if p.acceptanceRequestedBy == actor.ID {
			return &Error{Kind: KindForbidden, Code: CodeSoDAcceptance, Rule: "SoD",
				Msg: fmt.Sprintf("user %s requested the acceptance and may not decide it", actor.ID)}
		}
	}
	return nil
}

// rules is the table the project's programmes make in the rulebook the
// decision is taken under.
func (p *Project) rules() *ProgrammeRules {
	if p.eff == nil {
		p.eff = p.rb.effective(p.reg.Programmes)
	}
	return p.eff
}

// programmeRoles refuses a review, a plan or a change decision by a role
// the project's programmes do not give it to (rulebook 2: a central
// project's change is approved above the city; the pilot's review is the
// NDRC's expert review).
func (p *Project) programmeRoles(cmd Command, actor Actor) error {
	if !p.Exists() {
		return nil
	}
	r := p.rules()
	var roles []Role
	var what string
	switch cmd.(type) {
	case *RecordReview:
		roles, what = r.Reviewers, "review"
	case *IssueInvestmentPlan:
		roles, what = r.Planners, "issue the plan of"
	case *DecideChange:
		roles, what = r.ChangeApprovers, "decide a change of"
	default:
		return nil
	}
	if len(roles) == 0 || hasRole(roles, actor.Role) {
		return nil
	}
	return &Error{Kind: KindForbidden, Code: CodeRole, Rule: "programme", Project: p.id,
		Msg: fmt.Sprintf("under rulebook %d, role %s may not %s a %s project (permitted: %v)", p.rb.Version, actor.Role, what, r.Code, roles)}
}

func withProject(id ProjectID, err error) error {
	if e, ok := err.(*Error); ok && e.Project == "" {
		e.Project = id
	}
	return err
}

func hasRole(rs []Role, r Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return invalid(field, "is required")
	}
	if len(v) > 2000 {
		return invalid(field, "is longer than 2000 bytes")
	}
	return nil
}

func optional(field, v string) error {
	if len(v) > 2000 {
		return invalid(field, "is longer than 2000 bytes")
	}
	return nil
}

func wrongStatus(p *Project, step string, want ...Status) error {
	if p.status == StatusTerminated || p.status == StatusClosed {
		return refuse(CodeAfterTermination, "R12", "cannot %s: the project is %s", step, p.status)
	}
	return refuse(CodeWrongStatus, "", "cannot %s in status %s (allowed in: %v)", step, p.status, want)
}

func in(s Status, ss ...Status) bool {
	for _, x := range ss {
		if s == x {
			return true
		}
	}
	return false
}

// RegisterProject applies for funding and enters the project into the ledger.
type RegisterProject struct {
	At
	ID                  ProjectID    `json:"id,omitempty"`
	Name                string       `json:"name"`
	Owner               string       `json:"owner"`
	City                DivisionCode `json:"city"`
	County              DivisionCode `json:"county"`
	Category            Category     `json:"category"`
	Programmes          []string     `json:"programmes"`
	TotalInvestment     Fen          `json:"total_investment"`
	CompletedInvestment Fen          `json:"completed_investment"`
	PlannedStart        Date         `json:"planned_start"`
	PlannedEnd          Date         `json:"planned_end"`
	Requested           Amounts      `json:"requested"`
	Description         string       `json:"description,omitempty"`
}

func (*RegisterProject) CommandName() string { return "register" }

func (c *RegisterProject) validate() error {
	if err := c.ID.Validate("id"); err != nil {
		return err
	}
	for _, f := range []struct{ n, v string }{{"name", c.Name}, {"owner", c.Owner}} {
		if err := required(f.n, f.v); err != nil {
			return err
		}
	}
	if err := optional("description", c.Description); err != nil {
		return err
	}
	if err := validateRegion(c.City, c.County); err != nil {
		return err
	}
	if !c.Category.Valid() {
		return invalid("category", "unknown category %q (known: %v)", c.Category, Categories)
	}
	if len(c.Programmes) == 0 {
		return invalid("programmes", "at least one programme is required (known: %v)", ProgrammeCodes())
	}
	seen := map[string]bool{}
	for i, pr := range c.Programmes {
		if _, ok := Programmes[pr]; !ok {
			return invalid(fmt.Sprintf("programmes[%d]", i), "unknown programme %q (known: %v)", pr, ProgrammeCodes())
		}
		if seen[pr] {
			return invalid(fmt.Sprintf("programmes[%d]", i), "programme %q is listed twice", pr)
		}
		seen[pr] = true
	}
	if c.TotalInvestment <= 0 || c.TotalInvestment > maxAmount {
		return invalid("total_investment", "must be a positive number of fen up to %d, got %d", maxAmount, c.TotalInvestment)
	}
	if c.CompletedInvestment < 0 || c.CompletedInvestment > c.TotalInvestment {
		return invalid("completed_investment", "must lie between 0 and total_investment (%d), got %d", c.TotalInvestment, c.CompletedInvestment)
	}
	if err := c.PlannedStart.validate("planned_start"); err != nil {
		return err
	}
	if err := c.PlannedEnd.validate("planned_end"); err != nil {
		return err
	}
	if !c.PlannedEnd.Time().After(c.PlannedStart.Time()) {
		return invalid("planned_end", "must lie after planned_start (%s), got %s", c.PlannedStart, c.PlannedEnd)
	}
	if len(c.Requested) == 0 {
		return invalid("requested", "the subsidy requested per funding source is required")
	}
	if err := validateAmounts("requested", c.Requested, false); err != nil {
		return err
	}
	if c.Requested.Total() > c.TotalInvestment {
		return invalid("requested", "the subsidy requested (%d) exceeds the total investment (%d)", c.Requested.Total(), c.TotalInvestment)
	}
	return nil
}

func (c *RegisterProject) decide(p *Project) ([]Event, error) {
	for i, pr := range c.Programmes {
		if _, ok := p.rb.Programmes[pr]; !ok {
			return nil, invalid(fmt.Sprintf("programmes[%d]", i), "programme %q is not in rulebook %d (known: %v)", pr, p.rb.Version, p.rb.Codes())
		}
	}
	if r := p.rb.effective(c.Programmes); r.CompletedOnly && c.CompletedInvestment != c.TotalInvestment {
		e := refuse(CodeEligibility, "R20", "programme %s takes applications for completed projects (建成一批、验收一批, L1590-1598): completed_investment (%s yuan) must equal total_investment (%s yuan)",
			r.Code, c.CompletedInvestment, c.TotalInvestment)
		e.Field = "completed_investment"
		return nil, e
	}
	progs := append([]string(nil), c.Programmes...)
	return []Event{ProjectRegistered{
		Name: strings.TrimSpace(c.Name), Owner: strings.TrimSpace(c.Owner), City: c.City, County: c.County,
		Category: c.Category, Programmes: progs, TotalInvestment: c.TotalInvestment,
		CompletedInvestment: c.CompletedInvestment, PlannedStart: c.PlannedStart, PlannedEnd: c.PlannedEnd,
		Requested: c.Requested.Clone(), Description: c.Description,
	}}, nil
}

// Screen checks the project against R2: investment already completed at most
// the programme's share of the total (the strictest of its programmes).
type Screen struct {
	At
	Note string `json:"note,omitempty"`
}

func (*Screen) CommandName() string { return "screen" }
func (c *Screen) validate() error   { return optional("note", c.Note) }

func (c *Screen) decide(p *Project) ([]Event, error) {
	if !p.rules().Has("screen") {
		return nil, notOnPath(p, "screen", "R2", "the 30%—40% screen is stated for central-budget candidates (L1140-1147)")
	}
	if p.status != StatusApplied {
		return nil, wrongStatus(p, "screen", StatusApplied)
	}
	threshold, warn, prog := int64(10000), int64(0), ""
	for _, code := range p.reg.Programmes {
		pr, ok := p.rb.Programmes[code]
		if !ok || !pr.Has("screen") {
			continue
		}
		if pr.ScreenLimitBP < threshold {
			threshold, prog = pr.ScreenLimitBP, code
		}
		if pr.ScreenWarnBP > 0 && (warn == 0 || pr.ScreenWarnBP < warn) {
			warn = pr.ScreenWarnBP
		}
	}
	completedBP := basisPoints(p.reg.CompletedInvestment, p.reg.TotalInvestment)
	if p.reg.CompletedInvestment > share(p.reg.TotalInvestment, threshold) {
		e := refuse(CodeEligibility, "R2", "investment completed at application (%s yuan) exceeds %d.%02d%% of the total (%s yuan) allowed by programme %s",
			p.reg.CompletedInvestment, threshold/100, threshold%100, p.reg.TotalInvestment, prog)
		e.Field = "completed_investment"
		return nil, e
	}
	ev := ProjectScreened{CompletedBP: completedBP, ThresholdBP: threshold, Programme: prog, Note: c.Note}
	if warn > 0 && p.reg.CompletedInvestment > share(p.reg.TotalInvestment, warn) {
		ev.WarnBP = warn
		ev.Warning = fmt.Sprintf("investment completed at application is %d.%02d%% of the total: above %d%%, the lower end of the text's 30%%—40%% (R2, L1144-1147)",
			completedBP/100, completedBP%100, warn/100)
	}
	return []Event{ev}, nil
}

// SubmitApplicationReport files the 项目资金申请报告 with the R3 attachments.
type SubmitApplicationReport struct {
	At
	Reference   string       `json:"reference"`
	Attachments []Attachment `json:"attachments"`
}

func (*SubmitApplicationReport) CommandName() string { return "submit_report" }

func (c *SubmitApplicationReport) validate() error {
	if err := required("reference", c.Reference); err != nil {
		return err
	}
	for i, a := range c.Attachments {
		if !hasString(AttachmentKinds, a.Kind) {
			return invalid(fmt.Sprintf("attachments[%d].kind", i), "unknown attachment kind %q (known: %v)", a.Kind, AttachmentKinds)
		}
		if err := required(fmt.Sprintf("attachments[%d].reference", i), a.Reference); err != nil {
			return err
		}
	}
	return nil
}

func (c *SubmitApplicationReport) decide(p *Project) ([]Event, error) {
	r := p.rules()
	if !r.Has("submit_report") {
		return nil, notOnPath(p, "submit_report", "R3", "the application report with its attachments is stated for central-budget projects (L1160-1176)")
	}
	from := StatusApplied
	if r.Has("screen") {
		from = StatusScreened
	}
	if p.status != from {
		return nil, wrongStatus(p, "submit the application report", from)
	}
	applied := p.milestones[Name(ProjectRegistered{})]
	var missing []string
	for _, ar := range r.Attachments {
		if ar.From != "" && applied.Before(ar.From.Time()) {
			continue // e.g. the energy review, required only from October 2010 (L1176)
		}
		k := ar.Kind
		found := false
		for _, a := range c.Attachments {
			found = found || a.Kind == k
		}
		if !found {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		e := refuse(CodeMissingAttachments, "R3", "the application report lacks the attachments %v", missing)
		e.Field = "attachments"
		return nil, e
	}
	return []Event{ApplicationReportSubmitted{Reference: c.Reference, Attachments: append([]Attachment(nil), c.Attachments...)}}, nil
}

func hasString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// RecordReview records the provincial (or, for a city programme, the city's)
// review: outcome "passed" with a reference, or "rejected" with a reason.
type RecordReview struct {
	At
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (*RecordReview) CommandName() string { return "record_review" }

func (c *RecordReview) validate() error {
	switch c.Outcome {
	case "passed":
		return required("reference", c.Reference)
	case "rejected":
		return required("reason", c.Reason)
	}
	return invalid("outcome", `must be "passed" or "rejected", got %q`, c.Outcome)
}

func (c *RecordReview) decide(p *Project) ([]Event, error) {
	if from := p.preReviewStatus(); p.status != from {
		return nil, wrongStatus(p, "record the review", from)
	}
	if c.Outcome == "passed" {
		return []Event{ProvincialReviewPassed{Reference: c.Reference}}, nil
	}
	return []Event{ProvincialReviewRejected{Reason: c.Reason}}, nil
}

// preReviewStatus is the status a project is reviewed in: after the
// application report, the screening or the registration, as its path has them.
func (p *Project) preReviewStatus() Status {
	r := p.rules()
	switch {
	case r.Has("submit_report"):
		return StatusReportSubmitted
	case r.Has("screen"):
		return StatusScreened
	}
	return StatusApplied
}

// national reports whether the project's path has the NDRC's 复函 before
// the plan (R4).
func (p *Project) national() bool { return p.rules().Has("record_national_reply") }

// notOnPath refuses a step the project's programmes do not have.
func notOnPath(p *Project, step, rule, why string) *Error {
	r := p.rules()
	return refuse(CodeNotOnPath, rule, "the path of programme %s (rulebook %d) has no step %s: %s; its path is %v", r.Code, p.rb.Version, step, why, r.Path)
}

// RecordNationalReply records the NDRC's 复函 (R4).
type RecordNationalReply struct {
	At
	Reference string `json:"reference"`
}

func (*RecordNationalReply) CommandName() string { return "record_national_reply" }
func (c *RecordNationalReply) validate() error   { return required("reference", c.Reference) }

func (c *RecordNationalReply) decide(p *Project) ([]Event, error) {
	if in(p.status, StatusApplied, StatusScreened, StatusReportSubmitted) {
		return nil, refuse(CodeBeforeReview, "R4", "the national reply follows the provincial review, and the project is %s", p.status)
	}
	if p.status != StatusProvinciallyApproved {
		return nil, wrongStatus(p, "record the national reply", StatusProvinciallyApproved)
	}
	if !p.national() {
		return nil, refuse(CodeWrongStatus, "R4", "no programme of this project (%v) is national; it needs no national reply", p.reg.Programmes)
	}
	return []Event{NationalReplyReceived{Reference: c.Reference}}, nil
}

// IssueInvestmentPlan lists the project in an investment plan with its awards
// per funding source, if any (R4).
type IssueInvestmentPlan struct {
	At
	Reference       string  `json:"reference"`
	Awards          Amounts `json:"awards"`
	TotalInvestment Fen     `json:"total_investment,omitempty"` // the plan's total; defaults to the registered one
}

func (*IssueInvestmentPlan) CommandName() string { return "issue_plan" }

func (c *IssueInvestmentPlan) validate() error {
	if err := required("reference", c.Reference); err != nil {
		return err
	}
	// A plan may list a project without any subsidy (many 991 listings carry none).
	if err := validateAmounts("awards", c.Awards, false); err != nil {
		return err
	}
	if c.TotalInvestment < 0 || c.TotalInvestment > maxAmount {
		return invalid("total_investment", "must be a positive number of fen, got %d", c.TotalInvestment)
	}
	return nil
}

func (c *IssueInvestmentPlan) decide(p *Project) ([]Event, error) {
	r := p.rules()
	if r.AwardAfter == AwardAfterAcceptance && p.status == StatusAccepted {
		return c.awardAfterAcceptance(p, r)
	}
	switch {
	case in(p.status, StatusApplied, StatusScreened, StatusReportSubmitted):
		return nil, refuse(CodeBeforeReview, "R4", "the investment plan follows the review, and the project is %s", p.status)
	case p.status == StatusProvinciallyApproved && p.national():
		return nil, refuse(CodeBeforeReply, "R4", "a national programme's plan follows the national reply (复函), which is not recorded")
	case p.status != StatusProvinciallyApproved && p.status != StatusReplyReceived:
		return nil, wrongStatus(p, "issue the investment plan", StatusProvinciallyApproved, StatusReplyReceived)
	}
	if r.AwardAfter == AwardAfterAcceptance && c.Awards.Total() > 0 {
		e := refuse(CodeAwardAfterAcceptance, "R21", "programme %s decides its award after completion acceptance (L3063-3069); the listing carries no award", r.Code)
		e.Field = "awards"
		return nil, e
	}
	total := c.TotalInvestment
	if total == 0 {
		total = p.total
	}
	if c.Awards.Total() > total {
		e := refuse(CodeOverAward, "R4", "the awards (%s yuan) exceed the plan's total investment (%s yuan)", c.Awards.Total(), total)
		e.Field = "awards"
		return nil, e
	}
	return []Event{InvestmentPlanIssued{Reference: c.Reference, Awards: c.Awards.Clone(), TotalInvestment: total}}, nil
}

// awardAfterAcceptance decides the award of a programme that awards after
// acceptance (Shaoxing 850, R21): at most the cap's share of the actual
// equipment purchase or of the actual investment, whichever allows more.
func (c *IssueInvestmentPlan) awardAfterAcceptance(p *Project, r *ProgrammeRules) ([]Event, error) {
	if p.awarded.Total() > 0 {
		return nil, refuse(CodeNoChange, "R21", "the award after acceptance is decided already (%s yuan)", p.awarded.Total())
	}
	var equip, actual Fen
	if p.completion != nil {
		equip, actual = p.completion.ActualEquipmentPurchase, p.completion.ActualTotalInvestment
	}
	limit := Fen(0)
	if r.AwardCap != nil {
		limit = max(share(equip, r.AwardCap.EquipmentBP), share(actual, r.AwardCap.InvestmentBP))
	}
	if c.Awards.Total() > limit {
		e := refuse(CodeOverAward, "R21", "the award (%s yuan) exceeds %d%% of the actual equipment purchase (%s yuan) and %d%% of the actual investment (%s yuan): at most %s yuan (L3065-3069)",
			c.Awards.Total(), r.AwardCap.EquipmentBP/100, equip, r.AwardCap.InvestmentBP/100, actual, limit)
		e.Field = "awards"
		return nil, e
	}
	total := c.TotalInvestment
	if total == 0 {
		total = p.total
	}
	return []Event{InvestmentPlanIssued{Reference: c.Reference, Awards: c.Awards.Clone(), TotalInvestment: total}}, nil
}

// OpenSpecialAccount records the dedicated bank account (R5).
type OpenSpecialAccount struct {
	At
	Bank       string `json:"bank"`
	AccountRef string `json:"account_ref"`
}

func (*OpenSpecialAccount) CommandName() string { return "open_special_account" }

func (c *OpenSpecialAccount) validate() error {
	if err := required("bank", c.Bank); err != nil {
		return err
	}
	if err := required("account_ref", c.AccountRef); err != nil {
		return err
	}
	if len(c.AccountRef) > 32 {
		return invalid("account_ref", "a reference or the last digits, at most 32 bytes; never the full account number")
	}
	return nil
}

func (c *OpenSpecialAccount) decide(p *Project) ([]Event, error) {
	if p.accountOpened {
		return nil, refuse(CodeNoChange, "R5", "the special account is open already")
	}
	if !in(p.status, StatusReplyReceived, StatusImplementing, StatusProvinciallyApproved) {
		if in(p.status, StatusApplied, StatusScreened, StatusReportSubmitted) {
			return nil, refuse(CodeBeforeReview, "R5", "the special account is opened once the project is approved, and it is %s", p.status)
		}
		return nil, wrongStatus(p, "open the special account", StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing)
	}
	if p.status == StatusProvinciallyApproved && p.national() {
		return nil, refuse(CodeBeforeReply, "R5", "the special account is opened once the national reply (复函) arrives")
	}
	return []Event{SpecialAccountOpened{Bank: c.Bank, AccountRef: c.AccountRef}}, nil
}

// Disburse pays a tranche from one funding source into the special account,
// by progress (R6).
type Disburse struct {
	At
	Source Source `json:"source"`
	Amount Fen    `json:"amount"`
	Basis  string `json:"basis"`
	// FourEyesAbove, when positive, is the amount above which a tranche is
	// only prepared, to be paid when a second finance user approves it. It
	// is the ledger's policy, set by the service, never by a caller.
	FourEyesAbove Fen `json:"-"`
}

func (*Disburse) CommandName() string { return "disburse" }

func (c *Disburse) validate() error {
	if !c.Source.Valid() {
		return invalid("source", "unknown funding source %q (known: %v)", c.Source, Sources)
	}
	if c.Amount <= 0 || c.Amount > maxAmount {
		return invalid("amount", "must be a positive number of fen, got %d", c.Amount)
	}
	return required("basis", c.Basis)
}

func (c *Disburse) decide(p *Project) ([]Event, error) {
	switch {
	case in(p.status, StatusTerminated, StatusClosed):
		return nil, refuse(CodeAfterTermination, "R12", "no disbursement after the project is %s", p.status)
	case in(p.status, StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReplyReceived, StatusReviewRejected):
		return nil, refuse(CodeBeforePlan, "R4", "no disbursement before the investment plan is issued (status %s)", p.status)
	case !p.accountOpened && p.rules().Has("open_special_account"):
		return nil, refuse(CodeNoAccount, "R5", "no disbursement before the special account is opened")
	case len(p.recognitions) > 0:
		return nil, refuse(CodeAfterTermination, "R12", "no disbursement once the termination is recognised (by %v)", p.recognised())
	}
	if ch := p.pendingChange(); ch != nil && p.rules().ChangesBlock {
		return nil, refuse(CodeChangePending, changeRule(ch.Kind), "no disbursement while change %s (%s) awaits approval", ch.ID, ch.Kind)
	}
	if c.FourEyesAbove > 0 && c.Amount > c.FourEyesAbove {
		// Checked as if paid on top of what is already prepared, then only prepared.
		if err := p.checkPayment(c.Source, c.Amount+p.pendingPrepared(c.Source)); err != nil {
			return nil, err
		}
		id := fmt.Sprintf("D%d", len(p.preparations)+1)
		return []Event{DisbursementPrepared{PreparationID: id, Source: c.Source, Amount: c.Amount, Basis: c.Basis, Threshold: c.FourEyesAbove}}, nil
	}
	if err := p.checkPayment(c.Source, c.Amount); err != nil {
		return nil, err
	}
	return []Event{FundsDisbursed{Source: c.Source, Amount: c.Amount, Tranche: p.tranches + 1, Basis: c.Basis}}, nil
}

// pendingPrepared is what is prepared from source and not yet approved.
func (p *Project) pendingPrepared(source Source) Fen {
	var n Fen
	for _, pr := range p.preparations {
		if pr.State == "pending" && pr.Source == source {
			n += pr.Amount
		}
	}
	return n
}

// checkPayment applies the award cap (R6) and the pre-disbursement share
// (R18) to paying amount from source now.
func (p *Project) checkPayment(source Source, amount Fen) error {
	c := struct {
		Source Source
		Amount Fen
	}{source, amount}
	award := p.awarded[c.Source]
	after, ok := addFen(p.disbursed[c.Source], c.Amount)
	if !ok {
		return refuse(CodeAmountOverflow, "", "amount overflows")
	}
	if after > award {
		e := refuse(CodeOverAward, "R6", "disbursing %s yuan from %s would pay %s yuan against an award of %s yuan",
			c.Amount, c.Source, after, award)
		e.Field = "amount"
		return e
	}
	if r := p.rules(); r.ProgressCap {
		done := p.progressShare()
		limit := min(award, share(award, done)+share(award, r.AdvanceBP))
		if after > limit {
			e := refuse(CodeAheadOfProgress, "R6", "disbursing %s yuan from %s would pay %s yuan; the award (%s yuan) times the progress last reported or inspected (%d.%02d%%)%s allows %s yuan (根据进度拨付, L1207-1210)",
				amount, source, after, award, done/100, done%100, advanceNote(r.AdvanceBP), limit)
			e.Field = "amount"
			return e
		}
	}
	if bp := p.predisbursementBP(); bp > 0 && !p.pilotAssessed && after > share(award, bp) {
		e := refuse(CodePredisbursementLimit, "R18", "before the pilot assessment passes at most %d%% of the %s award (%s yuan) may be paid; this would pay %s yuan",
			bp/100, c.Source, share(award, bp), after)
		e.Field = "amount"
		return e
	}
	return nil
}

// ApproveDisbursement pays a prepared tranche: a second finance user's
// approval (four-eyes). The rules of a disbursement are checked again now.
type ApproveDisbursement struct {
	At
	PreparationID string `json:"preparation_id"`
}

func (*ApproveDisbursement) CommandName() string { return "approve_disbursement" }

func (c *ApproveDisbursement) validate() error {
	if strings.TrimSpace(c.PreparationID) == "" {
		return invalid("preparation_id", "the prepared disbursement to approve is required")
	}
	return nil
}

func (c *ApproveDisbursement) decide(p *Project) ([]Event, error) {
	pr := p.preparations[c.PreparationID]
	if pr == nil || pr.State != "pending" {
		return nil, &Error{Kind: KindNotFound, Code: CodeNoSuchPreparation, Field: "preparation_id", Msg: fmt.Sprintf("no prepared disbursement %q awaits approval", c.PreparationID)}
	}
	d := &Disburse{At: c.At, Source: pr.Source, Amount: pr.Amount, Basis: pr.Basis}
	evs, err := d.decide(p)
	if err != nil {
		return nil, err
	}
	return append([]Event{DisbursementApproved{PreparationID: pr.PreparationID}}, evs...), nil
}

func (p *Project) predisbursementBP() int64 { return p.rules().PredisbursementBP }

func advanceNote(bp int64) string {
	if bp == 0 {
		return ""
	}
	return fmt.Sprintf(" plus the programme's advance of %d.%02d%%", bp/100, bp%100)
}

// progressShare is the share of the work done, in basis points, by the
// progress report or inspection of the latest effective time: the larger of
// its physical progress and its investment completed over the total.
func (p *Project) progressShare() int64 { return p.progressBP }

// recognised lists the levels that recognised a termination, sorted.
func (p *Project) recognised() []string {
	ls := make([]string, 0, len(p.recognitions))
	for l := range p.recognitions {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	return ls
}

func changeRule(k ChangeKind) string {
	switch k {
	case ChangeContent:
		return "R8"
	case ChangeOwnerRename:
		return "R9"
	}
	return "R10"
}

// PassPilotAssessment records that the pilot city passed its assessment (R18).
type PassPilotAssessment struct {
	At
	Reference string `json:"reference"`
}

func (*PassPilotAssessment) CommandName() string { return "pass_pilot_assessment" }
func (c *PassPilotAssessment) validate() error   { return required("reference", c.Reference) }

func (c *PassPilotAssessment) decide(p *Project) ([]Event, error) {
	if p.predisbursementBP() == 0 {
		return nil, refuse(CodeWrongStatus, "R18", "no programme of this project (%v) pays in advance of a pilot assessment", p.reg.Programmes)
	}
	if p.pilotAssessed {
		return nil, refuse(CodeNoChange, "R18", "the pilot assessment has passed already")
	}
	if !in(p.status, StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceRequested, StatusAcceptanceFailed, StatusAccepted) {
		return nil, wrongStatus(p, "record the pilot assessment", StatusImplementing, StatusCompleted)
	}
	return []Event{PilotAssessmentPassed{Reference: c.Reference}}, nil
}

// ReportProgress files a progress report (R7).
type ReportProgress struct {
	At
	AsOf                Date   `json:"as_of"`
	InvestmentCompleted Fen    `json:"investment_completed"`
	PhysicalProgressBP  int64  `json:"physical_progress_bp"`
	Note                string `json:"note,omitempty"`
}

func (*ReportProgress) CommandName() string { return "report_progress" }

func (c *ReportProgress) validate() error {
	if err := c.AsOf.validate("as_of"); err != nil {
		return err
	}
	if c.InvestmentCompleted < 0 || c.InvestmentCompleted > maxAmount {
		return invalid("investment_completed", "must be a non-negative number of fen, got %d", c.InvestmentCompleted)
	}
	if c.PhysicalProgressBP < 0 || c.PhysicalProgressBP > 10000 {
		return invalid("physical_progress_bp", "must lie between 0 and 10000 basis points, got %d", c.PhysicalProgressBP)
	}
	return optional("note", c.Note)
}

func (c *ReportProgress) decide(p *Project) ([]Event, error) {
	if p.status != StatusImplementing {
		return nil, wrongStatus(p, "report progress", StatusImplementing)
	}
	if c.AsOf.Time().After(c.EffectiveTime) {
		return nil, invalid("as_of", "the report (%s) cannot describe a day after it was filed (%s)", c.AsOf, c.EffectiveTime.Format(time.DateOnly))
	}
	return []Event{ProgressReported{AsOf: c.AsOf, InvestmentCompleted: c.InvestmentCompleted, PhysicalProgressBP: c.PhysicalProgressBP, Note: c.Note}}, nil
}

// RequestChange asks for a change that needs approval (R8 content, R9 owner
// rename, R10 total investment). While it is pending, disbursements,
// completion and the acceptance request wait.
type RequestChange struct {
	At
	ChangeID           string     `json:"change_id"`
	Kind               ChangeKind `json:"kind"`
	Description        string     `json:"description"`
	NewOwner           string     `json:"new_owner,omitempty"`
	NewTotalInvestment Fen        `json:"new_total_investment,omitempty"`
	Explanation        string     `json:"explanation,omitempty"`
}

func (*RequestChange) CommandName() string { return "request_change" }

func (c *RequestChange) validate() error {
	if err := ProjectID(c.ChangeID).Validate("change_id"); err != nil {
		return err
	}
	if err := required("description", c.Description); err != nil {
		return err
	}
	switch c.Kind {
	case ChangeContent:
		if c.NewOwner != "" || c.NewTotalInvestment != 0 {
			return invalid("kind", "a content change carries neither new_owner nor new_total_investment")
		}
	case ChangeOwnerRename:
		if c.NewTotalInvestment != 0 {
			return invalid("new_total_investment", "an owner rename carries no new total investment")
		}
		return required("new_owner", c.NewOwner)
	case ChangeTotalInvestment:
		if c.NewOwner != "" {
			return invalid("new_owner", "a total-investment change carries no new owner")
		}
		if c.NewTotalInvestment <= 0 || c.NewTotalInvestment > maxAmount {
			return invalid("new_total_investment", "must be a positive number of fen, got %d", c.NewTotalInvestment)
		}
		if err := required("explanation", c.Explanation); err != nil {
			e := err.(*Error)
			e.Rule, e.Msg = "R10", "a change of total investment must be explained"
			return e
		}
	default:
		return invalid("kind", "must be content, owner_rename or total_investment, got %q", c.Kind)
	}
	return nil
}

func (c *RequestChange) decide(p *Project) ([]Event, error) {
	if !in(p.status, StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing) {
		return nil, wrongStatus(p, "request a change", StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing)
	}
	if _, dup := p.changes[c.ChangeID]; dup {
		return nil, invalid("change_id", "change %s exists already", c.ChangeID)
	}
	for _, ch := range p.changes {
		if ch.State == "pending" && ch.Kind == c.Kind {
			return nil, refuse(CodeChangePending, changeRule(c.Kind), "change %s of the same kind (%s) is pending", ch.ID, ch.Kind)
		}
	}
	if c.Kind == ChangeOwnerRename && strings.TrimSpace(c.NewOwner) == p.owner {
		return nil, refuse(CodeNoChange, "R9", "the owner is named %q already", p.owner)
	}
	if c.Kind == ChangeTotalInvestment {
		if c.NewTotalInvestment == p.total {
			return nil, refuse(CodeNoChange, "R10", "the total investment is %s yuan already", p.total)
		}
		if c.NewTotalInvestment < p.awarded.Total() {
			return nil, refuse(CodeOverAward, "R10", "the new total investment (%s yuan) is below the awards (%s yuan)", c.NewTotalInvestment, p.awarded.Total())
		}
	}
	return []Event{ChangeRequested{ChangeID: c.ChangeID, Kind: c.Kind, Description: c.Description,
		NewOwner: strings.TrimSpace(c.NewOwner), NewTotalInvestment: c.NewTotalInvestment, Explanation: c.Explanation}}, nil
}

// DecideChange approves (with a reference) or rejects (with a reason) a
// pending change. Approval yields two events, atomically: the approval and the
// change taking effect.
type DecideChange struct {
	At
	ChangeID  string `json:"-"` // from the path
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (*DecideChange) CommandName() string { return "decide_change" }

func (c *DecideChange) validate() error {
	switch c.Outcome {
	case "approved":
		return required("reference", c.Reference)
	case "rejected":
		return required("reason", c.Reason)
	}
	return invalid("outcome", `must be "approved" or "rejected", got %q`, c.Outcome)
}

func (c *DecideChange) decide(p *Project) ([]Event, error) {
	ch := p.changes[c.ChangeID]
	if ch == nil {
		return nil, &Error{Kind: KindNotFound, Code: CodeNoSuchChange, Field: "change_id", Msg: fmt.Sprintf("no change %q", c.ChangeID)}
	}
	if ch.State != "pending" {
		return nil, refuse(CodeNoSuchChange, changeRule(ch.Kind), "change %s is %s already", ch.ID, ch.State)
	}
	if in(p.status, StatusTerminated, StatusClosed) {
		return nil, wrongStatus(p, "decide a change")
	}
	if c.Outcome == "rejected" {
		return []Event{ChangeRejected{ChangeID: ch.ID, Reason: c.Reason}}, nil
	}
	if p.rb.ReviseCheckedAtDecision && ch.Kind == ChangeTotalInvestment && ch.NewTotalInvestment < p.awarded.Total() {
		return nil, refuse(CodeOverAward, "R10", "approving change %s would set the total investment (%s yuan) below the awards (%s yuan)", ch.ID, ch.NewTotalInvestment, p.awarded.Total())
	}
	evs := []Event{ChangeApproved{ChangeID: ch.ID, Reference: c.Reference}}
	switch ch.Kind {
	case ChangeContent:
		evs = append(evs, ContentChanged{ChangeID: ch.ID, Description: ch.Description})
	case ChangeOwnerRename:
		evs = append(evs, OwnerRenamed{ChangeID: ch.ID, From: p.owner, To: ch.NewOwner})
	case ChangeTotalInvestment:
		evs = append(evs, TotalInvestmentRevised{ChangeID: ch.ID, From: p.total, To: ch.NewTotalInvestment, Explanation: ch.Explanation})
	}
	return evs, nil
}

// RecordInspection records an audit, inspection or special-account check (R15,
// R17). It may be recorded at any time after registration, even late and out
// of order, and even after closure.
type RecordInspection struct {
	At
	Kind      string `json:"kind"`
	Body      string `json:"body"`
	Reference string `json:"reference,omitempty"`
	Findings  string `json:"findings,omitempty"`
	// The physical progress found, when the inspection checked progress (R6).
	PhysicalProgressBP *int64 `json:"physical_progress_bp,omitempty"`
}

func (*RecordInspection) CommandName() string { return "record_inspection" }

func (c *RecordInspection) validate() error {
	if !hasString([]string{"audit", "inspection", "account_check"}, c.Kind) {
		return invalid("kind", "must be audit, inspection or account_check, got %q", c.Kind)
	}
	if err := required("body", c.Body); err != nil {
		return err
	}
	if err := optional("reference", c.Reference); err != nil {
		return err
	}
	if c.PhysicalProgressBP != nil && (*c.PhysicalProgressBP < 0 || *c.PhysicalProgressBP > 10000) {
		return invalid("physical_progress_bp", "must lie between 0 and 10000 basis points, got %d", *c.PhysicalProgressBP)
	}
	return optional("findings", c.Findings)
}

func (c *RecordInspection) decide(p *Project) ([]Event, error) {
	ev := InspectionRecorded{Kind: c.Kind, Body: c.Body, Reference: c.Reference, Findings: c.Findings}
	if c.PhysicalProgressBP != nil {
		v := *c.PhysicalProgressBP
		ev.PhysicalProgressBP = &v
	}
	return []Event{ev}, nil
}

// Complete records that construction finished (R13), with the actual total
// investment (R10). Finishing after the planned end needs a delay
// explanation; an actual total that differs from the plan needs a variance
// explanation.
type Complete struct {
	At
	ActualTotalInvestment Fen    `json:"actual_total_investment"`
	DelayExplanation      string `json:"delay_explanation,omitempty"`
	VarianceExplanation   string `json:"variance_explanation,omitempty"`
	// The actual equipment purchase: the basis of an award after acceptance (R21).
	ActualEquipmentPurchase Fen `json:"actual_equipment_purchase,omitempty"`
}

func (*Complete) CommandName() string { return "complete" }

func (c *Complete) validate() error {
	if c.ActualTotalInvestment <= 0 || c.ActualTotalInvestment > maxAmount {
		return invalid("actual_total_investment", "must be a positive number of fen, got %d", c.ActualTotalInvestment)
	}
	if err := optional("delay_explanation", c.DelayExplanation); err != nil {
		return err
	}
	if c.ActualEquipmentPurchase < 0 || c.ActualEquipmentPurchase > c.ActualTotalInvestment {
		return invalid("actual_equipment_purchase", "must lie between 0 and actual_total_investment (%d), got %d", c.ActualTotalInvestment, c.ActualEquipmentPurchase)
	}
	return optional("variance_explanation", c.VarianceExplanation)
}

func (c *Complete) decide(p *Project) ([]Event, error) {
	if p.status != StatusImplementing {
		return nil, wrongStatus(p, "complete", StatusImplementing)
	}
	if ch := p.pendingChange(); ch != nil && p.rules().ChangesBlock {
		return nil, refuse(CodeChangePending, changeRule(ch.Kind), "cannot complete while change %s (%s) awaits approval", ch.ID, ch.Kind)
	}
	late := 0
	// The planned end is a whole day: finishing during it is on time.
	if end := p.reg.PlannedEnd.Time().AddDate(0, 0, 1); c.EffectiveTime.After(end) || c.EffectiveTime.Equal(end) {
		late = int(c.EffectiveTime.Sub(end).Hours()/24) + 1
	}
	if late > 0 && strings.TrimSpace(c.DelayExplanation) == "" {
		e := refuse(CodeLateUnexplained, "R13", "completion is %d days after the planned end %s; delay_explanation is required", late, p.reg.PlannedEnd)
		e.Field = "delay_explanation"
		return nil, e
	}
	if c.ActualTotalInvestment != p.total && strings.TrimSpace(c.VarianceExplanation) == "" {
		e := refuse(CodeVarianceUnexplained, "R10", "the actual total investment (%s yuan) differs from the plan (%s yuan); variance_explanation is required", c.ActualTotalInvestment, p.total)
		e.Field = "variance_explanation"
		return nil, e
	}
	return []Event{ConstructionCompleted{ActualTotalInvestment: c.ActualTotalInvestment, LateDays: late,
		DelayExplanation: c.DelayExplanation, VarianceExplanation: c.VarianceExplanation, ActualEquipmentPurchase: c.ActualEquipmentPurchase}}, nil
}

// StartConstruction records that construction began (开工) on StartedOn,
// which may lie before the application: many projects apply once started
// (R2, L1144-1147).
type StartConstruction struct {
	At
	StartedOn Date   `json:"started_on"`
	Note      string `json:"note,omitempty"`
}

func (*StartConstruction) CommandName() string { return "start_construction" }

func (c *StartConstruction) validate() error {
	if err := c.StartedOn.validate("started_on"); err != nil {
		return err
	}
	return optional("note", c.Note)
}

func (c *StartConstruction) decide(p *Project) ([]Event, error) {
	if !p.beforeCompletion() || p.status == StatusReviewRejected {
		return nil, wrongStatus(p, "record the start of construction", StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing)
	}
	if p.started != nil {
		return nil, refuse(CodeNoChange, "R14", "construction is recorded as started on %s already", p.started.StartedOn)
	}
	if c.StartedOn.Time().After(c.EffectiveTime) {
		return nil, invalid("started_on", "the start (%s) cannot lie after the day it is recorded as taking effect (%s)", c.StartedOn, c.EffectiveTime.Format(time.DateOnly))
	}
	return []Event{ConstructionStarted{StartedOn: c.StartedOn, Note: c.Note}}, nil
}

// PrepareAcceptance records that the completed project prepares for
// acceptance (准备申请验收, L1070; R14): rulebook 2's step between completion
// and the acceptance request.
type PrepareAcceptance struct {
	At
	Note string `json:"note,omitempty"`
}

func (*PrepareAcceptance) CommandName() string { return "prepare_acceptance" }
func (c *PrepareAcceptance) validate() error   { return optional("note", c.Note) }

func (c *PrepareAcceptance) decide(p *Project) ([]Event, error) {
	if !p.rb.PreparingAcceptance {
		return nil, refuse(CodeNotOnPath, "R14", "rulebook %d has no preparing-for-acceptance step", p.rb.Version)
	}
	if p.beforeCompletion() {
		return nil, refuse(CodeBeforeCompletion, "R14", "preparing for acceptance follows completion, and the project is %s", p.status)
	}
	if p.status != StatusCompleted {
		return nil, wrongStatus(p, "prepare for acceptance", StatusCompleted)
	}
	return []Event{AcceptancePreparationStarted{Note: c.Note}}, nil
}

// FileAcceptanceItem files one of the R14 prerequisites of acceptance.
type FileAcceptanceItem struct {
	At
	Item      string `json:"item"`
	Reference string `json:"reference"`
	Title     string `json:"title,omitempty"`
}

func (*FileAcceptanceItem) CommandName() string { return "file_acceptance_item" }

func (c *FileAcceptanceItem) validate() error {
	if !hasString(RequiredAcceptanceItems, c.Item) {
		return invalid("item", "must be one of %v, got %q", RequiredAcceptanceItems, c.Item)
	}
	if err := required("reference", c.Reference); err != nil {
		return err
	}
	return optional("title", c.Title)
}

func (c *FileAcceptanceItem) decide(p *Project) ([]Event, error) {
	if !in(p.status, StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceFailed) {
		return nil, wrongStatus(p, "file an acceptance item", StatusImplementing, StatusCompleted, StatusPreparingAcceptance, StatusAcceptanceFailed)
	}
	return []Event{AcceptanceItemFiled{Item: c.Item, Reference: c.Reference, Title: c.Title}}, nil
}

// RequestAcceptance applies for completion acceptance (R14).
type RequestAcceptance struct {
	At
	Note string `json:"note,omitempty"`
}

func (*RequestAcceptance) CommandName() string { return "request_acceptance" }
func (c *RequestAcceptance) validate() error   { return optional("note", c.Note) }

func (c *RequestAcceptance) decide(p *Project) ([]Event, error) {
	if p.beforeCompletion() {
		return nil, refuse(CodeBeforeCompletion, "R14", "acceptance follows completion, and the project is %s", p.status)
	}
	from := []Status{StatusCompleted, StatusAcceptanceFailed}
	if p.rb.PreparingAcceptance {
		if p.status == StatusCompleted {
			return nil, refuse(CodeWrongStatus, "R14", "a completed project prepares for acceptance (准备申请验收, L1070) before it requests it: record prepare_acceptance first")
		}
		from = []Status{StatusPreparingAcceptance, StatusAcceptanceFailed}
	}
	if !in(p.status, from...) {
		return nil, wrongStatus(p, "request acceptance", from...)
	}
	if ch := p.pendingChange(); ch != nil && p.rules().ChangesBlock {
		return nil, refuse(CodeChangePending, changeRule(ch.Kind), "cannot request acceptance while change %s (%s) awaits approval", ch.ID, ch.Kind)
	}
	var missing []string
	for _, it := range p.rules().AcceptanceItems {
		if _, ok := p.items[it]; !ok {
			missing = append(missing, it)
		}
	}
	if len(missing) > 0 {
		return nil, refuse(CodeAcceptanceItems, "R14", "acceptance needs %v filed first", missing)
	}
	return []Event{AcceptanceRequested{Note: c.Note}}, nil
}

// beforeCompletion reports whether the project is on its way to completion and not there yet.
func (p *Project) beforeCompletion() bool {
	return in(p.status, StatusApplied, StatusScreened, StatusReportSubmitted, StatusProvinciallyApproved, StatusReplyReceived, StatusImplementing)
}

// RecordAcceptance records the outcome of completion acceptance: "passed"
// with a reference, or "failed" with a reason.
type RecordAcceptance struct {
	At
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (*RecordAcceptance) CommandName() string { return "record_acceptance" }

func (c *RecordAcceptance) validate() error {
	switch c.Outcome {
	case "passed":
		return required("reference", c.Reference)
	case "failed":
		return required("reason", c.Reason)
	}
	return invalid("outcome", `must be "passed" or "failed", got %q`, c.Outcome)
}

func (c *RecordAcceptance) decide(p *Project) ([]Event, error) {
	if p.beforeCompletion() {
		return nil, refuse(CodeBeforeCompletion, "R14", "acceptance follows completion, and the project is %s", p.status)
	}
	if p.status != StatusAcceptanceRequested {
		return nil, wrongStatus(p, "record acceptance", StatusAcceptanceRequested)
	}
	if c.Outcome == "passed" {
		return []Event{AcceptancePassed{Reference: c.Reference}}, nil
	}
	return []Event{AcceptanceFailed{Reason: c.Reason}}, nil
}

// Terminate stops the project (中止实施, R12). Whatever was disbursed and not
// yet refunded becomes due for refund, and the project cannot close until it is.
type Terminate struct {
	At
	Reason    string `json:"reason"`
	Reference string `json:"reference"`
}

func (*Terminate) CommandName() string { return "terminate" }

func (c *Terminate) validate() error {
	if err := required("reason", c.Reason); err != nil {
		return err
	}
	return required("reference", c.Reference)
}

func (c *Terminate) decide(p *Project) ([]Event, error) {
	if in(p.status, StatusTerminated, StatusClosed, StatusAccepted, StatusReviewRejected) {
		return nil, wrongStatus(p, "terminate")
	}
	r := p.rules()
	if len(r.TerminationRecognitions) == 0 {
		return []Event{ProjectTerminated{Reason: c.Reason, Reference: c.Reference, RefundDue: p.outstanding()}}, nil
	}
	lvl := levelOf(p.actor.Role)
	if !hasString(r.TerminationRecognitions, lvl) {
		return nil, &Error{Kind: KindForbidden, Code: CodeRole, Rule: "R12",
			Msg: fmt.Sprintf("the termination of a %s project is recognised by %v (取得了国家和省的认可, L1256-1258); role %s cannot terminate it", r.Code, r.TerminationRecognitions, p.actor.Role)}
	}
	if p.recognitions[lvl] {
		return nil, refuse(CodeNoChange, "R12", "the termination is recognised by the %s already; it waits for %v", lvl, missingLevels(r.TerminationRecognitions, p.recognitions))
	}
	evs := []Event{TerminationRecognised{Level: lvl, Reason: c.Reason, Reference: c.Reference}}
	seen := map[string]bool{lvl: true}
	for l := range p.recognitions {
		seen[l] = true
	}
	if len(missingLevels(r.TerminationRecognitions, seen)) == 0 {
		evs = append(evs, ProjectTerminated{Reason: c.Reason, Reference: c.Reference, RefundDue: p.outstanding()})
	}
	return evs, nil
}

func missingLevels(want []string, have map[string]bool) []string {
	var out []string
	for _, l := range want {
		if !have[l] {
			out = append(out, l)
		}
	}
	return out
}

// Refund returns subsidy from one source (R12): never more than was disbursed
// from it and not yet refunded.
type Refund struct {
	At
	Source    Source `json:"source"`
	Amount    Fen    `json:"amount"`
	Reference string `json:"reference"`
}

func (*Refund) CommandName() string { return "refund" }

func (c *Refund) validate() error {
	if !c.Source.Valid() {
		return invalid("source", "unknown funding source %q (known: %v)", c.Source, Sources)
	}
	if c.Amount <= 0 || c.Amount > maxAmount {
		return invalid("amount", "must be a positive number of fen, got %d", c.Amount)
	}
	return required("reference", c.Reference)
}

func (c *Refund) decide(p *Project) ([]Event, error) {
	if p.status == StatusClosed {
		return nil, wrongStatus(p, "refund")
	}
	held := p.disbursed[c.Source] - p.refunded[c.Source]
	if c.Amount > held {
		e := refuse(CodeRefundExceeds, "R12", "refunding %s yuan to %s exceeds what was disbursed and not refunded (%s yuan)", c.Amount, c.Source, held)
		e.Field = "amount"
		return nil, e
	}
	return []Event{FundsRefunded{Source: c.Source, Amount: c.Amount, Reference: c.Reference}}, nil
}

// Close closes the file: after acceptance, after a rejected review, or after a
// termination once every refund due is made (R12).
type Close struct {
	At
	Note string `json:"note,omitempty"`
}

func (*Close) CommandName() string { return "close" }
func (c *Close) validate() error   { return optional("note", c.Note) }

func (c *Close) decide(p *Project) ([]Event, error) {
	switch p.status {
	case StatusAccepted, StatusReviewRejected:
	case StatusTerminated:
		if o := p.outstanding(); len(o) > 0 {
			srcs := o.sortedSources()
			return nil, refuse(CodeRefundOutstanding, "R12", "the terminated project still holds %s yuan of %s to refund", o[srcs[0]], srcs[0])
		}
	default:
		return nil, wrongStatus(p, "close", StatusAccepted, StatusReviewRejected, StatusTerminated)
	}
	return []Event{ProjectClosed{Note: c.Note}}, nil
}

// CommandNames lists every command name, sorted.
func CommandNames() []string {
	ns := make([]string, 0, len(permitted))
	for n := range permitted {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}
