package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFirstStartPrintsTheAdminToken: a ledger on an empty directory makes
// its first admin and prints the token once; it works, and a second start
// prints none.
func TestFirstStartPrintsTheAdminToken(t *testing.T) {
	dir := t.TempDir()
	start := func() (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--log-level", "warn"}, func(string) string { return "" }, pw, io.Discard)
			pw.Close()
		}()
		var base, tok string
		sc := bufio.NewScanner(pr)
		for base == "" && sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ledger: created the first admin user \"admin\"; its token, shown this once: "); ok {
				tok = v
			}
			if v, ok := strings.CutPrefix(sc.Text(), "ledger: listening on "); ok {
				base = v
			}
		}
		go io.Copy(io.Discard, pr)
		if base == "" {
			cancel()
			t.Fatalf("serve did not start: %v", <-done)
		}
		return base + "|" + tok, func() { cancel(); <-done }
	}
	got, stop := start()
	base, tok, _ := strings.Cut(got, "|")
	if !strings.HasPrefix(tok, "lgr_") {
		t.Fatalf("no admin token printed at the first start")
	}
	if r := call(t, "GET", base+"/v1/me", nil, "Authorization", "Bearer "+tok); r.status != 200 || r.body["id"] != "admin" {
		t.Fatalf("the printed token: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", base+"/v1/projects", nil, "Authorization", ""); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", base+"/healthz", nil, "Authorization", ""); r.status != 200 {
		t.Fatalf("healthz without a token: %d", r.status)
	}
	stop()
	got, stop = start()
	defer stop()
	if _, tok2, _ := strings.Cut(got, "|"); tok2 != "" {
		t.Fatal("a second start printed a token again")
	}
}

// TestTokensAndWebhooksThroughTheAPI: tokens issued and revoked by an admin;
// users and webhooks managed by admins only; webhook targets on internal
// addresses refused unless the operator allows them; redirects not
// followed; credentials in webhook URLs masked.
func TestTokensAndWebhooksThroughTheAPI(t *testing.T) {
	l := startLedger(t, t.TempDir(), "--webhook-allow-private=false")
	r := call(t, "POST", l.base+"/v1/users", map[string]any{"id": "zhaoliu", "name": "赵六", "org": "上虞市财政局", "roles": []string{"finance"}, "region": "330682"}, admin...)
	if r.status != 201 {
		t.Fatalf("add a user: %d %s", r.status, r.raw)
	}
	if r := call(t, "POST", l.base+"/v1/users", map[string]any{"id": "x", "name": "x", "roles": []string{"auditor"}, "region": "province"}, drc...); r.status != 403 || r.body["code"] != "admin-only" {
		t.Fatalf("a county user adding a user: %d %s", r.status, r.raw)
	}
	tr := call(t, "POST", l.base+"/v1/users/zhaoliu/tokens", map[string]any{"label": "test", "ttl_days": 1}, admin...)
	tok, _ := tr.body["token"].(string)
	if tr.status != 201 || tok == "" {
		t.Fatalf("issue a token: %d %s", tr.status, tr.raw)
	}
	if me := call(t, "GET", l.base+"/v1/me", nil, "Authorization", "Bearer "+tok); me.status != 200 || me.body["id"] != "zhaoliu" {
		t.Fatalf("the new token: %d %s", me.status, me.raw)
	}
	lt := call(t, "GET", l.base+"/v1/users/zhaoliu/tokens", nil, admin...)
	if strings.Contains(string(lt.raw), tok) {
		t.Fatal("the token list shows the token itself")
	}
	id := tr.body["id"].(string)
	if rv := call(t, "DELETE", l.base+"/v1/users/zhaoliu/tokens/"+id, nil, admin...); rv.status != 200 {
		t.Fatalf("revoke: %d %s", rv.status, rv.raw)
	}
	if me := call(t, "GET", l.base+"/v1/me", nil, "Authorization", "Bearer "+tok); me.status != 401 || !strings.Contains(me.body["detail"].(string), "revoked") {
		t.Fatalf("a revoked token: %d %s", me.status, me.raw)
	}

	hook := func(url string, who []string) response {
		return call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": url, "secret": "0123456789abcdef0123"}, who...)
	}
	if r := hook("http://example.invalid/", auditor); r.status != 403 {
		t.Fatalf("an auditor registering a webhook: %d %s", r.status, r.raw)
	}
	for _, u := range []string{"http://127.0.0.1:9/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://localhost/"} {
		if r := hook(u, admin); r.status != 422 {
			t.Fatalf("a webhook to %s: %d %s", u, r.status, r.raw)
		} else {
			t.Logf("%s: %s", u, r.body["detail"])
		}
	}
	if r := call(t, "GET", l.base+"/v1/webhooks", nil, auditor...); r.status != 403 {
		t.Fatalf("an auditor listing webhooks: %d", r.status)
	}
}

