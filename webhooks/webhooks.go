// Package webhooks delivers the ledger's events to registered HTTP
// endpoints: each event as a CloudEvent (structured JSON) in a POST, signed
// with HMAC-SHA256 under the endpoint's secret, one at a time in stream order
// (so in order per project), retried with backoff, and set aside as a dead
// letter after too many failures. Each endpoint reads through a durable
// JetStream consumer of its own, so deliveries resume after a restart.
//
// Where several ledger instances share one stream, every instance knows
// every endpoint (it watches their bucket) and answers for it, and one
// instance delivers: the one SetDelivering(true) is called on (the holder
// of the webhooks lease). Delivery counts and dead letters are kept in the
// bucket, so that they survive a restart and a change of the delivering
// instance.
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Endpoint is a registered webhook.
type Endpoint struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Secret  string    `json:"secret,omitempty"`
	Filter  string    `json:"filter"` // subject filter on the ledger stream
	Created time.Time `json:"created"`
}

// Status is how deliveries to an endpoint stand.
type Status struct {
	Endpoint
	Delivered   int64        `json:"delivered"`
	LastSeq     uint64       `json:"last_delivered_seq"`
	Failures    int64        `json:"failures"`
	LastError   string       `json:"last_error,omitempty"`
	LastErrorAt *time.Time   `json:"last_error_at,omitempty"`
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// DeadLetter is an event given up on after MaxAttempts failed deliveries.
type DeadLetter struct {
	Seq      uint64    `json:"seq"`
	EventID  string    `json:"event_id"`
	Attempts uint64    `json:"attempts"`
	Error    string    `json:"error"`
	At       time.Time `json:"at"`
}

// Config tunes delivery.
type Config struct {
	MaxAttempts int           // deliveries before an event becomes a dead letter (default 10)
	Backoff     time.Duration // first retry delay, doubled each time up to a minute (default 1s)
	Timeout     time.Duration // per request (default 10s)
	// MaxEndpoints bounds the endpoints (default 100): each holds a durable
	// consumer on the stream.
	MaxEndpoints int
	// AllowPrivate lets endpoints be on loopback, private, link-local and
	// other internal addresses; by default they are refused, at
	// registration and again at each connection (so that a name that
	// resolves elsewhere later is caught).
	AllowPrivate bool
	Replicas     int // of the bucket, when it is created (1 embedded, 3 on a cluster)
	Logger       *slog.Logger
}

// Manager keeps the endpoints and runs one delivery worker per endpoint.
type Manager struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	cfg    Config
	client *http.Client

	mu         sync.Mutex // guards endpoints, workers, reserved, delivering
	endpoints  map[string]Endpoint
	workers    map[string]*worker
	reserved   int // registrations under way, counted against MaxEndpoints
	delivering bool

	stopWatch context.CancelFunc
	watchDone chan struct{}
}

type worker struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex // guards st
	st     Status
}

const bucket = "LEDGER_WEBHOOKS"

// Open loads the registered endpoints from their bucket (creating it with
// replicas replicas) and follows it. Nothing is delivered until
// SetDelivering(true).
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Manager, error) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxEndpoints <= 0 {
		cfg.MaxEndpoints = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, "LEDGER")
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "webhook endpoints, their delivery counts and dead letters",
			Storage: jetstream.FileStorage, History: 1, Replicas: max(cfg.Replicas, 1)})
	}
	if err != nil {
		return nil, fmt.Errorf("webhooks bucket: %w", err)
	}
	m := &Manager{js: js, stream: stream, kv: kv, cfg: cfg, client: newClient(cfg), endpoints: map[string]Endpoint{}, workers: map[string]*worker{}}
	// The endpoints as they are, then as they change (registered or deleted
	// through another instance).
	w, err := kv.Watch(context.Background(), "*")
	if err != nil {
		return nil, fmt.Errorf("watch the webhooks bucket: %w", err)
	}
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are in
		}
		m.update(e)
	}
	wctx, stop := context.WithCancel(context.Background())
	m.stopWatch, m.watchDone = stop, make(chan struct{})
	go func() {
		defer close(m.watchDone)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-wctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					m.update(e)
				}
			}
		}
	}()
	return m, nil
}

