package main

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zjfund/ledger/httpapi"
)

var (
	contractOnce sync.Once
	contract     map[string]map[string]map[string]bool // path template → method → documented statuses
)

// checkDocumented fails the test when the ledger answered method rawURL
// with a status the OpenAPI document does not list for that operation:
// every answer the tests see is checked against the contract.
func checkDocumented(t *testing.T, method, rawURL string, status int) {
	t.Helper()
	contractOnce.Do(func() {
		contract = map[string]map[string]map[string]bool{}
		doc := httpapi.OpenAPI()
		for path, item := range doc["paths"].(map[string]any) {
			contract[path] = map[string]map[string]bool{}
			for m, op := range item.(map[string]any) {
				st := map[string]bool{}
				for code := range op.(map[string]any)["responses"].(map[string]any) {
					st[code] = true
				}
				contract[path][strings.ToUpper(m)] = st
			}
		}
	})
	u, err := url.Parse(rawURL)
	if err != nil {
		return
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	var best string
	for path := range contract {
		tsegs := strings.Split(strings.Trim(path, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		ok, literal := true, 0
		for i, s := range tsegs {
			if strings.HasPrefix(s, "{") {
				continue
			}
			if s != segs[i] {
				ok = false
				break
			}
			literal++
		}
		if ok && (best == "" || literal > strings.Count(best, "/")-strings.Count(best, "{")) {
			best = path
		}
	}
	if best == "" || contract[best][method] == nil {
		return // not a route: the 404 or 405 of the mux
	}
	if !contract[best][method][strconv.Itoa(status)] {
		t.Errorf("%s %s answered %d, which the OpenAPI document does not list for %s %s", method, u.Path, status, method, best)
	}
}
