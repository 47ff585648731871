package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/projections"
)

// readQuery is what every read shares: which position it must include, and
// whether it asks for the past (as_of: an effective date or time; at_seq: a
// stream position).
type readQuery struct {
	minPosition uint64
	asOf        time.Time // zero: now
	atSeq       uint64    // zero: the latest
	ref         time.Time // reference time for derived figures: as_of or now
}

func (q readQuery) historical() bool { return !q.asOf.IsZero() || q.atSeq != 0 }

// parseReadQuery reads min_position (or the Ledger-Min-Position header),
// as_of and at_seq.
func parseReadQuery(r *http.Request) (readQuery, *Problem) {
	v := r.URL.Query()
	q := readQuery{ref: time.Now()}
	mp := v.Get("min_position")
	if mp == "" {
		mp = r.Header.Get("Ledger-Min-Position")
	}
	var err error
	if mp != "" {
		if q.minPosition, err = strconv.ParseUint(mp, 10, 64); err != nil {
			return q, fieldProblem(http.StatusBadRequest, "invalid-parameter", "min_position", "must be a stream sequence (a non-negative integer)")
		}
	}
	if s := v.Get("at_seq"); s != "" {
		if q.atSeq, err = strconv.ParseUint(s, 10, 64); err != nil || q.atSeq == 0 {
			return q, fieldProblem(http.StatusBadRequest, "invalid-parameter", "at_seq", "must be a stream sequence (a positive integer)")
		}
	}
	if s := v.Get("as_of"); s != "" {
		if d, err := domain.ParseDate(s); err == nil {
			// A date means the whole day, in China Standard Time.
			q.asOf = d.Time().AddDate(0, 0, 1).Add(-time.Nanosecond)
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			q.asOf = t
		} else {
			return q, fieldProblem(http.StatusBadRequest, "invalid-parameter", "as_of", "must be a date (2011-12-31, the end of that day in UTC+8) or an RFC 3339 time")
		}
		q.ref = q.asOf
	}
	return q, nil
}

// model returns the model a read is answered from: the live read models
// (once they include minPosition, waiting a bounded time), or a replay of
// the log for an as-of read. filter narrows the replay (one project).
func (a *API) model(w http.ResponseWriter, r *http.Request, q readQuery, filter string, read func(m *projections.Model)) bool {
	if q.minPosition > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), a.maxWait)
		err := a.views.WaitFor(ctx, q.minPosition)
		cancel()
		if err != nil {
			p := newProblem(http.StatusServiceUnavailable, "position-not-reached",
				fmt.Sprintf("the read models reflect stream position %d, not yet %d, after waiting %s", a.views.Applied(), q.minPosition, a.maxWait))
			if errors.Is(err, projections.ErrStopped) {
				p.Detail = "the read models have stopped: " + err.Error()
			}
			p.Field = "min_position"
			w.Header().Set("Retry-After", "1")
			writeProblem(w, r, p)
			return false
		}
	}
	if !q.historical() {
		a.views.Read(read)
		return true
	}
	var err error
	if q.atSeq == 0 && filter == "" {
		// As of a date: from the cached replay of that date, brought up to now.
		err = a.asOf.read(r.Context(), a.source, q.asOf, a.replaying, read)
	} else {
		err = a.replaying(func() error {
			m, err := projections.Replay(r.Context(), a.source, projections.ReplayOptions{Until: q.atSeq, AsOf: q.asOf, Filter: filter})
			if err == nil {
				read(m)
			}
			return err
		})
	}
	var busy *Problem
	switch {
	case errors.As(err, &busy):
		writeProblem(w, r, busy)
		return false
	case err != nil:
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return false
	}
	return true
}

// replaying runs a replay of the stream — a few at a time; one more is
// refused at once (a *Problem) rather than queued behind them.
func (a *API) replaying(f func() error) error {
	select {
	case a.replays <- struct{}{}:
		defer func() { <-a.replays }()
		return f()
	default:
		p := newProblem(http.StatusServiceUnavailable, "busy-replaying",
			fmt.Sprintf("%d as-of or at-seq queries are replaying the stream already; retry shortly, or ask for the present", cap(a.replays)))
		p.retryAfter = 2
		return p
	}
}

