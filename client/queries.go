package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zjfund/ledger/domain"
)

// ReadOption bounds or waits for a query.
type ReadOption func(url.Values)

// AsOf answers as of an effective time, by replaying the log.
func AsOf(t time.Time) ReadOption {
	return func(v url.Values) { v.Set("as_of", t.Format(time.RFC3339Nano)) }
}

// AsOfDate answers as of the end of a day ("2011-12-31", UTC+8).
func AsOfDate(day string) ReadOption { return func(v url.Values) { v.Set("as_of", day) } }

// AtSeq answers as of a stream position, by replaying the log up to it.
func AtSeq(seq uint64) ReadOption {
	return func(v url.Values) { v.Set("at_seq", strconv.FormatUint(seq, 10)) }
}

// MinPosition waits (a few seconds at most) until the read models include
// the position a command reached (Recorded.Position): read-your-writes.
func MinPosition(pos uint64) ReadOption {
	return func(v url.Values) { v.Set("min_position", strconv.FormatUint(pos, 10)) }
}

func readQuery(opts []ReadOption) url.Values {
	v := url.Values{}
	for _, o := range opts {
		o(v)
	}
	return v
}

// getFiltered GETs path with the query q and the read options, into out.
func (c *Client) getFiltered(ctx context.Context, path string, q url.Values, opts []ReadOption, out any) error {
	for k, vs := range readQuery(opts) {
		q[k] = vs
	}
	_, err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, out)
	return err
}

// Positioned says which stream position an answer reflects.
type Positioned struct {
	Position uint64     `json:"position"`
	AsOf     *time.Time `json:"as_of,omitempty"`
	AtSeq    uint64     `json:"at_seq,omitempty"`
}

// Project is a project's read model: progress against the plan, where every
// fen stands, acceptance, pending changes. Amounts are in fen.
type Project struct {
	Positioned
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Owner           string        `json:"owner"`
	City            string        `json:"city"`
	County          string        `json:"county"`
	Category        string        `json:"category"`
	Programmes      []string      `json:"programmes"`
	Year            int           `json:"year"`
	Status          domain.Status `json:"status"`
	TotalInvestment domain.Fen    `json:"total_investment"`
	Progress        Progress      `json:"progress"`
	Funding         Funding       `json:"funding"`
	Acceptance      Acceptance    `json:"acceptance"`
	PendingChanges  []string      `json:"pending_changes"`
	Inspections     int           `json:"inspections"`
	Events          int           `json:"events"`
	// Version is the stream sequence of the project's last event: the
	// IfMatch of its next command.
	Version uint64 `json:"version"`
}

// Progress is where construction stands against the plan; shares are in
// basis points (10000 = 100%).
type Progress struct {
	PlannedStart        domain.Date          `json:"planned_start"`
	PlannedEnd          domain.Date          `json:"planned_end"`
	PlannedInvestment   domain.Fen           `json:"planned_investment"`
	InvestmentCompleted domain.Fen           `json:"investment_completed"`
	CompletedBP         int64                `json:"investment_completed_bp"`
	PhysicalBP          int64                `json:"physical_progress_bp"`
	ElapsedBP           int64                `json:"period_elapsed_bp"`
	BehindSchedule      bool                 `json:"behind_schedule"`
	LateDays            int                  `json:"late_days"`
	Milestones          map[string]time.Time `json:"milestones"`
}

// Funding is where the project's money stands, per source.
type Funding struct {
	Requested   domain.Amounts `json:"requested"`
	Awarded     domain.Amounts `json:"awarded"`
	Disbursed   domain.Amounts `json:"disbursed"`
	Refunded    domain.Amounts `json:"refunded"`
	Outstanding domain.Amounts `json:"outstanding"`
	RefundDue   domain.Amounts `json:"refund_due"`
	Undisbursed domain.Amounts `json:"undisbursed"`
	Totals      Totals         `json:"totals"`
	Tranches    int            `json:"tranches"`
}

// Totals sums amounts over the funding sources.
type Totals struct {
	Requested   domain.Fen `json:"requested"`
	Awarded     domain.Fen `json:"awarded"`
	Disbursed   domain.Fen `json:"disbursed"`
	Refunded    domain.Fen `json:"refunded"`
	Outstanding domain.Fen `json:"outstanding"`
}

