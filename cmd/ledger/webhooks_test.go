package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zjfund/ledger/webhooks"
)

// TestWebhookReceiverDownThenBack: a receiver that fails for a while, then
// comes back, gets every event, in order, each with a valid signature; an
// endpoint that never answers ends with its events as dead letters.
func TestWebhookReceiverDownThenBack(t *testing.T) {
	l := startLedger(t, t.TempDir(), "--webhook-backoff", "50ms", "--webhook-attempts", "6")
	const secret = "a-very-secret-webhook-key"
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
		sig := r.Header.Get(webhooks.SignatureHeader)
		ts, _ := strconv.ParseInt(strings.TrimPrefix(strings.Split(sig, ",")[0], "t="), 10, 64)
		if sig == "" || sig != webhooks.Sign(secret, time.Unix(ts, 0), body) {
			t.Errorf("bad signature %q", sig)
		}
		var ce map[string]any
		if err := json.Unmarshal(body, &ce); err != nil || ce["specversion"] != "1.0" {
			t.Errorf("not a CloudEvent: %s", body)
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
