package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/projections"
	"github.com/zjfund/ledger/webhooks"
)

// EventSchema returns the JSON Schema (2020-12) of the CloudEvents the
// ledger stores for the event type typ ("funds_disbursed.v1"), with the
// schema of its data, or false for a type the domain does not know.
func EventSchema(typ string) (map[string]any, bool) {
	e, ok := domain.NewEvent(typ)
	if !ok {
		return nil, false
	}
	s := &schemas{defs: map[string]any{}, refPrefix: "#/$defs/"}
	data := s.object(reflect.TypeOf(e))
	str := map[string]any{"type": "string"}
	dt := map[string]any{"type": "string", "format": "date-time"}
	hash := map[string]any{"type": "string", "pattern": "^[0-9a-f]{64}$"}
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "/v1/schemas/" + typ,
		"title":       eventstore.TypePrefix + typ,
		"description": "A ledger event as stored on the stream and delivered to subscribers: a CloudEvent 1.0 in structured JSON.",
		"type":        "object",
		"required": []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "recordedtime",
			"actor", "actorrole", "correlationid", "prevhash", "data", "hash"},
		"additionalProperties": false,
		"properties": map[string]any{
			"specversion": map[string]any{"const": "1.0"}, "id": str, "source": str,
			"type": map[string]any{"const": eventstore.TypePrefix + typ}, "subject": map[string]any{"type": "string", "description": "the project id"},
			"time": dt, "datacontenttype": map[string]any{"const": "application/json"}, "recordedtime": dt,
			"actor": str, "actorrole": map[string]any{"type": "string", "enum": domain.Roles},
			"actorid":       map[string]any{"type": "string", "description": "the authenticated user's id (absent on events recorded before the ledger authenticated)"},
			"actororg":      map[string]any{"type": "string", "description": "the authenticated user's organisation"},
			"correlationid": str, "causationid": str, "idempotencykey": str, "requestdigest": str,
			"rulebook":  map[string]any{"type": "string", "pattern": "^[1-9][0-9]*$", "description": "the version of the programme rules that decided the event (GET /v1/programmes?rulebook=N); absent: version 1"},
			"signature": str, "signaturebase": str, "signaturekeyid": str, "signaturekey": str, "signedbody": str,
			"prevhash": map[string]any{"type": "string", "pattern": "^([0-9a-f]{64})?$"}, "hash": hash,
			"data": data,
		},
		"$defs": s.defs,
	}, true
}

type schemaList struct {
	Types []schemaRef `json:"types"`
}

type schemaRef struct {
	Type    string `json:"type"`
	Subject string `json:"subject_token"`
	Schema  string `json:"schema"`
}

func (a *API) listSchemas(w http.ResponseWriter, r *http.Request) {
	types := domain.EventTypes()
	sort.Strings(types)
	out := schemaList{}
	for _, t := range types {
		name, _, _ := strings.Cut(t, ".")
		out.Types = append(out.Types, schemaRef{Type: eventstore.TypePrefix + t, Subject: name, Schema: "/v1/schemas/" + t})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getSchema(w http.ResponseWriter, r *http.Request) {
	s, ok := EventSchema(r.PathValue("type"))
	if !ok {
		writeProblem(w, r, newProblem(http.StatusNotFound, "no-such-event-type", "no event type "+r.PathValue("type")+"; see /v1/schemas"))
		return
	}
	w.Header().Set("Content-Type", "application/schema+json")
	_ = json.NewEncoder(w).Encode(s)
}

// feedFilter builds the subject filter of a feed from the request's city,
// county, project and type (an event name such as funds_disbursed), within
// what the user may read.
func (a *API) feedFilter(r *http.Request) (string, *Problem) {
	v := r.URL.Query()
	if p := a.scopeFeed(r, v); p != nil {
		return "", p
	}
	return subjectFilter(v)
}

// scopeFeed narrows a feed's parameters to the user's region; an owner's
// feed is one project of their organisation's.
func (a *API) scopeFeed(r *http.Request, v url.Values) *Problem {
	u := userOf(r)
	if u == nil || (u.SeesAll() && !onlyOwner(u)) {
		return nil
	}
	if onlyOwner(u) {
		id := v.Get("project")
		visible := false
		if domain.ProjectID(id).Validate("project") == nil {
			a.views.Read(func(m *projections.Model) {
				if p := m.Projects[id]; p != nil {
					visible = mayRead(u, p.City, p.County, p.Owner)
				}
			})
		}
		if !visible {
			p := forbidden("out-of-scope", "an owner's feed is one of their organisation's projects: give ?project=")
			p.Field = "project"
			return p
		}
		return nil
	}
	f := projections.Filter{City: v.Get("city"), County: v.Get("county")}
	for _, d := range []struct{ name, v string }{{"city", f.City}, {"county", f.County}} {
		if d.v != "" {
			if p := checkDivision(d.name, d.v); p != nil {
				return p
			}
		}
	}
	if p := scopeFilter(u, &f); p != nil {
		return p
	}
	if f.County != "" {
		v.Set("county", f.County)
		v.Del("city")
	} else {
		v.Set("city", f.City)
	}
	return nil
}

// streamEvents is a Server-Sent Events feed of the stored events matching
// the filter: each event's id is its stream sequence, its data the CloudEvent
// exactly as stored. A client resumes after a drop with Last-Event-ID (or
// ?from_seq); without either it gets the events stored from now on.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) {
	filter, p := a.feedFilter(r)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	var from uint64
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	switch {
	case last != "":
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-header", "Last-Event-ID", "must be a stream sequence, as the feed gave it"))
			return
		}
		from = n + 1
	case r.URL.Query().Get("from_seq") != "":
		n, err := strconv.ParseUint(r.URL.Query().Get("from_seq"), 10, 64)
		if err != nil {
			writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", "from_seq", "must be a stream sequence"))
			return
		}
		from = max(n, 1)
	default:
		seq, err := a.source.LastSequence(r.Context())
		if err != nil {
			writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
			return
		}
		from = seq + 1
	}
	release, p := a.takeFeed(r)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a feed outlives the server's write timeout
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": ledger events matching %s from sequence %d\n\n", filter, from)
	_ = rc.Flush()
	events := make(chan eventstore.Stored, 64)
	readErr := make(chan error, 1)
	go func() {
		readErr <- a.source.Read(r.Context(), eventstore.ReadOptions{From: from, Filter: filter, Follow: true, Window: feedWindow}, func(s eventstore.Stored) error {
			select {
			case events <- s:
				return nil
			case <-r.Context().Done():
				return r.Context().Err()
			}
		})
	}()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case s := <-events:
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", s.Seq, s.Envelope.Type, s.Raw)
			if err := rc.Flush(); err != nil {
				return
			}
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			if err := rc.Flush(); err != nil {
				return
			}
		case err := <-readErr:
			if err != nil && !errors.Is(err, r.Context().Err()) {
				a.log.Warn("event feed ended", "filter", filter, "err", err)
			}
			return
		case <-r.Context().Done():
			return
		case <-a.feedsDone:
			return
		}
	}
}

