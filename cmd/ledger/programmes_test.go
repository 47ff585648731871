package main

import (
	"testing"
)

// TestProgrammesServesEveryRulebook: GET /v1/programmes serves the rulebook
// in force and, by version, every earlier one; each programme with its path
// and its rules' seed lines; an unknown version is a 400 naming the field.
func TestProgrammesServesEveryRulebook(t *testing.T) {
	l := startLedger(t, t.TempDir())
	cur := call(t, "GET", l.base+"/v1/programmes", nil)
	if cur.status != 200 || cur.body["version"] != float64(2) || cur.body["current"] != float64(2) {
		t.Fatalf("GET /v1/programmes: %d %s", cur.status, cur.raw)
	}
	byCode := map[string]map[string]any{}
	for _, p := range cur.body["programmes"].([]any) {
		m := p.(map[string]any)
		byCode[m["code"].(string)] = m
		rules, _ := m["rules"].([]any)
		if len(rules) == 0 || rules[0].(map[string]any)["lines"] == "" {
			t.Errorf("programme %s names no rule with its seed lines", m["code"])
		}
	}
	for _, c := range []string{"central_rcep", "kitchen_waste_pilot", "urban_mine", "zj_991", "zj_ce_fund", "zj_park_eco", "hz_770", "sx_850", "tz_511", "city_fund"} {
		if byCode[c] == nil {
			t.Errorf("rulebook 2 has no programme %s", c)
		}
	}
	if c := byCode["central_rcep"]; c["progress_cap"] != true || c["screen_limit_bp"] != float64(4000) || c["screen_warn_bp"] != float64(3000) {
		t.Errorf("central_rcep: %v", c)
	}
	if p := byCode["kitchen_waste_pilot"]; p["predisbursement_bp"] != float64(5000) {
		t.Errorf("kitchen_waste_pilot: %v", p)
	}
	old := call(t, "GET", l.base+"/v1/programmes?rulebook=1", nil)
	if old.status != 200 || old.body["version"] != float64(1) || len(old.body["programmes"].([]any)) != 9 {
		t.Fatalf("rulebook 1: %d %s", old.status, old.raw)
	}
	for _, p := range old.body["programmes"].([]any) {
		if m := p.(map[string]any); m["code"] == "central_rcep" && m["screen_limit_bp"] != float64(3000) {
			t.Errorf("rulebook 1's central screen: %v", m["screen_limit_bp"])
		}
	}
	if bad := call(t, "GET", l.base+"/v1/programmes?rulebook=9", nil); bad.status != 400 || bad.body["field"] != "rulebook" {
		t.Fatalf("rulebook 9: %d %s", bad.status, bad.raw)
	}
}
