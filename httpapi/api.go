// Package httpapi is the ledger's HTTP API: one POST per command on a
// project's sub-resources, GETs for a project's state and history, the
// OpenAPI document, and health. Errors are RFC 9457 problem details.
package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/identity"
	"github.com/zjfund/ledger/projections"
	"github.com/zjfund/ledger/webhooks"
)

// Header names of the API.
const (
	HeaderActor          = "Ledger-Actor"    // the acting person (UTF-8, or percent-encoded UTF-8)
	HeaderRole           = "Ledger-Role"     // the role they act in: owner, county_drc, …
	HeaderPosition       = "Ledger-Position" // the stream sequence a response reflects or a write reached
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRequestID      = "X-Request-Id"
	HeaderCorrelationID  = "X-Correlation-Id"
)

// MaxBody is the largest request body accepted, in bytes.
const MaxBody = 64 << 10

// Commands is what the API needs from the write side.
type Commands interface {
	Handle(ctx context.Context, req app.Request) (app.Result, error)
	History(ctx context.Context, id domain.ProjectID) ([]eventstore.Stored, error)
}

var _ Commands = (*app.Service)(nil)

// Health reports on the ledger's dependencies.
type Health interface {
	LastSequence(ctx context.Context) (uint64, error)
}

// Config wires the API to the rest of the ledger.
type Config struct {
	Commands Commands
	Health   Health
	// Views are the live read models; Source is the stream they and the
	// as-of replays read.
	Views  *projections.Engine
	Source projections.Source
	Log    *slog.Logger
	// MaxWait bounds how long a read waits for min_position (default 5s).
	MaxWait time.Duration
	// Audit signs checkpoints of the stream; Checkpoints is where they are
	// kept; Key is the public key that checks them.
	Audit       *audit.Checkpointer
	Checkpoints audit.CheckpointLog
	Key         string
	// Webhooks delivers events to registered endpoints.
	Webhooks *webhooks.Manager
	// Metrics, when set, are kept of every request.
	Metrics *Metrics
	// Gate, when set, is shown in /healthz: closed, the ledger refuses writes.
	Gate *app.Gate
	// Limits bound what clients may hold open at once.
	Limits Limits
	// Auth authenticates every request but /healthz and /openapi.json; nil
	// runs the API without authentication (an in-process benchmark), taking
	// the actor from the Ledger-Actor header.
	Auth Authenticator
	// Users is the user directory the users routes manage (admins only).
	Users *identity.Directory
	// MustSign names the commands that must be signed by their author.
	MustSign SignaturePolicy
}

// Limits bound the work clients can make the ledger do at once. A request
// beyond them is refused at once with Retry-After, never queued.
type Limits struct {
	Feeds          int // event feeds open at once (default 256)
	FeedsPerClient int // event feeds one client address may hold (default 16)
	Replays        int // as-of and at-seq queries replaying the stream at once (default 2)
}

func (l *Limits) defaults() {
	if l.Feeds <= 0 {
		l.Feeds = 256
	}
	if l.FeedsPerClient <= 0 {
		l.FeedsPerClient = 16
	}
	if l.Replays <= 0 {
		l.Replays = 2
	}
}

// API serves the HTTP API.
type API struct {
	cmds        Commands
	health      Health
	views       *projections.Engine
	source      projections.Source
	log         *slog.Logger
	maxWait     time.Duration
	audit       *audit.Checkpointer
	checkpoints audit.CheckpointLog
	key         string
	webhooks    *webhooks.Manager
	metrics     *Metrics
	commandOf   map[string]string // a command route's pattern → the command's name
	mux         *http.ServeMux
	patterns    []string // every registered pattern, for the OpenAPI test

	feedsDone chan struct{} // closed by StopFeeds
	stopOnce  sync.Once

	gate     *app.Gate
	auth     Authenticator
	users    *identity.Directory
	mustSign SignaturePolicy
	seenSigs *replays
	limits   Limits
	replays  chan struct{} // a token per replay running
	asOf     *asOfCache
	feedsMu  sync.Mutex // guards feeds, feedsBy
	feeds    int
	feedsBy  map[string]int // open feeds by client address
}

// StopFeeds ends every open event feed (server shutdown waits for them
// otherwise, since a feed never goes idle).
func (a *API) StopFeeds() { a.stopOnce.Do(func() { close(a.feedsDone) }) }

