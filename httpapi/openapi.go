package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/identity"
	"github.com/zjfund/ledger/webhooks"
)

// OpenAPI builds the OpenAPI 3.1 document of the API from the command route
// table and the Go types of the requests and responses, so that it cannot
// drift from the code.
func OpenAPI() map[string]any {
	defs := map[string]any{}
	s := &schemas{defs: defs}
	problem := s.ref(reflect.TypeFor[Problem]())
	problemResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/problem+json": map[string]any{"schema": problem}}}
	}
	hdr := func(name, desc string, required bool, schema map[string]any) map[string]any {
		return map[string]any{"name": name, "in": "header", "required": required, "description": desc, "schema": schema}
	}
	str := map[string]any{"type": "string"}
	roles := make([]string, len(domain.Roles))
	for i, r := range domain.Roles {
		roles[i] = string(r)
	}
	idParam := map[string]any{"name": "id", "in": "path", "required": true, "description": "project id: 1–64 letters, digits, '-' or '_'",
		"schema": map[string]any{"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
	etagHeader := map[string]any{"description": "the project's version: the stream sequence of its last event", "schema": str}
	posHeader := map[string]any{"description": "the stream sequence this response reflects or this write reached", "schema": str}
	paths := map[string]any{}
	op := func(pattern string, o map[string]any) {
		method, path, _ := strings.Cut(pattern, " ")
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		if _, ok := o["description"]; !ok {
			o["description"] = o["summary"] // the generated document says it once; linters want both
		}
		item[strings.ToLower(method)] = o
	}
	for _, rt := range commandRoutes {
		_, path, _ := strings.Cut(rt.pattern, " ")
		params := []any{
			hdr(HeaderRole, "the role, among the authenticated user's, the step is recorded in (optional for a user with one role); each command permits some roles", false, map[string]any{"type": "string", "enum": roles}),
			hdr("If-Match", `the project's ETag the command was decided on, e.g. "12"; a stale one gives 412`, false, str),
			hdr(HeaderIdempotencyKey, `a key ("…") that makes retries of this request return the first result, for the life of the project; reused with another body gives 422`, false, str),
			hdr(HeaderCorrelationID, "correlation id recorded on the events; defaults to the request id", false, str),
			hdr("Signature-Input", `an HTTP Message Signature (RFC 9421) of the command by its author, covering at least "@method", "@path" and "content-digest", with created and keyid (a key of the user's, POST /v1/me/keys); recorded on the events`, false, str),
			hdr("Signature", "the signature the Signature-Input describes (Ed25519)", false, str),
			hdr("Content-Digest", "the body's digest (RFC 9530, sha-256 or sha-512); required with a signature", false, str),
		}
		if strings.Contains(path, "{id}") {
			params = append([]any{idParam}, params...)
		}
		if strings.Contains(path, "{change}") {
			params = append(params, map[string]any{"name": "change", "in": "path", "required": true, "schema": str, "description": "the change id given when it was requested"})
		}
		if strings.Contains(path, "{preparation}") {
			params = append(params, map[string]any{"name": "preparation", "in": "path", "required": true, "schema": str, "description": "the prepared disbursement's id (D1, D2, …)"})
		}
		cmd := rt.newCmd(&http.Request{})
		name := domain.Command(cmd).CommandName()
		op(rt.pattern, map[string]any{
			"operationId": rt.operation,
			"summary":     rt.summary,
			"description": "Permitted roles: " + joinRoles(domain.PermittedRoles(name)) + ".",
			"tags":        []string{"commands"},
			"parameters":  params,
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeOf(cmd).Elem())}}},
			"responses": map[string]any{
				"201": map[string]any{"description": "recorded (or, with Idempotent-Replayed: true, recorded by an earlier request with the same key)",
					"headers": map[string]any{"ETag": etagHeader, HeaderPosition: posHeader, "Location": map[string]any{"schema": str}},
					"content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[commandResponse]())}}},
				"400": problemResp("malformed request: JSON, a header, an unknown field, a wrong type"),
				"403": problemResp("the role may not issue this command"),
				"404": problemResp("no such project (or change)"),
				"409": problemResp("refused by a lifecycle or funding rule (code and rule name it), or the project exists already"),
				"412": problemResp("If-Match is stale: the project has moved on"),
				"413": problemResp("the body is larger than 64 KiB"),
				"415": problemResp("the body is not application/json"),
				"422": problemResp("a field is invalid, or an idempotency key was reused with another request"),
				"503": problemResp("writes are refused: the store lost or changed events it had acknowledged (the code says which), or the request was canceled"),
				"507": problemResp("storage-full: the disk under the store is short of space; nothing was written; retry after Retry-After"),
			},
		})
	}
	qp := func(name, desc string, schema map[string]any) map[string]any {
		return map[string]any{"name": name, "in": "query", "required": false, "description": desc, "schema": schema}
	}
	integer := map[string]any{"type": "integer"}
	readParams := []any{
		qp("min_position", "wait (at most a few seconds) until the read models include this stream position, e.g. the Ledger-Position a command answered; else 503 position-not-reached", integer),
		qp("as_of", "answer as of an effective date (2011-12-31: the end of that day, UTC+8) or RFC 3339 time, by replaying the log", str),
		qp("at_seq", "answer as of a stream position, by replaying the log up to it", integer),
	}
	filterParams := []any{
		qp("city", "GB/T 2260 prefecture code", str), qp("county", "GB/T 2260 county code", str),
		qp("programme", "programme code", map[string]any{"type": "string", "enum": domain.ProgrammeCodes()}),
		qp("status", "lifecycle status", str), qp("category", "category", str),
		qp("year", "programme year: the year the investment plan was issued, or the year of application before it", integer),
		qp("year_from", "programme year at or after", integer), qp("year_to", "programme year at or before", integer),
		qp("owner", "part of the owner's name", str), qp("name", "part of the project's name", str),
	}
	posOK := func(desc string, t reflect.Type) map[string]any {
		return map[string]any{"description": desc, "headers": map[string]any{HeaderPosition: posHeader},
			"content": map[string]any{"application/json": map[string]any{"schema": s.ref(t)}}}
	}
	readProblems := map[string]any{"400": problemResp("a bad parameter"), "503": problemResp("min_position not reached in time, or the read models stopped")}
	with := func(m map[string]any, extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range extra {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	cat := func(lists ...[]any) []any {
		var out []any
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	op("GET /v1/projects", map[string]any{
		"operationId": "listProjects", "summary": "Projects from the read models, filtered, sorted, a page at a time (cursor).", "tags": []string{"queries"},
		"parameters": cat(filterParams, readParams, []any{
			qp("sort", "id (default), name, registered, total_investment, awarded, disbursed or outstanding; a leading - reverses", str),
			qp("limit", "rows per page, 1–500 (default 50)", integer),
			qp("cursor", "next_cursor of the page before", str),
		}),
		"responses": with(map[string]any{"200": posOK("a page; Link rel=next when there is more", reflect.TypeFor[listResponse]())}, readProblems),
	})
	op("GET /v1/projects/{id}", map[string]any{
		"operationId": "getProject", "summary": "A project's progress, funding and acceptance from the read models, now or as of a date or stream position.", "tags": []string{"queries"},
		"parameters": cat([]any{idParam}, readParams),
		"responses": with(map[string]any{
			"200": map[string]any{"description": "the project", "headers": map[string]any{"ETag": etagHeader, HeaderPosition: posHeader},
				"content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[projectView]())}}},
			"404": problemResp("no such project (at that time)"),
		}, readProblems),
	})
	op("GET /v1/summary", map[string]any{
		"operationId": "getSummary", "summary": "Counts by status, investment, and money per source, grouped; a project in two programmes counts in both groups and once in the total.", "tags": []string{"queries"},
		"parameters": cat([]any{qp("group_by", "city (default), county, programme, year, status, category or all", str)}, filterParams, readParams),
		"responses":  with(map[string]any{"200": posOK("the summary", reflect.TypeFor[summaryResponse]())}, readProblems),
	})
	op("GET /v1/watchlist", map[string]any{
		"operationId": "getWatchlist", "summary": "Projects that need attention: paid ahead of reported progress, completed but not accepted in time, past the planned end, terminated with a refund outstanding.", "tags": []string{"queries"},
		"parameters": cat([]any{qp("accept_within_days", "how long after completion acceptance may take before it is flagged (default 180)", integer)}, filterParams, readParams),
		"responses":  with(map[string]any{"200": posOK("the items, by kind then project", reflect.TypeFor[watchlistResponse]())}, readProblems),
	})
	op("GET /v1/report", map[string]any{
		"operationId": "getReport", "summary": "A region's or programme's figures the way the city reports state them: projects listed, total investment, subsidy by source, completed, accepted, awaiting acceptance, in progress, terminated, refunded; with the lines in the reports' words and 万元.", "tags": []string{"queries"},
		"parameters": cat(filterParams, readParams),
		"responses":  with(map[string]any{"200": posOK("the figures", reflect.TypeFor[reportResponse]())}, readProblems),
	})
	op("GET /v1/projects/{id}/timeline", map[string]any{
		"operationId": "getTimeline", "summary": "Replay one project from the stream: each event with its effective and recorded time, actor and role, what it changed, and the running totals per funding source.", "tags": []string{"audit"},
		"parameters": cat([]any{idParam}, readParams[1:]),
		"responses":  map[string]any{"200": posOK("the timeline", reflect.TypeFor[timelineResponse]()), "404": problemResp("no such project")},
	})
	op("GET /v1/checkpoints", map[string]any{
		"operationId": "listCheckpoints", "summary": "Every signed checkpoint of the stream's Merkle tree (RFC 6962), with the public key that checks them.", "tags": []string{"audit"},
		"responses": map[string]any{"200": map[string]any{"description": "the checkpoints", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[checkpointsResponse]())}}}},
	})
	op("GET /v1/checkpoints/latest", map[string]any{
		"operationId": "getLatestCheckpoint", "summary": "The latest signed checkpoint, as a signed note (origin, size, base64 root, signature).", "tags": []string{"audit"},
		"responses": map[string]any{"200": map[string]any{"description": "the signed note", "content": map[string]any{"text/plain": map[string]any{"schema": str}}}, "404": problemResp("none signed yet")},
	})
	op("GET /v1/checkpoints/key", map[string]any{
		"operationId": "getCheckpointKey", "summary": "The public key (note verifier key, Ed25519) the checkpoints are signed with.", "tags": []string{"audit"},
		"responses": map[string]any{"200": map[string]any{"description": "the key", "content": map[string]any{"text/plain": map[string]any{"schema": str}}}},
	})
	op("GET /v1/events/{seq}/proof", map[string]any{
		"operationId": "getInclusionProof", "summary": "The event at a stream sequence, exactly as stored, and the proof that it is in the latest checkpoint.", "tags": []string{"audit"},
		"parameters": []any{map[string]any{"name": "seq", "in": "path", "required": true, "schema": integer, "description": "stream sequence"}},
		"responses": map[string]any{"200": map[string]any{"description": "the proof", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[proofResponse]())}}},
			"400": problemResp("not a sequence"), "404": problemResp("not covered by a checkpoint yet")},
	})
	op("GET /v1/export", map[string]any{
		"operationId": "export", "summary": "An audit bundle (zip) of whole project histories — a project, a city or a county, within the caller's region — with inclusion proofs in the latest signed checkpoint; check it offline with ledger verify --bundle.", "tags": []string{"audit"},
		"parameters": []any{qp("project", "project id", str), qp("city", "GB/T 2260 city code", str), qp("county", "county code", str),
			qp("from", "only events that took effect on or after this date", str), qp("to", "only events that took effect on or before this date", str)},
		"responses": map[string]any{"200": map[string]any{"description": "the bundle", "content": map[string]any{"application/zip": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}},
			"400": problemResp("a bad parameter"), "409": problemResp("no signed checkpoint yet"), "503": problemResp("too many replays at once")},
	})
	op("GET /v1/events/stream", map[string]any{
		"operationId": "streamEvents", "summary": "Server-Sent Events: the stored events matching city, county, project and type, each with its stream sequence as id and the CloudEvent as data. Resume with Last-Event-ID (or from_seq); without either, events from now on.", "tags": []string{"feeds"},
		"parameters": []any{qp("city", "GB/T 2260 city code", str), qp("county", "county code", str), qp("project", "project id", str),
			qp("type", "event name, e.g. funds_disbursed", str), qp("from_seq", "start at this stream sequence", integer),
			qp("last_event_id", "as the Last-Event-ID header, for clients that cannot set it", integer),
			hdr("Last-Event-ID", "the id of the last event received: the feed resumes after it", false, str)},
		"responses": map[string]any{"200": map[string]any{"description": "the feed", "content": map[string]any{"text/event-stream": map[string]any{"schema": str}}},
			"400": problemResp("a bad parameter")},
	})
	op("GET /v1/programmes", map[string]any{
		"operationId": "listProgrammes", "summary": "The programme rulebook: each funding programme's path and rules, with the lines of the reports they rest on. Without rulebook, the one in force; every version stays readable, as events record the version that decided them.", "tags": []string{"projects"},
		"parameters": []any{qp("rulebook", "a rulebook version (1 to the current)", integer)},
		"responses": map[string]any{"200": map[string]any{"description": "the rulebook", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[programmesResponse]())}}},
			"400": problemResp("a bad parameter")},
	})
	op("GET /v1/schemas", map[string]any{
		"operationId": "listSchemas", "summary": "Every event type, its subject token and the URL of its JSON Schema.", "tags": []string{"feeds"},
		"responses": map[string]any{"200": map[string]any{"description": "the types", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[schemaList]())}}}},
	})
	op("GET /v1/schemas/{type}", map[string]any{
		"operationId": "getSchema", "summary": "The JSON Schema (2020-12) of the CloudEvents of one event type and version, e.g. funds_disbursed.v1.", "tags": []string{"feeds"},
		"parameters": []any{map[string]any{"name": "type", "in": "path", "required": true, "schema": str}},
		"responses": map[string]any{"200": map[string]any{"description": "the schema", "content": map[string]any{"application/schema+json": map[string]any{"schema": map[string]any{"type": "object"}}}},
			"404": problemResp("no such event type")},
	})
	whID := map[string]any{"name": "id", "in": "path", "required": true, "schema": str}
	json200 := func(desc string, schema map[string]any) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
	}
	op("POST /v1/webhooks", map[string]any{
		"operationId": "registerWebhook", "tags": []string{"feeds"},
		"summary": "Register an endpoint: each matching event is POSTed to it as a CloudEvent, one at a time in stream order, retried with jittered backoff, then set aside as a dead letter.",
		"description": "Deliveries are signed as the Standard Webhooks specification says: `webhook-id` (the event's id, the same on every attempt), `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and base64 of HMAC-SHA256 under the secret's key of `<id>.<timestamp>.<body>`; the key is the base64-decoded part of a `whsec_` secret, else the secret's bytes). " +
			"`Ledger-Sequence` carries the event's position in the stream, `Ledger-Event-Id` its id, `Ledger-Webhook` the endpoint; `User-Agent` is `ledger/<version>`. " +
			"Deprecated, sent for one more release: `Ledger-Signature: t=<unix>,sha256=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`. " +
			"`mode` `structured` (default) sends the event as `application/cloudevents+json`; `binary` sends its attributes as `ce-` headers and its data as an `application/json` body.",
		"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[webhookRequest]())}}},
		"responses": map[string]any{"201": json200("registered; `secret` is in the answer only when it was generated", s.ref(reflect.TypeFor[webhooks.Endpoint]())),
			"400": problemResp("malformed"), "409": problemResp("too-many-webhooks: --webhook-max endpoints are registered"),
			"422": problemResp("not an http(s) URL, a target on an internal address, a secret that is not one, or an unknown mode")},
	})
	op("GET /v1/webhooks", map[string]any{
		"operationId": "listWebhooks", "summary": "Every endpoint with its delivery status and dead letters.", "tags": []string{"feeds"},
		"responses": map[string]any{"200": json200("the endpoints", s.ref(reflect.TypeFor[webhookList]()))},
	})
	op("GET /v1/webhooks/{id}", map[string]any{
		"operationId": "getWebhook", "summary": "One endpoint's delivery status: delivered, last sequence, failures, last error, dead letters.", "tags": []string{"feeds"},
		"parameters": []any{whID},
		"responses":  map[string]any{"200": json200("the status", s.ref(reflect.TypeFor[webhooks.Status]())), "404": problemResp("no such webhook")},
	})
	op("POST /v1/webhooks/{id}/dead-letters/replay", map[string]any{
		"operationId": "replayWebhookDeadLetters", "tags": []string{"feeds"},
		"summary":     "Deliver the endpoint's dead letters again, oldest first, up to 100 per request, each once, in the request.",
		"description": "A delivered one stops being a dead letter; a failed one stays with the new error. The regular deliveries go on meanwhile; receivers deduplicate by `webhook-id`.",
		"parameters":  []any{whID},
		"responses":   map[string]any{"200": json200("what was delivered, what failed, how many are left", s.ref(reflect.TypeFor[webhooks.Replayed]())), "404": problemResp("no such webhook")},
	})
	op("DELETE /v1/webhooks/{id}", map[string]any{
		"operationId": "deleteWebhook", "summary": "Stop delivering to an endpoint and forget it.", "tags": []string{"feeds"},
		"parameters": []any{whID},
		"responses":  map[string]any{"204": map[string]any{"description": "deleted"}, "404": problemResp("no such webhook")},
	})
	op("GET /v1/projects/{id}/events", map[string]any{
		"operationId": "getProjectEvents", "summary": "The project's events in order, each the CloudEvent exactly as stored.", "tags": []string{"queries"},
		"parameters": []any{idParam, hdr("If-None-Match", `the ETag of a history already held, e.g. "12": 304 while the project is at that version`, false, str)},
		"responses": map[string]any{
			"200": map[string]any{"description": "the history", "headers": map[string]any{"ETag": etagHeader, HeaderPosition: posHeader},
				"content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[historyResponse]())}}},
			"304": map[string]any{"description": "the project is still at the version If-None-Match names"},
			"404": problemResp("no such project"),
		},
	})
	userID := map[string]any{"name": "user", "in": "path", "required": true, "schema": str}
	userResp := map[string]any{"description": "the user", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[identity.User]())}}}
	op("GET /v1/me", map[string]any{
		"operationId": "getMe", "summary": "Who the token belongs to: id, name, organisation, roles, region.", "tags": []string{"users"},
		"responses": map[string]any{"200": map[string]any{"description": "the caller", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[meResponse]())}}}},
	})
	op("POST /v1/me/keys", map[string]any{
		"operationId": "addKey", "summary": "Register one of the caller's own Ed25519 public keys, to sign commands with (HTTP Message Signatures).", "tags": []string{"users"},
		"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[keyRequest]())}}},
		"responses":   map[string]any{"201": userResp, "400": problemResp("not a base64 key"), "422": problemResp("not a 32-byte key, or its id is taken")},
	})
	op("DELETE /v1/me/keys/{key}", map[string]any{
		"operationId": "revokeKey", "summary": "Revoke one of the caller's keys: signatures made with it from now on are refused.", "tags": []string{"users"},
		"parameters": []any{map[string]any{"name": "key", "in": "path", "required": true, "schema": str}},
		"responses":  map[string]any{"200": userResp, "404": problemResp("no such active key")},
	})
	op("POST /v1/users", map[string]any{
		"operationId": "addUser", "summary": "Add a user (admins only).", "tags": []string{"users"},
		"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[userRequest]())}}},
		"responses":   map[string]any{"201": userResp, "400": problemResp("malformed"), "422": problemResp("an invalid user, or one whose id exists")},
	})
	op("GET /v1/users", map[string]any{
		"operationId": "listUsers", "summary": "Every user (admins only).", "tags": []string{"users"},
		"responses": map[string]any{"200": map[string]any{"description": "the users", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[userList]())}}}},
	})
	op("GET /v1/users/{user}", map[string]any{
		"operationId": "getUser", "summary": "One user (admins only).", "tags": []string{"users"}, "parameters": []any{userID},
		"responses": map[string]any{"200": userResp, "404": problemResp("no such user")},
	})
	op("POST /v1/users/{user}/disable", map[string]any{
		"operationId": "disableUser", "summary": "Refuse every token of the user (admins only).", "tags": []string{"users"}, "parameters": []any{userID},
		"responses": map[string]any{"200": userResp, "404": problemResp("no such user")},
	})
	op("POST /v1/users/{user}/enable", map[string]any{
		"operationId": "enableUser", "summary": "Accept the user's tokens again (admins only).", "tags": []string{"users"}, "parameters": []any{userID},
		"responses": map[string]any{"200": userResp, "404": problemResp("no such user")},
	})
	op("POST /v1/users/{user}/tokens", map[string]any{
		"operationId": "issueToken", "summary": "Issue a token for the user; the token is in this answer only (admins only).", "tags": []string{"users"}, "parameters": []any{userID},
		"requestBody": map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[tokenRequest]())}}},
		"responses": map[string]any{"201": map[string]any{"description": "the token", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[tokenResponse]())}}},
			"400": problemResp("a bad label or ttl"), "404": problemResp("no such user")},
	})
	op("GET /v1/users/{user}/tokens", map[string]any{
		"operationId": "listTokens", "summary": "The user's tokens: ids, labels, expiry, revocation; never the tokens (admins only).", "tags": []string{"users"}, "parameters": []any{userID},
		"responses": map[string]any{"200": map[string]any{"description": "the tokens", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[tokenList]())}}}, "404": problemResp("no such user")},
	})
	op("DELETE /v1/users/{user}/tokens/{token}", map[string]any{
		"operationId": "revokeToken", "summary": "Revoke one of the user's tokens (admins only).", "tags": []string{"users"},
		"parameters": []any{userID, map[string]any{"name": "token", "in": "path", "required": true, "description": "the token's id", "schema": str}},
		"responses":  map[string]any{"200": map[string]any{"description": "revoked", "content": map[string]any{"application/json": map[string]any{"schema": s.ref(reflect.TypeFor[identity.Token]())}}}, "404": problemResp("no such user or token")},
	})
	op("GET /openapi.json", map[string]any{
		"operationId": "getOpenAPI", "summary": "This document.", "tags": []string{"meta"},
		"responses": map[string]any{"200": map[string]any{"description": "the OpenAPI 3.1 document", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}},
	})
	op("GET /healthz", map[string]any{
		"operationId": "getHealth", "summary": "Whether the event stream answers, its last sequence, and the read models' applied sequence, lag and state.", "tags": []string{"meta"},
		"responses": map[string]any{
			"200": map[string]any{"description": "healthy", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object",
				"properties": map[string]any{"status": str, "stream_last_seq": integer, "projections": map[string]any{"type": "object",
					"properties": map[string]any{"status": str, "applied_seq": integer, "lag": integer, "error": str}}}}}}},
			"503": map[string]any{"description": "the stream does not answer, or the read models stopped (the body says which)"},
		},
	})
	// Every operation but these two needs a bearer token, and may answer 401
	// and 403.
	for path, item := range paths {
		for method, o := range item.(map[string]any) {
			if resps := o.(map[string]any)["responses"].(map[string]any); resps["400"] == nil {
				resps["400"] = problemResp("a query parameter the operation does not take (unknown-parameter)")
			}
			if path == "/openapi.json" || path == "/healthz" {
				o.(map[string]any)["security"] = []any{}
				continue
			}
			resps := o.(map[string]any)["responses"].(map[string]any)
			if _, ok := resps["401"]; !ok {
				resps["401"] = problemResp("no token, or one unknown, expired or revoked")
			}
			if _, ok := resps["403"]; !ok {
				resps["403"] = problemResp("the user may not do this: a role they do not hold, a project outside their region, an admin-only route")
			}
			_ = method
		}
	}
	return map[string]any{
		"openapi":  "3.1.0",
		"security": []any{map[string]any{"bearerAuth": []any{}}},
		"servers":  []any{map[string]any{"url": "/", "description": "the ledger that serves this document"}},
		"info": map[string]any{
			"title":   "ledger",
			"version": "1",
			"contact": map[string]any{"name": "the operators of this ledger"},
			"description": "Event-sourced ledger of publicly funded energy-, water- and material-saving projects. Every step is an immutable " +
				"event on NATS JetStream. Amounts are integers of fen (1 万元 = 1,000,000 fen). Times are RFC 3339; effective_time is when a " +
				"step took effect and is never defaulted. Errors are RFC 9457 problem details with a stable code, and the rule (R1–R30) they enforce.",
		},
		"tags": []any{
			map[string]any{"name": "commands", "description": "the steps of a project's life, each recorded as events after the rules of its programme allow it"},
			map[string]any{"name": "queries", "description": "the read models: projects, portfolio, watchlist, the reports' figures; now, as of a date or at a stream position"},
			map[string]any{"name": "projects", "description": "the programmes' rulebooks"},
			map[string]any{"name": "feeds", "description": "events for systems downstream: Server-Sent Events, webhooks, event schemas"},
			map[string]any{"name": "audit", "description": "signed checkpoints, inclusion proofs and audit bundles"},
			map[string]any{"name": "users", "description": "users, their tokens and signing keys (admins)"},
			map[string]any{"name": "meta", "description": "this document and the ledger's health"},
		},
		"paths": paths,
		"components": map[string]any{"schemas": defs, "securitySchemes": map[string]any{
			"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "description": "a token an admin issued (ledger users token); the actor recorded on events is its user"},
		}},
	}
}

