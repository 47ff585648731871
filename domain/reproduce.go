package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// commandFor returns the command that yields e, or nil for an event that
// only ever follows another one in the same command (the effect of an
// approved change).
func commandFor(id ProjectID, e Event, at At) Command {
	switch e := e.(type) {
	case ProjectRegistered:
		return &RegisterProject{At: at, ID: id, Name: e.Name, Owner: e.Owner, City: e.City, County: e.County, Category: e.Category,
			Programmes: e.Programmes, TotalInvestment: e.TotalInvestment, CompletedInvestment: e.CompletedInvestment,
			PlannedStart: e.PlannedStart, PlannedEnd: e.PlannedEnd, Requested: e.Requested, Description: e.Description}
	case ProjectScreened:
		return &Screen{At: at, Note: e.Note}
	case ApplicationReportSubmitted:
		return &SubmitApplicationReport{At: at, Reference: e.Reference, Attachments: e.Attachments}
	case ProvincialReviewPassed:
		return &RecordReview{At: at, Outcome: "passed", Reference: e.Reference}
	case ProvincialReviewRejected:
		return &RecordReview{At: at, Outcome: "rejected", Reason: e.Reason}
	case NationalReplyReceived:
		return &RecordNationalReply{At: at, Reference: e.Reference}
	case InvestmentPlanIssued:
		return &IssueInvestmentPlan{At: at, Reference: e.Reference, Awards: e.Awards, TotalInvestment: e.TotalInvestment}
	case SpecialAccountOpened:
		return &OpenSpecialAccount{At: at, Bank: e.Bank, AccountRef: e.AccountRef}
	case FundsDisbursed:
		return &Disburse{At: at, Source: e.Source, Amount: e.Amount, Basis: e.Basis}
	case DisbursementPrepared:
		return &Disburse{At: at, Source: e.Source, Amount: e.Amount, Basis: e.Basis, FourEyesAbove: e.Threshold}
	case DisbursementApproved:
		return &ApproveDisbursement{At: at, PreparationID: e.PreparationID}
	case PilotAssessmentPassed:
		return &PassPilotAssessment{At: at, Reference: e.Reference}
	case ProgressReported:
		return &ReportProgress{At: at, AsOf: e.AsOf, InvestmentCompleted: e.InvestmentCompleted, PhysicalProgressBP: e.PhysicalProgressBP, Note: e.Note}
	case ChangeRequested:
		return &RequestChange{At: at, ChangeID: e.ChangeID, Kind: e.Kind, Description: e.Description, NewOwner: e.NewOwner,
			NewTotalInvestment: e.NewTotalInvestment, Explanation: e.Explanation}
	case ChangeApproved:
		return &DecideChange{At: at, ChangeID: e.ChangeID, Outcome: "approved", Reference: e.Reference}
	case ChangeRejected:
		return &DecideChange{At: at, ChangeID: e.ChangeID, Outcome: "rejected", Reason: e.Reason}
	case InspectionRecorded:
		return &RecordInspection{At: at, Kind: e.Kind, Body: e.Body, Reference: e.Reference, Findings: e.Findings, PhysicalProgressBP: e.PhysicalProgressBP}
	case ConstructionStarted:
		return &StartConstruction{At: at, StartedOn: e.StartedOn, Note: e.Note}
	case AcceptancePreparationStarted:
		return &PrepareAcceptance{At: at, Note: e.Note}
	case TerminationRecognised:
		return &Terminate{At: at, Reason: e.Reason, Reference: e.Reference}
	case ConstructionCompleted:
		return &Complete{At: at, ActualTotalInvestment: e.ActualTotalInvestment, DelayExplanation: e.DelayExplanation, VarianceExplanation: e.VarianceExplanation,
			ActualEquipmentPurchase: e.ActualEquipmentPurchase}
	case AcceptanceItemFiled:
		return &FileAcceptanceItem{At: at, Item: e.Item, Reference: e.Reference, Title: e.Title}
	case AcceptanceRequested:
		return &RequestAcceptance{At: at, Note: e.Note}
	case AcceptancePassed:
		return &RecordAcceptance{At: at, Outcome: "passed", Reference: e.Reference}
	case AcceptanceFailed:
		return &RecordAcceptance{At: at, Outcome: "failed", Reason: e.Reason}
	case ProjectTerminated:
		return &Terminate{At: at, Reason: e.Reason, Reference: e.Reference}
	case FundsRefunded:
		return &Refund{At: at, Source: e.Source, Amount: e.Amount, Reference: e.Reference}
	case ProjectClosed:
		return &Close{At: at, Note: e.Note}
	}
	return nil
}

// ErrIncomplete is returned (wrapped) by Reproduce when the command of the
// first event yields more events than were given.
var ErrIncomplete = errors.New("the command's other events are not there")

// Reproduce checks that the rules of rulebook rb (the version the events
// record) would have produced the recorded events that start evs: it rebuilds the command the first one records, decides it
// against the project's state as actor at its effective time (with
// recorded as the clock), and compares what the rules yield with the
// recorded events, field by field. It returns how many recorded events that
// command accounts for (they must then be applied), or an error saying why
// the rules would not have produced them.
func (p *Project) Reproduce(rb *Rulebook, evs []Event, actor Actor, effective, recorded time.Time) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	cmd := commandFor(p.id, evs[0], At{EffectiveTime: effective})
	if cmd == nil {
		return 0, fmt.Errorf("%s is recorded without the approval that yields it", evs[0].EventType())
	}
	want, err := p.DecideUnder(rb, cmd, actor, recorded)
	if err != nil {
		return 0, fmt.Errorf("the rules refuse it: %w", err)
	}
	if len(want) > len(evs) {
		return 0, fmt.Errorf("%w: %s comes with %d more event(s) of the same command", ErrIncomplete, evs[0].EventType(), len(want)-len(evs))
	}
	for i, w := range want {
		a, _ := json.Marshal(w)
		b, _ := json.Marshal(evs[i])
		if w.EventType() != evs[i].EventType() || string(a) != string(b) {
			return 0, fmt.Errorf("the rules yield %s %s where %s %s is recorded", w.EventType(), a, evs[i].EventType(), b)
		}
	}
	return len(want), nil
}

// CheckSignedBody checks that body, the JSON a signed request carried,
// decoded as the API decodes a command, is the command that yields first
// (taking effect at effective): every member the body gives has the value
// the recorded event implies.
func CheckSignedBody(first Event, effective time.Time, body []byte) error {
	want := commandFor("", first, At{EffectiveTime: effective})
	if want == nil {
		return fmt.Errorf("%s is not the first event of a command", first.EventType())
	}
	got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
	if err := json.Unmarshal(body, got); err != nil {
		return fmt.Errorf("the body does not decode as %s: %v", want.CommandName(), err)
	}
	var given map[string]json.RawMessage
	if err := json.Unmarshal(body, &given); err != nil {
		return fmt.Errorf("the body is not a JSON object: %v", err)
	}
	gm, wm := map[string]any{}, map[string]any{}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	_ = json.Unmarshal(gb, &gm)
	_ = json.Unmarshal(wb, &wm)
	for k := range given {
		if k == "id" {
			continue // a registration's id is the event's subject, checked by its chain
		}
		a, _ := json.Marshal(gm[k])
		b, _ := json.Marshal(wm[k])
		if string(a) != string(b) {
			return fmt.Errorf("member %q is %s in the signed body and %s in what was recorded", k, a, b)
		}
	}
	return nil
}
