package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCmd runs a ledger subcommand in this process and returns its exit
// error and output.
func runCmd(args ...string) (error, string) {
	var out bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
	if err != nil {
		out.WriteString(err.Error())
	}
	return err, out.String()
}

// TestSecondOpenerIsRefused does what a new user did: a second serve on the
// same data directory, and verify, rebuild and export on it while the first
// serves. Each is refused at once naming the first's pid; the first's
// acknowledged events are all there after its restart.
func TestSecondOpenerIsRefused(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	pid := strconv.Itoa(p.cmd.Process.Pid)
	for i := 1; i <= 3; i++ {
		if r := call(t, "POST", p.base+"/v1/projects", registration(fmt.Sprintf("P%d", i), "330682"), drc...); r.status != 201 {
			t.Fatalf("register P%d: %d %s", i, r.status, r.raw)
		}
	}

	second := startProcessExpectingExit(t, dir)
	if second.err == nil || !strings.Contains(second.stderr, "in use by process "+pid) {
		t.Fatalf("a second serve on the same data dir: exit %v\n%s", second.err, second.stderr)
	}
	t.Logf("second serve: %s", lastLine(second.stderr))
	for _, args := range [][]string{
		{"verify", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub")},
		{"rebuild", "--data-dir", dir},
		{"export", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub"), "--out", filepath.Join(t.TempDir(), "b.zip")},
	} {
		err, out := runCmd(args...)
		if err == nil || !strings.Contains(out, "in use by process "+pid) {
			t.Fatalf("ledger %s on a live data dir: %v\n%s", args[0], err, out)
		}
		t.Logf("ledger %s: %s", args[0], lastLine(out))
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("first serve after SIGTERM: %v", err)
	}
	p = startProcess(t, dir)
	last := h0(t, p)
	if last != 3 {
		t.Fatalf("after the restart the stream holds %d events, want the 3 acknowledged", last)
	}
	for i := 1; i <= 3; i++ {
		if r := call(t, "GET", fmt.Sprintf("%s/v1/projects/P%d?min_position=%d", p.base, i, last), nil); r.status != 200 {
			t.Fatalf("P%d after the restart: %d", i, r.status)
		}
	}
}

// TestVerifyOfAStoppedStoreLeavesItAlone: verify on a stopped, empty store
// (the sequence that once unlinked the live block file) then serve: what
// serve acknowledges survives its restart.
func TestVerifyOfAStoppedStoreLeavesItAlone(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	if err, out := runCmd("verify", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub")); err != nil {
		t.Fatalf("verify of the empty stopped store: %v\n%s", err, out)
	}
	p = startProcess(t, dir)
	if r := call(t, "POST", p.base+"/v1/projects", registration("P1", "330682"), drc...); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	if err, out := runCmd("verify", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub")); err != nil || !strings.Contains(out, "OK: 1 events") {
		t.Fatalf("verify after one registration: %v\n%s", err, out)
	}
	p = startProcess(t, dir)
	if r := call(t, "GET", p.base+"/v1/projects/P1?min_position=1", nil); r.status != 200 {
		t.Fatalf("P1 after verify and a restart: %d %s", r.status, r.raw)
	}
}

type exited struct {
	err    error
	stderr string
}

// startProcessExpectingExit runs serve on dir and waits for it to exit.
func startProcessExpectingExit(t *testing.T, dir string, extra ...string) exited {
	t.Helper()
	cmd := serveCommand(t, dir, extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exited{err, stderr.String()}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve on a held data dir did not exit within 30s:\n%s", stderr.String())
	}
	return exited{}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestLongAndControlFiltersAreRefused sends every filter of the feed and
// the webhooks at 4,100 characters and with CR, LF and NUL: each is a 400
// naming the parameter, and the ledger still writes afterwards.
func TestLongAndControlFiltersAreRefused(t *testing.T) {
	l := startLedger(t, t.TempDir())
	bad := map[string]string{"long": strings.Repeat("a", 4100), "CR": "3306\r00", "LF": "33\n0600", "NUL": "330\x00600", "non-ASCII": "上虞"}
	for _, param := range []string{"city", "county", "project", "type"} {
		for what, v := range bad {
			r := call(t, "GET", l.base+"/v1/events/stream?"+param+"="+urlEscape(v), nil)
			if r.status != 400 || r.body["field"] != param {
				t.Fatalf("SSE %s %s: %d %s", param, what, r.status, r.raw)
			}
			body := map[string]any{"url": "http://127.0.0.1:1/hook", "secret": "0123456789abcdef0123", param: v}
			r = call(t, "POST", l.base+"/v1/webhooks", body, admin...)
			if r.status != 400 || r.body["field"] != param {
				t.Fatalf("webhook %s %s: %d %s", param, what, r.status, r.raw)
			}
		}
	}
	for _, q := range []string{"city", "county", "owner", "name", "programme", "status", "category"} {
		for what, v := range bad {
			if q == "owner" || q == "name" {
				if what == "non-ASCII" {
					continue // names are Chinese
				}
			}
			for _, route := range []string{"/v1/projects", "/v1/summary", "/v1/watchlist"} {
				r := call(t, "GET", l.base+route+"?"+q+"="+urlEscape(v), nil)
				if r.status != 400 || r.body["field"] != q {
					t.Fatalf("%s %s %s: %d %s", route, q, what, r.status, r.raw)
				}
			}
		}
	}
	// A parameter a route does not take is refused, naming it, not ignored.
	for _, u := range []string{"/v1/projects?countyy=330682", "/v1/summary?cty=330600", "/v1/events/stream?county=330682&tpye=x", "/healthz?verbose=1"} {
		if r := call(t, "GET", l.base+u, nil); r.status != 400 || r.body["code"] != "unknown-parameter" {
			t.Fatalf("GET %s: %d %s", u, r.status, r.raw)
		}
	}
	// The schema's names and the CloudEvent's type are accepted as filters.
	for _, typ := range []string{"funds_disbursed", "funds_disbursed.v1", "ledger.project.funds_disbursed.v1"} {
		body := map[string]any{"url": "http://127.0.0.1:1/hook", "secret": "0123456789abcdef0123", "type": typ}
		if r := call(t, "POST", l.base+"/v1/webhooks", body, admin...); r.status != 201 {
			t.Fatalf("webhook type %s: %d %s", typ, r.status, r.raw)
		}
	}
	if r := call(t, "POST", l.base+"/v1/projects", registration("AFTER", "330682"), drc...); r.status != 201 {
		t.Fatalf("a write after the bad filters: %d %s", r.status, r.raw)
	}
	if r := call(t, "GET", l.base+"/healthz", nil); r.status != 200 {
		t.Fatalf("healthz after the bad filters: %d %s", r.status, r.raw)
	}
}

// TestAbsurdValuesAreRefused: dates outside the plausible window and actors
// or text with control characters or invalid UTF-8 are refused, naming the
// field, and nothing is written.
func TestAbsurdValuesAreRefused(t *testing.T) {
	l := startLedger(t, t.TempDir())
	reg := func(mut func(map[string]any)) map[string]any {
		b := registration("ABS", "330682")
		mut(b)
		return b
	}
	cases := []struct {
		name  string
		body  map[string]any
		hdr   []string
		field string
	}{
		{"planned_start 0000-01-01", reg(func(b map[string]any) { b["planned_start"] = "0000-01-01" }), drc, "planned_start"},
		{"planned_end 9999-12-31", reg(func(b map[string]any) { b["planned_end"] = "9999-12-31" }), drc, "planned_end"},
		{"effective_time 0001", reg(func(b map[string]any) { b["effective_time"] = "0001-01-01T00:00:00Z" }), drc, "effective_time"},
		{"name with NUL", reg(func(b map[string]any) { b["name"] = "a\x00b" }), drc, "name"},
		{"name with CR", reg(func(b map[string]any) { b["name"] = "a\rb" }), drc, "name"},
	}
	for _, c := range cases {
		r := call(t, "POST", l.base+"/v1/projects", c.body, c.hdr...)
		if r.status/100 != 4 || r.body["field"] != c.field {
			t.Fatalf("%s: %d %s", c.name, r.status, r.raw)
		}
	}
	if n := streamLastSeq(t, l); n != 0 {
		t.Fatalf("the refusals wrote %v events", n)
	}
	// The actor is a user: a user's name is checked when the user is made.
	for name, v := range map[string]string{"LF": "王\n芳", "NUL": "王\x00", "CR": "王\r芳", "empty": ""} {
		r := call(t, "POST", l.base+"/v1/users", map[string]any{"id": "bad", "name": v, "org": "o", "roles": []string{"auditor"}, "region": "province"}, admin...)
		if r.status != 422 || !strings.Contains(r.body["detail"].(string), "name") {
			t.Fatalf("a user named with %s: %d %s", name, r.status, r.raw)
		}
	}
}

func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

var _ = os.Getpid
