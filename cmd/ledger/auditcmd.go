package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/identity"
	"github.com/zjfund/ledger/internal/dirlock"
	"github.com/zjfund/ledger/projections"
)

// storeFlags are how an audit command reaches the stream: a stopped data
// directory, or a running ledger's NATS (read-only credentials suffice).
type storeFlags struct {
	dataDir, natsURL, natsCreds, key string
	natsTLS                          natsTLS
	project, city, county            string // the selection, when the command takes one
	// keys looks signing keys up in the user directory, when the store
	// opened gives access to it (a data directory does; the reader does not).
	keys audit.KeyLookup
}

// registerSelection adds --project, --city and --county; verb says what the command does to them.
func (s *storeFlags) registerSelection(fs *flag.FlagSet, verb string) {
	fs.StringVar(&s.project, "project", "", verb+" one project")
	fs.StringVar(&s.city, "city", "", verb+" one city's projects (GB/T 2260 code)")
	fs.StringVar(&s.county, "county", "", verb+" one county's projects")
}

// describe names the selection for messages: "--project X", "--city C
// --county K".
func (s *storeFlags) describe() string {
	var parts []string
	for _, f := range []struct{ flag, v string }{{"--project", s.project}, {"--city", s.city}, {"--county", s.county}} {
		if f.v != "" {
			parts = append(parts, f.flag+" "+f.v)
		}
	}
	if len(parts) == 0 {
		return "the selection"
	}
	return strings.Join(parts, " ")
}

// filter is the subject filter of the selection ("" for everything).
func (s *storeFlags) filter() (string, error) { return regionFilter(s.project, s.city, s.county) }

// openWithCheckpoints opens the stream and returns it with its stored
// checkpoints and their public key.
func (s *storeFlags) openWithCheckpoints(ctx context.Context, what string) (*eventstore.Store, []eventstore.StoredCheckpoint, string, func(), error) {
	st, cps, key, closeStore, err := s.open(ctx, what)
	if err != nil {
		return nil, nil, "", nil, err
	}
	stored, err := cps.All(ctx)
	if err != nil {
		closeStore()
		return nil, nil, "", nil, err
	}
	return st, stored, key, closeStore, nil
}

func (s *storeFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&s.dataDir, "data-dir", envOr(getenv, "LEDGER_DATA_DIR", "data"), "a stopped ledger's data directory (LEDGER_DATA_DIR)")
	fs.StringVar(&s.natsURL, "nats-url", getenv("LEDGER_NATS_URL"), "a running ledger's NATS, e.g. nats://reader:PASSWORD@127.0.0.1:4222 (LEDGER_NATS_URL)")
	fs.StringVar(&s.natsCreds, "nats-creds", getenv("LEDGER_NATS_CREDS"), "credentials file for --nats-url (LEDGER_NATS_CREDS)")
	s.natsTLS.register(fs, func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	})
	fs.StringVar(&s.key, "key", "", "the checkpoints' public key, or a file holding it; default <data-dir>/checkpoint.key.pub, or with --nats-url the key the ledger recorded with its checkpoints")
}

