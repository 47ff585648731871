package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rssKiB is the resident set of process pid.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip, so that a test can be several clients.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// TestResourcesStayBounded: 100 replaying feeds nobody reads, 1,000
// webhook registrations and 200 as-of queries at once. What is beyond the
// limits is refused at once with Retry-After; /healthz and a project GET
// answer within a second throughout; SIGTERM ends the process within
// --shutdown-wait plus 5 s.
func TestResourcesStayBounded(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir, "--max-feeds", "100", "--shutdown-wait", "5s")
	if n := registerMany(t, p.base, "R", 3000); n != 3000 {
		t.Fatalf("%d of 3000 registrations", n)
	}
	pid := p.cmd.Process.Pid
	rss0 := rssKiB(t, pid)

	// A prober: /healthz and a project GET, every 20 ms, until told to stop.
	var lat []time.Duration
	var probeErrs, probeSlow []string
	stopProbe, probeDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(probeDone)
		c := clientFrom("127.0.0.250")
		defer c.CloseIdleConnections()
		for {
			select {
			case <-stopProbe:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, path := range []string{"/healthz", "/v1/projects/R00001"} {
				start := time.Now()
				req, _ := http.NewRequest("GET", p.base+path, nil)
				req.Header.Set("Authorization", "Bearer "+tokenOf("audit"))
				resp, err := c.Do(req)
				if err != nil {
					probeErrs = append(probeErrs, err.Error())
					continue
				}
				resp.Body.Close()
				lat = append(lat, time.Since(start))
				if d := time.Since(start); d > 300*time.Millisecond {
					probeSlow = append(probeSlow, fmt.Sprintf("%s %s", path, d.Round(time.Millisecond)))
				}
				if resp.StatusCode != 200 {
					probeErrs = append(probeErrs, fmt.Sprintf("%s: %d", path, resp.StatusCode))
				}
			}
		}
	}()

	// 100 feeds from the start, from ten client addresses, never read; then
	// one more (beyond --max-feeds) and 20 from one address (beyond the
	// per-client limit).
	ctx, cancelFeeds := context.WithCancel(context.Background())
	defer cancelFeeds()
	statuses := map[string]map[int]int{"feeds": {}, "webhooks": {}, "as_of": {}}
	var smu sync.Mutex
	count := func(kind string, code int) { smu.Lock(); statuses[kind][code]++; smu.Unlock() }
	var feeds []*http.Response
	openFeed := func(ip string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.base+"/v1/events/stream?from_seq=1", nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf("audit"))
		resp, err := clientFrom(ip).Do(req)
		if err != nil {
			t.Fatalf("feed from %s: %v", ip, err)
		}
		count("feeds", resp.StatusCode)
		if resp.StatusCode != 200 {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatalf("a refused feed without Retry-After: %d", resp.StatusCode)
			}
			resp.Body.Close()
			return nil
		}
		_, _ = bufio.NewReader(resp.Body).ReadString('\n')
		return resp
	}
	for i := 0; i < 100; i++ {
		if f := openFeed(fmt.Sprintf("127.0.0.%d", 10+i%10)); f != nil {
			feeds = append(feeds, f)
		}
	}
	if openFeed("127.0.0.30") != nil {
		t.Fatal("a feed beyond --max-feeds was accepted")
	}
	for _, f := range feeds[:20] { // room for the per-client test
		f.Body.Close()
	}
	feeds = feeds[20:]
	waitFor(t, 10*time.Second, "the closed feeds to be counted out", func() bool {
		return call(t, "GET", p.base+"/healthz", nil).body["feeds"].(map[string]any)["open"].(float64) == 80
	})
	for i := 0; i < 20; i++ {
		if f := openFeed("127.0.0.40"); f != nil {
			feeds = append(feeds, f)
		}
	}

	// 1,000 webhook registrations and 200 as-of queries, 16 at a time.
	var wg sync.WaitGroup
	work := make(chan func())
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				f()
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		work <- func() {
			r := call(t, "POST", p.base+"/v1/webhooks", map[string]any{"url": "http://127.0.0.1:1/hook", "secret": "0123456789abcdef0123", "from_seq": 1}, admin...)
			count("webhooks", r.status)
		}
		if i%5 == 0 {
			work <- func() {
				r := call(t, "GET", p.base+"/v1/summary?as_of=2030-01-01", nil)
				count("as_of", r.status)
				if r.status == 503 && r.header.Get("Retry-After") == "" {
					t.Errorf("a refused as-of query without Retry-After")
				}
			}
		}
	}
	close(work)
	wg.Wait()
	close(stopProbe)
	<-probeDone
	rss1 := rssKiB(t, pid)

	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("statuses: %v", statuses)
	t.Logf("probes: %d, p99 %s, max %s; errors %v; slow %v", len(lat), p99, lat[len(lat)-1], probeErrs, probeSlow)
	t.Logf("RSS %d MiB before, %d MiB with %d feeds open, 100 webhooks, after 200 as-of queries", rss0>>10, rss1>>10, len(feeds))
	if p99 > time.Second || len(probeErrs) > 0 {
		t.Fatalf("healthz and a project GET: p99 %s, errors %v", p99, probeErrs)
	}
	if statuses["feeds"][200] != 116 || statuses["feeds"][503] != 1 || statuses["feeds"][429] != 4 {
		t.Fatalf("feeds: %v; want 100 (+16) open, 1 refused 503 beyond --max-feeds, 4 refused 429 beyond the per-client limit", statuses["feeds"])
	}
	if statuses["webhooks"][201] != 100 || statuses["webhooks"][409] != 900 {
		t.Fatalf("webhooks: %v; want 100 registered and 900 refused", statuses["webhooks"])
	}
	if statuses["as_of"][200] == 0 || statuses["as_of"][200]+statuses["as_of"][503] != 200 {
		t.Fatalf("as-of queries: %v", statuses["as_of"])
	}

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, lastLines(p.stderr.String(), 20))
	}
	took := time.Since(start)
	t.Logf("SIGTERM with %d feeds and 100 webhooks: exited in %s", len(feeds), took.Round(time.Millisecond))
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "shutting down") || strings.Contains(line, `"stopped"`) || strings.Contains(line, "within") {
			t.Log(line)
		}
	}
	if took > 10*time.Second {
		t.Fatalf("SIGTERM took %s, more than --shutdown-wait (5s) + 5s", took)
	}
	cancelFeeds()
	for _, f := range feeds {
		f.Body.Close()
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(len(ls)-n, 0):], "\n")
}