// update applies a change of an endpoint's key.
func (m *Manager) update(e jetstream.KeyValueEntry) {
	id := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		m.mu.Lock()
		delete(m.endpoints, id)
		w := m.workers[id]
		delete(m.workers, id)
		m.mu.Unlock()
		if w != nil {
			w.cancel()
			<-w.done
		}
		return
	}
	var ep Endpoint
	if err := json.Unmarshal(e.Value(), &ep); err != nil {
		m.cfg.Logger.Error("a webhook endpoint that does not decode", "id", id, "err", err)
		return
	}
	m.mu.Lock()
	m.endpoints[id] = ep
	start := m.delivering && m.workers[id] == nil
	m.mu.Unlock()
	if start {
		m.start(ep)
	}
}

// SetDelivering starts (on) or stops (off, waiting for them) the delivery
// workers of every endpoint.
func (m *Manager) SetDelivering(on bool) {
	m.mu.Lock()
	m.delivering = on
	var eps []Endpoint
	var ws []*worker
	if on {
		for id, ep := range m.endpoints {
			if m.workers[id] == nil {
				eps = append(eps, ep)
			}
		}
	} else {
		for _, w := range m.workers {
			ws = append(ws, w)
		}
		m.workers = map[string]*worker{}
	}
	m.mu.Unlock()
	for _, ep := range eps {
		m.start(ep)
	}
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}

// Delivering reports whether this instance delivers.
func (m *Manager) Delivering() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.delivering
}

// ErrInvalid is returned (wrapped) for a registration that is not acceptable.
var ErrInvalid = errors.New("invalid webhook")

// ErrLimit is returned (wrapped) when MaxEndpoints are registered already.
var ErrLimit = errors.New("too many webhooks")

// Register adds an endpoint and starts delivering to it the events matching
// filter from the stream position from (1: the beginning; 0: new events).
func (m *Manager) Register(ctx context.Context, rawURL, secret, filter string, from uint64) (Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Endpoint{}, fmt.Errorf("%w: url %q is not an http(s) URL", ErrInvalid, MaskURL(rawURL))
	}
	if !m.cfg.AllowPrivate {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, u.Hostname())
		if err != nil {
			return Endpoint{}, fmt.Errorf("%w: url host %q does not resolve: %v", ErrInvalid, u.Hostname(), err)
		}
		for _, ip := range ips {
			if why := internal(ip.IP); why != "" {
				return Endpoint{}, fmt.Errorf("%w: url host %q is %s (%s); webhooks go to public addresses unless the operator allows internal ones (--webhook-allow-private)", ErrInvalid, u.Hostname(), ip.IP, why)
			}
		}
	}
	if len(secret) < 16 || len(secret) > 256 {
		return Endpoint{}, fmt.Errorf("%w: the secret must be 16 to 256 characters", ErrInvalid)
	}
	if len(filter) > 256 {
		return Endpoint{}, fmt.Errorf("%w: the filter is longer than 256 bytes", ErrInvalid)
	}
	m.mu.Lock()
	n := len(m.endpoints) + m.reserved
	if n >= m.cfg.MaxEndpoints {
		m.mu.Unlock()
		return Endpoint{}, fmt.Errorf("%w: %d endpoints are registered, the most this ledger keeps; delete one first", ErrLimit, n)
	}
	m.reserved++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.reserved--
		m.mu.Unlock()
	}()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	ep := Endpoint{ID: "wh-" + hex.EncodeToString(b), URL: rawURL, Secret: secret, Filter: filter, Created: time.Now().UTC()}
	cc := jetstream.ConsumerConfig{Durable: ep.ID, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1,
		AckWait: m.cfg.Timeout + 5*time.Second, DeliverPolicy: jetstream.DeliverNewPolicy}
	if from > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	if _, err := m.stream.CreateConsumer(ctx, cc); err != nil {
		return Endpoint{}, fmt.Errorf("webhook consumer: %w", err)
	}
	data, _ := json.Marshal(ep)
	if _, err := m.kv.Put(ctx, ep.ID, data); err != nil {
		return Endpoint{}, err
	}
	m.mu.Lock()
	m.endpoints[ep.ID] = ep
	start := m.delivering && m.workers[ep.ID] == nil
	m.mu.Unlock()
	if start {
		m.start(ep)
	}
	return ep, nil
}

// Delete stops deliveries to an endpoint and forgets it.
func (m *Manager) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	_, known := m.endpoints[id]
	w := m.workers[id]
	delete(m.workers, id)
	delete(m.endpoints, id)
	m.mu.Unlock()
	if !known {
		return fmt.Errorf("%w: no webhook %s", ErrNotFound, id)
	}
	if w != nil {
		w.cancel()
		<-w.done
	}
	_ = m.stream.DeleteConsumer(ctx, id)
	_ = m.kv.Delete(ctx, id+".status")
	return m.kv.Delete(ctx, id)
}

