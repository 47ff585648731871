package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQueriesThroughTheAPI drives the read side: read-your-writes, the list
// with filters and cursor pages, the summary, the watchlist and as-of reads.
func TestQueriesThroughTheAPI(t *testing.T) {
	l := startLedger(t, t.TempDir())
	// Three projects in Shangyu (330682), one in Ningbo (330206).
	for _, id := range []string{"Q1", "Q2", "Q3"} {
		runScript(t, l, approvedScript(id))
	}
	reg := registration("N1", "330206")
	reg["city"] = "330200"
	reg["owner"] = "宁波某再生资源有限公司"
	runScript(t, l, []step{{"/v1/projects", as("registrar"), reg, []string{"project_registered"}}})
	runScript(t, l, []step{
		{"/v1/projects/Q1/disbursements", finance, map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 300 * wan, "basis": "进度检查"}, []string{"funds_disbursed"}},
		{"/v1/projects/Q2/disbursements", finance, map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 500 * wan, "basis": "进度检查"}, []string{"funds_disbursed"}},
		{"/v1/projects/Q2/termination", province, map[string]any{"effective_time": at("2010-03-01"), "reason": "中止", "reference": "r"}, []string{"termination_recognised"}},
		{"/v1/projects/Q2/termination", ndrc, map[string]any{"effective_time": at("2010-03-02"), "reason": "中止", "reference": "r"}, []string{"termination_recognised", "project_terminated"}},
		{"/v1/projects/Q1/disbursements", finance, map[string]any{"effective_time": at("2012-02-01"), "source": "central_budget", "amount": 100 * wan, "basis": "进度检查"}, []string{"funds_disbursed"}},
		// An inspection, recorded late, finds less done than was reported: Q1 is paid ahead of its progress.
		{"/v1/projects/Q1/inspections", auditor, map[string]any{"effective_time": at("2010-01-10"), "kind": "inspection", "body": "市发改委、财政局进度检查", "physical_progress_bp": 3000}, []string{"inspection_recorded"}},
	})
	pos := l.pos

	t.Run("a county user sees only its county", func(t *testing.T) {
		r := call(t, "GET", l.base+"/v1/projects?min_position="+pos, nil, drc...)
		var ids []string
		for _, it := range r.body["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		if r.status != 200 || strings.Join(ids, ",") != "Q1,Q2,Q3" {
			t.Fatalf("the county user's list: %d %v", r.status, ids)
		}
		s := call(t, "GET", l.base+"/v1/summary?group_by=county", nil, drc...)
		groups := s.body["groups"].([]any)
		if s.status != 200 || len(groups) != 1 || groups[0].(map[string]any)["key"] != "330682" || s.body["total"].(map[string]any)["projects"] != float64(3) {
			t.Fatalf("the county user's summary: %d %s", s.status, s.raw)
		}
		if r := call(t, "GET", l.base+"/v1/projects?county=330206", nil, drc...); r.status != 403 || r.body["code"] != "out-of-scope" {
			t.Fatalf("the county user asking for another county: %d %s", r.status, r.raw)
		}
		for _, path := range []string{"/v1/projects/N1", "/v1/projects/N1/events", "/v1/projects/N1/timeline"} {
			if r := call(t, "GET", l.base+path, nil, drc...); r.status != 404 {
				t.Fatalf("the county user reading %s: %d %s", path, r.status, r.raw)
			}
		}
		if r := call(t, "GET", l.base+"/v1/projects/N1?min_position="+pos, nil); r.status != 200 {
			t.Fatalf("the auditor reading N1: %d %s", r.status, r.raw)
		}
		o := call(t, "GET", l.base+"/v1/projects", nil, as("lisi")...)
		if o.status != 200 || len(o.body["items"].([]any)) != 0 {
			t.Fatalf("an owner of none of the projects: %d %s", o.status, o.raw)
		}
	})

	t.Run("read your writes", func(t *testing.T) {
		r := call(t, "GET", l.base+"/v1/projects/Q1?min_position="+pos, nil)
		if r.status != 200 || r.header.Get("Ledger-Position") < pos || r.body["position"].(float64) < mustF(pos) {
			t.Fatalf("GET with min_position=%s: %d position %v", pos, r.status, r.body["position"])
		}
		if d := r.body["funding"].(map[string]any)["totals"].(map[string]any)["disbursed"]; d != float64(400*wan) {
			t.Fatalf("Q1 disbursed %v, want 400万", d)
		}
		start := time.Now()
		far := strconv.Itoa(int(mustF(pos)) + 1000)
		r = call(t, "GET", l.base+"/v1/summary?min_position="+far, nil)
		if r.status != http.StatusServiceUnavailable || r.body["code"] != "position-not-reached" || r.header.Get("Retry-After") == "" {
			t.Fatalf("a position never reached: %d %s", r.status, r.raw)
		}
		if time.Since(start) < 4*time.Second {
			t.Fatalf("answered 503 after %s; it should wait a bounded time first", time.Since(start))
		}
	})

	t.Run("list with filters and cursor pages", func(t *testing.T) {
		var ids []string
		next := "/v1/projects?county=330682&limit=2&sort=-disbursed&min_position=" + pos
		for pages := 0; next != ""; pages++ {
			r := call(t, "GET", l.base+next, nil)
			if r.status != 200 || pages > 3 {
				t.Fatalf("GET %s: %d %s", next, r.status, r.raw)
			}
			for _, it := range r.body["items"].([]any) {
				ids = append(ids, it.(map[string]any)["id"].(string))
			}
			next = ""
			if link := r.header.Get("Link"); link != "" {
				next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
			}
		}
		if strings.Join(ids, ",") != "Q2,Q1,Q3" {
			t.Fatalf("Shangyu projects by disbursed, descending, 2 a page: %v, want Q2,Q1,Q3", ids)
		}
		r := call(t, "GET", l.base+"/v1/projects?owner="+url.QueryEscape("宁波某再生")+"&min_position="+pos, nil)
		if items := r.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != "N1" {
			t.Fatalf("by owner name: %s", r.raw)
		}
		r = call(t, "GET", l.base+"/v1/projects?status=terminated&min_position="+pos, nil)
		if items := r.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != "Q2" {
			t.Fatalf("terminated: %s", r.raw)
		}
		if r := call(t, "GET", l.base+"/v1/projects?sort=colour", nil); r.status != 400 || r.body["field"] != "sort" {
			t.Fatalf("unknown sort: %d %s", r.status, r.raw)
		}
		if r := call(t, "GET", l.base+"/v1/projects?cursor=bm9wZQ", nil); r.status != 400 || r.body["field"] != "cursor" {
			t.Fatalf("forged cursor: %d %s", r.status, r.raw)
		}
	})

	t.Run("summary", func(t *testing.T) {
		r := call(t, "GET", l.base+"/v1/summary?group_by=county&min_position="+pos, nil)
		groups := r.body["groups"].([]any)
		if len(groups) != 2 {
			t.Fatalf("by county: %s", r.raw)
		}
		sy := groups[1].(map[string]any)
		if sy["key"] != "330682" || sy["projects"] != float64(3) || sy["totals"].(map[string]any)["disbursed"] != float64(900*wan) ||
			sy["totals"].(map[string]any)["awarded"] != float64(2100*wan) || sy["by_status"].(map[string]any)["terminated"] != float64(1) {
			t.Fatalf("Shangyu: %v", sy)
		}
		total := r.body["total"].(map[string]any)
		if total["projects"] != float64(4) || total["total_investment"] != float64(4*20000*wan) {
			t.Fatalf("total: %v", total)
		}
	})

	t.Run("watchlist", func(t *testing.T) {
		r := call(t, "GET", l.base+"/v1/watchlist?as_of=2011-06-30&min_position="+pos, nil)
		kinds := map[string][]string{}
		for _, it := range r.body["items"].([]any) {
			m := it.(map[string]any)
			kinds[m["kind"].(string)] = append(kinds[m["kind"].(string)], m["project"].(string))
		}
		if strings.Join(kinds["refund_outstanding"], ",") != "Q2" || strings.Join(kinds["past_planned_end"], ",") != "Q1,Q3" ||
			strings.Join(kinds["disbursed_ahead_of_progress"], ",") != "Q1" {
			t.Fatalf("watchlist as of 2011-06-30: %v", kinds)
		}
	})

	t.Run("as of a date and a position", func(t *testing.T) {
		get := func(q string) map[string]any {
			r := call(t, "GET", l.base+"/v1/projects/Q1?"+q, nil)
			if r.status != 200 {
				t.Fatalf("GET Q1?%s: %d %s", q, r.status, r.raw)
			}
			return r.body
		}
		disbursed := func(b map[string]any) any {
			return b["funding"].(map[string]any)["totals"].(map[string]any)["disbursed"]
		}
		before := get("as_of=2011-12-31")
		if disbursed(before) != float64(300*wan) {
			t.Fatalf("as of 2011-12-31 Q1 disbursed %v, want 300万 (the 2012 tranche not yet)", disbursed(before))
		}
		runScript(t, l, []step{
			{"/v1/projects/Q1/progress-reports", owner, map[string]any{"effective_time": at("2012-02-20"), "as_of": "2012-02-20", "investment_completed": 18000 * wan, "physical_progress_bp": 9000}, []string{"progress_reported"}},
			{"/v1/projects/Q1/disbursements", finance, map[string]any{"effective_time": at("2012-03-01"), "source": "central_budget", "amount": 100 * wan, "basis": "b"}, []string{"funds_disbursed"}}})
		again := get("as_of=2011-12-31")
		delete(before, "position")
		delete(again, "position")
		if !equalJSON(before, again) {
			t.Fatalf("the same as-of query after an append differs:\n%v\n%v", before, again)
		}
		if d := disbursed(get("at_seq=" + pos)); d != float64(400*wan) {
			t.Fatalf("at stream position %s: %v, want 400万", pos, d)
		}
		if r := call(t, "GET", l.base+"/v1/projects/Q1?as_of=2009-02-01", nil); r.status != 404 {
			t.Fatalf("before its registration: %d", r.status)
		}
		s := call(t, "GET", l.base+"/v1/summary?group_by=status&as_of=2009-12-31", nil)
		if s.body["total"].(map[string]any)["by_status"].(map[string]any)["implementing"] != float64(3) {
			t.Fatalf("summary as of 2009-12-31: %s", s.raw)
		}
	})

	t.Run("health shows the projections", func(t *testing.T) {
		r := call(t, "GET", l.base+"/healthz", nil)
		p := r.body["projections"].(map[string]any)
		if r.status != 200 || p["status"] != "running" || p["lag"].(float64) < 0 {
			t.Fatalf("healthz: %s", r.raw)
		}
	})
}

func mustF(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

func equalJSON(a, b map[string]any) bool {
	return fmtJSON(a) == fmtJSON(b)
}

func fmtJSON(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}