func filterOf(v url.Values) (projections.Filter, *Problem) {
	f := projections.Filter{City: v.Get("city"), County: v.Get("county"), Programme: v.Get("programme"), Category: v.Get("category"),
		Status: domain.Status(v.Get("status")), Owner: v.Get("owner"), Name: v.Get("name")}
	for _, d := range []struct{ name, v string }{{"city", f.City}, {"county", f.County}} {
		if d.v != "" {
			if p := checkDivision(d.name, d.v); p != nil {
				return f, p
			}
		}
	}
	for _, t := range []struct{ name, v string }{{"programme", f.Programme}, {"category", f.Category}, {"status", string(f.Status)}} {
		if p := checkToken(t.name, t.v); p != nil {
			return f, p
		}
	}
	for _, t := range []struct{ name, v string }{{"owner", f.Owner}, {"name", f.Name}} {
		if p := checkText(t.name, t.v, maxTextParam); p != nil {
			return f, p
		}
	}
	for _, y := range []struct {
		name string
		to   *int
	}{{"year", &f.Year}, {"year_from", &f.YearFrom}, {"year_to", &f.YearTo}} {
		if s := v.Get(y.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1949 || n > 2200 {
				return f, fieldProblem(http.StatusBadRequest, "invalid-parameter", y.name, "must be a year such as 2011")
			}
			*y.to = n
		}
	}
	return f, nil
}

// parseFiltered reads what every query over many projects takes: the read
// bounds and the filter. It answers the problem itself and returns false on
// a bad parameter.
func parseFiltered(w http.ResponseWriter, r *http.Request) (readQuery, projections.Filter, bool) {
	q, p := parseReadQuery(r)
	if p != nil {
		writeProblem(w, r, p)
		return q, projections.Filter{}, false
	}
	f, p := filterOf(r.URL.Query())
	if p == nil {
		p = scopeFilter(userOf(r), &f)
	}
	if p != nil {
		writeProblem(w, r, p)
		return q, f, false
	}
	return q, f, true
}

// intParam reads an integer query parameter between lo and hi (def when absent).
func intParam(v url.Values, name string, def, lo, hi int) (int, *Problem) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fieldProblem(http.StatusBadRequest, "invalid-parameter", name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
	}
	return n, nil
}

// positioned is the envelope of every query response: the stream position
// it reflects, and the as-of bounds it was asked for.
type positioned struct {
	Position uint64     `json:"position"`
	AsOf     *time.Time `json:"as_of,omitempty"`
	AtSeq    uint64     `json:"at_seq,omitempty"`
}

func (q readQuery) envelope(pos uint64) positioned {
	p := positioned{Position: pos, AtSeq: q.atSeq}
	if !q.asOf.IsZero() {
		t := q.asOf
		p.AsOf = &t
	}
	return p
}

type projectView struct {
	positioned
	projections.ProjectView
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) {
	id := domain.ProjectID(r.PathValue("id"))
	if err := id.Validate("id"); err != nil {
		writeProblem(w, r, problemFor(err, a.log, ""))
		return
	}
	q, p := parseReadQuery(r)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	var out *projectView
	if !a.model(w, r, q, eventstore.ProjectFilter(id), func(m *projections.Model) {
		if pr := m.Projects[string(id)]; pr != nil {
			out = &projectView{positioned: q.envelope(m.Applied), ProjectView: pr.View(q.ref)}
		} else {
			out = &projectView{positioned: q.envelope(m.Applied)}
		}
	}) {
		return
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Position, 10))
	if out.ID != "" && !mayRead(userOf(r), out.City, out.County, out.Owner) {
		out.ID = ""
	}
	if out.ID == "" {
		what := "no such project"
		if q.historical() {
			what = "no such project at that time"
		}
		writeProblem(w, r, problemFor(&domain.Error{Kind: domain.KindNotFound, Code: domain.CodeNotFound, Project: id, Msg: what}, a.log, ""))
		return
	}
	w.Header().Set("ETag", etag(out.Version))
	writeJSON(w, http.StatusOK, out)
}