// ErrNotFound is returned for an unknown endpoint.
var ErrNotFound = errors.New("not found")

// Status returns the endpoint's delivery status (its secret left out).
func (m *Manager) Status(id string) (Status, error) {
	m.mu.Lock()
	ep, known := m.endpoints[id]
	w := m.workers[id]
	m.mu.Unlock()
	if !known {
		return Status{}, fmt.Errorf("%w: no webhook %s", ErrNotFound, id)
	}
	var st Status
	if w != nil {
		w.mu.Lock()
		st = w.st
		st.DeadLetters = append([]DeadLetter{}, w.st.DeadLetters...)
		w.mu.Unlock()
	} else {
		// Delivered by another instance: as the bucket keeps it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st = m.stored(ctx, ep)
	}
	st.Secret = ""
	st.URL = MaskURL(st.URL)
	return st, nil
}

// stored is an endpoint's status as the bucket keeps it: the counts the
// delivering instance saved, and the dead letters.
func (m *Manager) stored(ctx context.Context, ep Endpoint) Status {
	st := Status{Endpoint: ep, DeadLetters: []DeadLetter{}}
	if e, err := m.kv.Get(ctx, ep.ID+".status"); err == nil {
		var c counts
		if json.Unmarshal(e.Value(), &c) == nil {
			st.Delivered, st.LastSeq, st.Failures, st.LastError, st.LastErrorAt = c.Delivered, c.LastSeq, c.Failures, c.LastError, c.LastErrorAt
		}
	}
	if keys, err := m.kv.ListKeys(ctx, jetstream.MetaOnly()); err == nil {
		prefix := ep.ID + ".dead."
		var seqs []string
		for k := range keys.Keys() {
			if strings.HasPrefix(k, prefix) {
				seqs = append(seqs, k)
			}
		}
		for _, k := range seqs {
			if e, err := m.kv.Get(ctx, k); err == nil {
				var dl DeadLetter
				if json.Unmarshal(e.Value(), &dl) == nil {
					st.DeadLetters = append(st.DeadLetters, dl)
				}
			}
		}
		sort.Slice(st.DeadLetters, func(i, j int) bool { return st.DeadLetters[i].Seq < st.DeadLetters[j].Seq })
	}
	return st
}

