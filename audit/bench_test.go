package audit_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/testload"
)

var (
	benchProjects = flag.Int("bench.projects", 2000, "projects loaded for BenchmarkVerify")
	benchDir      = flag.String("bench.dir", "", "keep the loaded store here and reuse it on the next run")
)

// BenchmarkVerify loads -bench.projects random histories and, in one run,
// reads the stream raw with an ordered consumer, then verifies it (hashes,
// chains, subjects, the domain rules, the Merkle tree).
//
//	go test ./audit -run '^$' -bench Verify -benchtime 1x -bench.projects 45000 -bench.dir /tmp/ledger-verify-bench
func BenchmarkVerify(b *testing.B) {
	st := testload.Prepared(b, *benchDir, *benchProjects)
	ctx := context.Background()
	last, _ := st.LastSequence(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		n := 0
		if err := st.Read(ctx, eventstore.ReadOptions{Raw: true}, func(eventstore.Stored) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		raw := time.Since(t0)
		t0 = time.Now()
		res, err := audit.Verify(ctx, st, audit.VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		b.ReportMetric(float64(res.Events)/took.Seconds(), "verified-events/s")
		b.ReportMetric(float64(n)/raw.Seconds(), "raw-read-events/s")
		b.Logf("%d events of %d projects: verify %s (%.0f events/s); raw ordered read %s (%.0f events/s); verify takes %.1f× the raw read",
			last, res.Projects, took.Round(time.Millisecond), float64(res.Events)/took.Seconds(), raw.Round(time.Millisecond), float64(n)/raw.Seconds(), took.Seconds()/raw.Seconds())
	}
}