// New returns the API.
func New(cfg Config) *API {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Second
	}
	a := &API{cmds: cfg.Commands, health: cfg.Health, views: cfg.Views, source: cfg.Source, log: cfg.Log, maxWait: cfg.MaxWait,
		audit: cfg.Audit, checkpoints: cfg.Checkpoints, key: cfg.Key, webhooks: cfg.Webhooks, metrics: cfg.Metrics, commandOf: map[string]string{}, mux: http.NewServeMux(), feedsDone: make(chan struct{}),
		gate: cfg.Gate, limits: cfg.Limits, feedsBy: map[string]int{}, auth: cfg.Auth, users: cfg.Users,
		mustSign: cfg.MustSign, seenSigs: newReplays(100_000)}
	a.limits.defaults()
	a.replays = make(chan struct{}, a.limits.Replays)
	a.asOf = newAsOfCache(4)
	for _, rt := range commandRoutes {
		a.handle(rt.pattern, a.command(rt))
		a.commandOf[rt.pattern] = rt.newCmd(&http.Request{}).CommandName()
	}
	a.handle("GET /v1/projects", a.listProjects)
	a.handle("GET /v1/projects/{id}", a.getProject)
	a.handle("GET /v1/projects/{id}/events", a.getEvents)
	a.handle("GET /v1/summary", a.getSummary)
	a.handle("GET /v1/watchlist", a.getWatchlist)
	a.handle("GET /v1/report", a.getReport)
	a.handle("GET /v1/projects/{id}/timeline", a.getTimeline)
	a.handle("GET /v1/checkpoints", a.needs(cfg.Audit != nil && cfg.Checkpoints != nil, "checkpoints", a.getCheckpoints))
	a.handle("GET /v1/checkpoints/latest", a.needs(cfg.Audit != nil, "checkpoints", a.getLatestCheckpoint))
	a.handle("GET /v1/checkpoints/key", a.needs(cfg.Key != "", "checkpoints", a.getKey))
	a.handle("GET /v1/events/{seq}/proof", a.needs(cfg.Audit != nil, "checkpoints", a.getProof))
	a.handle("GET /v1/export", a.needs(cfg.Checkpoints != nil && cfg.Key != "", "checkpoints", a.getExport))
	a.handle("GET /v1/events/stream", a.streamEvents)
	a.handle("GET /v1/programmes", a.listProgrammes)
	a.handle("GET /v1/schemas", a.listSchemas)
	a.handle("GET /v1/schemas/{type}", a.getSchema)
	hooks := cfg.Webhooks != nil
	a.handle("POST /v1/webhooks", a.needs(hooks, "webhooks", a.registerWebhook))
	a.handle("GET /v1/webhooks", a.needs(hooks, "webhooks", a.listWebhooks))
	a.handle("GET /v1/webhooks/{id}", a.needs(hooks, "webhooks", a.getWebhook))
	a.handle("DELETE /v1/webhooks/{id}", a.needs(hooks, "webhooks", a.deleteWebhook))
	a.handle("POST /v1/webhooks/{id}/dead-letters/replay", a.needs(hooks, "webhooks", a.replayDeadLetters))
	users := cfg.Users != nil
	a.handle("GET /v1/me", a.getMe)
	a.handle("POST /v1/me/keys", a.needs(users, "users", a.addKey))
	a.handle("DELETE /v1/me/keys/{key}", a.needs(users, "users", a.revokeKey))
	a.handle("POST /v1/users", a.needs(users, "users", a.addUser))
	a.handle("GET /v1/users", a.needs(users, "users", a.listUsers))
	a.handle("GET /v1/users/{user}", a.needs(users, "users", a.getUser))
	a.handle("POST /v1/users/{user}/disable", a.needs(users, "users", a.setDisabled(true)))
	a.handle("POST /v1/users/{user}/enable", a.needs(users, "users", a.setDisabled(false)))
	a.handle("POST /v1/users/{user}/tokens", a.needs(users, "users", a.issueToken))
	a.handle("GET /v1/users/{user}/tokens", a.needs(users, "users", a.listTokens))
	a.handle("DELETE /v1/users/{user}/tokens/{token}", a.needs(users, "users", a.revokeToken))
	a.handle("GET /openapi.json", a.getOpenAPI)
	a.handle("GET /healthz", a.getHealth)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := a.allowed(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, "method-not-allowed",
				r.Method+" is not a method of "+r.URL.Path+"; it takes "+strings.Join(allow, ", ")))
			return
		}
		writeProblem(w, r, newProblem(http.StatusNotFound, "no-route", "no route "+r.Method+" "+r.URL.Path+"; see /openapi.json"))
	})
	return a
}