// feedWindow is how many events a feed's reader pulls ahead of its client.
const feedWindow = 64

// takeFeed counts a feed in, within the limits in all and per client
// address; release counts it out.
func (a *API) takeFeed(r *http.Request) (release func(), p *Problem) {
	client := r.RemoteAddr
	if host, _, err := net.SplitHostPort(client); err == nil {
		client = host
	}
	a.feedsMu.Lock()
	defer a.feedsMu.Unlock()
	if a.feeds >= a.limits.Feeds {
		p := newProblem(http.StatusServiceUnavailable, "too-many-feeds", fmt.Sprintf("%d event feeds are open, the most this ledger serves; retry later", a.feeds))
		p.retryAfter = 10
		return nil, p
	}
	if a.feedsBy[client] >= a.limits.FeedsPerClient {
		p := newProblem(http.StatusTooManyRequests, "too-many-feeds", fmt.Sprintf("this client holds %d event feeds open, the most one client may; close one first", a.feedsBy[client]))
		p.retryAfter = 10
		return nil, p
	}
	a.feeds++
	a.feedsBy[client]++
	return func() {
		a.feedsMu.Lock()
		defer a.feedsMu.Unlock()
		a.feeds--
		if a.feedsBy[client]--; a.feedsBy[client] == 0 {
			delete(a.feedsBy, client)
		}
	}, nil
}

// webhookRequest registers an endpoint.
type webhookRequest struct {
	URL string `json:"url"`
	// Secret signs the deliveries (Standard Webhooks): "whsec_" and base64
	// of 24 to 64 bytes, or any 16 to 256 characters; left out, one is
	// generated and returned in the answer, once.
	Secret string `json:"secret,omitempty"`
	// Mode is the CloudEvents HTTP mode: "structured" (default) or "binary".
	Mode    string `json:"mode,omitempty"`
	City    string `json:"city,omitempty"`
	County  string `json:"county,omitempty"`
	Project string `json:"project,omitempty"`
	Type    string `json:"type,omitempty"`
	FromSeq uint64 `json:"from_seq,omitempty"` // 1: from the start; 0: new events only
}

func (a *API) registerWebhook(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	var req webhookRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	q := url.Values{"city": {req.City}, "county": {req.County}, "project": {req.Project}, "type": {req.Type}}
	if p := checkText("url", req.URL, 2048); p != nil {
		p.Code, p.Status, p.Title = "invalid-field", http.StatusBadRequest, http.StatusText(http.StatusBadRequest)
		writeProblem(w, r, p)
		return
	}
	filter, p := subjectFilter(q)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	ep, err := a.webhooks.Register(r.Context(), webhooks.Registration{URL: req.URL, Secret: req.Secret, Filter: filter, From: req.FromSeq, Mode: req.Mode})
	if errors.Is(err, webhooks.ErrLimit) {
		writeProblem(w, r, newProblem(http.StatusConflict, "too-many-webhooks", err.Error()))
		return
	}
	if errors.Is(err, webhooks.ErrInvalid) {
		writeProblem(w, r, fieldProblem(http.StatusUnprocessableEntity, "invalid-field", "webhook", err.Error()))
		return
	}
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	if req.Secret != "" {
		ep.Secret = "" // the caller has it; a generated one is shown this once
	}
	ep.URL = webhooks.MaskURL(ep.URL)
	w.Header().Set("Location", "/v1/webhooks/"+ep.ID)
	writeJSON(w, http.StatusCreated, ep)
}

type webhookList struct {
	Webhooks []webhooks.Status `json:"webhooks"`
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, webhookList{Webhooks: a.webhooks.List()})
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	st, err := a.webhooks.Status(r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, newProblem(http.StatusNotFound, "no-such-webhook", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// replayLimit is the most dead letters one replay request delivers.
const replayLimit = 100

func (a *API) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	out, err := a.webhooks.ReplayDeadLetters(r.Context(), r.PathValue("id"), replayLimit)
	if errors.Is(err, webhooks.ErrNotFound) {
		writeProblem(w, r, newProblem(http.StatusNotFound, "no-such-webhook", err.Error()))
		return
	}
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	if err := a.webhooks.Delete(r.Context(), r.PathValue("id")); err != nil {
		if errors.Is(err, webhooks.ErrNotFound) {
			writeProblem(w, r, newProblem(http.StatusNotFound, "no-such-webhook", err.Error()))
			return
		}
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