// open connects to the stream and its checkpoints without creating anything.
// A data directory is never opened in place: the command takes the
// directory's lock (so no ledger can start on it meanwhile, and a running one
// refuses it) and opens a copy of the store in a temporary directory, so that
// nothing — not even the embedded server's recovery of a damaged block —
// writes to the original.
func (s *storeFlags) open(ctx context.Context, what string) (*eventstore.Store, *eventstore.Checkpoints, string, func(), error) {
	cfg := serveConfig{dataDir: s.dataDir, natsURL: s.natsURL, natsCreds: s.natsCreds, natsTLS: s.natsTLS, replicas: 1}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	release := func() {}
	if s.natsURL == "" {
		if _, err := os.Stat(filepath.Join(s.dataDir, "jetstream")); err != nil {
			return nil, nil, "", nil, fmt.Errorf("%s holds no ledger (no jetstream directory); give --data-dir or --nats-url", s.dataDir)
		}
		lock, err := dirlock.Acquire(s.dataDir, what)
		if err != nil {
			return nil, nil, "", nil, lockHint(err, "to "+strings.TrimPrefix(what, "ledger ")+" a running ledger, give --nats-url with the reader user (nats://reader:PASSWORD@host:port)")
		}
		tmp, err := os.MkdirTemp("", "ledger-copy-*")
		if err != nil {
			lock.Release()
			return nil, nil, "", nil, err
		}
		release = func() { os.RemoveAll(tmp); lock.Release() }
		if err := copyTree(filepath.Join(s.dataDir, "jetstream"), filepath.Join(tmp, "jetstream")); err != nil {
			release()
			return nil, nil, "", nil, fmt.Errorf("copy the store to %s: %w", tmp, err)
		}
		cfg.dataDir = tmp
	}
	conn, err := connectNATS(cfg, what, log, io.Discard)
	if err != nil {
		release()
		return nil, nil, "", nil, err
	}
	nc := conn.nc
	closeAll := func() { conn.close(); release() }
	st, err := eventstore.Open(ctx, nc, eventstore.Config{ReadOnly: true})
	if err == nil {
		var cps *eventstore.Checkpoints
		cps, err = eventstore.OpenCheckpoints(ctx, nc, 1)
		if err == nil {
			key, kerr := s.publicKey()
			if kerr != nil && s.key == "" && s.natsURL != "" {
				// No key given and no data directory here: the one the
				// ledger recorded with its checkpoints (compare it with
				// the key it publishes elsewhere).
				if k, err := cps.PublishedKey(ctx); err == nil && k != "" {
					key, kerr = k, nil
				}
			}
			closeDir := func() {}
			if s.natsURL == "" {
				if dir, derr := identity.Open(ctx, nc, 1); derr == nil {
					s.keys = func(user, keyID string, at time.Time) (ed25519.PublicKey, error) {
						u, err := dir.User(user)
						if err != nil {
							return nil, err
						}
						return u.KeyAt(keyID, at)
					}
					closeDir = dir.Close
				}
			}
			return st, cps, key, func() { closeDir(); st.Close(); closeAll() }, kerr
		}
		st.Close()
	}
	closeAll()
	return nil, nil, "", nil, err
}

// lockHint adds what to do instead to a refusal of the data directory.
func lockHint(err error, hint string) error {
	var he *dirlock.HeldError
	if errors.As(err, &he) {
		return fmt.Errorf("%w; %s", err, hint)
	}
	return err
}

// copyTree copies the directory src to dst (regular files and directories).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