func joinRoles(rs []domain.Role) string {
	ss := make([]string, len(rs))
	for i, r := range rs {
		ss[i] = string(r)
	}
	return strings.Join(ss, ", ")
}

var (
	openAPIOnce sync.Once
	openAPIJSON []byte
)

func (a *API) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	openAPIOnce.Do(func() { openAPIJSON, _ = json.MarshalIndent(OpenAPI(), "", "  ") })
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIJSON)
}

// schemas turns Go types into JSON Schemas (2020-12, as OpenAPI 3.1 uses).
// refPrefix is where the definitions live ("#/components/schemas/" by default).
type schemas struct {
	defs      map[string]any
	refPrefix string
}

func (s *schemas) ref(t reflect.Type) map[string]any {
	name := t.Name()
	if _, ok := s.defs[name]; !ok {
		s.defs[name] = map[string]any{} // placeholder against recursion
		s.defs[name] = s.object(t)
	}
	prefix := s.refPrefix
	if prefix == "" {
		prefix = "#/components/schemas/"
	}
	return map[string]any{"$ref": prefix + name}
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	dateType    = reflect.TypeFor[domain.Date]()
	fenType     = reflect.TypeFor[domain.Fen]()
	amountsType = reflect.TypeFor[domain.Amounts]()
	sourceType  = reflect.TypeFor[domain.Source]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	hashType    = reflect.TypeFor[tlog.Hash]()
)

func (s *schemas) of(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case dateType:
		return map[string]any{"type": "string", "format": "date"}
	case fenType:
		return map[string]any{"type": "integer", "format": "int64", "minimum": 0, "maximum": int64(domain.MaxAmount),
			"description": "amount in fen (1 yuan = 100 fen; 1 万元 = 1,000,000 fen), at most 10^15"}
	case sourceType:
		return map[string]any{"type": "string", "enum": domain.Sources}
	case amountsType:
		return map[string]any{"type": "object", "description": "amount in fen per funding source",
			"propertyNames": map[string]any{"enum": domain.Sources}, "additionalProperties": s.of(fenType)}
	case hashType:
		return map[string]any{"type": "string", "contentEncoding": "base64", "description": "SHA-256 hash"}
	case rawType:
		return map[string]any{"description": "a CloudEvent 1.0 in structured JSON, exactly as stored"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return s.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		if t.Name() != "" {
			return s.ref(t)
		}
		return s.object(t)
	}
	return map[string]any{}
}

func (s *schemas) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if f.Anonymous && tag == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				walk(ft)
				continue
			}
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			props[name] = s.of(f.Type)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	sort.Strings(required)
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}
