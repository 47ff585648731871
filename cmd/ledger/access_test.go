package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/zjfund/ledger/domain"
)

// TestEveryCommandRoleAndScope tries every command as a user of each role,
// once within the project's region and once outside it: outside, every one
// is refused out-of-scope; within, a role the command does not permit is
// refused role-not-permitted, and a permitted one is never refused for who
// the user is (it may still be refused by the lifecycle, a 409 or 404).
func TestEveryCommandRoleAndScope(t *testing.T) {
	l := startLedger(t, t.TempDir())
	runScript(t, l, approvedScript("T1"))
	tokens := map[string]string{}
	for _, role := range domain.Roles {
		for _, region := range []string{"330682", "330206"} {
			id := fmt.Sprintf("%s-%s", role, region)
			u := map[string]any{"id": id, "name": id, "org": "某单位", "roles": []string{string(role)}, "region": region}
			if role == domain.RoleOwner {
				u["owner_org"] = "浙江某化工有限公司"
				if region == "330206" {
					u["owner_org"] = "宁波另一家公司"
				}
				u["region"] = "province"
			}
			if r := call(t, "POST", l.base+"/v1/users", u, admin...); r.status != 201 {
				t.Fatalf("user %s: %d %s", id, r.status, r.raw)
			}
			tr := call(t, "POST", l.base+"/v1/users/"+id+"/tokens", nil, admin...)
			tokens[id] = tr.body["token"].(string)
		}
	}
	p := "/v1/projects/T1"
	bodies := map[string]struct {
		path string
		body map[string]any
	}{
		"register":              {"/v1/projects", registration("T2", "330682")},
		"screen":                {p + "/screening", map[string]any{"effective_time": at("2009-09-01")}},
		"submit_report":         {p + "/application-report", map[string]any{"effective_time": at("2009-09-01"), "reference": "r", "attachments": attachments()}},
		"record_review":         {p + "/review", map[string]any{"effective_time": at("2009-09-01"), "outcome": "passed", "reference": "r"}},
		"record_national_reply": {p + "/national-reply", map[string]any{"effective_time": at("2009-09-01"), "reference": "r"}},
		"issue_plan":            {p + "/investment-plan", map[string]any{"effective_time": at("2009-09-01"), "reference": "r", "awards": map[string]int64{"central_budget": 1}}},
		"open_special_account":  {p + "/special-account", map[string]any{"effective_time": at("2009-09-01"), "bank": "b", "account_ref": "a"}},
		"disburse":              {p + "/disbursements", map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 1, "basis": "b"}},
		"approve_disbursement":  {p + "/disbursements/D9/approval", map[string]any{"effective_time": at("2009-09-01")}},
		"pass_pilot_assessment": {p + "/pilot-assessment", map[string]any{"effective_time": at("2009-09-01"), "reference": "r"}},
		"report_progress":       {p + "/progress-reports", map[string]any{"effective_time": at("2009-09-01"), "as_of": "2009-08-31", "investment_completed": 1}},
		"request_change":        {p + "/changes", map[string]any{"effective_time": at("2009-09-01"), "change_id": "X", "kind": "content", "description": "d"}},
		"decide_change":         {p + "/changes/NOPE/decision", map[string]any{"effective_time": at("2009-09-01"), "outcome": "approved", "reference": "r"}},
		"record_inspection":     {p + "/inspections", map[string]any{"effective_time": at("2009-09-01"), "kind": "audit", "body": "b"}},
		"complete":              {p + "/completion", map[string]any{"effective_time": at("2009-09-01"), "actual_total_investment": 1}},
		"start_construction":    {p + "/construction-start", map[string]any{"effective_time": at("2009-09-01"), "started_on": "2009-02-01"}},
		"prepare_acceptance":    {p + "/acceptance-preparation", map[string]any{"effective_time": at("2009-09-01")}},
		"file_acceptance_item":  {p + "/acceptance-items", map[string]any{"effective_time": at("2009-09-01"), "item": "audit_report", "reference": "r"}},
		"request_acceptance":    {p + "/acceptance-request", map[string]any{"effective_time": at("2009-09-01")}},
		"record_acceptance":     {p + "/acceptance", map[string]any{"effective_time": at("2009-09-01"), "outcome": "passed", "reference": "r"}},
		"terminate":             {p + "/termination", map[string]any{"effective_time": at("2009-09-01"), "reason": "r", "reference": "r"}},
		"refund":                {p + "/refunds", map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 1, "reference": "r"}},
		"close":                 {p + "/closure", map[string]any{"effective_time": at("2009-09-01")}},
	}
	cases := 0
	for _, name := range domain.CommandNames() {
		b, ok := bodies[name]
		if !ok {
			t.Fatalf("command %s has no request in this table", name)
		}
		for _, role := range domain.Roles {
			for _, region := range []string{"330682", "330206"} {
				id := fmt.Sprintf("%s-%s", role, region)
				before := streamLastSeq(t, l)
				r := call(t, "POST", l.base+b.path, b.body, "Authorization", "Bearer "+tokens[id])
				cases++
				permitted := slices.Contains(domain.PermittedRoles(name), role)
				code, _ := r.body["code"].(string)
				switch {
				case region == "330206":
					if r.status != 403 || code != "out-of-scope" {
						t.Fatalf("%s as %s outside the region: %d %s", name, role, r.status, r.raw)
					}
				case !permitted:
					if r.status != 403 || code != "role-not-permitted" {
						t.Fatalf("%s as %s: %d %s, want role-not-permitted", name, role, r.status, r.raw)
					}
				case !programmeAllows(name, role):
					// The role table permits it, the central programme's table does not (rulebook 2).
					if rule, _ := r.body["rule"].(string); r.status != 403 || code != "role-not-permitted" || (rule != "programme" && rule != "R12") {
						t.Fatalf("%s as %s on a central project: %d %s, want role-not-permitted by the programme", name, role, r.status, r.raw)
					}
				default:
					if r.status == 403 || r.status == 401 {
						t.Fatalf("%s as %s (permitted, in scope): %d %s", name, role, r.status, r.raw)
					}
				}
				if r.status/100 != 2 && streamLastSeq(t, l) != before {
					t.Fatalf("%s as %s: refused, yet the stream moved", name, role)
				}
			}
		}
	}
	t.Logf("%d (command, role, scope) cases", cases)
}

// programmeAllows reports whether the central programme's table (the
// access test's project is central) lets role take the step name: its
// reviewers, planners, change approvers, and the levels that recognise a
// termination.
func programmeAllows(name string, role domain.Role) bool {
	r := domain.CurrentRulebook().Effective([]string{"central_rcep"})
	switch name {
	case "record_review":
		return slices.Contains(r.Reviewers, role)
	case "issue_plan":
		return slices.Contains(r.Planners, role)
	case "decide_change":
		return slices.Contains(r.ChangeApprovers, role)
	case "terminate":
		return (role == domain.RoleNDRC && slices.Contains(r.TerminationRecognitions, "nation")) ||
			(role == domain.RoleProvinceDRC && slices.Contains(r.TerminationRecognitions, "province"))
	}
	return true
}
