package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zjfund/ledger/demo"
)

// loadDemo posts the demo dataset to the ledger that c reaches, printing a
// counter to out while it loads. c acts as an admin: it creates the users
// who record the dataset (once; they stay, so that their steps keep an
// author) and a short-lived token for each, and each step is then recorded
// by its own user.
func loadDemo(ctx context.Context, c *apiClient, out io.Writer) (demo.Stats, error) {
	d, err := demo.Load()
	if err != nil {
		return demo.Stats{}, err
	}
	start := time.Now()
	tokens := map[string]string{}
	for _, u := range d.Users() {
		if _, status, err := c.do(ctx, "POST", "/v1/users", u); err != nil && status != http.StatusUnprocessableEntity {
			return demo.Stats{}, fmt.Errorf("demo user %s: %w", u.ID, err)
		}
		body, _, err := c.do(ctx, "POST", "/v1/users/"+u.ID+"/tokens", map[string]any{"label": "demo loader", "ttl_days": 1})
		if err != nil {
			return demo.Stats{}, fmt.Errorf("demo user %s: %w", u.ID, err)
		}
		var t struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return demo.Stats{}, err
		}
		tokens[u.ID] = t.Token
	}
	last := time.Time{}
	st, err := demo.Apply(ctx, &http.Client{Timeout: 30 * time.Second}, c.base, d, 4,
		func(s demo.Step) string { return tokens[demo.UserID(s.Actor, s.Role)] },
		func(done, total int) {
			if time.Since(last) > 500*time.Millisecond || done == total {
				last = time.Now()
				fmt.Fprintf(out, "\rloading demo data: %d/%d commands (%d%%)", done, total, done*100/total)
			}
		})
	fmt.Fprintln(out)
	if err != nil {
		return st, err
	}
	fmt.Fprintf(out, "demo data: %d projects, %d commands (%d recorded now, %d already there) by %d users in %s\n",
		st.Projects, st.Commands, st.Recorded, st.Replayed, len(tokens), time.Since(start).Round(time.Millisecond))
	return st, nil
}

// demoCmd is `ledger demo`: load the demo dataset into a running ledger,
// as an admin (it creates the users who record it).
func demoCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := registerAPI(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	_, err := loadDemo(ctx, c, stdout)
	return err
}

// reportCmd is `ledger report`: a region's figures as the reports state them.
func reportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := registerAPI(fs, getenv)
	q := url.Values{}
	params := []string{"city", "county", "programme", "category", "year", "year_from", "year_to", "as_of", "at_seq"}
	vals := map[string]*string{}
	for _, p := range params {
		vals[p] = fs.String(strings.ReplaceAll(p, "_", "-"), "", "filter or bound: "+p)
	}
	asJSON := fs.Bool("json", false, "print the JSON answer")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	for _, p := range params {
		if v := *vals[p]; v != "" {
			q.Set(p, v)
		}
	}
	body, _, err := c.do(ctx, http.MethodGet, "/v1/report?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var r struct {
		Position uint64            `json:"position"`
		Scope    map[string]string `json:"scope"`
		Lines    []string          `json:"lines"`
		Computed []string          `json:"computed"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return err
	}
	var scope []string
	for _, p := range params {
		if v, ok := r.Scope[p]; ok {
			scope = append(scope, p+"="+v)
		}
	}
	if v := q.Get("as_of"); v != "" {
		scope = append(scope, "as_of="+v)
	}
	fmt.Fprintf(stdout, "%s (stream position %d)\n", strings.Join(scope, " "), r.Position)
	for _, l := range r.Lines {
		fmt.Fprintln(stdout, "  "+l)
	}
	if len(r.Computed) > 0 {
		fmt.Fprintln(stdout, "computed by the ledger, not stated by the reports:")
		for _, l := range r.Computed {
			fmt.Fprintln(stdout, "  "+l)
		}
	}
	return nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
