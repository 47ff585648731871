package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// freeSpace is the free space of the filesystem under dir.
func freeSpace(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestDiskFull fills a small tmpfs under the data directory until writes are
// refused, then makes room: while full every write is a 507 with
// Retry-After, /healthz is 503 naming it, reads are served; once room is
// made writes resume without a restart; nothing acknowledged is lost.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (root is needed): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	dir := filepath.Join(mnt, "data")
	p := startProcess(t, dir, "--min-free", "16M")
	// Leave about 2 MiB above the minimum: a few thousand events.
	ballast := filepath.Join(mnt, "ballast")
	fill := freeSpace(t, mnt) - (16<<20 + 2<<20)
	if err := os.WriteFile(ballast, make([]byte, fill), 0o600); err != nil {
		t.Fatal(err)
	}
	var acked []string
	statuses := map[int]int{}
	var full response
	for i := 0; i < 20000; i++ {
		id := fmt.Sprintf("D%05d", i)
		body := registration(id, "330682")
		body["description"] = strings.Repeat("节能", 300)
		r := call(t, "POST", p.base+"/v1/projects", body, drc...)
		statuses[r.status]++
		if r.status == 201 {
			acked = append(acked, id)
			continue
		}
		full = r
		break
	}
	if full.status != 507 || full.body["code"] != "storage-full" || full.header.Get("Retry-After") == "" {
		t.Fatalf("after %d acknowledged writes: %d %s (Retry-After %q)", len(acked), full.status, full.raw, full.header.Get("Retry-After"))
	}
	t.Logf("full after %d acknowledged registrations: %d %s, Retry-After %s", len(acked), full.status, full.body["code"], full.header.Get("Retry-After"))
	for i := 0; i < 5; i++ {
		r := call(t, "POST", p.base+"/v1/projects", registration(fmt.Sprintf("X%d", i), "330682"), drc...)
		statuses[r.status]++
		if r.status != 507 {
			t.Fatalf("a write while full: %d %s", r.status, r.raw)
		}
	}
	h := call(t, "GET", p.base+"/healthz", nil)
	if h.status != 503 || !strings.Contains(string(h.raw), "storage-full") {
		t.Fatalf("healthz while full: %d %s", h.status, h.raw)
	}
	last := uint64(h.body["stream_last_seq"].(float64))
	if g := call(t, "GET", fmt.Sprintf("%s/v1/projects/%s?min_position=%d", p.base, acked[len(acked)-1], last), nil); g.status != 200 {
		t.Fatalf("a read while full: %d %s", g.status, g.raw)
	}
	t.Logf("while full: statuses %v; healthz %d; reads 200", statuses, h.status)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "healthz to recover once room is made", func() bool {
		return call(t, "GET", p.base+"/healthz", nil).status == 200
	})
	r := call(t, "POST", p.base+"/v1/projects", registration("RECOVERED", "330682"), drc...)
	if r.status != 201 {
		t.Fatalf("a write once room is made: %d %s", r.status, r.raw)
	}
	acked = append(acked, "RECOVERED")

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	p = startProcess(t, dir, "--min-free", "16M")
	last = h0(t, p)
	if last != uint64(len(acked)) {
		t.Fatalf("the stream holds %d events after the restart, %d were acknowledged", last, len(acked))
	}
	for _, id := range acked {
		if g := call(t, "GET", fmt.Sprintf("%s/v1/projects/%s?min_position=%d", p.base, id, last), nil); g.status != 200 {
			t.Fatalf("acknowledged %s after the restart: %d", id, g.status)
		}
	}
	t.Logf("recovered without a restart; after a restart all %d acknowledged registrations are there, 0 lost", len(acked))
}
