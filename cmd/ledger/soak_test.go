package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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
				r := call(t, "POST", p.base+"/v1/projects/"+id+"/inspections",
					map[string]any{"effective_time": at("2009-06-01"), "kind": "audit", "body": "审计署", "reference": fmt.Sprintf("审 %d-%d", g, i)},
					append(auditor, "Idempotency-Key", fmt.Sprintf("%q", fmt.Sprintf("soak-%d-%d", g, i)))...)
				if r.status != 201 {
					t.Errorf("inspection of %s: %d %s", id, r.status, r.raw)
					return
				}
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
	// The same queries the soak's process answered, so that both hold the
	// same caches.
	for i := 0; i < projects; i++ {
		call(t, "GET", fmt.Sprintf("%s/v1/projects/S%05d", q.base, i), nil)
	}
	saveProfile(t, q.pprof+"/debug/pprof/heap?gc=1", filepath.Join(out, "fresh-heap.pprof"))
	rssFresh := rssKiB(t, q.cmd.Process.Pid)
	t.Logf("soak: %d events in %s (%.0f/s) on top of %d registrations; RSS %d MiB at the start, %d MiB at the end; a fresh process on the same data: %d MiB (%.0f%%); heap profile %s",
		written.Load(), took.Round(time.Second), float64(written.Load())/took.Seconds(), projects, rssStart>>10, rssEnd>>10, rssFresh>>10,
		100*float64(rssEnd)/float64(rssFresh), heap)
	if float64(rssEnd) > 1.2*float64(rssFresh) {
		t.Fatalf("after the soak the process holds %d MiB, more than 120%% of a fresh process's %d MiB", rssEnd>>10, rssFresh>>10)
	}
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
