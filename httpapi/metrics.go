package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zjfund/ledger/eventstore"
)

// Metrics are the ledger's Prometheus metrics: HTTP requests by route and
// status, commands by name and outcome, appends, group commit, the read
// models, checkpoints, webhooks, event feeds, and the Go runtime and
// process. Serve them with Handler on a listener of their own.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	commands *prometheus.CounterVec
	cmdTime  *prometheus.HistogramVec
	appends  prometheus.Histogram
}

// NewMetrics makes the registry with the process-wide collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ledger_http_requests_total", Help: "HTTP requests by route pattern, method and status."},
			[]string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ledger_http_request_duration_seconds", Help: "HTTP request duration by route pattern (event feeds excluded).", Buckets: buckets},
			[]string{"route"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ledger_commands_total", Help: "Commands by name and outcome: recorded, replayed (an idempotent retry), or the problem code of a refusal."},
			[]string{"command", "outcome"}),
		cmdTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ledger_command_duration_seconds", Help: "Command duration by name, from request to answer.", Buckets: buckets},
			[]string{"command"}),
		appends: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ledger_append_duration_seconds", Help: "Duration of appends to the event stream, acknowledgement (fsync) included.", Buckets: buckets}),
	}
	reg.MustRegister(m.requests, m.latency, m.commands, m.cmdTime, m.appends)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveAppend records one append's duration (eventstore.Config's observer).
func (m *Metrics) ObserveAppend(d time.Duration) { m.appends.Observe(d.Seconds()) }

// Watch registers the metrics read from the ledger's parts at each scrape.
func (m *Metrics) Watch(a *API, store interface{ GroupStats() eventstore.GroupStats }) {
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	if store != nil {
		counter("ledger_group_commit_batches_total", "Atomic batches group commit stored.", func() float64 { return float64(store.GroupStats().Batches) })
		counter("ledger_group_commit_batched_appends_total", "Appends carried by those batches.", func() float64 { return float64(store.GroupStats().Appends) })
		counter("ledger_group_commit_fallbacks_total", "Batches that failed (a stale append) and were published append by append.", func() float64 { return float64(store.GroupStats().Fallbacks) })
	}
	if a.views != nil {
		gauge("ledger_projection_applied_seq", "The stream sequence the read models reflect.", func() float64 { return float64(a.views.Applied()) })
		if a.health != nil {
			gauge("ledger_projection_lag_events", "Events stored and not yet in the read models.", func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				last, err := a.health.LastSequence(ctx)
				if err != nil {
					return -1
				}
				return float64(last - min(last, a.views.Applied()))
			})
		}
	}
	if a.health != nil {
		gauge("ledger_stream_last_seq", "The event stream's last sequence.", func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			last, _ := a.health.LastSequence(ctx)
			return float64(last)
		})
	}
	if a.audit != nil {
		gauge("ledger_checkpoint_size", "Events covered by the latest signed checkpoint.", func() float64 { cp, _ := a.audit.Latest(); return float64(cp.Size) })
		gauge("ledger_checkpoint_tree_size", "Events in this instance's Merkle tree.", func() float64 { _, n := a.audit.Latest(); return float64(n) })
		gauge("ledger_checkpoint_signing", "1 when this instance signs checkpoints (holds the checkpointer's lease).", func() float64 { return b2f(a.audit.Signing()) })
	}
	gauge("ledger_feeds_open", "Server-Sent Event feeds open.", func() float64 {
		a.feedsMu.Lock()
		defer a.feedsMu.Unlock()
		return float64(a.feeds)
	})
	if a.webhooks != nil {
		gauge("ledger_webhooks_delivering", "1 when this instance delivers webhooks (holds their lease).", func() float64 { return b2f(a.webhooks.Delivering()) })
		m.reg.MustRegister(&webhookCollector{a: a})
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	whDelivered = prometheus.NewDesc("ledger_webhook_deliveries_total", "Events delivered to a webhook endpoint.", []string{"webhook"}, nil)
	whFailures  = prometheus.NewDesc("ledger_webhook_failures_total", "Failed delivery attempts to a webhook endpoint.", []string{"webhook"}, nil)
	whDead      = prometheus.NewDesc("ledger_webhook_dead_letters", "Events set aside as dead letters of a webhook endpoint.", []string{"webhook"}, nil)
)

// webhookCollector reports each endpoint's counts at scrape time.
type webhookCollector struct{ a *API }

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- whDelivered
	ch <- whFailures
	ch <- whDead
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.a.webhooks.List() {
		ch <- prometheus.MustNewConstMetric(whDelivered, prometheus.CounterValue, float64(st.Delivered), st.ID)
		ch <- prometheus.MustNewConstMetric(whFailures, prometheus.CounterValue, float64(st.Failures), st.ID)
		ch <- prometheus.MustNewConstMetric(whDead, prometheus.GaugeValue, float64(len(st.DeadLetters)), st.ID)
	}
}

// observe records one answered request.
func (m *Metrics) observe(a *API, r *http.Request, sw *statusWriter, took time.Duration) {
	_, route := a.mux.Handler(r)
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
	if route != "GET /v1/events/stream" {
		m.latency.WithLabelValues(route).Observe(took.Seconds())
	}
	if name, ok := a.commandOf[route]; ok {
		outcome := "recorded"
		switch {
		case sw.code != "":
			outcome = sw.code
		case sw.status >= 400:
			outcome = strconv.Itoa(sw.status)
		case sw.Header().Get("Idempotent-Replayed") == "true":
			outcome = "replayed"
		}
		m.commands.WithLabelValues(name, outcome).Inc()
		m.cmdTime.WithLabelValues(name).Observe(took.Seconds())
	}
}
