package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/zjfund/ledger/webhooks"
)

// TestWebhookReceiverDownThenBack: a receiver that fails for a while, then
// comes back, gets every event, in order, each with a valid signature; an
// endpoint that never answers ends with its events as dead letters.
func TestWebhookReceiverDownThenBack(t *testing.T) {
	l := startLedger(t, t.TempDir(), "--webhook-backoff", "50ms", "--webhook-attempts", "6")
	const secret = "a-very-secret-webhook-key"
	verifier, err := standardwebhooks.NewWebhookRaw([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	var seqs []uint64
	failures := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if failures < 5 { // down for a while
			failures++
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if err := verifier.Verify(body, r.Header); err != nil {
			t.Errorf("Standard Webhooks signature: %v", err)
		}
		// The deprecated signature, still sent for one release.
		sig := r.Header.Get(webhooks.SignatureHeader)
		ts, _ := strconv.ParseInt(strings.TrimPrefix(strings.Split(sig, ",")[0], "t="), 10, 64)
		if sig == "" || sig != webhooks.Sign(secret, time.Unix(ts, 0), body) {
			t.Errorf("bad signature %q", sig)
		}
		var ce map[string]any
		if err := json.Unmarshal(body, &ce); err != nil || ce["specversion"] != "1.0" {
			t.Errorf("not a CloudEvent: %s", body)
		}
		if id, _ := ce["id"].(string); r.Header.Get("webhook-id") != id || r.Header.Get("Ledger-Event-Id") != id {
			t.Errorf("webhook-id %q, Ledger-Event-Id %q, event %q", r.Header.Get("webhook-id"), r.Header.Get("Ledger-Event-Id"), id)
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "ledger/") {
			t.Errorf("User-Agent %q", ua)
		}
		seq, _ := strconv.ParseUint(r.Header.Get("Ledger-Sequence"), 10, 64)
		got = append(got, ce["id"].(string))
		seqs = append(seqs, seq)
	}))
	defer recv.Close()
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) }))
	defer dead.Close()

	r := call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": recv.URL, "secret": secret, "county": "330682", "from_seq": 1}, admin...)
	if r.status != 201 || r.body["secret"] != nil {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	d := call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": dead.URL, "secret": secret, "type": "project_registered", "from_seq": 1}, admin...)
	if d.status != 201 {
		t.Fatalf("register: %d %s", d.status, d.raw)
	}
	if bad := call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": "ftp://x", "secret": secret}, admin...); bad.status != 422 {
		t.Fatalf("an ftp URL: %d", bad.status)
	}
	runScript(t, l, approvedScript("W1"))
	runScript(t, l, approvedScript("W2"))
	waitFor(t, 30*time.Second, "16 deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 16
	})
	// A last event as a marker: once it is delivered, a repeated or lost
	// delivery before it would show.
	if r := call(t, "POST", l.base+"/v1/projects", registration("W3", "330682"), drc...); r.status != 201 {
		t.Fatalf("register W3: %d %s", r.status, r.raw)
	}
	waitFor(t, 30*time.Second, "the marker's delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 17
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 17 {
		t.Fatalf("%d deliveries, want 17", len(got))
	}
	seen := map[string]bool{}
	for i, s := range seqs {
		if s != uint64(i+1) || seen[got[i]] {
			t.Fatalf("delivery %d: sequence %d (%v): lost, repeated or out of order", i, s, seqs)
		}
		seen[got[i]] = true
	}
	mu.Unlock() // the worker counts a delivery after the receiver has it
	var st response
	waitFor(t, 10*time.Second, "the status to count 17 deliveries", func() bool {
		st = call(t, "GET", l.base+"/v1/webhooks/"+id, nil, admin...)
		return st.body["delivered"] == float64(17)
	})
	mu.Lock()
	if st.body["delivered"] != float64(17) || st.body["failures"].(float64) < 5 {
		t.Fatalf("status: %s", st.raw)
	}
	waitFor(t, 20*time.Second, "3 dead letters", func() bool {
		ds := call(t, "GET", l.base+"/v1/webhooks/"+d.body["id"].(string), nil, admin...)
		dl, _ := ds.body["dead_letters"].([]any)
		return len(dl) == 3
	})
}

