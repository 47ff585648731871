package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Event is a recorded fact about a project. EventType is the stored, versioned
// name ("funds_disbursed.v1"); it never comes from the Go type name, so a
// rename of the struct cannot orphan history.
type Event interface {
	EventType() string
}

// Name is the event type without its version ("funds_disbursed"); it is the
// last token of the event's subject.
func Name(e Event) string {
	t := e.EventType()
	if i := strings.LastIndexByte(t, '.'); i > 0 {
		return t[:i]
	}
	return t
}

// Date is a calendar day, "YYYY-MM-DD" in JSON.
type Date string

// ParseDate validates s as a calendar day.
func ParseDate(s string) (Date, error) {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return "", fmt.Errorf("want a date as YYYY-MM-DD, got %q", s)
	}
	return Date(s), nil
}

// Time returns the start of the day in China Standard Time (UTC+8), the
// time zone every date in the reports is in.
func (d Date) Time() time.Time {
	t, _ := time.ParseInLocation(time.DateOnly, string(d), cst)
	return t
}

func (d Date) validate(field string) error {
	if _, err := ParseDate(string(d)); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}

var cst = time.FixedZone("CST", 8*3600)

// Attachment kinds of the application report (R3).
const (
	AttachFiling        = "project_filing" // 项目前期备案
	AttachEIA           = "eia_approval"   // 环保审批
	AttachSitePlanning  = "site_planning"  // 规划选址
	AttachLandPreReview = "land_prereview" // 土地预审
	AttachLoanAgreement = "loan_agreement" // 资金贷款协议
	AttachEnergyReview  = "energy_review"  // 节能审查
	AttachOther         = "other"          // the list ends in 等 (L1176): other documents
)

// RequiredAttachments are the attachments R3 requires, in the text's order.
var RequiredAttachments = []string{AttachFiling, AttachEIA, AttachSitePlanning, AttachLandPreReview, AttachLoanAgreement, AttachEnergyReview}

// AttachmentKinds are the kinds an application report may carry.
var AttachmentKinds = append(append([]string(nil), RequiredAttachments...), AttachOther)

// Attachment is a document filed with the application report, referenced by
// its document number or a digest of the scan (the scan itself is not stored).
type Attachment struct {
	Kind      string `json:"kind"`
	Reference string `json:"reference"`
}

// Acceptance items (R14).
const (
	ItemSpecialAcceptance = "special_acceptance" // 专项验收
	ItemAuditReport       = "audit_report"       // 项目审计报告
	ItemCompletionReport  = "completion_report"  // 项目竣工总结报告
)

// RequiredAcceptanceItems are the items R14 requires before acceptance.
var RequiredAcceptanceItems = []string{ItemSpecialAcceptance, ItemAuditReport, ItemCompletionReport}

// ChangeKind is what a change request changes (R8, R9, R10).
type ChangeKind string

const (
	ChangeContent         ChangeKind = "content"          // 建设内容调整, R8
	ChangeOwnerRename     ChangeKind = "owner_rename"     // 建设单位名称变更, R9
	ChangeTotalInvestment ChangeKind = "total_investment" // 总投资变化, R10
)

