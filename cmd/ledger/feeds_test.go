package main

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/zjfund/ledger/domain"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

type sseEvent struct {
	id   uint64
	typ  string
	data string
}

// readSSE reads n events from an SSE feed, then hangs up.
func readSSE(t *testing.T, url, lastID string, n int) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf("audit"))
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "" && cur.id != 0:
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	if len(out) < n {
		t.Fatalf("feed %s gave %d events, want %d (%v)", url, len(out), n, sc.Err())
	}
	return out
}

// TestSSEResumeLosesNothing: a feed read in part, dropped while events go
// on, and resumed with Last-Event-ID delivers every matching event once, in
// order; a filter by region and type holds; each event matches its schema.
func TestSSEResumeLosesNothing(t *testing.T) {
	l := startLedger(t, t.TempDir())
	runScript(t, l, approvedScript("F1"))
	first := readSSE(t, l.base+"/v1/events/stream?from_seq=1", "", 4)
	// Events recorded while no one listens.
	runScript(t, l, approvedScript("F2"))
	rest := readSSE(t, l.base+"/v1/events/stream", strconv.FormatUint(first[3].id, 10), 4+8)
	all := append(first, rest...)
	for i, e := range all {
		if e.id != uint64(i+1) {
			t.Fatalf("event %d has id %d: lost or repeated (%v)", i, e.id, all)
		}
	}
	// Only Shangyu's disbursements, from the start: none yet; then one.
	runScript(t, l, []step{{"/v1/projects/F1/disbursements", finance, map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 100 * wan, "basis": "b"}, []string{"funds_disbursed"}}})
	d := readSSE(t, l.base+"/v1/events/stream?county=330682&type=funds_disbursed&from_seq=1", "", 1)
	if d[0].typ != "ledger.project.funds_disbursed.v1" || d[0].id != 17 {
		t.Fatalf("filtered feed: %+v", d[0])
	}
	// Every delivered event matches the schema of its type.
	schemas := map[string]map[string]any{}
	for _, e := range append(all, d...) {
		typ := strings.TrimPrefix(e.typ, "ledger.project.")
		s, ok := schemas[typ]
		if !ok {
			r := call(t, "GET", l.base+"/v1/schemas/"+typ, nil)
			if r.status != 200 {
				t.Fatalf("schema of %s: %d", typ, r.status)
			}
			s = r.body
			schemas[typ] = s
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(e.data), &ev); err != nil {
			t.Fatal(err)
		}
		if err := conforms(ev, s); err != "" {
			t.Fatalf("event %d (%s) does not match its schema: %s", e.id, typ, err)
		}
	}
	if r := call(t, "GET", l.base+"/v1/schemas", nil); len(r.body["types"].([]any)) != len(domain.EventTypes()) {
		t.Fatalf("/v1/schemas lists %d types, want %d", len(r.body["types"].([]any)), len(domain.EventTypes()))
	}
	// An open feed does not hold up a shutdown.
	opened := make(chan struct{})
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		req, _ := http.NewRequest("GET", l.base+"/v1/events/stream", nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf("audit"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			close(opened)
			return
		}
		rd := bufio.NewReader(resp.Body)
		_, _ = rd.ReadString('\n') // the feed's first comment: it is open
		close(opened)
		_, _ = rd.ReadString(0)
		resp.Body.Close()
	}()
	<-opened
	defer func() { <-feedDone }()
	start := time.Now()
	l.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown with an open feed took %s", took)
	}
}

// conforms checks an object against an object schema's required members,
// closed property set and, one level down, the data's.
func conforms(v map[string]any, s map[string]any) string {
	props, _ := s["properties"].(map[string]any)
	for _, k := range s["required"].([]any) {
		if _, ok := v[k.(string)]; !ok {
			return "missing " + k.(string)
		}
	}
	var keys []string
	for k := range v {
		keys = append(keys, k)
		if _, ok := props[k]; !ok && s["additionalProperties"] == false {
			return "unexpected member " + k
		}
	}
	sort.Strings(keys)
	if data, ok := props["data"].(map[string]any); ok {
		if d, ok := v["data"].(map[string]any); ok {
			return conforms(d, data)
		}
	}
	return ""
}
