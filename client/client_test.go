package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/domain"
)

func register(t *testing.T, c *client.Client, id string) *client.Recorded {
	t.Helper()
	rec, err := c.Register(context.Background(), &domain.RegisterProject{
		At: domain.At{EffectiveTime: day("2011-02-01")}, ID: domain.ProjectID(id),
		Name: "测试项目 " + id, Owner: "浙江某测试有限公司", City: "330600", County: "330682",
		Category: "water_saving", Programmes: []string{"zj_991"},
		TotalInvestment: 3000 * domain.Wan, PlannedStart: "2011-03-01", PlannedEnd: "2012-12-31",
		Requested: domain.Amounts{domain.SourceProvincialFund: 100 * domain.Wan},
	})
	if err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	return rec
}

// TestTypesCoverTheAnswers: every query's answer decodes into the client's
// types with no field left over, so the types say all the API says.
func TestTypesCoverTheAnswers(t *testing.T) {
	ctx := context.Background()
	city, _ := client.New(ledgerURL, client.WithToken(cityToken), client.Strict)
	province, _ := client.New(ledgerURL, client.WithToken(provinceToken), client.Strict)
	rec := register(t, city, "CT-1")
	rec, err := province.Do(ctx, "CT-1", &domain.RecordReview{At: domain.At{EffectiveTime: day("2011-03-01")}, Outcome: "passed", Reference: "浙发改资环〔2011〕1号"}, client.IfMatch(rec.Version))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := city.Project(ctx, "CT-1", client.MinPosition(rec.Position)); err != nil {
		t.Errorf("project: %v", err)
	}
	if _, err := city.Project(ctx, "CT-1", client.AsOfDate("2011-02-15")); err != nil {
		t.Errorf("project as of: %v", err)
	}
	if tl, err := city.Timeline(ctx, "CT-1"); err != nil || len(tl.Entries) != 2 {
		t.Errorf("timeline: %v %+v", err, tl)
	}
	for _, err := range city.Projects(ctx, client.Filter{County: "330682"}, client.ListOptions{}) {
		if err != nil {
			t.Errorf("projects: %v", err)
			break
		}
	}
	if s, err := city.Summary(ctx, client.Filter{}, "county"); err != nil || s.Total == nil || s.Total.Projects == 0 {
		t.Errorf("summary: %v %+v", err, s)
	}
	if r, err := city.Report(ctx, client.Filter{County: "330682"}, client.AsOfDate("2011-12-31")); err != nil || len(r.Lines) == 0 {
		t.Errorf("report: %v %+v", err, r)
	}
	if _, err := city.Watchlist(ctx, client.Filter{}); err != nil {
		t.Errorf("watchlist: %v", err)
	}
	if u, err := city.Me(ctx); err != nil || u.ID != "shaoxing" || u.Region != "330600" || !u.Authenticated {
		t.Errorf("me: %v %+v", err, u)
	}
}

// TestProblemsAreErrors: the API's refusals come back as *Problem with the
// status, code, field and rule.
func TestProblemsAreErrors(t *testing.T) {
	ctx := context.Background()
	city, _ := client.New(ledgerURL, client.WithToken(cityToken))
	anonymous, _ := client.New(ledgerURL)
	register(t, city, "PE-1")
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
		field  string
	}{
		{"no such project", second(city.Project(ctx, "NOPE")), http.StatusNotFound, "project-not-found", ""},
		{"no token", second(anonymous.Project(ctx, "PE-1")), http.StatusUnauthorized, "", ""},
		{"a bad as_of", second(city.Project(ctx, "PE-1", client.AsOfDate("2011-13-45"))), http.StatusBadRequest, "", "as_of"},
		{"a bad body", second(city.Do(ctx, "PE-1", &domain.RecordReview{At: domain.At{EffectiveTime: day("2011-03-01")}, Outcome: "maybe"})), 0, "", "outcome"},
		{"the same id twice", second(city.Register(ctx, &domain.RegisterProject{At: domain.At{EffectiveTime: day("2011-02-01")}, ID: "PE-1", Name: "x", Owner: "y",
			City: "330600", County: "330682", Category: "water_saving", Programmes: []string{"zj_991"}, TotalInvestment: domain.Wan,
			PlannedStart: "2011-03-01", PlannedEnd: "2012-12-31", Requested: domain.Amounts{domain.SourceProvincialFund: domain.Wan / 10}})), http.StatusConflict, "", ""},
	} {
		var p *client.Problem
		if !errors.As(c.err, &p) {
			t.Errorf("%s: %v is not a *Problem", c.name, c.err)
			continue
		}
		if (c.status != 0 && p.Status != c.status) || (c.code != "" && p.Code != c.code) || (c.field != "" && p.Field != c.field) || p.Code == "" {
			t.Errorf("%s: %+v, want status %d code %q field %q", c.name, p, c.status, c.code, c.field)
		}
		if c.code != "" && !client.IsCode(c.err, c.code) {
			t.Errorf("%s: IsCode(%q) false", c.name, c.code)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestProjectsFollowsEveryPage: with a page size of 2, the iterator yields
// each of 7 projects once, in order, and stops when the caller breaks.
func TestProjectsFollowsEveryPage(t *testing.T) {
	ctx := context.Background()
	city, _ := client.New(ledgerURL, client.WithToken(cityToken))
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("PG-%d", i)
		register(t, city, id)
		want = append(want, id)
	}
	var got []string
	for row, err := range city.Projects(ctx, client.Filter{Name: "测试项目 PG-"}, client.ListOptions{Sort: "id", PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	n := 0
	for range city.Projects(ctx, client.Filter{Name: "测试项目 PG-"}, client.ListOptions{PageSize: 2}) {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("broke after %d", n)
	}
}

// TestEventsStopsOnARefusal: a feed the ledger refuses ends the iteration
// with the problem rather than retrying.
func TestEventsStopsOnARefusal(t *testing.T) {
	auditor, _ := client.New(ledgerURL, client.WithToken(auditorToken))
	n := 0
	for _, err := range auditor.Events(context.Background(), client.StreamQuery{Type: "no_such_event"}) {
		n++
		if !client.IsCode(err, "invalid-parameter") && !errors.As(err, new(*client.Problem)) {
			t.Fatalf("got %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d yields, want 1", n)
	}
}
