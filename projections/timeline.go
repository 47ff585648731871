package projections

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// TimelineEntry is one event of a project's history as an auditor reads it:
// when it took effect and when it was recorded, who recorded it in which
// role, what changed, and the money per funding source after it.
type TimelineEntry struct {
	Seq         uint64          `json:"seq"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Effective   time.Time       `json:"effective_time"`
	Recorded    time.Time       `json:"recorded_time"`
	Actor       string          `json:"actor"`
	Role        string          `json:"role"`
	Change      string          `json:"change"`
	Status      domain.Status   `json:"status"`
	Data        json.RawMessage `json:"data"`
	Awarded     domain.Amounts  `json:"awarded"`
	Disbursed   domain.Amounts  `json:"disbursed"`
	Refunded    domain.Amounts  `json:"refunded"`
	Outstanding domain.Amounts  `json:"outstanding"`
	Hash        string          `json:"hash"`
	PrevHash    string          `json:"prevhash"`
	Correlation string          `json:"correlation_id,omitempty"`
	Idempotency string          `json:"idempotency_key,omitempty"`
}

// Timeline folds a project's stored history, in order, into its timeline,
// keeping the events that took effect by asOf (all when zero). It returns a
// *DecodeError for an event that does not decode.
func Timeline(hist []eventstore.Stored, asOf time.Time) ([]TimelineEntry, error) {
	m := NewModel()
	var out []TimelineEntry
	for _, s := range hist {
		env := s.Envelope
		if !asOf.IsZero() && env.Time.After(asOf) {
			continue
		}
		if err := m.Apply(s); err != nil {
			return nil, err
		}
		p := m.Projects[env.Subject]
		e, _ := domain.DecodeEvent(env.EventType(), env.Data)
		entry := TimelineEntry{Seq: s.Seq, ID: env.ID, Type: env.Type, Effective: env.Time, Recorded: env.RecordedTime,
			Actor: env.Actor, Role: env.ActorRole, Change: Describe(e), Data: env.Data, Hash: env.Hash, PrevHash: env.PrevHash,
			Correlation: env.CorrelationID, Idempotency: env.IdempotencyKey}
		if p != nil {
			entry.Status = p.Status
			entry.Awarded, entry.Disbursed, entry.Refunded, entry.Outstanding = p.Awarded.Amounts(), p.Disbursed.Amounts(), p.Refunded.Amounts(), p.Outstanding().Amounts()
		}
		out = append(out, entry)
	}
	return out, nil
}

func amounts(a domain.Amounts) string {
	var parts []string
	for _, s := range domain.Sources {
		if v, ok := a[s]; ok {
			parts = append(parts, fmt.Sprintf("%s %s万", s, Wan(int64(v))))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Describe says in a line what an event changed.
func Describe(e domain.Event) string {
	switch e := e.(type) {
	case domain.ProjectRegistered:
		return fmt.Sprintf("registered %q of %s in %s/%s: total investment %s万, requested %s", e.Name, e.Owner, e.City, e.County, Wan(int64(e.TotalInvestment)), amounts(e.Requested))
	case domain.ProjectScreened:
		s := fmt.Sprintf("screened: completed %d.%02d%% of total, threshold %d%% (%s)", e.CompletedBP/100, e.CompletedBP%100, e.ThresholdBP/100, e.Programme)
		if e.Warning != "" {
			s += "; warning: " + e.Warning
		}
		return s
	case domain.ApplicationReportSubmitted:
		return fmt.Sprintf("application report %s with %d attachments", e.Reference, len(e.Attachments))
	case domain.ProvincialReviewPassed:
		return "review passed: " + e.Reference
	case domain.ProvincialReviewRejected:
		return "review rejected: " + e.Reason
	case domain.NationalReplyReceived:
		return "national reply: " + e.Reference
	case domain.InvestmentPlanIssued:
		return fmt.Sprintf("investment plan %s: awards %s", e.Reference, amounts(e.Awards))
	case domain.SpecialAccountOpened:
		return "special account opened at " + e.Bank
	case domain.FundsDisbursed:
		return fmt.Sprintf("disbursed %s万 from %s (tranche %d): %s", Wan(int64(e.Amount)), e.Source, e.Tranche, e.Basis)
	case domain.PilotAssessmentPassed:
		return "pilot assessment passed: " + e.Reference
	case domain.ProgressReported:
		return fmt.Sprintf("progress as of %s: investment completed %s万, physical %d%%", e.AsOf, Wan(int64(e.InvestmentCompleted)), e.PhysicalProgressBP/100)
	case domain.ChangeRequested:
		return fmt.Sprintf("change %s requested (%s): %s", e.ChangeID, e.Kind, e.Description)
	case domain.ChangeApproved:
		return fmt.Sprintf("change %s approved: %s", e.ChangeID, e.Reference)
	case domain.ChangeRejected:
		return fmt.Sprintf("change %s rejected: %s", e.ChangeID, e.Reason)
	case domain.ContentChanged:
		return "content changed: " + e.Description
	case domain.OwnerRenamed:
		return fmt.Sprintf("owner renamed from %s to %s", e.From, e.To)
	case domain.TotalInvestmentRevised:
		return fmt.Sprintf("total investment revised from %s万 to %s万: %s", Wan(int64(e.From)), Wan(int64(e.To)), e.Explanation)
	case domain.InspectionRecorded:
		s := strings.TrimSpace(fmt.Sprintf("%s by %s %s", e.Kind, e.Body, e.Findings))
		if e.PhysicalProgressBP != nil {
			s += fmt.Sprintf("; physical progress found %d.%02d%%", *e.PhysicalProgressBP/100, *e.PhysicalProgressBP%100)
		}
		return s
	case domain.ConstructionStarted:
		return fmt.Sprintf("construction started on %s", e.StartedOn)
	case domain.AcceptancePreparationStarted:
		return "preparing for acceptance"
	case domain.TerminationRecognised:
		return fmt.Sprintf("termination recognised by the %s: %s (%s)", e.Level, e.Reason, e.Reference)
	case domain.ConstructionCompleted:
		return fmt.Sprintf("completed: actual total investment %s万, %d days late", Wan(int64(e.ActualTotalInvestment)), e.LateDays)
	case domain.AcceptanceItemFiled:
		return fmt.Sprintf("acceptance item %s filed: %s", e.Item, e.Reference)
	case domain.AcceptanceRequested:
		return "acceptance requested"
	case domain.AcceptancePassed:
		return "acceptance passed: " + e.Reference
	case domain.AcceptanceFailed:
		return "acceptance failed: " + e.Reason
	case domain.ProjectTerminated:
		return fmt.Sprintf("terminated: %s; refund due %s", e.Reason, amounts(e.RefundDue))
	case domain.FundsRefunded:
		return fmt.Sprintf("refunded %s万 to %s: %s", Wan(int64(e.Amount)), e.Source, e.Reference)
	case domain.ProjectClosed:
		return "closed"
	case nil:
		return "an event of a type this ledger does not know"
	}
	return e.EventType()
}