// TestWebhookBinaryModeAndDeadLetterReplay: an endpoint registered without
// a secret gets a generated Standard Webhooks one, once; in binary mode each
// event arrives as the CloudEvents SDK reads it, signed over the body it
// carries; events that failed until they became dead letters are delivered
// once each when replayed, and leave the dead letters.
func TestWebhookBinaryModeAndDeadLetterReplay(t *testing.T) {
	l := startLedger(t, t.TempDir(), "--webhook-backoff", "10ms", "--webhook-attempts", "2")
	var mu sync.Mutex
	up := false
	var verifier *standardwebhooks.Webhook
	got := map[string]int{} // deliveries by webhook-id
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(body, r.Header); err != nil {
			t.Errorf("signature: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("not a binary-mode CloudEvent: %v", err)
			return
		}
		if r.Header.Get("ce-specversion") != "1.0" || ev.Type() != "ledger.project.project_registered.v1" || ev.Extensions()["hash"] == nil {
			t.Errorf("event %s: type %q, extensions %v", ev.ID(), ev.Type(), ev.Extensions())
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data(), &data); err != nil || data["county"] == nil {
			t.Errorf("data %s: %v", ev.Data(), err)
		}
		if ev.ID() != r.Header.Get("webhook-id") {
			t.Errorf("webhook-id %q for event %q", r.Header.Get("webhook-id"), ev.ID())
		}
		got[ev.ID()]++
	}))
	defer recv.Close()

	r := call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": recv.URL, "mode": "binary", "type": "project_registered", "from_seq": 1}, admin...)
	secret, _ := r.body["secret"].(string)
	if r.status != 201 || !strings.HasPrefix(secret, "whsec_") || r.body["mode"] != "binary" {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	var err error
	if verifier, err = standardwebhooks.NewWebhook(secret); err != nil {
		t.Fatal(err)
	}
	id := r.body["id"].(string)
	if s := call(t, "GET", l.base+"/v1/webhooks/"+id, nil, admin...); s.body["secret"] != nil {
		t.Fatalf("the status shows the secret: %s", s.raw)
	}
	if bad := call(t, "POST", l.base+"/v1/webhooks", map[string]any{"url": recv.URL, "mode": "soap"}, admin...); bad.status != 422 || !strings.Contains(string(bad.raw), "mode") {
		t.Fatalf("an unknown mode: %d %s", bad.status, bad.raw)
	}
	for _, p := range []string{"R1", "R2", "R3"} {
		if r := call(t, "POST", l.base+"/v1/projects", registration(p, "330682"), drc...); r.status != 201 {
			t.Fatalf("register %s: %d %s", p, r.status, r.raw)
		}
	}
	var dead []any
	waitFor(t, 30*time.Second, "3 dead letters", func() bool {
		s := call(t, "GET", l.base+"/v1/webhooks/"+id, nil, admin...)
		dead, _ = s.body["dead_letters"].([]any)
		return len(dead) == 3
	})
	mu.Lock()
	up = true
	mu.Unlock()
	rp := call(t, "POST", l.base+"/v1/webhooks/"+id+"/dead-letters/replay", nil, admin...)
	if rp.status != 200 || len(rp.body["delivered"].([]any)) != 3 || rp.body["remaining"] != float64(0) {
		t.Fatalf("replay: %d %s", rp.status, rp.raw)
	}
	if again := call(t, "POST", l.base+"/v1/webhooks/"+id+"/dead-letters/replay", nil, admin...); again.status != 200 || len(again.body["delivered"].([]any)) != 0 {
		t.Fatalf("a second replay: %d %s", again.status, again.raw)
	}
	if s := call(t, "GET", l.base+"/v1/webhooks/"+id, nil, admin...); len(s.body["dead_letters"].([]any)) != 0 {
		t.Fatalf("dead letters after the replay: %s", s.raw)
	}
	if nf := call(t, "POST", l.base+"/v1/webhooks/wh-nope/dead-letters/replay", nil, admin...); nf.status != 404 {
		t.Fatalf("replay of an unknown webhook: %d", nf.status)
	}
	if dr := call(t, "POST", l.base+"/v1/webhooks/"+id+"/dead-letters/replay", nil, drc...); dr.status != 403 {
		t.Fatalf("replay by a non-admin: %d", dr.status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("delivered %v, want the 3 registrations", got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
}