// counts is what the bucket keeps of an endpoint's deliveries.
type counts struct {
	Delivered   int64      `json:"delivered"`
	LastSeq     uint64     `json:"last_delivered_seq"`
	Failures    int64      `json:"failures"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

// save keeps w's counts in the bucket.
func (m *Manager) save(ctx context.Context, w *worker) {
	w.mu.Lock()
	c := counts{Delivered: w.st.Delivered, LastSeq: w.st.LastSeq, Failures: w.st.Failures, LastError: w.st.LastError, LastErrorAt: w.st.LastErrorAt}
	id := w.st.ID
	w.mu.Unlock()
	data, _ := json.Marshal(c)
	if _, err := m.kv.Put(ctx, id+".status", data); err != nil && ctx.Err() == nil {
		m.cfg.Logger.Warn("cannot save a webhook's delivery counts", "id", id, "err", err)
	}
}

// List returns every endpoint's status, by id.
func (m *Manager) List() []Status {
	m.mu.Lock()
	ids := make([]string, 0, len(m.endpoints))
	for id := range m.endpoints {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	sort.Strings(ids)
	out := []Status{}
	for _, id := range ids {
		if st, err := m.Status(id); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// internal says why ip is not a public address ("" when it is).
func internal(ip net.IP) string {
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.Equal(net.IPv4(169, 254, 169, 254)) || ip.Equal(net.ParseIP("fd00:ec2::254")):
		return "a cloud metadata address"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	if v4 := ip.To4(); v4 != nil && (v4[0] == 100 && v4[1]&0xc0 == 64 || v4[0] == 0) {
		return "a shared or reserved address"
	}
	return ""
}

// newClient is the delivery client: no redirects followed, and unless
// internal addresses are allowed, every connection checked again where it
// goes.
func newClient(cfg Config) *http.Client {
	d := &net.Dialer{Timeout: cfg.Timeout}
	if !cfg.AllowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if why := internal(net.ParseIP(host)); why != "" {
				return fmt.Errorf("refused to connect to %s: %s", host, why)
			}
			return nil
		}
	}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is a failed delivery, not followed
		},
	}
}

// MaskURL hides what a URL may carry of secrets: its user information and
// its query's values.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	out := u.Scheme + "://"
	if u.User != nil {
		out += "***@"
	}
	out += u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		keys := make([]string, 0)
		for k := range u.Query() {
			keys = append(keys, url.QueryEscape(k)+"=***")
		}
		sort.Strings(keys)
		out += "?" + strings.Join(keys, "&")
	}
	return out
}

// Close stops following the bucket and every worker, all at once, and
// waits for them. A second Close does nothing.
func (m *Manager) Close() {
	m.mu.Lock()
	ws := m.workers
	m.workers = map[string]*worker{}
	m.delivering = false
	stop := m.stopWatch
	m.stopWatch = nil
	m.mu.Unlock()
	if stop != nil {
		stop()
		<-m.watchDone
	}
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}

// start starts ep's worker, unless this instance does not deliver or the
// worker runs already.
func (m *Manager) start(ep Endpoint) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{cancel: cancel, done: make(chan struct{}), st: Status{Endpoint: ep, DeadLetters: []DeadLetter{}}}
	m.mu.Lock()
	if !m.delivering || m.workers[ep.ID] != nil {
		m.mu.Unlock()
		cancel()
		return
	}
	m.workers[ep.ID] = w
	m.mu.Unlock()
	go func() {
		defer close(w.done)
		m.run(ctx, w)
	}()
}

// Sign is the signature header value of body under secret at time t:
// "t=<unix seconds>,sha256=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader carries the signature of each delivery.
const SignatureHeader = "Ledger-Signature"

func (m *Manager) run(ctx context.Context, w *worker) {
	ep := w.st.Endpoint
	cons, err := m.stream.Consumer(ctx, ep.ID)
	if err != nil {
		m.cfg.Logger.Error("webhook worker cannot start", "id", ep.ID, "err", err)
		return
	}
	// Go on counting from what the bucket keeps (another instance, or this
	// one before a restart, delivered before).
	prev := m.stored(ctx, ep)
	w.mu.Lock()
	w.st.Delivered, w.st.LastSeq, w.st.Failures, w.st.LastError, w.st.LastErrorAt, w.st.DeadLetters =
		prev.Delivered, prev.LastSeq, prev.Failures, prev.LastError, prev.LastErrorAt, prev.DeadLetters
	w.mu.Unlock()
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			err = m.deliver(ctx, ep, msg, meta.Sequence.Stream)
			w.mu.Lock()
			if err == nil {
				w.st.Delivered++
				w.st.LastSeq = meta.Sequence.Stream
				w.mu.Unlock()
				m.save(ctx, w)
				_ = msg.DoubleAck(ctx)
				continue
			}
			now := time.Now().UTC()
			w.st.Failures++
			w.st.LastError, w.st.LastErrorAt = err.Error(), &now
			if int(meta.NumDelivered) >= m.cfg.MaxAttempts {
				var id struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(msg.Data(), &id)
				dl := DeadLetter{Seq: meta.Sequence.Stream, EventID: id.ID, Attempts: meta.NumDelivered, Error: err.Error(), At: now}
				w.st.DeadLetters = append(w.st.DeadLetters, dl)
				w.mu.Unlock()
				data, _ := json.Marshal(dl)
				_, _ = m.kv.Put(ctx, fmt.Sprintf("%s.dead.%d", ep.ID, dl.Seq), data)
				m.cfg.Logger.Warn("webhook event set aside as a dead letter", "id", ep.ID, "seq", dl.Seq, "err", err)
				m.save(ctx, w)
				_ = msg.DoubleAck(ctx)
				continue
			}
			w.mu.Unlock()
			m.save(ctx, w)
			delay := m.cfg.Backoff << min(meta.NumDelivered-1, 6)
			_ = msg.NakWithDelay(min(delay, time.Minute))
		}
	}
}

func (m *Manager) deliver(ctx context.Context, ep Endpoint, msg jetstream.Msg, seq uint64) error {
	body := msg.Data()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	req.Header.Set(SignatureHeader, Sign(ep.Secret, time.Now(), body))
	req.Header.Set("Ledger-Sequence", strconv.FormatUint(seq, 10))
	req.Header.Set("Ledger-Webhook", ep.ID)
	resp, err := m.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("POST %s: %v", MaskURL(ep.URL), ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", MaskURL(ep.URL), resp.Status)
	}
	return nil
}
