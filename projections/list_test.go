package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// TestPagesCoverTheListExactlyOnce: for every sort key, both directions and
// several page sizes, following next cursors yields the whole sorted list,
// every project once, in order — with many ties on the sort key.
func TestPagesCoverTheListExactlyOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := NewModel()
	for i := 0; i < 57; i++ {
		id := fmt.Sprintf("P%02d", r.IntN(100)) + fmt.Sprint(i)
		p := &Project{ID: id, Name: fmt.Sprintf("n%d", r.IntN(5)), TotalInvestment: int64(r.IntN(4)) * 100, Status: domain.StatusImplementing,
			PlannedStart: "2009-01-01", PlannedEnd: "2010-01-01"}
		p.Awarded[0], p.Disbursed[0] = int64(r.IntN(3))*10, int64(r.IntN(3))*5
		p.Milestones[MRegistered] = int64(r.IntN(4)) * 86400
		m.Projects[id] = p
	}
	m.reindex()
	ref := time.Date(2011, 1, 1, 0, 0, 0, 0, cst)
	for _, key := range SortKeys {
		for _, sortBy := range []string{key, "-" + key} {
			all, next, err := List(m, Filter{}, sortBy, "", 500, ref)
			if err != nil || next != "" || len(all) != len(m.Projects) {
				t.Fatalf("%s: %d rows, next %q, %v", sortBy, len(all), next, err)
			}
			// The order itself, against a sort written independently here:
			// by the key's value, then by id, both reversed with "-".
			expect := independentSort(m, key, sortBy[0] == '-')
			for i, row := range all {
				if row.ID != expect[i] {
					t.Fatalf("sort %s: row %d is %s, want %s (want order %v)", sortBy, i, row.ID, expect[i], expect)
				}
			}
			for _, limit := range []int{1, 2, 7, 56, 57} {
				var got []string
				cur := ""
				for pages := 0; ; pages++ {
					rows, next, err := List(m, Filter{}, sortBy, cur, limit, ref)
					if err != nil || pages > len(m.Projects) {
						t.Fatalf("%s limit %d: %v", sortBy, limit, err)
					}
					for _, row := range rows {
						got = append(got, row.ID)
					}
					if next == "" {
						break
					}
					cur = next
				}
				var want []string
				for _, row := range all {
					want = append(want, row.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("sort %s, %d a page:\n got %v\nwant %v", sortBy, limit, got, want)
				}
			}
		}
	}
	if _, _, err := List(m, Filter{}, "id", "not-a-cursor", 5, ref); err == nil {
		t.Fatal("a forged cursor: want an error")
	}
}

