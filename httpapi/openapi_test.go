package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/zjfund/ledger/domain"
)

// TestEveryRouteIsDocumented fails when a registered route is missing from
// /openapi.json, when the document names a route that is not served, or when
// a domain command has no route.
func TestEveryRouteIsDocumented(t *testing.T) {
	api := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, p := range api.patterns {
		served[p] = true
		if !documented[p] {
			t.Errorf("route %s is served but not documented", p)
		}
	}
	for p := range documented {
		if !served[p] {
			t.Errorf("route %s is documented but not served", p)
		}
	}
	routed := map[string]bool{}
	for _, rt := range commandRoutes {
		routed[rt.newCmd(&http.Request{}).CommandName()] = true
	}
	for _, n := range domain.CommandNames() {
		if !routed[n] {
			t.Errorf("command %s has no route", n)
		}
	}
	// A bearer token on every operation but the health check and this document.
	var sec struct {
		Security   []map[string]any `json:"security"`
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Security  *[]any         `json:"security"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	_ = json.Unmarshal(raw, &sec)
	if len(sec.Security) != 1 || sec.Security[0]["bearerAuth"] == nil || sec.Components.SecuritySchemes["bearerAuth"]["scheme"] != "bearer" {
		t.Fatalf("security: %v, schemes %v", sec.Security, sec.Components.SecuritySchemes)
	}
	for path, ops := range sec.Paths {
		for method, o := range ops {
			public := path == "/healthz" || path == "/openapi.json"
			if public != (o.Security != nil && len(*o.Security) == 0) {
				t.Errorf("%s %s: security %v", method, path, o.Security)
			}
			if !public && (o.Responses["401"] == nil || o.Responses["403"] == nil) {
				t.Errorf("%s %s does not document 401 and 403", method, path)
			}
		}
	}
	// Every $ref points at a schema of the document.
	for _, ref := range refs(raw) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("dangling $ref %s", ref)
		}
	}
	// The disbursement body names its fields, and amounts are integers.
	d := doc.Components.Schemas["Disburse"].(map[string]any)
	props := d["properties"].(map[string]any)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "amount,basis,effective_time,source" || props["amount"].(map[string]any)["type"] != "integer" || d["additionalProperties"] != false {
		t.Fatalf("Disburse schema: %v", d)
	}
}

func refs(raw []byte) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	_ = json.Unmarshal(raw, &doc)
	walk(doc)
	return out
}

// TestPartsNotRunningAnswer503: an API built without checkpoints or webhooks
// answers their routes with a problem, not a crash.
func TestPartsNotRunningAnswer503(t *testing.T) {
	srv := httptest.NewServer(New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	for _, path := range []string{"/v1/checkpoints", "/v1/checkpoints/latest", "/v1/checkpoints/key", "/v1/events/1/proof", "/v1/webhooks"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestWrongMethodAnswers405: a route's path with a method it does not take
// answers 405 with Allow, not 404.
func TestWrongMethodAnswers405(t *testing.T) {
	api := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	defer srv.Close()
	for path, allow := range map[string]string{
		"/v1/projects/P1":               "GET, HEAD",
		"/v1/projects":                  "GET, HEAD, POST",
		"/v1/projects/P1/disbursements": "POST",
	} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != allow {
			t.Errorf("PUT %s: %d Allow %q, want 405 Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"), allow)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/nothing-here: %d, want 404", resp.StatusCode)
	}
}
