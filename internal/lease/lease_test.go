package lease_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/lease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		<-time.After(wait)
	}
}

// TestOneHolderAtATime: three contenders for one lease; at every instant at
// most one runs its work; when the holder stops (its process ends), another
// takes the lease within the lease time; renewals keep a live holder.
func TestOneHolderAtATime(t *testing.T) {
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ttl := 900 * time.Millisecond
	var running atomic.Int32
	var overlap atomic.Bool
	var mu sync.Mutex
	var holders []string
	type contender struct {
		stop context.CancelFunc
		done chan struct{}
	}
	start := func(name string) contender {
		nc, err := srv.Connect(name)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := lease.Open(context.Background(), nc, 1, ttl, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		c := contender{stop: stop, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			defer nc.Close()
			ls.Run(ctx, "checkpointer", name, func(ctx context.Context) {
				if running.Add(1) > 1 {
					overlap.Store(true)
				}
				mu.Lock()
				holders = append(holders, name)
				mu.Unlock()
				<-ctx.Done()
				running.Add(-1)
			})
		}()
		return c
	}
	cs := map[string]contender{"a": start("a"), "b": start("b"), "c": start("c")}
	holder := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(holders) == 0 {
			return ""
		}
		return holders[len(holders)-1]
	}
	waitFor(t, 5*time.Second, "a holder", func() bool { return holder() != "" })
	first := holder()
	// The holder keeps the lease by renewing it, for several lease times.
	nc, err := srv.Connect("observer")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	obs, err := lease.Open(context.Background(), nc, 1, ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	rev0, _ := obs.Revision(context.Background(), "checkpointer")
	waitFor(t, 10*ttl, "six renewals", func() bool {
		r, _ := obs.Revision(context.Background(), "checkpointer")
		return r >= rev0+6
	})
	if h := holder(); h != first {
		t.Fatalf("the lease moved from %s to %s while its holder lived", first, h)
	}
	if h, _ := obs.Holder(context.Background(), "checkpointer"); h.Holder != first {
		t.Fatalf("the key names %q, the holder is %s", h.Holder, first)
	}
	// The holder ends; another takes over within the lease time.
	cs[first].stop()
	<-cs[first].done
	took := time.Now()
	waitFor(t, 5*time.Second, "another holder", func() bool { return holder() != first })
	if time.Since(took) > ttl+ttl/2 {
		t.Fatalf("after %s stopped, the next took the lease after %s (lease time %s)", first, time.Since(took), ttl)
	}
	for n, c := range cs {
		if n != first {
			c.stop()
			<-c.done
		}
	}
	if overlap.Load() {
		t.Fatal("two contenders ran their work at once")
	}
}