// ProjectRegistered: the owner applied and the project entered the ledger.
type ProjectRegistered struct {
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

// ProjectScreened: the DRC screened the project against R2.
type ProjectScreened struct {
	CompletedBP int64  `json:"completed_bp"` // completed ÷ total investment, basis points (floor)
	ThresholdBP int64  `json:"threshold_bp"`
	Programme   string `json:"programme"` // the programme whose threshold applied
	Note        string `json:"note,omitempty"`
	// Rulebook 2: above WarnBP the screening passes with a warning (R2).
	WarnBP  int64  `json:"warn_bp,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// ApplicationReportSubmitted: the 项目资金申请报告 with its R3 attachments.
type ApplicationReportSubmitted struct {
	Reference   string       `json:"reference"`
	Attachments []Attachment `json:"attachments"`
}

// ProvincialReviewPassed: the province (or, for a city programme, the city) approved.
type ProvincialReviewPassed struct {
	Reference string `json:"reference"`
}

// ProvincialReviewRejected: the review refused the project; it can only be closed.
type ProvincialReviewRejected struct {
	Reason string `json:"reason"`
}

// NationalReplyReceived: the NDRC's 复函 arrived (R4).
type NationalReplyReceived struct {
	Reference string `json:"reference"`
}

// InvestmentPlanIssued: the plan lists the project and fixes the award per source.
type InvestmentPlanIssued struct {
	Reference       string  `json:"reference"`
	Awards          Amounts `json:"awards"`
	TotalInvestment Fen     `json:"total_investment"`
}

// SpecialAccountOpened: the dedicated bank account (银行专户) exists (R5).
type SpecialAccountOpened struct {
	Bank       string `json:"bank"`
	AccountRef string `json:"account_ref"` // a reference or the last digits, never the full number
}

// FundsDisbursed records a tranche of subsidy paid into the special account.
type FundsDisbursed struct {
	Source  Source `json:"source"`
	Amount  Fen    `json:"amount"`
	Tranche int    `json:"tranche"` // 1 for the project's first tranche from any source
	Basis   string `json:"basis"`   // the progress check or notice it rests on
}

// DisbursementPrepared: a finance user prepared a tranche above the amount
// that needs a second finance user's approval (four-eyes); nothing is paid
// yet.
type DisbursementPrepared struct {
	PreparationID string `json:"preparation_id"`
	Source        Source `json:"source"`
	Amount        Fen    `json:"amount"`
	Basis         string `json:"basis"`
	Threshold     Fen    `json:"threshold"` // the amount above which a second user's approval was required
}

func (DisbursementPrepared) EventType() string { return "disbursement_prepared.v1" }

// DisbursementApproved: a second finance user approved a prepared tranche;
// the FundsDisbursed that pays it follows in the same command.
type DisbursementApproved struct {
	PreparationID string `json:"preparation_id"`
}

func (DisbursementApproved) EventType() string { return "disbursement_approved.v1" }

// PilotAssessmentPassed: the pilot city passed its assessment; the rest of the award may be paid (R18).
type PilotAssessmentPassed struct {
	Reference string `json:"reference"`
}

// ProgressReported: a 进度报表 (R7).
type ProgressReported struct {
	AsOf                Date   `json:"as_of"`
	InvestmentCompleted Fen    `json:"investment_completed"` // to date
	PhysicalProgressBP  int64  `json:"physical_progress_bp"` // 0..10000
	Note                string `json:"note,omitempty"`
}

// ChangeRequested: a change that needs approval is pending (R8, R9, R10).
type ChangeRequested struct {
	ChangeID           string     `json:"change_id"`
	Kind               ChangeKind `json:"kind"`
	Description        string     `json:"description"`
	NewOwner           string     `json:"new_owner,omitempty"`
	NewTotalInvestment Fen        `json:"new_total_investment,omitempty"`
	Explanation        string     `json:"explanation,omitempty"`
}

// ChangeApproved: the superior DRC approved or confirmed a pending change.
type ChangeApproved struct {
	ChangeID  string `json:"change_id"`
	Reference string `json:"reference"`
}

// ChangeRejected: the pending change was refused; nothing changes.
type ChangeRejected struct {
	ChangeID string `json:"change_id"`
	Reason   string `json:"reason"`
}

// ContentChanged: an approved content change took effect (R8).
type ContentChanged struct {
	ChangeID    string `json:"change_id"`
	Description string `json:"description"`
}

// OwnerRenamed: an approved owner rename took effect (R9).
type OwnerRenamed struct {
	ChangeID string `json:"change_id"`
	From     string `json:"from"`
	To       string `json:"to"`
}

// TotalInvestmentRevised: an approved total-investment change took effect (R10).
type TotalInvestmentRevised struct {
	ChangeID    string `json:"change_id"`
	From        Fen    `json:"from"`
	To          Fen    `json:"to"`
	Explanation string `json:"explanation"`
}

// InspectionRecorded: an audit, inspection or account check took place (R15, R17).
type InspectionRecorded struct {
	Kind      string `json:"kind"` // audit, inspection, account_check
	Body      string `json:"body"` // e.g. 审计署上海特派办
	Reference string `json:"reference,omitempty"`
	Findings  string `json:"findings,omitempty"`
	// The physical progress the inspection found, when it checked progress (R6).
	PhysicalProgressBP *int64 `json:"physical_progress_bp,omitempty"`
}

// ConstructionCompleted: construction finished (R13), with the actual total investment (R10).
type ConstructionCompleted struct {
	ActualTotalInvestment Fen    `json:"actual_total_investment"`
	LateDays              int    `json:"late_days"` // days after the planned end; 0 when on time
	DelayExplanation      string `json:"delay_explanation,omitempty"`
	VarianceExplanation   string `json:"variance_explanation,omitempty"`
	// The actual equipment purchase, the basis of an award after acceptance (Shaoxing 850, R21).
	ActualEquipmentPurchase Fen `json:"actual_equipment_purchase,omitempty"`
}

// ConstructionStarted: construction began (开工), on StartedOn (R14, L2319).
type ConstructionStarted struct {
	StartedOn Date   `json:"started_on"`
	Note      string `json:"note,omitempty"`
}

// AcceptancePreparationStarted: the completed project prepares for
// acceptance (准备申请验收, L1070): special acceptances, the audit and the
// completion report are under way (R14).
type AcceptancePreparationStarted struct {
	Note string `json:"note,omitempty"`
}

// TerminationRecognised: one level of government recognised the
// termination (R12: 取得了国家和省的认可, L1256-1258). When every level the
// programme names has recognised it, ProjectTerminated follows in the same
// command.
type TerminationRecognised struct {
	Level     string `json:"level"` // nation, province
	Reason    string `json:"reason"`
	Reference string `json:"reference"`
}

func (ConstructionStarted) EventType() string          { return "construction_started.v1" }
func (AcceptancePreparationStarted) EventType() string { return "acceptance_preparation_started.v1" }
func (TerminationRecognised) EventType() string        { return "termination_recognised.v1" }

// AcceptanceItemFiled: one of the R14 prerequisites was filed.
type AcceptanceItemFiled struct {
	Item      string `json:"item"`
	Reference string `json:"reference"`
	Title     string `json:"title,omitempty"`
}

// AcceptanceRequested: the owner applied for completion acceptance.
type AcceptanceRequested struct {
	Note string `json:"note,omitempty"`
}

// AcceptancePassed: the province's completion acceptance passed (通过验收).
type AcceptancePassed struct {
	Reference string `json:"reference"`
}

// AcceptanceFailed: the acceptance did not pass; the owner may fix and request again.
type AcceptanceFailed struct {
	Reason string `json:"reason"`
}

// ProjectTerminated: the project stopped (中止实施, R12); RefundDue is what must be returned.
type ProjectTerminated struct {
	Reason    string  `json:"reason"`
	Reference string  `json:"reference"`
	RefundDue Amounts `json:"refund_due"`
}

// FundsRefunded: subsidy returned to the funding source (R12).
type FundsRefunded struct {
	Source    Source `json:"source"`
	Amount    Fen    `json:"amount"`
	Reference string `json:"reference"`
}

// ProjectClosed: the file is closed; nothing more can be recorded but inspections.
type ProjectClosed struct {
	Note string `json:"note,omitempty"`
}

func (ProjectRegistered) EventType() string          { return "project_registered.v1" }
func (ProjectScreened) EventType() string            { return "project_screened.v1" }
func (ApplicationReportSubmitted) EventType() string { return "application_report_submitted.v1" }
func (ProvincialReviewPassed) EventType() string     { return "provincial_review_passed.v1" }
func (ProvincialReviewRejected) EventType() string   { return "provincial_review_rejected.v1" }
func (NationalReplyReceived) EventType() string      { return "national_reply_received.v1" }
func (InvestmentPlanIssued) EventType() string       { return "investment_plan_issued.v1" }
func (SpecialAccountOpened) EventType() string       { return "special_account_opened.v1" }
func (FundsDisbursed) EventType() string             { return "funds_disbursed.v1" }
func (PilotAssessmentPassed) EventType() string      { return "pilot_assessment_passed.v1" }
func (ProgressReported) EventType() string           { return "progress_reported.v1" }
func (ChangeRequested) EventType() string            { return "change_requested.v1" }
func (ChangeApproved) EventType() string             { return "change_approved.v1" }
func (ChangeRejected) EventType() string             { return "change_rejected.v1" }
func (ContentChanged) EventType() string             { return "content_changed.v1" }
func (OwnerRenamed) EventType() string               { return "owner_renamed.v1" }
func (TotalInvestmentRevised) EventType() string     { return "total_investment_revised.v1" }
func (InspectionRecorded) EventType() string         { return "inspection_recorded.v1" }
func (ConstructionCompleted) EventType() string      { return "construction_completed.v1" }
func (AcceptanceItemFiled) EventType() string        { return "acceptance_item_filed.v1" }
func (AcceptanceRequested) EventType() string        { return "acceptance_requested.v1" }
func (AcceptancePassed) EventType() string           { return "acceptance_passed.v1" }
func (AcceptanceFailed) EventType() string           { return "acceptance_failed.v1" }
func (ProjectTerminated) EventType() string          { return "project_terminated.v1" }
func (FundsRefunded) EventType() string              { return "funds_refunded.v1" }
func (ProjectClosed) EventType() string              { return "project_closed.v1" }

// registry maps each stored event type to a constructor of its zero value.
var registry = map[string]func() Event{}

func init() {
	for _, f := range []func() Event{
		func() Event { return &ProjectRegistered{} },
		func() Event { return &ProjectScreened{} },
		func() Event { return &ApplicationReportSubmitted{} },
		func() Event { return &ProvincialReviewPassed{} },
		func() Event { return &ProvincialReviewRejected{} },
		func() Event { return &NationalReplyReceived{} },
		func() Event { return &InvestmentPlanIssued{} },
		func() Event { return &SpecialAccountOpened{} },
		func() Event { return &FundsDisbursed{} },
		func() Event { return &DisbursementPrepared{} },
		func() Event { return &DisbursementApproved{} },
		func() Event { return &PilotAssessmentPassed{} },
		func() Event { return &ProgressReported{} },
		func() Event { return &ChangeRequested{} },
		func() Event { return &ChangeApproved{} },
		func() Event { return &ChangeRejected{} },
		func() Event { return &ContentChanged{} },
		func() Event { return &OwnerRenamed{} },
		func() Event { return &TotalInvestmentRevised{} },
		func() Event { return &InspectionRecorded{} },
		func() Event { return &ConstructionCompleted{} },
		func() Event { return &AcceptanceItemFiled{} },
		func() Event { return &AcceptanceRequested{} },
		func() Event { return &AcceptancePassed{} },
		func() Event { return &AcceptanceFailed{} },
		func() Event { return &ProjectTerminated{} },
		func() Event { return &FundsRefunded{} },
		func() Event { return &ProjectClosed{} },
		func() Event { return &ConstructionStarted{} },
		func() Event { return &AcceptancePreparationStarted{} },
		func() Event { return &TerminationRecognised{} },
	} {
		registry[f().EventType()] = f
	}
}

// NewEvent returns the zero value of the event type typ, and whether the domain knows it.
func NewEvent(typ string) (Event, bool) {
	f, ok := registry[typ]
	if !ok {
		return nil, false
	}
	return reflect.ValueOf(f()).Elem().Interface().(Event), true
}

// EventTypes returns every stored event type the domain knows.
func EventTypes() []string {
	ts := make([]string, 0, len(registry))
	for t := range registry {
		ts = append(ts, t)
	}
	return ts
}

// ErrUnknownEventType is returned by DecodeEvent for a type the domain does not know.
var ErrUnknownEventType = fmt.Errorf("unknown event type")

// DecodeEvent decodes the data of a stored event of type typ. It returns
// ErrUnknownEventType (wrapped) for an unknown type and a decoding error when
// data does not match the type. Fields the type does not have are ignored;
// DecodeEventStrict refuses them.
func DecodeEvent(typ string, data []byte) (Event, error) { return decodeEvent(typ, data, false) }

// DecodeEventStrict is DecodeEvent that refuses fields the type does not have.
func DecodeEventStrict(typ string, data []byte) (Event, error) { return decodeEvent(typ, data, true) }

func decodeEvent(typ string, data []byte, strict bool) (Event, error) {
	f, ok := registry[typ]
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", typ, ErrUnknownEventType)
	}
	e := f()
	var err error
	if strict {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(e)
	} else if err = jsonv2.Unmarshal(data, e); err != nil {
		// encoding/json/v2's decoder is faster; what it is stricter about
		// (duplicate names, invalid UTF-8) is read as before, so an event
		// that was ever readable stays so.
		e = f()
		err = json.Unmarshal(data, e)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %q: %w", typ, err)
	}
	// Return the value, not the pointer, so that type switches see one form.
	return reflect.ValueOf(e).Elem().Interface().(Event), nil
}
