package demo

import (
	"bytes"
	"testing"
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
	}
	for _, a := range d.Aggregates {
		if (a.Reproduced && a.Check == nil) || (!a.Reproduced && a.Reason == "") {
			t.Fatalf("aggregate %d (L%d %s): reproduced=%v without a check or a reason", a.Index, a.Line, a.What, a.Reproduced)
		}
	}
}