func (s *storeFlags) publicKey() (string, error) {
	k := s.key
	if k == "" {
		k = filepath.Join(s.dataDir, "checkpoint.key.pub")
	}
	if _, err := note.NewVerifier(k); err == nil {
		return k, nil // the key itself
	}
	b, err := os.ReadFile(k)
	if err != nil {
		return "", fmt.Errorf("the checkpoints' public key: %w (give --key)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// regionFilter turns --project, --city and --county into a subject filter.
func regionFilter(project, city, county string) (string, error) {
	if project != "" {
		if err := domain.ProjectID(project).Validate("project"); err != nil {
			return "", err
		}
		return eventstore.Filter("", "", domain.ProjectID(project), ""), nil
	}
	if city == "" && county == "" {
		return "", nil
	}
	return eventstore.Filter(city, county, "", ""), nil
}

// verifyCmd is `ledger verify`.
func verifyCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs, getenv)
	sf.registerSelection(fs, "verify")
	bundle := fs.String("bundle", "", "verify an exported audit bundle offline, with no server")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	start := time.Now()
	if *bundle != "" {
		var pinned string
		if sf.key != "" {
			k, err := sf.publicKey()
			if err != nil {
				return err
			}
			pinned = k
		}
		f, err := os.Open(*bundle)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		res, err := audit.VerifyBundle(f, fi.Size(), pinned)
		if err != nil {
			fmt.Fprintf(stdout, "FAILED: %v\n", err)
			return errVerify
		}
		fmt.Fprintf(stdout, "OK: bundle %s (%s): %d events of %d projects, %d whole histories checked against the rules; every event included in the checkpoint of %d events signed by %s\n",
			*bundle, res.Selection, res.Events, res.Projects, res.Complete, res.TreeSize, res.Key)
		if pinned == "" {
			fmt.Fprintln(stdout, "note: no --key was given; compare the key above with the one the ledger publishes")
		}
		return nil
	}
	filter, err := sf.filter()
	if err != nil {
		return err
	}
	st, stored, key, closeStore, err := sf.openWithCheckpoints(ctx, "ledger verify")
	if err != nil {
		return err
	}
	defer closeStore()
	res, err := audit.Verify(ctx, st, audit.VerifyOptions{Filter: filter, Key: key, Checkpoints: stored, Keys: sf.keys, Progress: func(done, total uint64) {
		fmt.Fprintf(stderr, "\rverifying: %d/%d events", done, total)
	}})
	fmt.Fprintln(stderr)
	var f *audit.Failure
	if errors.As(err, &f) {
		fmt.Fprintf(stdout, "FAILED: %v\n", f)
		return errVerify
	}
	if err != nil {
		return err
	}
	if filter != "" && res.Events == 0 {
		return fmt.Errorf("nothing verified: no event in the stream matches %s", sf.describe())
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "OK: %d events of %d projects verified in %s (%.0f events/s): hashes, chains, subjects, the domain rules, signed commands",
		res.Events, res.Projects, took.Round(time.Millisecond), float64(res.Events)/took.Seconds())
	if sf.keys == nil {
		fmt.Fprint(stdout, " (their keys not checked against the user directory, which this connection cannot read)")
	}
	if filter == "" {
		fmt.Fprintf(stdout, "; %d checkpoints signed by %s, the latest covering %d of %d events", res.Checkpoints, key, res.Covered, res.LastSeq)
	} else {
		fmt.Fprintf(stdout, " (selection %s; checkpoints are checked over the whole stream only)", filter)
	}
	fmt.Fprintln(stdout)
	return nil
}

var errVerify = errors.New("verification failed")

// exportCmd is `ledger export`.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs, getenv)
	sf.registerSelection(fs, "export")
	from := fs.String("from", "", "only events that took effect on or after this date (YYYY-MM-DD)")
	to := fs.String("to", "", "only events that took effect on or before this date")
	out := fs.String("out", "", "the bundle file to write")
	api := &apiClient{http: &http.Client{Timeout: 10 * time.Minute}}
	fs.StringVar(&api.base, "url", "", "a running ledger's HTTP API: export as the user of --token, within their region")
	fs.StringVar(&api.token, "token", getenv("LEDGER_TOKEN"), "with --url: the bearer token (LEDGER_TOKEN)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "export: --out is required")
		return errUsage
	}
	if api.base != "" {
		q := url.Values{}
		for k, v := range map[string]string{"project": sf.project, "city": sf.city, "county": sf.county, "from": *from, "to": *to} {
			if v != "" {
				q.Set(k, v)
			}
		}
		body, _, err := api.do(ctx, http.MethodGet, "/v1/export?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, body, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "exported to %s (%d bytes) through %s; check it with: ledger verify --bundle %s --key <the ledger's public key>\n", *out, len(body), api.base, *out)
		return nil
	}
	filter, err := sf.filter()
	if err != nil {
		return err
	}
	sel := audit.Selection{Filter: filter, Label: strings.TrimSpace(fmt.Sprintf("%s %s %s", filter, *from, *to))}
	if *from != "" {
		d, err := domain.ParseDate(*from)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		sel.From = d.Time()
	}
	if *to != "" {
		d, err := domain.ParseDate(*to)
		if err != nil {
			return fmt.Errorf("--to: %w", err)
		}
		sel.To = d.Time().AddDate(0, 0, 1).Add(-time.Nanosecond)
	}
	st, stored, key, closeStore, err := sf.openWithCheckpoints(ctx, "ledger export")
	if err != nil {
		return err
	}
	defer closeStore()
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	n, err := audit.Export(ctx, st, stored, key, sel, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n == 0 {
		err = fmt.Errorf("nothing exported: no event in the stream matches %s", sf.describe())
	}
	if err != nil {
		os.Remove(*out)
		return err
	}
	fmt.Fprintf(stdout, "exported %d events to %s; check it with: ledger verify --bundle %s --key '%s'\n", n, *out, *out, key)
	return nil
}

// replayCmd is `ledger replay`: a project's timeline, or the portfolio as of
// a date or stream position, from a running ledger.
func replayCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := registerAPI(fs, getenv)
	project := fs.String("project", "", "the project whose timeline to replay; without it, the portfolio summary")
	asOf := fs.String("as-of", "", "as of this effective date (YYYY-MM-DD) or RFC 3339 time")
	atSeq := fs.String("at-seq", "", "as of this stream position")
	groupBy := fs.String("group-by", "city", "for the portfolio: city, county, programme, year, status or category")
	asJSON := fs.Bool("json", false, "print the API's JSON answer instead of the table")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	q := url.Values{}
	if *asOf != "" {
		q.Set("as_of", *asOf)
	}
	if *atSeq != "" {
		q.Set("at_seq", *atSeq)
	}
	path := "/v1/summary"
	if *project != "" {
		path = "/v1/projects/" + url.PathEscape(*project) + "/timeline"
	} else {
		q.Set("group_by", *groupBy)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, _, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(body, '\n'))
		return err
	}
	if *project == "" {
		return printSummary(stdout, body)
	}
	return printTimeline(stdout, body)
}

