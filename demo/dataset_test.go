package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
)

// TestDatasetIsWhatTheBuilderMakes fails when dataset.json was edited by
// hand or the builder changed without `go generate ./demo`.
func TestDatasetIsWhatTheBuilderMakes(t *testing.T) {
	d, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, datasetJSON) {
		t.Fatal("dataset.json differs from what demo.Build makes: run go generate ./demo")
	}
}

// TestEveryFactHasABasis: each project says for its main facts whether they
// are stated or filled in, and every aggregate is either checked or has a reason.
func TestEveryFactHasABasis(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Projects {
		for _, f := range []string{"name", "owner", "region", "programme", "plan_year", "total_investment", "dates", "outcome"} {
			fact, ok := p.Facts[f]
			if !ok || (fact.Basis != Stated && fact.Basis != Filled && fact.Basis != Inferred) {
				t.Fatalf("project %s: fact %s has no basis (%+v)", p.ID, f, fact)
			}
		}
		if len(p.Awards) > 0 && p.Facts["award"].Basis == "" {
			t.Fatalf("project %s: its award has no basis", p.ID)
		}
		// Every invented field says so: requested amounts, investment at
		// application, progress reports, construction start.
		has := map[string]bool{}
		for _, st := range p.Steps {
			has[st.Path[strings.LastIndexByte(st.Path, '/')+1:]] = true
		}
		need := []string{"requested", "completed_investment"}
		if has["progress-reports"] {
			need = append(need, "progress_reports")
		}
		if has["construction-start"] {
			need = append(need, "construction_start")
		}
		for _, f := range need {
			if b := p.Facts[f].Basis; b != Stated && b != Filled && b != Inferred {
				t.Fatalf("project %s: %s has no basis", p.ID, f)
			}
		}
	}
	for _, a := range d.Aggregates {
		if (a.Reproduced && a.Check == nil) || (!a.Reproduced && a.Reason == "") {
			t.Fatalf("aggregate %d (L%d %s): reproduced=%v without a check or a reason", a.Index, a.Line, a.What, a.Reproduced)
		}
	}
}

// TestDatasetFollowsTheReports checks readings of issue 13 on the dataset
// itself: no Shangyu application before 2006 (L1184-1185); no energy
// review attached to an application before October 2010 (L1176); the
// categories the stated names give; no unnamed Zhoushan listing.
func TestDatasetFollowsTheReports(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2010, 10, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, p := range d.Projects {
		var applied time.Time
		for _, st := range p.Steps {
			at, err := time.Parse(time.RFC3339, st.Body["effective_time"].(string))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case st.Path == "/v1/projects":
				applied = at
			case strings.HasSuffix(st.Path, "/application-report"):
				for _, a := range st.Body["attachments"].([]any) {
					if a.(map[string]any)["kind"] == domain.AttachEnergyReview && applied.Before(cutoff) {
						t.Errorf("%s applied %s with an energy review, which began in October 2010", p.ID, applied.Format(time.DateOnly))
					}
				}
			}
		}
		if strings.HasPrefix(p.ID, "SY-") && applied.Year() < 2006 {
			t.Errorf("%s applied in %d, before Shangyu's first application in 2006", p.ID, applied.Year())
		}
		if strings.HasPrefix(p.ID, "ZS-991") && strings.Contains(p.Name, "未具名") {
			t.Errorf("%s is unnamed; the text names all 8 Zhoushan listings", p.ID)
		}
		for word, cat := range map[string]string{"节水改造": "water_saving", "风电场": "renewable_energy"} {
			if strings.Contains(p.Name, word) && p.Category != cat {
				t.Errorf("%s %q is %s, want %s", p.ID, p.Name, p.Category, cat)
			}
		}
	}
}