// allowed returns the methods of the routes whose path template matches
// path, for a 405's Allow.
func (a *API) allowed(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, p := range a.patterns {
		method, tmpl, _ := strings.Cut(p, " ")
		tsegs := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		match := true
		for i, t := range tsegs {
			if !strings.HasPrefix(t, "{") && t != segs[i] {
				match = false
				break
			}
		}
		if match && !slices.Contains(out, method) {
			out = append(out, method)
		}
	}
	if slices.Contains(out, http.MethodGet) && !slices.Contains(out, http.MethodHead) {
		out = append(out, http.MethodHead)
	}
	sort.Strings(out)
	return out
}

// needs answers 503 in place of h when the part of the ledger h serves is
// not running in this process (an API built without it, as in ledger bench).
func (a *API) needs(ok bool, what string, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "not-running", what+" are not running in this ledger process"))
	}
}

func (a *API) handle(pattern string, h http.HandlerFunc) {
	a.patterns = append(a.patterns, pattern)
	known := queryParams()[pattern]
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		// A query parameter the route does not take is refused, not ignored:
		// ?countyy=330682 would otherwise answer for every county.
		for name := range r.URL.Query() {
			if !known[name] {
				p := fieldProblem(http.StatusBadRequest, "unknown-parameter", name, "is not a parameter of "+pattern+"; see /openapi.json")
				writeProblem(w, r, p)
				return
			}
		}
		h(w, r)
	})
}

var (
	queryParamsOnce sync.Once
	queryParamsOf   map[string]map[string]bool
)

// queryParams are, for each route, the query parameters the OpenAPI
// document gives it: the contract decides what is accepted.
func queryParams() map[string]map[string]bool {
	queryParamsOnce.Do(func() {
		queryParamsOf = map[string]map[string]bool{}
		for path, item := range OpenAPI()["paths"].(map[string]any) {
			for method, op := range item.(map[string]any) {
				known := map[string]bool{}
				params, _ := op.(map[string]any)["parameters"].([]any)
				for _, p := range params {
					if m, ok := p.(map[string]any); ok && m["in"] == "query" {
						known[m["name"].(string)] = true
					}
				}
				queryParamsOf[strings.ToUpper(method)+" "+path] = known
			}
		}
	})
	return queryParamsOf
}

// ServeHTTP logs each request with its id, actor, status and duration.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := r.Header.Get(HeaderRequestID)
	if !safeToken.MatchString(reqID) {
		reqID = uuid.Must(uuid.NewV7()).String()
		r.Header.Set(HeaderRequestID, reqID)
	}
	w.Header().Set(HeaderRequestID, reqID)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if r2, ok := a.authenticate(sw, r); ok {
		r = r2
		a.mux.ServeHTTP(sw, r)
	}
	who := r.Header.Get(HeaderActor)
	if u := userOf(r); u != nil {
		who = u.ID
	}
	attrs := []any{"request_id", reqID, "method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
		"ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr, "user_agent", r.UserAgent(), "user", who, "role", r.Header.Get(HeaderRole)}
	if sw.code != "" {
		attrs = append(attrs, "code", sw.code)
	}
	if sw.rule != "" {
		attrs = append(attrs, "rule", sw.rule)
	}
	a.log.Info("http", attrs...)
	if a.metrics != nil {
		a.metrics.observe(a, r, sw, time.Since(start))
	}
}