// printTimeline writes a project's timeline for people: each step's stream
// position, effective date, recording time, actor and role, what changed,
// and the running totals when money moved.
func printTimeline(w io.Writer, body []byte) error {
	var tl client.Timeline
	if err := json.Unmarshal(body, &tl); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s — %d events, version %d\n", tl.Project, len(tl.Entries), tl.Version)
	var last string
	for _, e := range tl.Entries {
		fmt.Fprintf(w, "%6d  %s  %s [%s]  → %s  (recorded %s)\n        %s\n",
			e.Seq, e.Effective.Format("2006-01-02"), e.Actor, e.Role, e.Status, e.Recorded.UTC().Format("2006-01-02 15:04:05Z"), e.Change)
		if money := "disbursed " + amounts(e.Disbursed) + ", refunded " + amounts(e.Refunded); money != last {
			if len(e.Disbursed)+len(e.Refunded) > 0 {
				fmt.Fprintf(w, "        so far: %s\n", money)
			}
			last = money
		}
	}
	return nil
}

// printSummary writes the portfolio summary as a table, one row per group.
func printSummary(w io.Writer, body []byte) error {
	var s client.Summary
	if err := json.Unmarshal(body, &s); err != nil {
		return err
	}
	asOf := "now"
	if s.AsOf != nil {
		asOf = s.AsOf.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "portfolio by %s as of %s (stream position %d); amounts in 万元\n", s.GroupBy, asOf, s.Position)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, s.GroupBy+"\tprojects\tinvestment\tawarded\tdisbursed\trefunded\toutstanding\t  by status")
	for _, g := range s.Groups {
		statuses := make([]string, 0, len(g.ByStatus))
		for k, n := range g.ByStatus {
			statuses = append(statuses, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(statuses)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t  %s\n", g.Key, g.Projects, inWan(g.TotalInvestment), inWan(g.Totals.Awarded),
			inWan(g.Totals.Disbursed), inWan(g.Totals.Refunded), inWan(g.Totals.Outstanding), strings.Join(statuses, ", "))
	}
	return tw.Flush()
}

// inWan is an amount in 万元, exactly, as the reports and the web pages
// write it.
func inWan(f domain.Fen) string { return projections.Wan(int64(f)) }

// amounts is "none", or each source's amount in 万元.
func amounts(a domain.Amounts) string {
	if len(a) == 0 {
		return "none"
	}
	var parts []string
	for _, src := range domain.Sources {
		if v, ok := a[src]; ok {
			parts = append(parts, fmt.Sprintf("%s %s万", src, inWan(v)))
		}
	}
	return strings.Join(parts, ", ")
}
