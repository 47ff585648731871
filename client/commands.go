package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/zjfund/ledger/domain"
)

// commandPaths is the API path of each command, by its name
// (domain.Command.CommandName). The server's route table is checked
// against it (TestClientKnowsEveryCommandRoute in httpapi).
var commandPaths = map[string]string{
	"register":              "/v1/projects",
	"screen":                "/v1/projects/{id}/screening",
	"submit_report":         "/v1/projects/{id}/application-report",
	"record_review":         "/v1/projects/{id}/review",
	"record_national_reply": "/v1/projects/{id}/national-reply",
	"issue_plan":            "/v1/projects/{id}/investment-plan",
	"open_special_account":  "/v1/projects/{id}/special-account",
	"disburse":              "/v1/projects/{id}/disbursements",
	"approve_disbursement":  "/v1/projects/{id}/disbursements/{preparation}/approval",
	"pass_pilot_assessment": "/v1/projects/{id}/pilot-assessment",
	"report_progress":       "/v1/projects/{id}/progress-reports",
	"request_change":        "/v1/projects/{id}/changes",
	"decide_change":         "/v1/projects/{id}/changes/{change}/decision",
	"record_inspection":     "/v1/projects/{id}/inspections",
	"complete":              "/v1/projects/{id}/completion",
	"start_construction":    "/v1/projects/{id}/construction-start",
	"prepare_acceptance":    "/v1/projects/{id}/acceptance-preparation",
	"file_acceptance_item":  "/v1/projects/{id}/acceptance-items",
	"request_acceptance":    "/v1/projects/{id}/acceptance-request",
	"record_acceptance":     "/v1/projects/{id}/acceptance",
	"terminate":             "/v1/projects/{id}/termination",
	"refund":                "/v1/projects/{id}/refunds",
	"close":                 "/v1/projects/{id}/closure",
}

// CommandPath is the API path template of a command ("" for one this
// client does not know).
func CommandPath(cmd domain.Command) string { return commandPaths[cmd.CommandName()] }

// Recorded is what a command recorded.
type Recorded struct {
	Project string `json:"project"`
	// Version is the project's version after the command: the stream
	// sequence of its last event, to send as IfMatch with the next one.
	Version uint64 `json:"version"`
	// Replayed is true when an earlier request with the same idempotency
	// key recorded these events, and this one recorded nothing.
	Replayed bool          `json:"replayed"`
	Events   []RecordedRef `json:"events"`
	// Position is the stream position the write reached: a query with
	// MinPosition(Position) sees it (read-your-writes).
	Position uint64 `json:"-"`
}

// RecordedRef names one recorded event.
type RecordedRef struct {
	Seq     uint64 `json:"seq"`
	ID      string `json:"id"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Hash    string `json:"hash"`
}

// CommandOption sets a header of a command.
type CommandOption func(http.Header)

// IfMatch makes the command apply only to this version of the project
// (412 stale-version otherwise, with the current version in the problem).
func IfMatch(version uint64) CommandOption {
	return func(h http.Header) { h.Set("If-Match", `"`+strconv.FormatUint(version, 10)+`"`) }
}

// IdempotencyKey makes retries of the command return the first result.
func IdempotencyKey(key string) CommandOption {
	return func(h http.Header) { h.Set("Idempotency-Key", key) }
}

// AsRole records the step in one of the user's roles (needed when the user
// has several).
func AsRole(role domain.Role) CommandOption {
	return func(h http.Header) { h.Set("Ledger-Role", string(role)) }
}

// CorrelationID ties the command's events to a wider piece of work.
func CorrelationID(id string) CommandOption {
	return func(h http.Header) { h.Set("X-Correlation-Id", id) }
}

// Register registers a project (its id in cmd.ID, or one is given).
func (c *Client) Register(ctx context.Context, cmd *domain.RegisterProject, opts ...CommandOption) (*Recorded, error) {
	return c.Do(ctx, "", cmd, opts...)
}

// Do records a step of project's life: cmd is the request body (a
// *domain.Disburse, *domain.ReportProgress, …); a refusal is a *Problem
// naming the rule. For a registration, project is "".
func (c *Client) Do(ctx context.Context, project string, cmd domain.Command, opts ...CommandOption) (*Recorded, error) {
	tmpl := commandPaths[cmd.CommandName()]
	if tmpl == "" {
		return nil, fmt.Errorf("client: no route for command %q", cmd.CommandName())
	}
	path := tmpl
	if strings.Contains(path, "{id}") {
		if project == "" {
			return nil, fmt.Errorf("client: command %q needs a project id", cmd.CommandName())
		}
		path = strings.Replace(path, "{id}", url.PathEscape(project), 1)
	}
	switch c := cmd.(type) {
	case *domain.DecideChange:
		path = strings.Replace(path, "{change}", url.PathEscape(c.ChangeID), 1)
	case *domain.ApproveDisbursement:
		path = strings.Replace(path, "{preparation}", url.PathEscape(c.PreparationID), 1)
	}
	h := http.Header{}
	for _, o := range opts {
		o(h)
	}
	var rec Recorded
	hdr, err := c.do(ctx, request{method: http.MethodPost, path: path, body: cmd, header: h}, &rec)
	if err != nil {
		return nil, err
	}
	rec.Position = position(hdr)
	return &rec, nil
}
