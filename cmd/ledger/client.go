package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiClient is how the command line talks to a running ledger: its URL and
// the bearer token of the user it acts as.
type apiClient struct {
	base, token string
	http        *http.Client
}

// registerAPI adds --url and --token (LEDGER_URL, LEDGER_TOKEN) to fs.
func registerAPI(fs *flag.FlagSet, getenv func(string) string) *apiClient {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	fs.StringVar(&c.base, "url", envOr(getenv, "LEDGER_URL", "http://127.0.0.1:8080"), "the ledger's HTTP API (LEDGER_URL)")
	fs.StringVar(&c.token, "token", getenv("LEDGER_TOKEN"), "the bearer token of the user to act as (LEDGER_TOKEN)")
	return c
}

// do sends a request and returns the body of a 2xx answer, or an error
// carrying the problem the ledger answered.
func (c *apiClient) do(ctx context.Context, method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return nil, 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (is the ledger running at %s? give --url or LEDGER_URL)", err, c.base)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(out, &p)
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
			hint = " (give --token or LEDGER_TOKEN)"
		}
		if p.Code != "" {
			return out, resp.StatusCode, fmt.Errorf("%s %s: %s: %s%s", method, path, p.Code, p.Detail, hint)
		}
		return out, resp.StatusCode, fmt.Errorf("%s %s: %s: %s%s", method, path, resp.Status, out, hint)
	}
	return out, resp.StatusCode, nil
}
