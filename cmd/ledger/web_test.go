package main

import (
	"context"
	_ "embed"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// axe-core (MPL-2.0, testdata/axe-core.LICENSE), run in the page for the
// accessibility check.
//
//go:embed testdata/axe.min.js
var axeSource string

var screenshots = flag.String("screenshots", "", "write a screenshot of each workspace page to this directory (make screenshots)")

// browser is the path of a Chromium to drive. Without one the browser tests
// are skipped, unless LEDGER_REQUIRE_BROWSER=1 (as .ci/run sets), where its
// absence fails them.
func browser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LEDGER_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium found and LEDGER_REQUIRE_BROWSER=1 (apt-get install chromium)")
	}
	t.Skip("no chromium: the browser tests need Debian's chromium package")
	return ""
}

// tab is a browser tab that records the page's console errors, uncaught
// exceptions and failed loads.
type tab struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newTab(t *testing.T, parent context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				tb.errs = append(tb.errs, "console: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			tb.errs = append(tb.errs, "exception: "+e.ExceptionDetails.Error())
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError {
				tb.errs = append(tb.errs, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable()); err != nil {
		t.Fatal(err)
	}
	return tb
}

// takeErrors returns the errors recorded since the last call.
func (tb *tab) takeErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	e := tb.errs
	tb.errs = nil
	return e
}

func (tb *tab) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var loc string
		_ = chromedp.Run(tb.ctx, chromedp.Location(&loc))
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// signIn signs the tab in with a test user's token.
func (tb *tab) signIn(t *testing.T, base, user string) {
	t.Helper()
	tb.run(t, "sign in as "+user,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", tokenOf(user), chromedp.ByID),
		chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("header nav", chromedp.ByQuery),
	)
}

// check visits a page, waits for what it must show, fails on console
// errors and on serious accessibility violations, and takes its
// screenshot when asked.
func (tb *tab) check(t *testing.T, base, path, ready, shot string) string {
	t.Helper()
	var text string
	tb.run(t, "load "+path,
		chromedp.Navigate(base+path),
		chromedp.WaitVisible(ready, chromedp.ByQuery),
		chromedp.Text("main", &text, chromedp.ByQuery),
	)
	var violations []string
	tb.run(t, "axe-core on "+path,
		chromedp.Evaluate(axeSource, nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
			.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join("; ")))`,
			&violations, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	for _, v := range violations {
		t.Errorf("%s: accessibility: %s", path, v)
	}
	if errs := tb.takeErrors(); len(errs) > 0 {
		t.Errorf("%s: console errors: %v", path, errs)
	}
	if *screenshots != "" && shot != "" {
		var png []byte
		tb.run(t, "screenshot of "+path, chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(filepath.Join(*screenshots, shot+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return text
}

// TestWorkspaceInTheBrowser drives the web workspace in Chromium over the
// demo data: each page loads without console errors or serious
// accessibility violations; the Shangyu report shows the reports' figures
// for 2011-12-31; the audit page checks a project's events against the
// signed checkpoint in the browser; a disbursement recorded through the
// form appears on another tab's project page through the event feed,
// without a reload; a refused form shows the rule.
func TestWorkspaceInTheBrowser(t *testing.T) {
	path := browser(t)
	l := startLedger(t, t.TempDir(), "--sign-every", "100", "--sign-interval", "200ms")
	if _, err := loadDemo(context.Background(), &apiClient{base: l.base, token: tokenOf("admin"), http: http.DefaultClient}, io.Discard); err != nil {
		t.Fatal(err)
	}
	last := streamLastSeq(t, l)
	waitFor(t, 30*time.Second, "a checkpoint covering every event", func() bool {
		h := call(t, "GET", l.base+"/healthz", nil)
		return h.body["checkpoints"].(map[string]any)["latest_checkpoint"] == last
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "zh-CN"), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Run(bctx); err != nil { // starts the browser
		t.Fatal(err)
	}

	a := newTab(t, bctx)
	// Without a session every page sends to the sign-in page.
	var loc string
	a.run(t, "a page without a session", chromedp.Navigate(l.base+"/watchlist"), chromedp.WaitVisible("#token", chromedp.ByID), chromedp.Location(&loc))
	if !strings.Contains(loc, "/signin?next=%2Fwatchlist") {
		t.Fatalf("without a session: at %s", loc)
	}
	a.check(t, l.base, "/signin", "#token", "")
	a.signIn(t, l.base, "audit")

	if text := a.check(t, l.base, "/", "table.data", "portfolio"); !strings.Contains(text, "绍兴市") || !strings.Contains(text, "项目总览") {
		t.Errorf("portfolio: %.300s", text)
	}
	a.check(t, l.base, "/?city=330600", "svg.chart", "portfolio-city")
	if text := a.check(t, l.base, "/?county=330682&as_of=2011-12-31", "table.data", ""); !strings.Contains(text, "SY-2006-01") {
		t.Errorf("the county's projects: %.300s", text)
	}
	if text := a.check(t, l.base, "/projects/SY-2006-01", "#funding-table", "project"); !strings.Contains(text, "中央预算内投资") || !strings.Contains(text, "已验收") {
		t.Errorf("project file: %.500s", text)
	}
	a.check(t, l.base, "/watchlist?as_of=2011-12-31", "table.data", "watchlist")
	// The reports' words and figures for Shangyu at the end of 2011 (seed
	// L1054–1070, L1254–1268).
	text := a.check(t, l.base, "/report?county=330682&programme=central_rcep&as_of=2011-12-31", "ol.lines", "report")
	for _, want := range []string{"列入计划项目 26 个，总投资 271676 万元", "获得中央预算内投资 15875 万元", "已经完工项目 18 项，通过验收项目 4 项，准备申请验收项目 3 项",
		"尚在实施项目 7 个", "中止实施项目 1 个，退还资金 1000 万元"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Shangyu report lacks %q:\n%s", want, text)
		}
	}
	a.check(t, l.base, "/audit?project=SY-2006-01", "#verify-result.verified, #verify-result.failed", "audit")
	var verdict string
	a.run(t, "the audit page's verdict", chromedp.Text("#verify-result", &verdict, chromedp.ByID))
	if !strings.HasPrefix(verdict, "✔") {
		t.Errorf("the audit page's check of SY-2006-01: %q", verdict)
	}
	var proof string
	a.run(t, "one event's proof on the project page",
		chromedp.Navigate(l.base+"/projects/SY-2006-01"),
		chromedp.Click("button.proof", chromedp.ByQuery),
		chromedp.WaitVisible("output.proof-result.verified, output.proof-result.failed", chromedp.ByQuery),
		chromedp.Text("output.proof-result", &proof, chromedp.ByQuery),
	)
	t.Logf("proof: %s", proof)
	if !strings.Contains(proof, "✔") {
		t.Errorf("the proof check says %q", proof)
	}
	if errs := a.takeErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	// English on request.
	a.run(t, "English", chromedp.Navigate(l.base+"/watchlist?lang=en"), chromedp.WaitVisible("table.data", chromedp.ByQuery), chromedp.Text("h1", &text, chromedp.ByQuery))
	if text != "Watchlist" {
		t.Errorf("?lang=en: h1 %q", text)
	}
	a.run(t, "back to Chinese", chromedp.Navigate(l.base+"/watchlist?lang=zh"), chromedp.WaitVisible("table.data", chromedp.ByQuery))

	// Finance records a disbursement in one tab; another tab on the same
	// project shows it through the event feed, without a reload.
	a.run(t, "sign out", chromedp.Click("header form button", chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID))
	runScript(t, l, approvedScript("WEB-1"))
	a.signIn(t, l.base, "chenjing")
	// A county's finance bureau sees its county only.
	if text := a.check(t, l.base, "/", "table.data", ""); !strings.Contains(text, "绍兴市") || strings.Contains(text, "宁波市") || strings.Contains(text, "湖州市") {
		t.Errorf("the portfolio of a user of 330682: %.400s", text)
	}
	// On a tablet (768 px) the pages fit the width.
	a.run(t, "a tablet's width", chromedp.EmulateViewport(768, 1024))
	for _, path := range []string{"/", "/projects/WEB-1", "/watchlist", "/report?county=330682"} {
		var overflow bool
		a.run(t, "tablet "+path, chromedp.Navigate(l.base+path), chromedp.WaitVisible("main", chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow))
		if overflow {
			t.Errorf("%s is wider than a 768 px tablet", path)
		}
	}
	a.run(t, "back to 1280 px", chromedp.EmulateViewport(1280, 900))
	a.run(t, "the project page, following the feed",
		chromedp.Navigate(l.base+"/projects/WEB-1"),
		chromedp.WaitVisible(".live-note", chromedp.ByQuery),
		chromedp.Evaluate(`window.__sameDocument = "yes"`, nil),
	)
	b := newTab(t, a.ctx)
	b.run(t, "the disbursement form", chromedp.Navigate(l.base+"/projects/WEB-1"), disburseByForm("2009-09-01T10:00", "300"),
		chromedp.WaitVisible("p.ok", chromedp.ByQuery))
	var total, same string
	a.run(t, "the other tab updated by the feed",
		chromedp.WaitVisible(`#live[data-refreshed]`, chromedp.ByQuery),
		chromedp.Text("#disbursed-total", &total, chromedp.ByID),
		chromedp.Evaluate(`window.__sameDocument`, &same),
	)
	if total != "300" || same != "yes" {
		t.Errorf("after the disbursement: the other tab shows %q disbursed (same document: %q)", total, same)
	}
	// A tranche beyond the award is refused, and the page says by which rule.
	var problem string
	b.run(t, "a refused disbursement", disburseByForm("2009-09-02T10:00", "500"),
		chromedp.WaitVisible("#step-disburse .problem", chromedp.ByQuery),
		chromedp.Text("#step-disburse .problem", &problem, chromedp.ByQuery),
	)
	if !strings.Contains(problem, "R6") || !strings.Contains(problem, "未通过") || !strings.Contains(problem, "R6 (L1207-1210)") {
		t.Errorf("the refusal says %q", problem)
	}
	// The refused form's page answers 409 (the API's status for the rule),
	// which the browser logs as a failed load; nothing else may be logged.
	for _, tb := range []*tab{a, b} {
		for _, e := range tb.takeErrors() {
			if tb == b && strings.Contains(e, "status of 409") && strings.HasSuffix(e, "/projects/WEB-1/steps/disburse") {
				continue
			}
			t.Errorf("console error: %s", e)
		}
	}
}

// disburseByForm fills the project page's disbursement form (central budget,
// the amount in 万元) and sends it.
func disburseByForm(at, wanAmount string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click("#step-disburse summary", chromedp.ByQuery),
		chromedp.SetValue("#disburse-effective_time", at, chromedp.ByID),
		chromedp.SetValue("#disburse-source", "central_budget", chromedp.ByID),
		chromedp.SetValue("#disburse-amount", wanAmount, chromedp.ByID),
		chromedp.SetValue("#disburse-basis", "进度检查", chromedp.ByID),
		chromedp.Submit("#disburse-basis", chromedp.ByID),
	}
}
