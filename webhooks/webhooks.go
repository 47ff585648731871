// Package webhooks delivers the ledger's events to registered HTTP
// endpoints: each event as a CloudEvent (structured JSON) in a POST, signed
// with HMAC-SHA256 under the endpoint's secret, one at a time in stream order
// (so in order per project), retried with backoff, and set aside as a dead
// letter after too many failures. Each endpoint reads through a durable
// JetStream consumer of its own, so deliveries resume after a restart.
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

// Status is how deliveries to an endpoint stand, in this process.
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
	Logger       *slog.Logger
}

// Manager keeps the endpoints and runs one delivery worker per endpoint.
type Manager struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	cfg    Config
	client *http.Client

	mu       sync.Mutex // guards workers, reserved
	workers  map[string]*worker
	reserved int // registrations under way, counted against MaxEndpoints
}

type worker struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex // guards st
	st     Status
}

const bucket = "LEDGER_WEBHOOKS"

// Open loads the registered endpoints from their bucket (creating it) and
// starts their workers.
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
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "webhook endpoints and their dead letters", Storage: jetstream.FileStorage, History: 1})
	if err != nil {
		return nil, fmt.Errorf("webhooks bucket: %w", err)
	}
	m := &Manager{js: js, stream: stream, kv: kv, cfg: cfg, client: newClient(cfg), workers: map[string]*worker{}}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for k := range keys.Keys() {
		if strings.Contains(k, ".") { // a dead letter
			continue
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		var ep Endpoint
		if err := json.Unmarshal(e.Value(), &ep); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", k, err)
		}
		m.start(ep)
	}
	return m, nil
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
	n := len(m.workers) + m.reserved
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
	m.start(ep)
	return ep, nil
}

// Delete stops deliveries to an endpoint and forgets it.
func (m *Manager) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	w := m.workers[id]
	delete(m.workers, id)
	m.mu.Unlock()
	if w == nil {
		return fmt.Errorf("%w: no webhook %s", ErrNotFound, id)
	}
	w.cancel()
	<-w.done
	_ = m.stream.DeleteConsumer(ctx, id)
	return m.kv.Delete(ctx, id)
}

// ErrNotFound is returned for an unknown endpoint.
var ErrNotFound = errors.New("not found")

// Status returns the endpoint's delivery status (its secret left out).
func (m *Manager) Status(id string) (Status, error) {
	m.mu.Lock()
	w := m.workers[id]
	m.mu.Unlock()
	if w == nil {
		return Status{}, fmt.Errorf("%w: no webhook %s", ErrNotFound, id)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	st.Secret = ""
	st.URL = MaskURL(st.URL)
	st.DeadLetters = append([]DeadLetter{}, w.st.DeadLetters...)
	return st, nil
}

// List returns every endpoint's status, by id.
func (m *Manager) List() []Status {
	m.mu.Lock()
	ids := make([]string, 0, len(m.workers))
	for id := range m.workers {
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

// Close stops every worker, all at once, and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	ws := m.workers
	m.workers = map[string]*worker{}
	m.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	for _, w := range ws {
		<-w.done
	}
}

func (m *Manager) start(ep Endpoint) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{cancel: cancel, done: make(chan struct{}), st: Status{Endpoint: ep, DeadLetters: []DeadLetter{}}}
	m.mu.Lock()
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
				_ = msg.DoubleAck(ctx)
				continue
			}
			w.mu.Unlock()
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