// TestRedirectsAreNotFollowed: a webhook endpoint that redirects has its
// delivery fail; the redirect's target is never called. The URL, with its
// credentials, is shown masked.
func TestRedirectsAreNotFollowed(t *testing.T) {
	l := startLedger(t, t.TempDir())
	var targetHit atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHit.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	u := strings.Replace(redirect.URL, "http://", "http://hookuser:hookpass@", 1) + "/in?token=s3cret"
	r := call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": u, "secret": "0123456789abcdef0123", "from_seq": 1}, admin...)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	runScript(t, l, approvedScript("RD"))
	var st response
	waitFor(t, 20*time.Second, "a failed delivery", func() bool {
		st = call(t, "GET", l.base+"/v1/webhooks/"+r.body["id"].(string), nil, admin...)
		f, _ := st.body["failures"].(float64)
		return f >= 1
	})
	if targetHit.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
	if bytes.Contains(st.raw, []byte("hookpass")) || bytes.Contains(st.raw, []byte("s3cret")) {
		t.Fatalf("the status shows the URL's secrets: %s", st.raw)
	}
	var s struct {
		URL       string `json:"url"`
		LastError string `json:"last_error"`
	}
	_ = json.Unmarshal(st.raw, &s)
	t.Logf("url %s; last error %s", s.URL, s.LastError)
	if !strings.Contains(s.LastError, "307") {
		t.Fatalf("last error %q, want the redirect's status", s.LastError)
	}
}

// TestCountyFeedHoldsOnlyItsCounty: a county user's event feed carries
// only its county's events, whatever it asks for.
func TestCountyFeedHoldsOnlyItsCounty(t *testing.T) {
	l := startLedger(t, t.TempDir())
	runScript(t, l, approvedScript("C1"))
	reg := registration("N1", "330206")
	reg["city"] = "330200"
	runScript(t, l, []step{{"/v1/projects", as("registrar"), reg, []string{"project_registered"}}})
	runScript(t, l, approvedScript("C2")[:1])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if r := call(t, "GET", l.base+"/v1/events/stream?county=330206", nil, drc...); r.status != 403 {
		t.Fatalf("a county user asking for another county's feed: %d %s", r.status, r.raw)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", l.base+"/v1/events/stream?from_seq=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf("wangfang"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var subjects []string
	for len(subjects) < 9 && sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ce map[string]any
			_ = json.Unmarshal([]byte(d), &ce)
			subjects = append(subjects, ce["subject"].(string))
		}
	}
	for _, s := range subjects {
		if s == "N1" {
			t.Fatalf("the county feed carried Ningbo's N1: %v", subjects)
		}
	}
	if len(subjects) != 9 || subjects[8] != "C2" {
		t.Fatalf("the county feed: %v", subjects)
	}
}

