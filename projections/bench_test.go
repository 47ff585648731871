package projections_test

import (
	"context"
	"flag"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/testload"
	"github.com/zjfund/ledger/projections"
)

var (
	benchProjects = flag.Int("bench.projects", 2000, "projects loaded for BenchmarkRebuild")
	benchDir      = flag.String("bench.dir", "", "keep the loaded store here and reuse it on the next run")
)

// BenchmarkRebuild loads -bench.projects random histories (about 15 events
// each) and measures a rebuild of every read model from zero against a raw
// ordered read of the same stream, and the heap the model holds per project.
//
//	go test ./projections -run '^$' -bench Rebuild -benchtime 1x -bench.projects 70000 -bench.dir /tmp/ledger-bench
func BenchmarkRebuild(b *testing.B) {
	st := testload.Prepared(b, *benchDir, *benchProjects)
	ctx := context.Background()
	last, _ := st.LastSequence(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		n := 0
		if err := st.Read(ctx, eventstore.ReadOptions{}, func(eventstore.Stored) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		raw := time.Since(t0)
		t0 = time.Now()
		m, err := projections.Rebuild(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		// The model's size: the live heap with it, less the live heap without it.
		projects := len(m.Projects)
		with := liveHeap()
		runtime.KeepAlive(m)
		m = nil
		perProject := float64(with-liveHeap()) / float64(projects)
		b.ReportMetric(float64(last)/took.Seconds(), "events/s")
		b.ReportMetric(float64(n)/raw.Seconds(), "raw-read-events/s")
		b.ReportMetric(perProject, "heap-B/project")
		b.Logf("%d events, %d projects: rebuild %s (%.0f events/s); raw ordered read with hash check %s (%.0f events/s); ratio %.2f; heap %.0f B per project",
			last, projects, took.Round(time.Millisecond), float64(last)/took.Seconds(), raw.Round(time.Millisecond), float64(n)/raw.Seconds(),
			raw.Seconds()/took.Seconds(), perProject)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
