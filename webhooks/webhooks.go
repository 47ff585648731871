// Package webhooks delivers the ledger's events to registered HTTP
// endpoints: each event as a CloudEvent in a POST (structured JSON, or binary
// mode: the attributes in ce- headers and the event's data as the body),
// signed as the Standard Webhooks specification says (webhook-id,
// webhook-timestamp, webhook-signature), one at a time in stream order (so in
// order per project), retried with jittered exponential backoff, and set
// aside as a dead letter after too many failures; dead letters can be
// delivered again (ReplayDeadLetters). Each endpoint reads through a durable
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
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Endpoint is a registered webhook.
type Endpoint struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
	Filter string `json:"filter"` // subject filter on the ledger stream
	// Mode is how each event is carried: ModeStructured (the CloudEvent as
	// JSON, the default; endpoints registered before modes existed) or
	// ModeBinary.
	Mode    string    `json:"mode,omitempty"`
	Created time.Time `json:"created"`
}

// The CloudEvents HTTP content modes an endpoint can choose.
const (
	ModeStructured = "structured" // the whole event as application/cloudevents+json
	ModeBinary     = "binary"     // attributes in ce- headers, the data as the body
)

// Registration is what an endpoint is registered with.
type Registration struct {
	URL string
	// Secret signs the deliveries: a Standard Webhooks secret ("whsec_"
	// and base64 of 24 to 64 bytes, the bytes being the key), or, as
	// before, any 16 to 256 characters (their bytes being the key). Empty:
	// one is generated and returned once.
	Secret string
	Filter string // subject filter on the ledger stream
	From   uint64 // 1: from the start of the stream; 0: new events only
	Mode   string // ModeStructured (default) or ModeBinary
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
	// UserAgent is sent with each delivery (default "ledger").
	UserAgent string
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

	replayMu sync.Mutex // one replay of dead letters at a time on this instance

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
	if cfg.UserAgent == "" {
		cfg.UserAgent = "ledger"
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
// reg.Filter from the stream position reg.From. The endpoint returned carries
// its secret (generated when none was given); Status never shows it.
func (m *Manager) Register(ctx context.Context, reg Registration) (Endpoint, error) {
	rawURL := reg.URL
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
	secret := reg.Secret
	if secret == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = secretPrefix + base64.StdEncoding.EncodeToString(b)
	}
	if _, err := signingKey(secret); err != nil {
		return Endpoint{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	filter, from := reg.Filter, reg.From
	if len(filter) > 256 {
		return Endpoint{}, fmt.Errorf("%w: the filter is longer than 256 bytes", ErrInvalid)
	}
	mode := reg.Mode
	switch mode {
	case "":
		mode = ModeStructured
	case ModeStructured, ModeBinary:
	default:
		return Endpoint{}, fmt.Errorf("%w: mode %q is neither %q nor %q", ErrInvalid, mode, ModeStructured, ModeBinary)
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
	ep := Endpoint{ID: "wh-" + hex.EncodeToString(b), URL: rawURL, Secret: secret, Filter: filter, Mode: mode, Created: time.Now().UTC()}
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
	for _, dl := range m.deadLetters(ctx)[id] {
		_ = m.kv.Delete(ctx, deadKey(id, dl.Seq))
	}
	return m.kv.Delete(ctx, id)
}

// ErrNotFound is returned for an unknown endpoint.
var ErrNotFound = errors.New("not found")

// Status returns the endpoint's delivery status (its secret left out).
func (m *Manager) Status(id string) (Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.status(ctx, id, m.deadLetters(ctx)[id])
}

// status is id's status with its dead letters dead.
func (m *Manager) status(ctx context.Context, id string, dead []DeadLetter) (Status, error) {
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
		w.mu.Unlock()
	} else {
		// Delivered by another instance: as the bucket keeps it.
		st = m.stored(ctx, ep)
	}
	st.DeadLetters = dead
	if st.DeadLetters == nil {
		st.DeadLetters = []DeadLetter{}
	}
	if st.Mode == "" {
		st.Mode = ModeStructured
	}
	st.Secret = ""
	st.URL = MaskURL(st.URL)
	return st, nil
}

// stored is an endpoint's delivery counts as the delivering instance saved
// them in the bucket.
func (m *Manager) stored(ctx context.Context, ep Endpoint) Status {
	st := Status{Endpoint: ep}
	if e, err := m.kv.Get(ctx, ep.ID+".status"); err == nil {
		var c counts
		if json.Unmarshal(e.Value(), &c) == nil {
			st.Delivered, st.LastSeq, st.Failures, st.LastError, st.LastErrorAt = c.Delivered, c.LastSeq, c.Failures, c.LastError, c.LastErrorAt
		}
	}
	return st
}

// deadKey is the bucket's key of an endpoint's dead letter.
func deadKey(id string, seq uint64) string { return fmt.Sprintf("%s.dead.%d", id, seq) }

// deadLetters reads every endpoint's dead letters from the bucket (where
// they are kept, whichever instance set them aside or replayed them), by
// endpoint, oldest first.
func (m *Manager) deadLetters(ctx context.Context) map[string][]DeadLetter {
	out := map[string][]DeadLetter{}
	keys, err := m.kv.ListKeys(ctx, jetstream.MetaOnly())
	if err != nil {
		return out
	}
	var dead []string
	for k := range keys.Keys() {
		if strings.Contains(k, ".dead.") {
			dead = append(dead, k)
		}
	}
	for _, k := range dead {
		e, err := m.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var dl DeadLetter
		if json.Unmarshal(e.Value(), &dl) == nil {
			id := k[:strings.Index(k, ".dead.")]
			out[id] = append(out[id], dl)
		}
	}
	for _, dls := range out {
		sort.Slice(dls, func(i, j int) bool { return dls[i].Seq < dls[j].Seq })
	}
	return out
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dead := m.deadLetters(ctx)
	out := []Status{}
	for _, id := range ids {
		if st, err := m.status(ctx, id, dead[id]); err == nil {
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
	w := &worker{cancel: cancel, done: make(chan struct{}), st: Status{Endpoint: ep}}
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

// secretPrefix marks a Standard Webhooks secret: base64 of the key's bytes.
const secretPrefix = "whsec_"

// signingKey is the HMAC key of secret: the decoded bytes of a "whsec_"
// secret, the bytes of any other.
func signingKey(secret string) ([]byte, error) {
	if b64, ok := strings.CutPrefix(secret, secretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) < 24 || len(key) > 64 {
			return nil, errors.New(`secret: a "whsec_" secret is base64 of 24 to 64 bytes`)
		}
		return key, nil
	}
	if len(secret) < 16 || len(secret) > 256 {
		return nil, errors.New(`secret: the secret must be 16 to 256 characters, or "whsec_" and base64 of 24 to 64 bytes (or left out: one is generated)`)
	}
	return []byte(secret), nil
}

// Standard Webhooks headers (https://www.standardwebhooks.com): the
// message's id (the event's id, the same on every attempt, for
// deduplication), the time of the attempt in Unix seconds, and the
// signature.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// StandardSignature is the webhook-signature value of a delivery:
// "v1," and base64 of HMAC-SHA256(key, "<id>.<unix seconds>.<body>"), where
// key is the secret's signing key.
func StandardSignature(secret, id string, t time.Time, body []byte) (string, error) {
	key, err := signingKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, t.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Sign is the deprecated Ledger-Signature header value of body under secret
// at time t: "t=<unix seconds>,sha256=<hex HMAC-SHA256(secret, "<t>.<body>")>".
// It is sent next to the Standard Webhooks signature for one release.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignatureHeader carries the deprecated signature (see Sign).
const SignatureHeader = "Ledger-Signature"

// Headers that say which delivery this is: the event's position in the
// ledger's stream, its id, and the endpoint.
const (
	HeaderSequence = "Ledger-Sequence"
	HeaderEventID  = "Ledger-Event-Id"
	HeaderWebhook  = "Ledger-Webhook"
)

// retryDelay is how long to wait before the attempt after the n-th (n ≥ 1):
// base doubled each time, capped at a minute, and jittered into its upper
// half so that endpoints that failed together do not retry together.
func retryDelay(base time.Duration, n uint64) time.Duration {
	d := min(base<<min(n-1, 6), time.Minute)
	return d/2 + mrand.N(d/2+1)
}

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
	w.st.Delivered, w.st.LastSeq, w.st.Failures, w.st.LastError, w.st.LastErrorAt =
		prev.Delivered, prev.LastSeq, prev.Failures, prev.LastError, prev.LastErrorAt
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
			err = m.deliver(ctx, ep, msg.Data(), meta.Sequence.Stream)
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
			w.mu.Unlock()
			if int(meta.NumDelivered) >= m.cfg.MaxAttempts {
				dl := DeadLetter{Seq: meta.Sequence.Stream, EventID: eventID(msg.Data()), Attempts: meta.NumDelivered, Error: err.Error(), At: now}
				data, _ := json.Marshal(dl)
				_, _ = m.kv.Put(ctx, deadKey(ep.ID, dl.Seq), data)
				m.cfg.Logger.Warn("webhook event set aside as a dead letter", "id", ep.ID, "seq", dl.Seq, "err", err)
				m.save(ctx, w)
				_ = msg.DoubleAck(ctx)
				continue
			}
			m.save(ctx, w)
			_ = msg.NakWithDelay(retryDelay(m.cfg.Backoff, meta.NumDelivered))
		}
	}
}

// eventID is the id of the stored event body.
func eventID(body []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &e)
	return e.ID
}

// deliver POSTs the stored event body (the event at stream sequence seq) to
// ep, in ep's mode, signed.
func (m *Manager) deliver(ctx context.Context, ep Endpoint, body []byte, seq uint64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, nil)
	if err != nil {
		return err
	}
	id := eventID(body)
	if ep.Mode == ModeBinary {
		ev := cloudevents.NewEvent()
		if err := json.Unmarshal(body, &ev); err != nil {
			return fmt.Errorf("event %d as a CloudEvent: %w", seq, err)
		}
		if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ev), req); err != nil {
			return fmt.Errorf("event %d in binary mode: %w", seq, err)
		}
		if body, err = io.ReadAll(req.Body); err != nil {
			return err
		}
	} else {
		req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	now := time.Now()
	sig, err := StandardSignature(ep.Secret, id, now, body)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	req.Header.Set(SignatureHeader, Sign(ep.Secret, now, body))
	req.Header.Set(HeaderSequence, strconv.FormatUint(seq, 10))
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderWebhook, ep.ID)
	req.Header.Set("User-Agent", m.cfg.UserAgent)
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

