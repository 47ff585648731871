package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	soakFor  = flag.Duration("soak.duration", 20*time.Second, "how long TestSoak writes (make soak: 10m)")
	soakRate = flag.Int("soak.rate", 200, "events a second TestSoak writes")
	soakOut  = flag.String("soak.out", "", "a directory for TestSoak's heap profile (default: the test's temp dir)")
)

// TestSoak writes at a steady rate for a while (a short form in the tests;
// make soak runs it for 10 minutes), then compares the process's resident
// memory with a fresh process on the same data: what a long-running ledger
// holds must not grow with the events written. The heap profile at the
// end is kept to show what remains.
func TestSoak(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir, "--pprof", "127.0.0.1:0", "--log-level", "warn")
	const projects = 500
	if n := registerMany(t, p.base, "S", projects); n != projects {
		t.Fatalf("%d of %d registrations", n, projects)
	}
	var written atomic.Int64
	type sent struct {
		body map[string]any
		key  string
	}
	var sentMu sync.Mutex
	oneFor := map[string]sent{} // a request recorded for each project, to send again to the fresh process
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writers := 8
	interval := time.Duration(int64(time.Second) * int64(writers) / int64(*soakRate))
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				id := fmt.Sprintf("S%05d", (g*7919+i)%projects)
				body := map[string]any{"effective_time": at("2009-06-01"), "kind": "audit", "body": "审计署", "reference": fmt.Sprintf("审 %d-%d", g, i)}
				key := fmt.Sprintf("%q", fmt.Sprintf("soak-%d-%d", g, i))
				r := call(t, "POST", p.base+"/v1/projects/"+id+"/inspections", body, append(auditor, "Idempotency-Key", key)...)
				if r.status != 201 {
					t.Errorf("inspection of %s: %d %s", id, r.status, r.raw)
					return
				}
				sentMu.Lock()
				if _, ok := oneFor[id]; !ok {
					oneFor[id] = sent{body, key}
				}
				sentMu.Unlock()
				written.Add(1)
			}
		}(g)
	}
	start := time.Now()
	rssStart := rssKiB(t, p.cmd.Process.Pid)
	time.AfterFunc(*soakFor, func() { close(stop) })
	wg.Wait()
	took := time.Since(start)
	last := h0(t, p)
	waitFor(t, 30*time.Second, "the read models to catch up", func() bool {
		return call(t, "GET", p.base+"/healthz", nil).body["projections"].(map[string]any)["lag"].(float64) == 0
	})
	out := *soakOut
	if out == "" {
		out = t.TempDir()
	}
	heap := filepath.Join(out, "soak-heap.pprof")
	saveProfile(t, p.pprof+"/debug/pprof/heap?gc=1", heap)
	heapEnd := heapInuse(t, p.pprof)
	rssEnd := rssKiB(t, p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}

	q := startProcess(t, dir, "--pprof", "127.0.0.1:0", "--log-level", "warn")
	waitFor(t, 60*time.Second, "the fresh process to catch up", func() bool {
		h := call(t, "GET", q.base+"/healthz", nil)
		return h.body["projections"].(map[string]any)["lag"].(float64) == 0 && uint64(h.body["stream_last_seq"].(float64)) == last
	})
	// The fresh process decides commands on the same projects (a retried
	// request each, answered from what was recorded), so that both hold the
	// same projects in their command-side caches.
	for id, s := range oneFor {
		r := call(t, "POST", q.base+"/v1/projects/"+id+"/inspections", s.body, append(auditor, "Idempotency-Key", s.key)...)
		if r.status != 201 || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("the retried inspection of %s: %d %s", id, r.status, r.raw)
		}
	}
	saveProfile(t, q.pprof+"/debug/pprof/heap?gc=1", filepath.Join(out, "fresh-heap.pprof"))
	heapFresh := heapInuse(t, q.pprof)
	rssFresh := rssKiB(t, q.cmd.Process.Pid)
	t.Logf("soak: %d events in %s (%.0f/s) on top of %d registrations; RSS %d MiB at the start, %d MiB at the end, a fresh process on the same data %d MiB (%.0f%%); heap in use after a GC %.1f MiB at the end, fresh %.1f MiB (%.0f%%); heap profile %s",
		written.Load(), took.Round(time.Second), float64(written.Load())/took.Seconds(), projects, rssStart>>10, rssEnd>>10, rssFresh>>10,
		100*float64(rssEnd)/float64(rssFresh), float64(heapEnd)/(1<<20), float64(heapFresh)/(1<<20), 100*float64(heapEnd)/float64(heapFresh), heap)
	// What the process holds live must not grow with the events written:
	// the heap in use after a collection, within 20% of a fresh process's,
	// give or take 16 MiB of what the runtime and the NATS server pool and
	// cache either way (at the short form's few MiB, that noise is most of
	// it; over the 10-minute form, growth with the events would be hundreds
	// of MiB). RSS also counts memory freed but not yet returned.
	if limit := 1.2*float64(heapFresh) + 16<<20; float64(heapEnd) > limit {
		t.Fatalf("after the soak the process's heap holds %d KiB, more than 120%% of a fresh process's %d KiB + 16 MiB", heapEnd>>10, heapFresh>>10)
	}
}

// heapInuse is the heap in use of the process serving profiles at base,
// after a collection.
func heapInuse(t *testing.T, base string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	t.Fatal("no HeapInuse in the heap profile")
	return 0
}

func saveProfile(t *testing.T, url, path string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
}