// Acceptance is where completion acceptance stands.
type Acceptance struct {
	Filed                 []string   `json:"items_filed"`
	Missing               []string   `json:"items_missing"`
	Requested             bool       `json:"requested"`
	Passed                bool       `json:"passed"`
	Failures              int        `json:"failures"`
	CompletedAt           *time.Time `json:"completed_at,omitempty"`
	DaysWithoutAcceptance *int       `json:"days_since_completion_without_acceptance,omitempty"`
}

// Project reads one project's read model.
func (c *Client) Project(ctx context.Context, id string, opts ...ReadOption) (*Project, error) {
	var p Project
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/projects/" + url.PathEscape(id), query: readQuery(opts)}, &p)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// ProjectRow is one project in the list.
type ProjectRow struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Owner           string        `json:"owner"`
	City            string        `json:"city"`
	County          string        `json:"county"`
	Category        string        `json:"category"`
	Programmes      []string      `json:"programmes"`
	Year            int           `json:"year"`
	Status          domain.Status `json:"status"`
	TotalInvestment domain.Fen    `json:"total_investment"`
	Awarded         domain.Fen    `json:"awarded"`
	Disbursed       domain.Fen    `json:"disbursed"`
	Outstanding     domain.Fen    `json:"outstanding"`
	BehindSchedule  bool          `json:"behind_schedule"`
	Version         uint64        `json:"version"`
}

// Filter selects projects; empty fields select all.
type Filter struct {
	City, County, Programme, Category, Status, Owner, Name string
	Year, YearFrom, YearTo                                 int
}

func (f Filter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"city": f.City, "county": f.County, "programme": f.Programme, "category": f.Category,
		"status": f.Status, "owner": f.Owner, "name": f.Name} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for k, n := range map[string]int{"year": f.Year, "year_from": f.YearFrom, "year_to": f.YearTo} {
		if n != 0 {
			v.Set(k, strconv.Itoa(n))
		}
	}
	return v
}

// ListOptions order and page the project list.
type ListOptions struct {
	Sort     string // id (default), name, registered, total_investment, awarded, disbursed, outstanding; "-" reverses
	PageSize int    // rows per request, 1–500 (default 50)
}

