package projections

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
)

// syntheticModel holds n projects spread over a few cities and statuses.
func syntheticModel(n int) *Model {
	r := rand.New(rand.NewPCG(1, 1))
	m := NewModel()
	cities := []string{"330600", "330200", "330400", "330700"}
	statuses := []domain.Status{domain.StatusImplementing, domain.StatusCompleted, domain.StatusAccepted, domain.StatusClosed}
	for i := 0; i < n; i++ {
		p := &Project{ID: fmt.Sprintf("P%06d", i), Name: "项目", Owner: "企业", City: cities[i%4], County: cities[i%4], Category: "energy_saving",
			Programmes: []string{"zj_991"}, Status: statuses[r.IntN(4)], TotalInvestment: int64(r.IntN(1e6)) * 1e6,
			PlannedStart: "2010-01-01", PlannedEnd: "2011-12-31", LastSeq: uint64(i)}
		p.Awarded[0], p.Disbursed[0] = int64(r.IntN(1e4))*1e6, int64(r.IntN(1e4))*1e5
		p.Milestones[MRegistered] = time.Date(2009+r.IntN(3), 1, 1, 0, 0, 0, 0, cst).Unix()
		p.Milestones[MPlanIssued] = p.Milestones[MRegistered] + 86400*100
		m.Projects[p.ID] = p
		m.index(p)
	}
	return m
}

func BenchmarkList(b *testing.B) {
	m := syntheticModel(100_000)
	ref := time.Date(2011, 6, 1, 0, 0, 0, 0, cst)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows, _, err := List(m, Filter{City: "330600"}, "", "", 50, ref)
		if err != nil || len(rows) != 50 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

func BenchmarkSummary(b *testing.B) {
	m := syntheticModel(100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Summary(m, "city", Filter{}); err != nil {
			b.Fatal(err)
		}
	}
}