// TestFourEyesThroughTheAPI: with --four-eyes-above, a large tranche is
// prepared by one finance user and paid when a second approves it; the
// preparer's own approval is refused.
func TestFourEyesThroughTheAPI(t *testing.T) {
	dir := t.TempDir()
	l := startLedger(t, dir, "--four-eyes-above", "100000000") // 100万
	runScript(t, l, approvedScript("FE"))
	r := call(t, "POST", l.base+"/v1/projects/FE/disbursements",
		map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 300 * wan, "basis": "进度检查"}, finance...)
	if r.status != 201 || !strings.HasSuffix(r.body["events"].([]any)[0].(map[string]any)["subject"].(string), ".disbursement_prepared") {
		t.Fatalf("prepare: %d %s", r.status, r.raw)
	}
	approve := map[string]any{"effective_time": at("2009-09-02")}
	if r := call(t, "POST", l.base+"/v1/projects/FE/disbursements/D1/approval", approve, finance...); r.status != 403 || r.body["code"] != "four-eyes-approved-by-preparer" {
		t.Fatalf("approved by its preparer: %d %s", r.status, r.raw)
	}
	r = call(t, "POST", l.base+"/v1/projects/FE/disbursements/D1/approval", approve, as("sunqi")...)
	if r.status != 201 || len(r.body["events"].([]any)) != 2 {
		t.Fatalf("approved by a second user: %d %s", r.status, r.raw)
	}
	v := call(t, "GET", l.base+"/v1/projects/FE?min_position="+r.header.Get("Ledger-Position"), nil)
	if d := v.body["funding"].(map[string]any)["disbursed"].(map[string]any)["central_budget"]; d != float64(300*wan) {
		t.Fatalf("disbursed after the approval: %v", d)
	}
	if r := call(t, "POST", l.base+"/v1/projects/FE/disbursements",
		map[string]any{"effective_time": at("2009-09-03"), "source": "central_budget", "amount": 100 * wan, "basis": "进度检查"}, finance...); r.status != 201 ||
		!strings.HasSuffix(r.body["events"].([]any)[0].(map[string]any)["subject"].(string), ".funds_disbursed") {
		t.Fatalf("a tranche at the threshold: %d %s", r.status, r.raw)
	}
	// The history verifies: the preparation, and the approval with its payment.
	l.stop()
	if err, out := runCmd("verify", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub")); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// TestUsersCommand: ledger users adds a user, issues a token that works,
// lists, disables and revokes, through a running ledger as an admin.
func TestUsersCommand(t *testing.T) {
	l := startLedger(t, t.TempDir())
	env := map[string]string{"LEDGER_URL": l.base, "LEDGER_TOKEN": tokenOf("admin")}
	users := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"users"}, args...), func(k string) string { return env[k] }, &out, &errb)
		return out.String() + errb.String(), err
	}
	if out, err := users("add", "--id", "zhouba", "--name", "周八", "--org", "上虞市发改局", "--roles", "county_drc", "--region", "330682"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	out, err := users("token", "--id", "zhouba", "--label", "test")
	tok := strings.Fields(out)[0]
	if err != nil || !strings.HasPrefix(tok, "lgr_") {
		t.Fatalf("users token: %v\n%s", err, out)
	}
	if r := call(t, "POST", l.base+"/v1/projects", registration("U1", "330682"), "Authorization", "Bearer "+tok); r.status != 201 {
		t.Fatalf("the new user's token: %d %s", r.status, r.raw)
	}
	if out, err := users("list"); err != nil || !strings.Contains(out, "zhouba") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if out, err := users("disable", "--id", "zhouba"); err != nil {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	if r := call(t, "GET", l.base+"/v1/me", nil, "Authorization", "Bearer "+tok); r.status != 401 {
		t.Fatalf("a disabled user's token: %d %s", r.status, r.raw)
	}
	env["LEDGER_TOKEN"] = tokenOf("audit")
	if out, err := users("list"); err == nil || !strings.Contains(err.Error(), "admin-only") {
		t.Fatalf("users list as an auditor: %v\n%s", err, out)
	}
}

// TestCountyExportHoldsOnlyItsCounty: ledger export through the API as a
// county user writes a bundle of that county's histories only, which
// verifies offline; asking for another county is refused.
func TestCountyExportHoldsOnlyItsCounty(t *testing.T) {
	dir := t.TempDir()
	l := startLedger(t, dir, "--sign-every", "1", "--sign-interval", "1s")
	runScript(t, l, approvedScript("E1"))
	reg := registration("N1", "330206")
	reg["city"] = "330200"
	runScript(t, l, []step{{"/v1/projects", as("registrar"), reg, []string{"project_registered"}}})
	waitFor(t, 10*time.Second, "a checkpoint over every event", func() bool {
		h := call(t, "GET", l.base+"/healthz", nil)
		return h.body["checkpoints"].(map[string]any)["latest_checkpoint"].(float64) >= h.body["stream_last_seq"].(float64)
	})
	out := filepath.Join(t.TempDir(), "county.zip")
	env := map[string]string{"LEDGER_TOKEN": tokenOf("wangfang")}
	var o bytes.Buffer
	if err := run(context.Background(), []string{"export", "--url", l.base, "--out", out}, func(k string) string { return env[k] }, &o, &o); err != nil {
		t.Fatalf("export as a county user: %v\n%s", err, o.String())
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var subjects []string
	for _, f := range zr.File {
		if f.Name != "events.jsonl" {
			continue
		}
		rc, _ := f.Open()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e struct {
				Subject string `json:"subject"`
			}
			_ = json.Unmarshal(sc.Bytes(), &e)
			subjects = append(subjects, e.Subject)
		}
		rc.Close()
	}
	if len(subjects) != 8 {
		t.Fatalf("the county's bundle holds %d events, want E1's 8: %v", len(subjects), subjects)
	}
	for _, s := range subjects {
		if !strings.HasPrefix(s, "ledger.330600.330682.E1.") {
			t.Fatalf("the county's bundle holds %s", s)
		}
	}
	key := call(t, "GET", l.base+"/v1/checkpoints/key", nil)
	var vo bytes.Buffer
	if err := run(context.Background(), []string{"verify", "--bundle", out, "--key", strings.TrimSpace(string(key.raw))}, func(string) string { return "" }, &vo, &vo); err != nil {
		t.Fatalf("verify the county's bundle: %v\n%s", err, vo.String())
	}
	if r := call(t, "GET", l.base+"/v1/export?county=330206", nil, drc...); r.status != 403 {
		t.Fatalf("a county user exporting another county: %d %s", r.status, r.raw)
	}
}

// TestUsersOfAStoppedLedger: ledger users --data-dir manages a stopped
// ledger's users (taking the directory's lock), and is refused while the
// ledger runs.
func TestUsersOfAStoppedLedger(t *testing.T) {
	dir := t.TempDir()
	l := startLedger(t, dir)
	l.stop()
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"users", "add", "--data-dir", dir, "--id", "wuji", "--name", "吴九", "--org", "上虞市财政局", "--roles", "finance", "--region", "330682"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("users add --data-dir: %v\n%s", err, errb.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"users", "token", "--data-dir", dir, "--id", "wuji"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("users token --data-dir: %v\n%s", err, errb.String())
	}
	tok := strings.TrimSpace(out.String())
	l = startLedger(t, dir)
	if r := call(t, "GET", l.base+"/v1/me", nil, "Authorization", "Bearer "+tok); r.status != 200 || r.body["id"] != "wuji" {
		t.Fatalf("the token made on the stopped ledger: %d %s", r.status, r.raw)
	}
	err := run(context.Background(), []string{"users", "list", "--data-dir", dir}, func(string) string { return "" }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "in use by process") {
		t.Fatalf("users --data-dir on a running ledger: %v", err)
	}
}

// TestVersion: ledger version and --version print the build's version.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, func(string) string { return "" }, &out, &out); err != nil || !strings.HasPrefix(out.String(), "ledger ") || !strings.Contains(out.String(), "go1.") {
			t.Fatalf("ledger %s: %v %q", arg, err, out.String())
		}
	}
}

// TestHistoryIfNoneMatch: a project's history answers 304 while the project
// is at the version If-None-Match names, and the new history once it moves.
func TestHistoryIfNoneMatch(t *testing.T) {
	l := startLedger(t, t.TempDir())
	runScript(t, l, approvedScript("IN")[:2])
	h := call(t, "GET", l.base+"/v1/projects/IN/events", nil)
	tag := h.header.Get("ETag")
	if r := call(t, "GET", l.base+"/v1/projects/IN/events", nil, "If-None-Match", tag); r.status != 304 || len(r.raw) != 0 {
		t.Fatalf("If-None-Match %s at that version: %d %s", tag, r.status, r.raw)
	}
	runScript(t, l, approvedScript("IN")[2:3])
	if r := call(t, "GET", l.base+"/v1/projects/IN/events", nil, "If-None-Match", tag); r.status != 200 || r.header.Get("ETag") == tag {
		t.Fatalf("If-None-Match %s after a new event: %d", tag, r.status)
	}
}