type listPage struct {
	Positioned
	Items      []ProjectRow `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// Projects iterates over the projects f selects, page by page (each page one
// request, following the cursor), stopping at the first error, which it
// yields. The pages are read at one stream position (the first page's), so
// a write meanwhile does not shift or repeat rows.
func (c *Client) Projects(ctx context.Context, f Filter, lo ListOptions, opts ...ReadOption) iter.Seq2[ProjectRow, error] {
	return func(yield func(ProjectRow, error) bool) {
		q := f.values()
		if lo.Sort != "" {
			q.Set("sort", lo.Sort)
		}
		if lo.PageSize > 0 {
			q.Set("limit", strconv.Itoa(lo.PageSize))
		}
		for {
			var page listPage
			if err := c.getFiltered(ctx, "/v1/projects", q, opts, &page); err != nil {
				yield(ProjectRow{}, err)
				return
			}
			for _, r := range page.Items {
				if !yield(r, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			q.Set("cursor", page.NextCursor)
		}
	}
}

// TimelineEntry is one event of a project's timeline: its times, actor and
// role, what changed in words, the status after it and the running totals.
type TimelineEntry struct {
	Seq            uint64          `json:"seq"`
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Effective      time.Time       `json:"effective_time"`
	Recorded       time.Time       `json:"recorded_time"`
	Actor          string          `json:"actor"`
	Role           string          `json:"role"`
	Change         string          `json:"change"`
	Status         domain.Status   `json:"status"`
	Data           json.RawMessage `json:"data"`
	Awarded        domain.Amounts  `json:"awarded"`
	Disbursed      domain.Amounts  `json:"disbursed"`
	Refunded       domain.Amounts  `json:"refunded"`
	Outstanding    domain.Amounts  `json:"outstanding"`
	Hash           string          `json:"hash"`
	PrevHash       string          `json:"prevhash"`
	CorrelationID  string          `json:"correlation_id,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

// Timeline is a project's history, replayed.
type Timeline struct {
	Project string          `json:"project"`
	AsOf    *time.Time      `json:"as_of,omitempty"`
	AtSeq   uint64          `json:"at_seq,omitempty"`
	Version uint64          `json:"version"`
	Entries []TimelineEntry `json:"entries"`
}

// Timeline replays a project's history (bounded by AsOf or AtSeq).
func (c *Client) Timeline(ctx context.Context, id string, opts ...ReadOption) (*Timeline, error) {
	var t Timeline
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/projects/" + url.PathEscape(id) + "/timeline", query: readQuery(opts)}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Group is the figures of a set of projects: counts by status, investment,
// money per source, and milestone counts.
type Group struct {
	Key                       string                `json:"key"`
	Projects                  int                   `json:"projects"`
	ByStatus                  map[domain.Status]int `json:"by_status"`
	TotalInvestment           domain.Fen            `json:"total_investment"`
	InvestmentCompleted       domain.Fen            `json:"investment_completed"`
	Requested                 domain.Amounts        `json:"requested"`
	Awarded                   domain.Amounts        `json:"awarded"`
	Disbursed                 domain.Amounts        `json:"disbursed"`
	Refunded                  domain.Amounts        `json:"refunded"`
	Outstanding               domain.Amounts        `json:"outstanding"`
	Totals                    Totals                `json:"totals"`
	Funded                    int                   `json:"funded"`
	Completed                 int                   `json:"completed"`
	Accepted                  int                   `json:"accepted"`
	PreparingAcceptance       int                   `json:"preparing_acceptance"`
	AcceptancePending         int                   `json:"acceptance_pending"`
	InProgress                int                   `json:"in_progress"`
	Terminated                int                   `json:"terminated"`
	InvestmentCompletedByYear map[string]domain.Fen `json:"investment_completed_by_year"`
}

// Summary is the portfolio grouped by one key, with the total.
type Summary struct {
	Positioned
	GroupBy string   `json:"group_by"`
	Groups  []*Group `json:"groups"`
	Total   *Group   `json:"total"`
}

// Summary groups the projects f selects by groupBy: city, county,
// programme, year, status or category.
func (c *Client) Summary(ctx context.Context, f Filter, groupBy string, opts ...ReadOption) (*Summary, error) {
	q := f.values()
	if groupBy != "" {
		q.Set("group_by", groupBy)
	}
	var s Summary
	if err := c.getFiltered(ctx, "/v1/summary", q, opts, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Report is a region's figures as the reports state them.
type Report struct {
	Positioned
	Scope   map[string]string `json:"scope"`
	Figures *Group            `json:"figures"`
	// Lines are the figures in the reports' own words and units (万元).
	Lines []string `json:"lines"`
	// Computed are figures the reports do not state, derived by the
	// ledger, each marked （计算）.
	Computed []string `json:"computed"`
}

// Report answers the figures of the projects f selects, in the reports'
// words.
func (c *Client) Report(ctx context.Context, f Filter, opts ...ReadOption) (*Report, error) {
	var r Report
	if err := c.getFiltered(ctx, "/v1/report", f.values(), opts, &r); err != nil {
		return nil, err
	}
	return &r, nil
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
	Amount  domain.Fen    `json:"amount,omitempty"`
}

// Watchlist is the projects that need attention at a reference time.
type Watchlist struct {
	Positioned
	ReferenceTime    time.Time   `json:"reference_time"`
	AcceptWithinDays int         `json:"accept_within_days"`
	Items            []WatchItem `json:"items"`
}

// Watchlist lists the projects f selects that need attention: behind
// schedule, completed without acceptance, refunds due, ….
func (c *Client) Watchlist(ctx context.Context, f Filter, opts ...ReadOption) (*Watchlist, error) {
	var w Watchlist
	if err := c.getFiltered(ctx, "/v1/watchlist", f.values(), opts, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// User is who a token belongs to: the user's id, name, organisation, roles
// and the region they see and act in ("province", a city or a county code).
type User struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Org      string    `json:"org"`
	Roles    []string  `json:"roles"`
	Region   string    `json:"region"`
	Owner    string    `json:"owner_org,omitempty"`
	Disabled bool      `json:"disabled,omitempty"`
	Keys     []UserKey `json:"keys,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// Authenticated is false when the ledger runs without authentication.
	Authenticated bool `json:"authenticated"`
}

// UserKey is a public key a user signs commands with.
type UserKey struct {
	ID        string     `json:"key_id"`
	PublicKey string     `json:"public_key"` // base64 of the Ed25519 key's 32 bytes
	Added     time.Time  `json:"added"`
	Revoked   *time.Time `json:"revoked,omitempty"`
}

// Me is the user the client's token belongs to.
func (c *Client) Me(ctx context.Context) (*User, error) {
	var u User
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/me"}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