type statusWriter struct {
	http.ResponseWriter
	status     int
	bytes      int64
	code, rule string // the problem's, when the answer is one
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (s *statusWriter) Write(b []byte) (int, error) {
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (to flush a feed).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

var safeToken = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// eventRef is how a response names an event it recorded.
type eventRef struct {
	Seq     uint64 `json:"seq"`
	ID      string `json:"id"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Hash    string `json:"hash"`
}

// commandResponse is the body of a successful command.
type commandResponse struct {
	Project  domain.ProjectID `json:"project"`
	Version  uint64           `json:"version"`
	Replayed bool             `json:"replayed"`
	Events   []eventRef       `json:"events"`
}

func (a *API) command(rt commandRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := app.Request{Project: domain.ProjectID(r.PathValue("id")), CausationID: r.Header.Get(HeaderRequestID)}
		req.CorrelationID = r.Header.Get(HeaderCorrelationID)
		if req.CorrelationID == "" {
			req.CorrelationID = req.CausationID
		} else if !safeToken.MatchString(req.CorrelationID) {
			writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-header", HeaderCorrelationID, "must be 1–128 letters, digits or ._:-"))
			return
		}
		var p *Problem
		if req.Actor, p = a.commandActor(r); p != nil {
			writeProblem(w, r, p)
			return
		}
		req.Scope = scopeOf(userOf(r), req.Actor.Role)
		if req.IfMatch, p = ifMatch(r); p != nil {
			writeProblem(w, r, p)
			return
		}
		if req.IdempotencyKey, p = idempotencyKey(r); p != nil {
			writeProblem(w, r, p)
			return
		}
		cmd := rt.newCmd(r)
		body, p := readBody(w, r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		if p := decodeJSON(body, cmd); p != nil {
			writeProblem(w, r, p)
			return
		}
		if req.Signed, p = a.signedCommand(r, cmd.CommandName(), body); p != nil {
			writeProblem(w, r, p)
			return
		}
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		req.RequestDigest = hex.EncodeToString(sum[:])
		req.Command = cmd
		res, err := a.cmds.Handle(r.Context(), req)
		if err != nil {
			writeProblem(w, r, problemFor(err, a.log, req.CausationID))
			return
		}
		out := commandResponse{Project: res.Project, Version: res.Version, Replayed: res.Replayed}
		for _, s := range res.Events {
			out.Events = append(out.Events, eventRef{Seq: s.Seq, ID: s.Envelope.ID, Type: s.Envelope.Type, Subject: s.Subject, Hash: s.Envelope.Hash})
		}
		w.Header().Set("ETag", etag(res.Version))
		w.Header().Set(HeaderPosition, strconv.FormatUint(res.Events[len(res.Events)-1].Seq, 10))
		w.Header().Set("Location", "/v1/projects/"+string(res.Project))
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeJSON(w, http.StatusCreated, out)
	}
}

func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

func fieldProblem(status int, code, field, detail string) *Problem {
	p := newProblem(status, code, field+": "+detail)
	p.Field = field
	return p
}

// actor reads who acts, and in which role, from the request headers. Until
// the API authenticates, these headers are trusted and recorded on each event.
func actor(r *http.Request) (domain.Actor, *Problem) {
	name := strings.TrimSpace(r.Header.Get(HeaderActor))
	if strings.Contains(name, "%") {
		dec, err := url.PathUnescape(name)
		if err != nil {
			return domain.Actor{}, fieldProblem(http.StatusBadRequest, "invalid-header", HeaderActor, "bad percent-encoding")
		}
		name = dec
	}
	if name == "" || len(name) > 200 {
		return domain.Actor{}, fieldProblem(http.StatusBadRequest, "missing-actor", HeaderActor, "the acting person is required (1–200 bytes of UTF-8, raw or percent-encoded)")
	}
	if err := domain.CheckText(HeaderActor, name, 200, false); err != nil {
		return domain.Actor{}, fieldProblem(http.StatusBadRequest, "invalid-header", HeaderActor, strings.TrimPrefix(err.Error(), HeaderActor+": "))
	}
	role := domain.Role(r.Header.Get(HeaderRole))
	if !role.Valid() {
		return domain.Actor{}, fieldProblem(http.StatusBadRequest, "missing-role", HeaderRole, fmt.Sprintf("must be one of %v", domain.Roles))
	}
	return domain.Actor{Name: name, Role: role}, nil
}

// ifMatch reads If-Match: the project version ("12", as the ETag gave it) the
// caller decided on.
func ifMatch(r *http.Request) (*uint64, *Problem) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(strings.Trim(v, `"`), 10, 64)
	if err != nil || strings.Contains(v, ",") {
		return nil, fieldProblem(http.StatusBadRequest, "invalid-header", "If-Match", `must be one ETag of the project, e.g. "12"`)
	}
	return &n, nil
}

// idempotencyKey reads Idempotency-Key, a structured-field string ("…"); a
// bare token is accepted too.
func idempotencyKey(r *http.Request) (string, *Problem) {
	v := strings.TrimSpace(r.Header.Get(HeaderIdempotencyKey))
	if v == "" {
		return "", nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if !idemKey.MatchString(v) {
		return "", fieldProblem(http.StatusBadRequest, "invalid-header", HeaderIdempotencyKey, "must be 1–255 printable ASCII characters without quotes or backslashes")
	}
	return v, nil
}

var idemKey = regexp.MustCompile(`^[\x20\x21\x23-\x5b\x5d-\x7e]{1,255}$`)

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Problem) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, fieldProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Content-Type", "must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, newProblem(http.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("the body exceeds %d bytes", MaxBody))
	}
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, "unreadable-body", err.Error())
	}
	return body, nil
}

