package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// ledger is a `ledger serve` running in-process through run, as a user
// would start it, on random ports and a temp data dir.
type ledger struct {
	base, nats           string
	metrics, natsMonitor string // with --metrics and --nats-monitor
	stop                 func()
	pos                  string // Ledger-Position of the last command a script ran
}

func startLedger(t *testing.T, dataDir string, extra ...string) *ledger {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	env := map[string]string{"LEDGER_NATS_READER_PASSWORD": "reader-secret"}
	args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--log-level", "warn",
		"--users-file", testUsersFile(t), "--webhook-allow-private"}, extra...)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, pw, io.Discard)
		pw.Close()
	}()
	l := &ledger{}
	sc := bufio.NewScanner(pr)
	for l.base == "" && sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "ledger: NATS clients on "); ok {
			l.nats = u
		}
		if u, ok := strings.CutPrefix(line, "ledger: metrics on "); ok {
			l.metrics = u
		}
		if u, ok := strings.CutPrefix(line, "ledger: NATS monitoring on "); ok {
			l.natsMonitor = u
		}
		if u, ok := strings.CutPrefix(line, "ledger: listening on "); ok {
			l.base = u
		}
	}
	go io.Copy(io.Discard, pr)
	if l.base == "" {
		cancel()
		t.Fatalf("ledger serve did not start: %v", <-done)
	}
	var once sync.Once
	l.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ledger serve: %v", err)
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// call sends one request; body may be a string (sent as is) or a value (sent as JSON).
func call(t *testing.T, method, url string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// A request names its user; one that does not is sent as the auditor,
	// who reads everything (an empty Authorization sends none).
	req.Header.Set("Authorization", "Bearer "+tokenOf("audit"))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Del("Authorization")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkDocumented(t, method, url, resp.StatusCode)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func at(date string) string { return date + "T10:00:00+08:00" }

// step is one scripted command: who posts what where, and the event subjects it must produce.
type step struct {
	path   string
	who    []string
	body   map[string]any
	events []string
}

func registration(id, county string) map[string]any {
	return map[string]any{
		"id": id, "effective_time": at("2009-03-01"), "name": "年产余热发电 1.2 万千瓦项目", "owner": "浙江某化工有限公司",
		"city": "330600", "county": county, "category": "waste_heat", "programmes": []string{"central_rcep"},
		"total_investment": 20000 * wan, "completed_investment": 3000 * wan, "planned_start": "2009-01-01", "planned_end": "2010-12-31",
		"requested": map[string]int64{"central_budget": 800 * wan},
	}
}

const wan = 1_000_000 // fen in one 万元

func attachments() []map[string]string {
	var as []map[string]string
	for _, k := range []string{"project_filing", "eia_approval", "site_planning", "land_prereview", "loan_agreement", "energy_review"} {
		as = append(as, map[string]string{"kind": k, "reference": "上虞 " + k + " 2009-1"})
	}
	return as
}

// approvedScript takes a project from registration to an open special account.
func approvedScript(id string) []step {
	p := "/v1/projects/" + id
	return []step{
		{"/v1/projects", drc, registration(id, "330682"), []string{"project_registered"}},
		{p + "/screening", drc, map[string]any{"effective_time": at("2009-03-10"), "note": "已开工，完成投资 15%"}, []string{"project_screened"}},
		{p + "/application-report", owner, map[string]any{"effective_time": at("2009-04-01"), "reference": "项目资金申请报告 2009-07", "attachments": attachments()}, []string{"application_report_submitted"}},
		{p + "/review", province, map[string]any{"effective_time": at("2009-05-15"), "outcome": "passed", "reference": "浙发改资环〔2009〕311号"}, []string{"provincial_review_passed"}},
		{p + "/national-reply", ndrc, map[string]any{"effective_time": at("2009-07-20"), "reference": "发改办环资〔2009〕1502号"}, []string{"national_reply_received"}},
		{p + "/investment-plan", ndrc, map[string]any{"effective_time": at("2009-08-10"), "reference": "发改投资〔2009〕2046号", "awards": map[string]int64{"central_budget": 700 * wan}}, []string{"investment_plan_issued"}},
		{p + "/special-account", owner, map[string]any{"effective_time": at("2009-08-20"), "bank": "中国工商银行上虞支行", "account_ref": "****6618"}, []string{"special_account_opened"}},
		// Central money follows checked progress (R6): the works are reported done.
		{p + "/progress-reports", owner, map[string]any{"effective_time": at("2009-08-21"), "as_of": "2009-08-21", "investment_completed": 5000 * wan, "physical_progress_bp": 10000}, []string{"progress_reported"}},
	}
}

func runScript(t *testing.T, l *ledger, script []step) []string {
	t.Helper()
	var subjects []string
	for i, s := range script {
		r := call(t, "POST", l.base+s.path, s.body, s.who...)
		if r.status != http.StatusCreated {
			t.Fatalf("step %d POST %s: %d %s", i, s.path, r.status, r.raw)
		}
		l.pos = r.header.Get("Ledger-Position")
		evs, _ := r.body["events"].([]any)
		if len(evs) != len(s.events) {
			t.Fatalf("step %d POST %s: %d events, want %v", i, s.path, len(evs), s.events)
		}
		for j, e := range evs {
			subj := e.(map[string]any)["subject"].(string)
			if !strings.HasSuffix(subj, "."+s.events[j]) {
				t.Fatalf("step %d POST %s: event %d on %s, want type %s", i, s.path, j, subj, s.events[j])
			}
			subjects = append(subjects, subj)
		}
	}
	return subjects
}

func streamLastSeq(t *testing.T, l *ledger) float64 {
	t.Helper()
	r := call(t, "GET", l.base+"/healthz", nil)
	if r.status != 200 {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
	return r.body["stream_last_seq"].(float64)
}

// subscribe collects every event published on ledger.> as a plain NATS
// subscriber with the read-only identity.
func subscribe(t *testing.T, l *ledger) func(n int) []string {
	t.Helper()
	nc, err := nats.Connect(l.nats, nats.Timeout(20*time.Second), nats.UserInfo("reader", "reader-secret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("ledger.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func(n int) []string {
		var got []string
		for len(got) < n {
			m, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("plain NATS subscriber after %d of %d events: %v", len(got), n, err)
			}
			var ce map[string]any
			if err := json.Unmarshal(m.Data, &ce); err != nil || ce["specversion"] != "1.0" {
				t.Fatalf("message on %s is not a CloudEvent: %s", m.Subject, m.Data)
			}
			got = append(got, m.Subject)
		}
		return got
	}
}

func TestFullLifecycleThroughTheAPI(t *testing.T) {
	l := startLedger(t, t.TempDir())
	received := subscribe(t, l)
	id := "SY-2009-0001"
	p := "/v1/projects/" + id
	script := append(approvedScript(id),
		step{p + "/disbursements", finance, map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 300 * wan, "basis": "2009年8月进度检查：完成投资 40%"}, []string{"funds_disbursed"}},
		step{p + "/progress-reports", owner, map[string]any{"effective_time": at("2009-12-31"), "as_of": "2009-12-31", "investment_completed": 12000 * wan, "physical_progress_bp": 6000}, []string{"progress_reported"}},
		step{p + "/changes", owner, map[string]any{"effective_time": at("2010-01-15"), "change_id": "rename-1", "kind": "owner_rename", "description": "股份制改造", "new_owner": "浙江某化工股份有限公司"}, []string{"change_requested"}},
		step{p + "/changes/rename-1/decision", province, map[string]any{"effective_time": at("2010-02-01"), "outcome": "approved", "reference": "浙发改资环〔2010〕45号"}, []string{"change_approved", "owner_renamed"}},
		step{p + "/progress-reports", owner, map[string]any{"effective_time": at("2010-05-31"), "as_of": "2010-05-31", "investment_completed": 17000 * wan, "physical_progress_bp": 8500}, []string{"progress_reported"}},
		step{p + "/disbursements", finance, map[string]any{"effective_time": at("2010-06-01"), "source": "central_budget", "amount": 295 * wan, "basis": "2010年5月进度检查：完成投资 85%"}, []string{"funds_disbursed"}},
		step{p + "/inspections", auditor, map[string]any{"effective_time": at("2010-07-01"), "kind": "audit", "body": "审计署上海特派办", "findings": "资金使用规范"}, []string{"inspection_recorded"}},
		step{p + "/acceptance-items", owner, map[string]any{"effective_time": at("2010-11-01"), "item": "special_acceptance", "reference": "环保竣工验收 绍环验〔2010〕88号"}, []string{"acceptance_item_filed"}},
		step{p + "/completion", owner, map[string]any{"effective_time": at("2010-11-20"), "actual_total_investment": 20500 * wan, "variance_explanation": "设备价格上涨"}, []string{"construction_completed"}},
		step{p + "/disbursements", finance, map[string]any{"effective_time": at("2010-11-25"), "source": "central_budget", "amount": 105 * wan, "basis": "竣工后拨付余款"}, []string{"funds_disbursed"}},
		step{p + "/acceptance-preparation", owner, map[string]any{"effective_time": at("2010-12-01"), "note": "准备申请验收"}, []string{"acceptance_preparation_started"}},
		step{p + "/acceptance-items", owner, map[string]any{"effective_time": at("2011-01-10"), "item": "audit_report", "reference": "审计报告 2011-3"}, []string{"acceptance_item_filed"}},
		step{p + "/acceptance-items", owner, map[string]any{"effective_time": at("2011-01-12"), "item": "completion_report", "reference": "竣工总结报告"}, []string{"acceptance_item_filed"}},
		step{p + "/acceptance-request", owner, map[string]any{"effective_time": at("2011-01-15")}, []string{"acceptance_requested"}},
		step{p + "/acceptance", as("shaoxing"), map[string]any{"effective_time": at("2011-03-01"), "outcome": "passed", "reference": "绍发改验收〔2011〕12号"}, []string{"acceptance_passed"}},
		step{p + "/closure", drc, map[string]any{"effective_time": at("2011-03-15")}, []string{"project_closed"}},
	)
	subjects := runScript(t, l, script)
	if got := received(len(subjects)); strings.Join(got, "\n") != strings.Join(subjects, "\n") {
		t.Fatalf("the plain subscriber saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(subjects, "\n"))
	}
	for _, s := range subjects {
		if !strings.HasPrefix(s, "ledger.330600.330682."+id+".") {
			t.Fatalf("subject %s is not ledger.<city>.<county>.<project>.<event>", s)
		}
	}
	r := call(t, "GET", l.base+p+"?min_position="+l.pos, nil)
	if r.status != 200 || r.body["status"] != "closed" || r.body["owner"] != "浙江某化工股份有限公司" {
		t.Fatalf("GET %s: %d status=%v owner=%v", p, r.status, r.body["status"], r.body["owner"])
	}
	if d := r.body["funding"].(map[string]any)["disbursed"].(map[string]any)["central_budget"]; d != float64(700*wan) {
		t.Fatalf("disbursed %v, want %d", d, 700*wan)
	}
	if r.header.Get("ETag") != fmt.Sprintf(`"%d"`, len(subjects)) {
		t.Fatalf("ETag %s, want the last sequence %d", r.header.Get("ETag"), len(subjects))
	}
	h := call(t, "GET", l.base+p+"/events", nil)
	evs := h.body["events"].([]any)
	if len(evs) != len(subjects) {
		t.Fatalf("history has %d events, want %d", len(evs), len(subjects))
	}
	prev := ""
	byUser := map[string]bool{}
	for i, e := range evs {
		ce := e.(map[string]any)["event"].(map[string]any)
		if ce["prevhash"] != prev || ce["subject"] != id || ce["actor"] == "" || ce["actorrole"] == "" || ce["recordedtime"] == "" {
			t.Fatalf("event %d: %v", i, ce)
		}
		// Every event's actor is the authenticated user who sent the command.
		var u *fileUser
		for j := range testUsers {
			if testUsers[j].ID == ce["actorid"] {
				u = &testUsers[j]
			}
		}
		if u == nil || ce["actor"] != u.Name || ce["actororg"] != u.Org || !slices.Contains(u.Roles, ce["actorrole"].(string)) {
			t.Fatalf("event %d: actor %v (%v, %v) in role %v is not a test user's identity", i, ce["actor"], ce["actorid"], ce["actororg"], ce["actorrole"])
		}
		byUser[u.ID] = true
		prev = ce["hash"].(string)
	}
	last := evs[len(evs)-1].(map[string]any)["event"].(map[string]any)
	if last["time"] != "2011-03-15T10:00:00+08:00" || last["actorid"] != "wangfang" || last["actor"] != "王芳" || last["actorrole"] != "county_drc" {
		t.Fatalf("closing event: time %v actor %v (%v) role %v", last["time"], last["actor"], last["actorid"], last["actorrole"])
	}
	if len(byUser) < 7 {
		t.Fatalf("the lifecycle was recorded by %d distinct users %v, want the seven roles' own", len(byUser), byUser)
	}
	t.Logf("%d events recorded by %d users: %v", len(evs), len(byUser), byUser)
}

func TestTerminatedAndRefundedLifecycle(t *testing.T) {
	l := startLedger(t, t.TempDir())
	received := subscribe(t, l)
	id := "SY-2009-0002"
	p := "/v1/projects/" + id
	script := append(approvedScript(id),
		step{p + "/disbursements", finance, map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 600 * wan, "basis": "进度检查"}, []string{"funds_disbursed"}},
		step{p + "/termination", province, map[string]any{"effective_time": at("2010-04-01"), "reason": "企业经营情况变化，项目中止实施", "reference": "省同意中止 浙发改〔2010〕60号"}, []string{"termination_recognised"}},
		step{p + "/termination", ndrc, map[string]any{"effective_time": at("2010-04-10"), "reason": "企业经营情况变化，项目中止实施", "reference": "国家同意中止 发改办环资〔2010〕77号"}, []string{"termination_recognised", "project_terminated"}},
		step{p + "/refunds", finance, map[string]any{"effective_time": at("2010-05-01"), "source": "central_budget", "amount": 400 * wan, "reference": "退还 第1笔"}, []string{"funds_refunded"}},
		step{p + "/refunds", finance, map[string]any{"effective_time": at("2010-06-01"), "source": "central_budget", "amount": 200 * wan, "reference": "退还 第2笔"}, []string{"funds_refunded"}},
		step{p + "/closure", drc, map[string]any{"effective_time": at("2010-06-15")}, []string{"project_closed"}},
	)
	// Before the last refund, closing is refused (R12).
	subjects := runScript(t, l, script[:len(script)-2])
	r := call(t, "POST", l.base+p+"/closure", map[string]any{"effective_time": at("2010-05-15")}, drc...)
	if r.status != 409 || r.body["code"] != "refund-outstanding" || r.body["rule"] != "R12" {
		t.Fatalf("closing with a refund outstanding: %d %s", r.status, r.raw)
	}
	subjects = append(subjects, runScript(t, l, script[len(script)-2:])...)
	if got := received(len(subjects)); strings.Join(got, "\n") != strings.Join(subjects, "\n") {
		t.Fatalf("the plain subscriber saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(subjects, "\n"))
	}
	v := call(t, "GET", l.base+p+"?min_position="+l.pos, nil).body
	f := v["funding"].(map[string]any)
	if v["status"] != "closed" || f["refunded"].(map[string]any)["central_budget"] != float64(600*wan) || len(f["outstanding"].(map[string]any)) != 0 {
		t.Fatalf("terminated project: %v", v)
	}
	if due := f["refund_due"].(map[string]any)["central_budget"]; due != float64(600*wan) {
		t.Fatalf("refund due at termination %v, want %d", due, 600*wan)
	}
}

func TestRefusalsWriteNothing(t *testing.T) {
	l := startLedger(t, t.TempDir())
	runScript(t, l, approvedScript("A"))                                                     // plan and account, award 700万
	runScript(t, l, approvedScript("B")[:5])                                                 // national reply, no plan
	runScript(t, l, append(approvedScript("C"), step{"/v1/projects/C/termination", province, // terminated: recognised by province and nation (R12)
		map[string]any{"effective_time": at("2009-09-01"), "reason": "中止", "reference": "r"}, []string{"termination_recognised"}},
		step{"/v1/projects/C/termination", ndrc, map[string]any{"effective_time": at("2009-09-02"), "reason": "中止", "reference": "r"}, []string{"termination_recognised", "project_terminated"}}))
	runScript(t, l, append(approvedScript("D"), step{"/v1/projects/D/disbursements", finance,
		map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 100 * wan, "basis": "b"}, []string{"funds_disbursed"}}))
	// SD: its plan issued, and a change requested, by one user who also holds finance and DRC roles.
	dual := func(role string) []string { return append(as("dual"), "Ledger-Role", role) }
	sd := approvedScript("SD")
	sd[5].who = dual("province_drc")
	runScript(t, l, append(sd, step{"/v1/projects/SD/changes", dual("county_drc"),
		map[string]any{"effective_time": at("2009-08-25"), "change_id": "CH1", "kind": "content", "description": "调整"}, []string{"change_requested"}}))
	ningbo := registration("N1", "330203")
	ningbo["city"] = "330200"
	runScript(t, l, []step{{"/v1/projects", append(as("ningbo"), "Ledger-Role", "county_drc"), ningbo, []string{"project_registered"}}})
	disburse := func(amount int64) map[string]any {
		return map[string]any{"effective_time": at("2009-10-01"), "source": "central_budget", "amount": amount, "basis": "进度检查"}
	}
	versionOfA := call(t, "GET", l.base+"/v1/projects/A/events", nil).header.Get("ETag")
	tests := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code, rule, field  string
	}{
		{"disbursing above the award", "POST", "/v1/projects/A/disbursements", disburse(700*wan + 1), finance, 409, "over-award", "R6", "amount"},
		{"disbursing before the plan", "POST", "/v1/projects/B/disbursements", disburse(1), finance, 409, "before-plan", "R4", ""},
		{"disbursing after termination", "POST", "/v1/projects/C/disbursements", disburse(1), finance, 409, "after-termination", "R12", ""},
		{"refunding more than was disbursed", "POST", "/v1/projects/D/refunds", map[string]any{"effective_time": at("2009-10-01"), "source": "central_budget", "amount": 100*wan + 1, "reference": "r"}, finance, 409, "refund-exceeds-disbursed", "R12", "amount"},
		{"accepting before completion", "POST", "/v1/projects/A/acceptance", map[string]any{"effective_time": at("2009-10-01"), "outcome": "passed", "reference": "r"}, province, 409, "before-completion", "R14", ""},
		{"a stale If-Match", "POST", "/v1/projects/A/disbursements", disburse(1), append([]string{"If-Match", `"1"`}, finance...), 412, "stale-version", "", "If-Match"},
		{"a malformed body", "POST", "/v1/projects/A/disbursements", `{"effective_time": "2009-10-01T00:00:00+08:00", "amount": 5`, finance, 400, "malformed-json", "", ""},
		{"an amount that is not an integer of fen", "POST", "/v1/projects/A/disbursements", `{"effective_time": "2009-10-01T00:00:00+08:00", "source": "central_budget", "amount": 12.5, "basis": "b"}`, finance, 400, "invalid-field", "", "amount"},
		{"an unknown field", "POST", "/v1/projects/A/disbursements", `{"effective_time": "2009-10-01T00:00:00+08:00", "source": "central_budget", "amount": 5, "basis": "b", "approved_by": "me"}`, finance, 400, "unknown-field", "", "approved_by"},
		{"no effective time", "POST", "/v1/projects/A/disbursements", `{"source": "central_budget", "amount": 5, "basis": "b"}`, finance, 422, "invalid-field", "", "effective_time"},
		{"an unknown project", "POST", "/v1/projects/NOPE/disbursements", disburse(1), finance, 404, "project-not-found", "", ""},
		{"a role that may not disburse", "POST", "/v1/projects/A/disbursements", disburse(1), owner, 403, "role-not-permitted", "", ""},
		{"no token", "POST", "/v1/projects/A/disbursements", disburse(1), []string{"Authorization", ""}, 401, "unauthenticated", "", ""},
		{"an unknown token", "POST", "/v1/projects/A/disbursements", disburse(1), []string{"Authorization", "Bearer lgr_not-a-token-of-this-ledger-at-all-00"}, 401, "unauthenticated", "", ""},
		{"a role the user does not hold", "POST", "/v1/projects/A/disbursements", disburse(1), append(finance, "Ledger-Role", "ndrc"), 403, "role-not-granted", "", "Ledger-Role"},
		{"a role that is none", "POST", "/v1/projects/A/disbursements", disburse(1), append(finance, "Ledger-Role", "admin"), 400, "invalid-role", "", "Ledger-Role"},
		{"several roles, none named", "POST", "/v1/projects/N1/screening", map[string]any{"effective_time": at("2009-03-10")}, as("ningbo"), 400, "missing-role", "", "Ledger-Role"},
		{"an admin recording a step", "POST", "/v1/projects/A/inspections", map[string]any{"effective_time": at("2009-10-01"), "kind": "audit", "body": "b"}, admin, 403, "role-not-granted", "", ""},
		{"a county user on another county's project", "POST", "/v1/projects/N1/screening", map[string]any{"effective_time": at("2009-03-10")}, drc, 403, "out-of-scope", "", ""},
		{"a county user registering in another county", "POST", "/v1/projects", registration("E2", "330681"), drc, 403, "out-of-scope", "", ""},
		{"an owner on another organisation's project", "POST", "/v1/projects/A/progress-reports", map[string]any{"effective_time": at("2009-10-01"), "as_of": "2009-09-30", "investment_completed": 1}, as("lisi"), 403, "out-of-scope", "", ""},
		{"disbursing under a plan one issued", "POST", "/v1/projects/SD/disbursements", disburse(1), dual("finance"), 403, "sod-disbursed-by-plan-issuer", "SoD", ""},
		{"deciding a change one requested", "POST", "/v1/projects/SD/changes/CH1/decision", map[string]any{"effective_time": at("2009-09-01"), "outcome": "approved", "reference": "r"}, dual("province_drc"), 403, "sod-change-decided-by-requester", "SoD", "change_id"},
		{"an auditor disbursing", "POST", "/v1/projects/A/disbursements", disburse(1), auditor, 403, "role-not-permitted", "", ""},
		{"an actor named in a header", "POST", "/v1/projects/A/disbursements", disburse(1), append(finance, "Ledger-Actor", "someone-else"), 400, "invalid-header", "", "Ledger-Actor"},
		{"registering an existing id", "POST", "/v1/projects", registration("A", "330682"), drc, 409, "project-exists", "", ""},
		{"a county outside the city", "POST", "/v1/projects", registration("E", "330782"), as("shaoxing"), 422, "invalid-field", "", "county"},
		{"a body over 64 KiB", "POST", "/v1/projects/A/inspections", `{"kind":"audit","body":"` + strings.Repeat("审", 30000) + `"}`, auditor, 413, "body-too-large", "", ""},
		{"an unknown project's state", "GET", "/v1/projects/NOPE", nil, nil, 404, "project-not-found", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := streamLastSeq(t, l)
			r := call(t, tc.method, l.base+tc.path, tc.body, tc.hdr...)
			if r.status != tc.status || r.body["code"] != tc.code || (tc.rule != "" && r.body["rule"] != tc.rule) || (tc.field != "" && r.body["field"] != tc.field) {
				t.Fatalf("got %d %s; want %d code=%s rule=%s field=%s", r.status, r.raw, tc.status, tc.code, tc.rule, tc.field)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json", ct)
			}
			if r.body["type"] != "urn:ledger:problem:"+tc.code || r.body["status"] != float64(tc.status) || r.body["detail"] == "" {
				t.Fatalf("problem body %s", r.raw)
			}
			if after := streamLastSeq(t, l); after != before {
				t.Fatalf("the stream moved from %v to %v on a refused request", before, after)
			}
		})
	}
	if v := call(t, "GET", l.base+"/v1/projects/A/events", nil).header.Get("ETag"); v != versionOfA {
		t.Fatalf("project A moved from %s to %s", versionOfA, v)
	}
}

