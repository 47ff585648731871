package web

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/domain"
)

// readOptions are the page's as-of date, when it has one.
func (v *view) readOptions() []client.ReadOption {
	if d := v.r.URL.Query().Get("as_of"); d != "" {
		return []client.ReadOption{client.AsOfDate(d)}
	}
	return nil
}

// AsOf is the page's as-of date ("" for now).
func (v *view) AsOf() string { return v.r.URL.Query().Get("as_of") }

// maxListed is the most projects a county's page lists.
const maxListed = 200

// portfolio is the province → city → county drill-down.
func (s *Server) portfolio(v *view) {
	q := v.r.URL.Query()
	f := client.Filter{City: q.Get("city"), County: q.Get("county")}
	groupBy, level := "city", "province"
	switch {
	case f.County != "":
		groupBy, level = "status", "county"
	case f.City != "":
		groupBy, level = "county", "city"
	}
	ctx := v.r.Context()
	sum, err := v.api.Summary(ctx, f, groupBy, v.readOptions()...)
	if err != nil {
		v.problem(err)
		return
	}
	var rows []client.ProjectRow
	more := false
	if level == "county" {
		for row, err := range v.api.Projects(ctx, f, client.ListOptions{Sort: "id", PageSize: 100}, v.readOptions()...) {
			if err != nil {
				v.problem(err)
				return
			}
			if len(rows) == maxListed {
				more = true
				break
			}
			rows = append(rows, row)
		}
	}
	var groups []*client.Group
	if level != "county" {
		groups = sum.Groups
	}
	v.render(http.StatusOK, "portfolio", map[string]any{
		"Level": level, "City": f.City, "County": f.County, "Summary": sum, "Groups": groups, "Rows": rows, "More": more,
		"AwardChart": v.awardChart(groups), "StatusChart": v.statusChart(groups), "ShareChart": v.shareChart(groups), "YearChart": v.yearChart(sum.Total),
	})
}

// project is a project's file.
func (s *Server) project(v *view) { v.projectPage(http.StatusOK, nil) }

// formResult is a submitted form's outcome shown on the project page.
type formResult struct {
	Op      string
	Problem *client.Problem
	Rule    *domain.RuleRef
	Message string
}

func (v *view) projectPage(status int, res *formResult) {
	id := v.r.PathValue("id")
	ctx := v.r.Context()
	opts := v.readOptions()
	if rec, err := strconv.ParseUint(v.r.URL.Query().Get("recorded"), 10, 64); err == nil && rec > 0 {
		// Back from a form: the step is in the page, whichever instance
		// answers (read-your-writes).
		opts = append(opts, client.MinPosition(rec))
	}
	p, err := v.api.Project(ctx, id, opts...)
	if err != nil {
		v.problem(err)
		return
	}
	tl, err := v.api.Timeline(ctx, id, v.readOptions()...) // replayed from the stream: current without waiting
	if err != nil {
		v.problem(err)
		return
	}
	var forms []form
	if v.AsOf() == "" {
		forms = v.forms(p, res)
	}
	events := make([]client.TimelineEntry, len(tl.Entries))
	for i, e := range tl.Entries { // newest first
		events[len(tl.Entries)-1-i] = e
	}
	v.render(status, "project", map[string]any{
		"P": p, "Events": events, "References": references(tl), "Forms": forms, "Result": res,
		"Chart": v.progressChart(p, tl), "Recorded": v.r.URL.Query().Get("recorded"),
	})
}

// reference is a document number (文号) a step cites.
type reference struct {
	Date, What, Ref string
}

// references lists the document numbers the project's steps cite, in order.
func references(tl *client.Timeline) []reference {
	var out []reference
	for _, e := range tl.Entries {
		var d struct {
			Reference string `json:"reference"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.Reference != "" {
			out = append(out, reference{Date: e.Effective.In(cst).Format("2006-01-02"), What: eventName(e.Type), Ref: d.Reference})
		}
	}
	return out
}

func eventName(t string) string {
	const prefix = "ledger.project."
	if len(t) > len(prefix) && t[:len(prefix)] == prefix {
		t = t[len(prefix):]
	}
	if i := len(t) - 3; i > 0 && t[i:] == ".v1" {
		t = t[:i]
	}
	return t
}

// watchlist lists what needs attention.
func (s *Server) watchlist(v *view) {
	q := v.r.URL.Query()
	w, err := v.api.Watchlist(v.r.Context(), client.Filter{City: q.Get("city"), County: q.Get("county")}, v.readOptions()...)
	if err != nil {
		v.problem(err)
		return
	}
	total := len(w.Items)
	if total > maxListed {
		w.Items = w.Items[:maxListed]
	}
	v.render(http.StatusOK, "watchlist", map[string]any{"W": w, "Total": total})
}

// report shows a region's figures in the reports' words.
func (s *Server) report(v *view) {
	q := v.r.URL.Query()
	f := client.Filter{City: q.Get("city"), County: q.Get("county"), Programme: q.Get("programme")}
	if y := q.Get("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil {
			v.fail(http.StatusBadRequest, "year: "+err.Error())
			return
		}
		f.Year = n
	}
	r, err := v.api.Report(v.r.Context(), f, v.readOptions()...)
	if err != nil {
		v.problem(err)
		return
	}
	codes := domain.ProgrammeCodes()
	sort.Strings(codes)
	v.render(http.StatusOK, "report", map[string]any{"R": r, "F": f, "Programmes": codes})
}

// audit shows the latest signed checkpoint and checks a project in the
// browser.
func (s *Server) audit(v *view) {
	ctx := v.r.Context()
	key, _ := v.api.CheckpointKey(ctx)
	cp, err := v.api.LatestCheckpoint(ctx)
	if err != nil && !client.IsCode(err, "no-checkpoint") {
		v.problem(err)
		return
	}
	v.render(http.StatusOK, "audit", map[string]any{"Key": key, "Checkpoint": cp, "Project": v.r.URL.Query().Get("project")})
}