// readJSON reads the request's body into v as decodeJSON does, answering
// the problem itself when it cannot; with optional, an empty body leaves v
// as it is.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, p := readBody(w, r)
	if p == nil && !(optional && len(body) == 0) {
		p = decodeJSON(body, v)
	}
	if p != nil {
		writeProblem(w, r, p)
		return false
	}
	return true
}

// decodeJSON decodes body into v strictly: one JSON object, no unknown
// fields, numbers where numbers go (amounts are integers of fen).
func decodeJSON(body []byte, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tpe *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, "malformed-json", "the body must be a JSON object")
	case errors.As(err, &syn):
		return newProblem(http.StatusBadRequest, "malformed-json", fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn))
	case errors.As(err, &typ):
		want := typ.Type.String()
		if typ.Type.Name() == "Fen" {
			want = "an integer number of fen"
		}
		return fieldProblem(http.StatusBadRequest, "invalid-field", typ.Field, fmt.Sprintf("got JSON %s, want %s", typ.Value, want))
	case errors.As(err, &tpe):
		return fieldProblem(http.StatusBadRequest, "invalid-field", "effective_time", fmt.Sprintf("want an RFC 3339 time such as 2011-08-15T00:00:00+08:00: %v", tpe))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldProblem(http.StatusBadRequest, "unknown-field", f, "is not a field of this command")
	}
	return newProblem(http.StatusBadRequest, "malformed-json", err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Compact: indenting was a sixth of the CPU of a query under load
	// (pretty-print with jq if you read it by eye).
	_ = json.NewEncoder(w).Encode(v)
}

// storedEvent is one event of a history: where it is on the stream and the
// CloudEvent exactly as stored.
type storedEvent struct {
	Seq     uint64          `json:"seq"`
	Subject string          `json:"subject"`
	Event   json.RawMessage `json:"event"`
}

type historyResponse struct {
	Project domain.ProjectID `json:"project"`
	Version uint64           `json:"version"`
	Events  []storedEvent    `json:"events"`
}

func (a *API) getEvents(w http.ResponseWriter, r *http.Request) {
	id := domain.ProjectID(r.PathValue("id"))
	hist, err := a.cmds.History(r.Context(), id)
	if err == nil && !historyVisible(r, id, hist) {
		err = &domain.Error{Kind: domain.KindNotFound, Code: domain.CodeNotFound, Project: id, Msg: "no such project in your scope"}
	}
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	out := historyResponse{Project: id, Version: hist[len(hist)-1].Seq}
	w.Header().Set("ETag", etag(out.Version))
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Version, 10))
	// The history is its events as stored: the same version, the same bytes.
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == "*" || slices.Contains(strings.Split(strings.ReplaceAll(inm, " ", ""), ","), etag(out.Version))) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for _, h := range hist {
		out.Events = append(out.Events, storedEvent{Seq: h.Seq, Subject: h.Subject, Event: h.Raw})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	seq, err := a.health.LastSequence(ctx)
	if err != nil {
		a.log.Warn("health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "detail": "the event stream does not answer"})
		return
	}
	applied := a.views.Applied()
	proj := map[string]any{"status": "running", "applied_seq": applied, "lag": seq - min(seq, applied)}
	status, code := "ok", http.StatusOK
	if err := a.views.Err(); err != nil {
		proj["status"], proj["error"] = "stopped", err.Error()
		status, code = "degraded", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status, "stream_last_seq": seq, "projections": proj}
	writes := map[string]any{"status": "accepted"}
	if bs := a.gate.Blocks(); len(bs) > 0 {
		writes["status"], writes["refused"] = "refused", bs
		body["status"], code = "degraded", http.StatusServiceUnavailable
	}
	body["writes"] = writes
	a.feedsMu.Lock()
	body["feeds"] = map[string]any{"open": a.feeds, "max": a.limits.Feeds}
	a.feedsMu.Unlock()
	if a.audit != nil {
		cp, size := a.audit.Latest()
		ck := map[string]any{"status": "running", "tree_size": size, "latest_checkpoint": cp.Size, "signing": a.audit.Signing()}
		if err := a.audit.Err(); err != nil {
			ck["status"], ck["error"] = "stopped", err.Error()
			body["status"], code = "degraded", http.StatusServiceUnavailable
		}
		body["checkpoints"] = ck
	}
	if a.webhooks != nil {
		body["webhooks"] = map[string]any{"delivering": a.webhooks.Delivering()}
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(applied, 10))
	writeJSON(w, code, body)
}