func TestIfMatchAndIdempotencyKey(t *testing.T) {
	l := startLedger(t, t.TempDir())
	runScript(t, l, approvedScript("A"))
	etag := call(t, "GET", l.base+"/v1/projects/A?min_position="+l.pos, nil).header.Get("ETag")
	body := map[string]any{"effective_time": at("2009-10-01"), "source": "central_budget", "amount": 100 * wan, "basis": "进度检查"}
	key := []string{"Idempotency-Key", `"disb-2009-10-A"`}
	first := call(t, "POST", l.base+"/v1/projects/A/disbursements", body, append(append([]string{"If-Match", etag}, key...), finance...)...)
	if first.status != 201 || first.body["replayed"] != false {
		t.Fatalf("first POST: %d %s", first.status, first.raw)
	}
	seq := streamLastSeq(t, l)
	// The retry returns the first result, even with the If-Match that is now stale.
	again := call(t, "POST", l.base+"/v1/projects/A/disbursements", body, append(append([]string{"If-Match", etag}, key...), finance...)...)
	if again.status != 201 || again.body["replayed"] != true || again.header.Get("Idempotent-Replayed") != "true" ||
		fmt.Sprint(again.body["events"]) != fmt.Sprint(first.body["events"]) {
		t.Fatalf("retry: %d %s; want the first result replayed", again.status, again.raw)
	}
	if streamLastSeq(t, l) != seq {
		t.Fatal("the retry wrote to the stream")
	}
	body["amount"] = 200 * wan
	reused := call(t, "POST", l.base+"/v1/projects/A/disbursements", body, append(key, finance...)...)
	if reused.status != 422 || reused.body["code"] != "idempotency-key-reused" {
		t.Fatalf("key reused for another body: %d %s", reused.status, reused.raw)
	}
	// Without If-Match the command is decided on the current state.
	if r := call(t, "POST", l.base+"/v1/projects/A/disbursements", body, finance...); r.status != 201 {
		t.Fatalf("POST without If-Match: %d %s", r.status, r.raw)
	}
	// A registration retried with the same key names the same project.
	reg := registration("", "330682")
	delete(reg, "id")
	k := []string{"Idempotency-Key", `"reg-7"`}
	r1 := call(t, "POST", l.base+"/v1/projects", reg, append(k, drc...)...)
	r2 := call(t, "POST", l.base+"/v1/projects", reg, append(k, drc...)...)
	if r1.status != 201 || r2.status != 201 || r1.body["project"] != r2.body["project"] || r2.body["replayed"] != true {
		t.Fatalf("registration retried: %s / %s", r1.raw, r2.raw)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