type listResponse struct {
	positioned
	Items      []projections.Row `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, f, ok := parseFiltered(w, r)
	if !ok {
		return
	}
	limit, p := intParam(v, "limit", 50, 1, 500)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	var out listResponse
	var err error
	if !a.model(w, r, q, "", func(m *projections.Model) {
		out.positioned = q.envelope(m.Applied)
		out.Items, out.NextCursor, err = projections.List(m, f, v.Get("sort"), v.Get("cursor"), limit, q.ref)
	}) {
		return
	}
	if err != nil {
		field := "sort"
		if errors.Is(err, projections.ErrBadCursor) {
			field = "cursor"
		}
		writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", field, err.Error()))
		return
	}
	if out.Items == nil {
		out.Items = []projections.Row{}
	}
	if out.NextCursor != "" {
		next := *r.URL
		nq := next.Query()
		nq.Set("cursor", out.NextCursor)
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", "<"+next.RequestURI()+`>; rel="next"`)
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Position, 10))
	writeJSON(w, http.StatusOK, out)
}

type summaryResponse struct {
	positioned
	GroupBy string               `json:"group_by"`
	Groups  []*projections.Group `json:"groups"`
	Total   *projections.Group   `json:"total"`
}

func (a *API) getSummary(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, f, ok := parseFiltered(w, r)
	if !ok {
		return
	}
	by := v.Get("group_by")
	if by == "" {
		by = "city"
	}
	var out summaryResponse
	var err error
	if !a.model(w, r, q, "", func(m *projections.Model) {
		out = summaryResponse{positioned: q.envelope(m.Applied), GroupBy: by}
		out.Groups, out.Total, err = projections.Summary(m, by, f)
	}) {
		return
	}
	if err != nil {
		writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", "group_by", err.Error()))
		return
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Position, 10))
	writeJSON(w, http.StatusOK, out)
}

type watchlistResponse struct {
	positioned
	ReferenceTime    time.Time               `json:"reference_time"`
	AcceptWithinDays int                     `json:"accept_within_days"`
	Items            []projections.WatchItem `json:"items"`
}

func (a *API) getWatchlist(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, f, ok := parseFiltered(w, r)
	if !ok {
		return
	}
	days, p := intParam(v, "accept_within_days", 180, 0, 3650)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	var out watchlistResponse
	if !a.model(w, r, q, "", func(m *projections.Model) {
		out = watchlistResponse{positioned: q.envelope(m.Applied), ReferenceTime: q.ref, AcceptWithinDays: days,
			Items: projections.Watchlist(m, f, q.ref, time.Duration(days)*24*time.Hour)}
	}) {
		return
	}
	if out.Items == nil {
		out.Items = []projections.WatchItem{}
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Position, 10))
	writeJSON(w, http.StatusOK, out)
}

// reportResponse gives a region's (or programme's) figures the way the
// reports state them: projects listed, total investment, subsidy by source,
// completed, accepted, awaiting acceptance, in progress, terminated, refunded.
type reportResponse struct {
	positioned
	Scope   map[string]string  `json:"scope"`
	Figures *projections.Group `json:"figures"`
	Lines   []string           `json:"lines"` // the kinds of figure the reports state, in their own words and units (万元)
	// Computed are figures the reports do not state that the ledger
	// derives from what was recorded, each marked （计算）.
	Computed []string `json:"computed"`
}

func (a *API) getReport(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, f, ok := parseFiltered(w, r)
	if !ok {
		return
	}
	scope := map[string]string{}
	for _, k := range []string{"city", "county", "programme", "category", "year", "year_from", "year_to", "status"} {
		if s := v.Get(k); s != "" {
			scope[k] = s
		}
	}
	var out reportResponse
	if !a.model(w, r, q, "", func(m *projections.Model) {
		_, total, _ := projections.Summary(m, "all", f)
		out = reportResponse{positioned: q.envelope(m.Applied), Scope: scope, Figures: total, Lines: projections.ReportLines(total), Computed: projections.ComputedLines(total)}
	}) {
		return
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Position, 10))
	writeJSON(w, http.StatusOK, out)
}