// The default order (by id) walks the region indexes from the cursor; built
// project by project in any order of ids, with a filter that skips some of
// a city's projects, its pages are still the filtered projects in id order,
// each once.
func TestListInIDOrderFromTheRegionIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m := NewModel()
	statuses := []domain.Status{domain.StatusImplementing, domain.StatusCompleted}
	for i := 0; i < 300; i++ {
		p := &Project{ID: fmt.Sprintf("P%04d", r.IntN(10000)) + fmt.Sprint(i), City: []string{"330600", "330200", "330400"}[r.IntN(3)],
			Status: statuses[r.IntN(2)], PlannedStart: "2009-01-01", PlannedEnd: "2010-01-01"}
		p.County = p.City + fmt.Sprint(r.IntN(2))
		m.Projects[p.ID] = p
		m.index(p)
	}
	ref := time.Date(2011, 1, 1, 0, 0, 0, 0, cst)
	for _, f := range []Filter{{}, {City: "330600"}, {City: "330200", Status: domain.StatusCompleted}, {County: "3304001", Status: domain.StatusImplementing}, {City: "999999"}} {
		var want []string
		for id, p := range m.Projects {
			if f.Match(p) {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		for _, desc := range []bool{false, true} {
			sortBy := "id"
			if desc {
				sortBy = "-id"
				slices.Reverse(want)
			}
			for _, limit := range []int{1, 3, 50, 500} {
				var got []string
				cur := ""
				for pages := 0; ; pages++ {
					rows, next, err := List(m, f, sortBy, cur, limit, ref)
					if err != nil || pages > len(m.Projects) {
						t.Fatalf("%+v %s limit %d: %v", f, sortBy, limit, err)
					}
					for _, row := range rows {
						got = append(got, row.ID)
					}
					if next == "" {
						break
					}
					cur = next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("filter %+v, sort %s, %d a page:\n got %v\nwant %v", f, sortBy, limit, got, want)
				}
			}
		}
	}
}

// independentSort orders the model's project ids by key as the API
// documents it, without the list's own comparator.
func independentSort(m *Model, key string, desc bool) []string {
	value := func(p *Project) string {
		pad := func(n int64) string { return fmt.Sprintf("%020d", n) }
		switch key {
		case "name":
			return p.Name
		case "registered":
			return pad(p.Milestones[MRegistered])
		case "total_investment":
			return pad(p.TotalInvestment)
		case "awarded":
			var n int64
			for _, v := range p.Awarded {
				n += v
			}
			return pad(n)
		case "disbursed":
			var n int64
			for _, v := range p.Disbursed {
				n += v
			}
			return pad(n)
		case "outstanding":
			var n int64
			for i := range p.Disbursed {
				n += p.Disbursed[i] - p.Refunded[i]
			}
			return pad(n)
		}
		return ""
	}
	ids := make([]string, 0, len(m.Projects))
	for id := range m.Projects {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		va, vb := value(m.Projects[a])+"\x00"+a, value(m.Projects[b])+"\x00"+b
		c := strings.Compare(va, vb)
		if desc {
			c = -c
		}
		return c
	})
	return ids
}

// TestKeptSummariesEqualAScan: the summaries kept up to date event by event
// equal a scan of the model, in every dimension, as random histories go on.
func TestKeptSummariesEqualAScan(t *testing.T) {
	m := syntheticModel(0)
	st := testStore(t)
	for round := 0; round < 3; round++ {
		if err := st.Read(context.Background(), eventstore.ReadOptions{From: m.Applied + 1}, m.Apply); err != nil {
			t.Fatal(err)
		}
		for _, by := range GroupBys {
			kept, keptTotal, _ := Summary(m, by, Filter{})
			// A filter that matches everything forces the scan.
			scanned, scannedTotal, _ := Summary(m, by, Filter{YearFrom: 1})
			a, _ := json.Marshal([]any{kept, keptTotal})
			b, _ := json.Marshal([]any{scanned, scannedTotal})
			if string(a) != string(b) {
				t.Fatalf("round %d, group_by %s: kept\n%s\nscanned\n%s", round, by, a, b)
			}
		}
		testloadMore(t, st, round)
	}
}

// TestConcurrentReadersOfALoadedModel: readers sharing a model fresh from a
// checkpoint (indexed once when it was read) only read it: no race.
func TestConcurrentReadersOfALoadedModel(t *testing.T) {
	m := syntheticModel(2000)
	b, _ := json.Marshal(m)
	var loaded Model
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatal(err)
	}
	loaded.reindex()
	loaded.KeepSums()
	ref := time.Date(2011, 6, 1, 0, 0, 0, 0, cst)
	done := make(chan int, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			rows, _, _ := List(&loaded, Filter{City: []string{"330600", "330200"}[i%2]}, "", "", 10, ref)
			g, _, _ := Summary(&loaded, "city", Filter{})
			_ = Watchlist(&loaded, Filter{County: "330400"}, ref, time.Hour)
			done <- len(rows) + len(g)
		}(i)
	}
	for i := 0; i < 8; i++ {
		if n := <-done; n != 14 {
			t.Fatalf("a reader got %d rows and groups, want 14", n)
		}
	}
}
