// Package client is a Go client of the ledger's HTTP API, for downstream
// programs: typed commands (the domain package's command types are the
// request bodies), typed queries of the read models, an iterator over the
// project list's pages, the Server-Sent Event feed, and a consumer of the
// ledger's NATS stream for programs that hold a NATS identity.
//
// Refusals come back as *Problem errors carrying the API's problem code and,
// where a rule refused, the rule (errors.As, or Code and Rule).
//
//	c, _ := client.New("https://ledger.example", client.WithToken(token))
//	rec, err := c.Do(ctx, "SY-2009-01", &domain.Disburse{...}, client.IfMatch(v))
//	var p *client.Problem
//	if errors.As(err, &p) && p.Rule == "R6" { … }
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one ledger. It is safe for concurrent use.
type Client struct {
	base      string
	token     string
	http      *http.Client
	userAgent string
	strict    bool // decode answers refusing unknown fields (the tests' contract check)
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with a bearer token (a ledger token
// "lgr_…", or an OIDC access token where the ledger accepts them).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends the requests through h (timeouts, proxies, TLS).
// The default has a 30-second timeout; the event feed is not bounded by it.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent names the program in the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the ledger at baseURL (e.g. "http://127.0.0.1:8080").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q is not an http(s) URL", baseURL)
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 30 * time.Second}, userAgent: "ledger-client-go"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Problem is a refusal or failure as the API answers it (RFC 9457): the
// HTTP status, the problem code ("over-award", "stale-version", …), the rule
// of the reports that refused (R1–R30), the field at fault, and for a stale
// If-Match the project's current version.
type Problem struct {
	Type           string `json:"type"`
	Title          string `json:"title"`
	Status         int    `json:"status"`
	Detail         string `json:"detail,omitempty"`
	Instance       string `json:"instance,omitempty"`
	Code           string `json:"code"`
	Rule           string `json:"rule,omitempty"`
	Field          string `json:"field,omitempty"`
	Project        string `json:"project,omitempty"`
	CurrentVersion uint64 `json:"current_version,omitempty"`
	// RetryAfter is the wait the ledger asked for (Retry-After), if any.
	RetryAfter time.Duration `json:"-"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("ledger: %d %s", p.Status, p.Code)
	if p.Rule != "" {
		s += " (" + p.Rule + ")"
	}
	if p.Field != "" {
		s += " field " + p.Field
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// IsCode reports whether err is a *Problem with the given code.
func IsCode(err error, code string) bool {
	var p *Problem
	return errors.As(err, &p) && p.Code == code
}

// request is one call: method, path with query, body, extra headers.
type request struct {
	method, path string
	query        url.Values
	body         any
	header       http.Header
}

// do sends r and decodes a 2xx answer into out (unless out is nil),
// returning the answer's headers; any other answer is a *Problem.
func (c *Client) do(ctx context.Context, r request, out any) (http.Header, error) {
	resp, err := c.send(ctx, r, c.http)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return resp.Header, nil
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.Header, nil
	}
	dec := json.NewDecoder(resp.Body)
	if c.strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(out); err != nil {
		return resp.Header, fmt.Errorf("ledger: %s %s: decode the answer: %w", r.method, r.path, err)
	}
	return resp.Header, nil
}

// send sends r through h; an answer that is not 2xx or 304 is returned as
// a *Problem (its body closed).
func (c *Client) send(ctx context.Context, r request, h *http.Client) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("ledger: encode the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := h.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := &Problem{}
	if json.Unmarshal(b, p) != nil || p.Code == "" {
		p = &Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Code: strconv.Itoa(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
	}
	if p.Status == 0 {
		p.Status = resp.StatusCode
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		p.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, p
}

// position reads the Ledger-Position header (0 when absent).
func position(h http.Header) uint64 {
	n, _ := strconv.ParseUint(h.Get("Ledger-Position"), 10, 64)
	return n
}
