package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetrics: with --metrics the ledger serves Prometheus metrics apart
// from the API — commands by name and outcome, HTTP by route and status,
// appends, group commit, the read models, checkpoints, feeds, webhooks, the
// Go runtime and the process — and with --nats-monitor the embedded NATS
// server's monitoring endpoint answers.
func TestMetrics(t *testing.T) {
	l := startLedger(t, t.TempDir(), "--metrics", "127.0.0.1:0", "--nats-monitor", "127.0.0.1:0")
	if l.metrics == "" || l.natsMonitor == "" {
		t.Fatalf("no metrics (%q) or NATS monitoring (%q) address printed", l.metrics, l.natsMonitor)
	}
	runScript(t, l, approvedScript("M1"))
	if r := call(t, "POST", l.base+"/v1/projects/M1/disbursements", map[string]any{"effective_time": at("2009-09-01"), "source": "central_budget", "amount": 700*wan + 1, "basis": "b"}, finance...); r.status != 409 {
		t.Fatalf("an over-award disbursement: %d", r.status)
	}
	get := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
		}
		return string(b)
	}
	var body string
	waitFor(t, 10*time.Second, "the read models to reach the commands", func() bool {
		body = get(l.metrics)
		return regexp.MustCompile(`(?m)^ledger_projection_applied_seq 8$`).MatchString(body)
	})
	for _, want := range []string{
		`ledger_commands_total{command="register",outcome="recorded"} 1`,
		`ledger_commands_total{command="disburse",outcome="over-award"} 1`,
		`ledger_http_requests_total{method="POST",route="POST /v1/projects/{id}/review",status="201"} 1`,
		`ledger_command_duration_seconds_count{command="issue_plan"} 1`,
		`ledger_append_duration_seconds_count 8`,
		`ledger_group_commit_batches_total`,
		`ledger_projection_lag_events 0`,
		`ledger_stream_last_seq 8`,
		`ledger_checkpoint_tree_size`,
		`ledger_checkpoint_signing 1`,
		`ledger_feeds_open 0`,
		`ledger_webhooks_delivering 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Parsed as Prometheus parses it: the commands recorded are the
	// stream's events (each command of the script records one), by name.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	recorded := map[string]float64{}
	total := 0.0
	for _, m := range mfs["ledger_commands_total"].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if labels["outcome"] == "recorded" {
			recorded[labels["command"]] += m.GetCounter().GetValue()
			total += m.GetCounter().GetValue()
		}
	}
	last := mfs["ledger_stream_last_seq"].GetMetric()[0].GetGauge().GetValue()
	hist := call(t, "GET", l.base+"/v1/projects/M1/events", nil, auditor...)
	events, _ := hist.body["events"].([]any)
	if total != last || int(total) != len(events) {
		t.Errorf("%v commands recorded, the stream's last sequence %v, %d events in the history", total, last, len(events))
	}
	for _, name := range []string{"register", "screen", "submit_report", "record_review", "record_national_reply", "issue_plan", "open_special_account", "report_progress"} {
		if recorded[name] != 1 {
			t.Errorf("command %s recorded %v times, want 1 (its one event)", name, recorded[name])
		}
	}
	if v := get(l.natsMonitor); !strings.Contains(v, `"server_name": "ledger"`) && !strings.Contains(v, `"server_name":"ledger"`) {
		t.Errorf("NATS /varz: %.200s", v)
	}
}