// Replayed is what a replay of dead letters did.
type Replayed struct {
	Delivered []uint64     `json:"delivered"` // the sequences delivered, no longer dead letters
	Failed    []DeadLetter `json:"failed"`    // still dead letters, with this attempt's error
	Remaining int          `json:"remaining"` // dead letters left, the failed included
}

// ReplayDeadLetters delivers id's dead letters again, oldest first, at most
// limit of them, each once, in this call (so by whichever instance is asked,
// next to the regular deliveries, which go on). A delivered one stops being
// a dead letter; a failed one stays, with the new error and one more
// attempt. Receivers deduplicate by webhook-id, which is the event's id on
// every attempt.
func (m *Manager) ReplayDeadLetters(ctx context.Context, id string, limit int) (Replayed, error) {
	m.replayMu.Lock()
	defer m.replayMu.Unlock()
	m.mu.Lock()
	ep, known := m.endpoints[id]
	m.mu.Unlock()
	if !known {
		return Replayed{}, fmt.Errorf("%w: no webhook %s", ErrNotFound, id)
	}
	dead := m.deadLetters(ctx)[id]
	out := Replayed{Delivered: []uint64{}, Failed: []DeadLetter{}}
	for i, dl := range dead {
		if i >= limit || ctx.Err() != nil {
			break
		}
		msg, err := m.stream.GetMsg(ctx, dl.Seq)
		if err == nil {
			err = m.deliver(ctx, ep, msg.Data, dl.Seq)
		}
		if err == nil {
			if err := m.kv.Delete(ctx, deadKey(id, dl.Seq)); err != nil {
				return out, err
			}
			out.Delivered = append(out.Delivered, dl.Seq)
			continue
		}
		dl.Attempts++
		dl.Error, dl.At = err.Error(), time.Now().UTC()
		data, _ := json.Marshal(dl)
		if _, err := m.kv.Put(ctx, deadKey(id, dl.Seq), data); err != nil {
			return out, err
		}
		out.Failed = append(out.Failed, dl)
	}
	out.Remaining = len(dead) - len(out.Delivered)
	return out, nil
}
