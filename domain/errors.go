package domain

import (
	"errors"
	"fmt"
)

// Kind classifies a refusal so that the edge can map it to a status code.
type Kind int

const (
	// KindInvalid: a field of the command is missing or malformed.
	KindInvalid Kind = iota + 1
	// KindRule: the command is well formed but a funding or lifecycle rule refuses it.
	KindRule
	// KindForbidden: the acting role may not issue this command.
	KindForbidden
	// KindNotFound: the project does not exist.
	KindNotFound
	// KindExists: the project to register exists already.
	KindExists
)

// Error is a refusal from the domain. Code is a stable machine code
// ("over-award"); Rule names the rule of the domain notes it enforces ("R6"),
// when there is one; Field names the offending field, when there is one.
type Error struct {
	Kind    Kind
	Code    string
	Rule    string
	Field   string
	Project ProjectID
	Msg     string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Rule != "" {
		s = e.Rule + ": " + s
	}
	if e.Field != "" {
		s = "field " + e.Field + ": " + s
	}
	if e.Project != "" {
		s = "project " + string(e.Project) + ": " + s
	}
	return s
}

// Is makes errors.Is(err, ErrRule) and friends match on the kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == "" && t.Kind == e.Kind
}

// Sentinels to test the kind of a refusal with errors.Is.
var (
	ErrInvalid   = &Error{Kind: KindInvalid}
	ErrRule      = &Error{Kind: KindRule}
	ErrForbidden = &Error{Kind: KindForbidden}
	ErrNotFound  = &Error{Kind: KindNotFound}
	ErrExists    = &Error{Kind: KindExists}
)

// Code returns the machine code of a domain refusal, or "" when err is not one.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: "invalid-field", Field: field, Msg: fmt.Sprintf(format, args...)}
}

func refuse(code, rule, format string, args ...any) *Error {
	return &Error{Kind: KindRule, Code: code, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// Refusal codes. They are part of the API: add new ones, never rename.
const (
	CodeWrongStatus          = "wrong-status"
	CodeEligibility          = "eligibility"              // R2
	CodeMissingAttachments   = "missing-attachments"      // R3
	CodeBeforeReview         = "before-review"            // R4
	CodeBeforeReply          = "before-reply"             // R4
	CodeBeforePlan           = "before-plan"              // R4, R6
	CodeNoAccount            = "no-special-account"       // R5
	CodeOverAward            = "over-award"               // R6
	CodePredisbursementLimit = "predisbursement-limit"    // R18
	CodeChangePending        = "change-pending"           // R8, R9, R10
	CodeNoSuchChange         = "no-such-change"           // R8, R9, R10
	CodeVarianceUnexplained  = "variance-unexplained"     // R10
	CodeAfterTermination     = "after-termination"        // R12
	CodeRefundOutstanding    = "refund-outstanding"       // R12
	CodeRefundExceeds        = "refund-exceeds-disbursed" // R12
	CodeLateUnexplained      = "late-unexplained"         // R13
	CodeBeforeCompletion     = "before-completion"        // R14
	CodeAcceptanceItems      = "acceptance-items-missing" // R14
	CodeEffectiveTime        = "effective-time"
	CodeRole                 = "role-not-permitted"
	CodeSoDChange            = "sod-change-decided-by-requester"
	CodeSoDDisburse          = "sod-disbursed-by-plan-issuer"
	CodeSoDAcceptance        = "sod-acceptance-decided-by-requester"
	CodeFourEyes             = "four-eyes-approved-by-preparer"
	CodeNoSuchPreparation    = "no-such-preparation"
	CodeAmountOverflow       = "amount-overflow"
	CodeNoChange             = "no-change"
	CodeNotOnPath            = "not-on-path"            // the programme's path has no such step
	CodeAheadOfProgress      = "ahead-of-progress"      // R6, rulebook 2
	CodeAwardAfterAcceptance = "award-after-acceptance" // R21
	CodeNotFound             = "project-not-found"
	CodeExists               = "project-exists"
)
