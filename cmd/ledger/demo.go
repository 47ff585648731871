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

// loadDemo posts the demo dataset to the ledger at base, printing a counter
// to out while it loads.
func loadDemo(ctx context.Context, base string, out io.Writer) (demo.Stats, error) {
	d, err := demo.Load()
	if err != nil {
		return demo.Stats{}, err
	}
	start := time.Now()
	last := time.Time{}
	st, err := demo.Apply(ctx, &http.Client{Timeout: 30 * time.Second}, base, d, 4, func(done, total int) {
		if time.Since(last) > 500*time.Millisecond || done == total {
			last = time.Now()
			fmt.Fprintf(out, "\rloading demo data: %d/%d commands (%d%%)", done, total, done*100/total)
		}
	})
	fmt.Fprintln(out)
	if err != nil {
		return st, err
	}
	fmt.Fprintf(out, "demo data: %d projects, %d commands (%d recorded now, %d already there) in %s\n",
		st.Projects, st.Commands, st.Recorded, st.Replayed, time.Since(start).Round(time.Millisecond))
	return st, nil
}

// demoCmd is `ledger demo`: load the demo dataset into a running ledger.
func demoCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr(getenv, "LEDGER_URL", "http://127.0.0.1:8080"), "the ledger's HTTP API (LEDGER_URL)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	_, err := loadDemo(ctx, *base, stdout)
	return err
}

// reportCmd is `ledger report`: a region's figures as the reports state them.
func reportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr(getenv, "LEDGER_URL", "http://127.0.0.1:8080"), "the ledger's HTTP API (LEDGER_URL)")
	q := url.Values{}
	params := []string{"city", "county", "programme", "category", "year", "year_from", "year_to", "as_of", "at_seq"}
	vals := map[string]*string{}
	for _, p := range params {
		vals[p] = fs.String(strings.ReplaceAll(p, "_", "-"), "", "filter or bound: "+p)
	}
	asJSON := fs.Bool("json", false, "print the JSON answer")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	for _, p := range params {
		if v := *vals[p]; v != "" {
			q.Set(p, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*base, "/")+"/v1/report?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("report: %s: %s", resp.Status, body)
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var r struct {
		Position uint64            `json:"position"`
		Scope    map[string]string `json:"scope"`
		Lines    []string          `json:"lines"`
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
	return nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
