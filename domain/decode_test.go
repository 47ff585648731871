package domain_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/domain/domaintest"
)

// TestDecodeEventReadsAsEncodingJSONDid: every event the rules make, of
// every type they make, decodes with the faster decoder to exactly what
// encoding/json gives.
func TestDecodeEventReadsAsEncodingJSONDid(t *testing.T) {
	g := domaintest.New(7)
	start := time.Date(2009, 1, 5, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	types := map[string]int{}
	for i := range 300 {
		for _, group := range g.History(domain.ProjectID("D-"+string(rune('A'+i%26))+string(rune('a'+i/26))), start, 60, start.AddDate(6, 0, 0)) {
			for _, r := range group {
				data, err := json.Marshal(r.Event)
				if err != nil {
					t.Fatal(err)
				}
				got, err := domain.DecodeEvent(r.Event.EventType(), data)
				if err != nil {
					t.Fatal(err)
				}
				want := reflect.New(reflect.TypeOf(r.Event))
				if err := json.Unmarshal(data, want.Interface()); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want.Elem().Interface()) || !reflect.DeepEqual(got, r.Event) {
					t.Fatalf("%s: decoded\n%#v\nencoding/json gives\n%#v", r.Event.EventType(), got, want.Elem().Interface())
				}
				types[r.Event.EventType()]++
			}
		}
	}
	if len(types) < 15 {
		t.Fatalf("only %d event types made: %v", len(types), types)
	}
	t.Logf("%d event types: %v", len(types), types)
}
