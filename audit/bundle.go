package audit

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/zjfund/ledger/eventstore"
)

// Selection says which events a bundle holds: the projects matching Filter
// (a project's or a region's subjects), and of those, when From or To are
// set, the events that took effect in [From, To].
type Selection struct {
	Filter   string    `json:"filter"`
	From, To time.Time `json:"-"`
	Label    string    `json:"label"`
}

// bundleEvent is one line of events.jsonl.
type bundleEvent struct {
	Seq     uint64      `json:"seq"`
	Subject string      `json:"subject"`
	Event   string      `json:"event"` // the stored bytes, exactly
	Proof   []tlog.Hash `json:"proof"` // inclusion in the checkpoint's tree
}

type manifest struct {
	Selection string                     `json:"selection"`
	Exported  time.Time                  `json:"exported"`
	TreeSize  int64                      `json:"tree_size"`
	Projects  map[string]manifestProject `json:"projects"`
}

type manifestProject struct {
	Events   int  `json:"events"`
	Complete bool `json:"complete"` // the whole history, from registration, up to the checkpoint
}

const bundleReadme = `# Audit bundle of the ledger

This file is a zip archive. It holds, for the selection in manifest.json:

- events.jsonl — one line per event: its stream sequence, its subject, the event exactly as stored (a
  CloudEvent in JSON), and the proof that it is leaf (sequence − 1) of the Merkle tree whose head the
  checkpoint signs (RFC 6962 hashing, as in golang.org/x/mod/sumdb/tlog);
- checkpoint.note — the signed checkpoint: origin, tree size, base64 root hash, then the Ed25519
  signature line (a signed note, as the Go checksum database uses);
- key.pub — the public key of the ledger that signed it. Compare it with the key the ledger publishes
  elsewhere (its operators' letter, a website, an earlier bundle): a bundle proves only what its key
  proves;
- manifest.json — what was selected, and for each project whether the bundle holds its whole history.

To check it, with no server and no network: ` + "`ledger verify --bundle FILE [--key KEY]`" + `. It checks the
signature, each event's hash (SHA-256 over its stored bytes with the final ` + "`,\"hash\":\"…\"`" + ` member
removed), each event's inclusion proof, each complete project's hash chain (prevhash), and that the domain
rules would have produced each of its events, in order, as the recorded actor at the recorded times.

What it does not prove: that events outside the selection exist or not; that the key is the ledger's (you
compare it); that the checkpoint is the latest one.
`

// Export writes a bundle of the selected events with inclusion proofs to the
// latest checkpoint of the stream, which must cover them. It reads the whole
// stream to build the Merkle tree, and checks the checkpoint against it
// first: it exports nothing from a stream that does not match its own
// checkpoints.
func Export(ctx context.Context, src Stream, stored []eventstore.StoredCheckpoint, key string, sel Selection, w io.Writer) (int, error) {
	if len(stored) == 0 {
		return 0, fmt.Errorf("export: the ledger has no signed checkpoint yet")
	}
	cp, err := OpenCheckpoint(stored[len(stored)-1].Signed, key)
	if err != nil {
		return 0, fmt.Errorf("export: the latest checkpoint: %w", err)
	}
	var tree Tree
	type item struct {
		seq     uint64
		subject string
		raw     []byte
	}
	var items []item
	first := map[string]bool{} // project → its first event is selected
	seen := map[string]bool{}
	match := filterMatcher(sel.Filter)
	err = src.Read(ctx, eventstore.ReadOptions{Until: uint64(cp.Size), Raw: true}, func(s eventstore.Stored) error {
		if err := tree.Append(s.Raw); err != nil {
			return err
		}
		if !match(s.Subject) {
			return nil
		}
		env, err := eventstore.Parse(s.Raw)
		if err != nil {
			return fmt.Errorf("export: sequence %d: %w", s.Seq, err)
		}
		inPeriod := (sel.From.IsZero() || !env.Time.Before(sel.From)) && (sel.To.IsZero() || !env.Time.After(sel.To))
		if !seen[env.Subject] {
			seen[env.Subject] = true
			first[env.Subject] = inPeriod
		}
		if inPeriod {
			items = append(items, item{s.Seq, s.Subject, s.Raw})
		} else {
			first[env.Subject] = false
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if tree.Size() != cp.Size {
		return 0, fmt.Errorf("export: the stream holds %d events, the checkpoint covers %d", tree.Size(), cp.Size)
	}
	if root, err := tree.Root(cp.Size); err != nil || root != cp.Root {
		return 0, fmt.Errorf("export: the stream does not match its latest checkpoint (%d events); run ledger verify", cp.Size)
	}
	zw := zip.NewWriter(w)
	m := manifest{Selection: sel.Label, Exported: time.Now().UTC(), TreeSize: cp.Size, Projects: map[string]manifestProject{}}
	var lines bytes.Buffer
	for _, it := range items {
		proof, err := tree.ProveRecord(cp.Size, int64(it.seq)-1)
		if err != nil {
			return 0, err
		}
		b, _ := json.Marshal(bundleEvent{Seq: it.seq, Subject: it.subject, Event: string(it.raw), Proof: proof})
		lines.Write(b)
		lines.WriteByte('\n')
		proj := strings.Split(it.subject, ".")[3]
		mp := m.Projects[proj]
		mp.Events++
		mp.Complete = first[proj]
		m.Projects[proj] = mp
	}
	man, _ := json.MarshalIndent(m, "", "  ")
	for _, f := range []struct {
		name string
		data []byte
	}{{"README.md", []byte(bundleReadme)}, {"key.pub", []byte(key + "\n")}, {"checkpoint.note", cp.Signed},
		{"manifest.json", man}, {"events.jsonl", lines.Bytes()}} {
		fw, err := zw.Create(f.name)
		if err != nil {
			return 0, err
		}
		if _, err := fw.Write(f.data); err != nil {
			return 0, err
		}
	}
	return len(items), zw.Close()
}

// filterMatcher matches subjects against a NATS filter ("" matches all).
func filterMatcher(filter string) func(string) bool {
	if filter == "" {
		return func(string) bool { return true }
	}
	ft := strings.Split(filter, ".")
	return func(subject string) bool {
		st := strings.Split(subject, ".")
		for i, f := range ft {
			switch {
			case f == ">":
				return len(st) > i
			case i >= len(st):
				return false
			case f != "*" && f != st[i]:
				return false
			}
		}
		return len(st) == len(ft)
	}
}

// BundleResult tells what a bundle held.
type BundleResult struct {
	Events    int
	Projects  int
	Complete  int // projects whose whole history was checked against the rules
	TreeSize  int64
	Key       string
	Selection string
}

// VerifyBundle checks an audit bundle offline: the checkpoint's signature
// (against pinnedKey when given, else the bundle's own key), every event's
// hash and inclusion proof, and for every project whose whole history it
// holds, the hash chain and the domain rules. It returns a *Failure (or a
// format error) for the first problem.
func VerifyBundle(r io.ReaderAt, size int64, pinnedKey string) (BundleResult, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return BundleResult{}, fmt.Errorf("bundle: not a readable zip archive: %w", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return BundleResult{}, fmt.Errorf("bundle: %s: %w", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return BundleResult{}, fmt.Errorf("bundle: %s: %w", f.Name, err)
		}
		files[f.Name] = b
	}
	for _, name := range []string{"key.pub", "checkpoint.note", "manifest.json", "events.jsonl"} {
		if _, ok := files[name]; !ok {
			return BundleResult{}, fmt.Errorf("bundle: %s is missing", name)
		}
	}
	key := strings.TrimSpace(string(files["key.pub"]))
	if pinnedKey != "" && key != pinnedKey {
		return BundleResult{}, &Failure{Reason: fmt.Sprintf("the bundle's key %q is not the key you gave (%q)", key, pinnedKey)}
	}
	cp, err := OpenCheckpoint(files["checkpoint.note"], key)
	if err != nil {
		return BundleResult{}, &Failure{Checkpoint: 1, Reason: err.Error()}
	}
	var m manifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		return BundleResult{}, fmt.Errorf("bundle: manifest.json: %w", err)
	}
	if m.TreeSize != cp.Size {
		return BundleResult{}, &Failure{Checkpoint: cp.Size, Reason: fmt.Sprintf("the manifest says the tree has %d events", m.TreeSize)}
	}
	res := BundleResult{TreeSize: cp.Size, Key: key, Selection: m.Selection}
	v := &verifier{projects: map[string]*projectState{}}
	sc := bufio.NewScanner(bytes.NewReader(files["events.jsonl"]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var prevSeq uint64
	counts := map[string]int{}
	for sc.Scan() {
		var be bundleEvent
		if err := json.Unmarshal(sc.Bytes(), &be); err != nil {
			return res, fmt.Errorf("bundle: events.jsonl line %d: %w", res.Events+1, err)
		}
		res.Events++
		raw := []byte(be.Event)
		if be.Seq <= prevSeq || be.Seq == 0 || int64(be.Seq) > cp.Size {
			return res, &Failure{Seq: be.Seq, Reason: fmt.Sprintf("out of order or outside the checkpoint's %d events", cp.Size)}
		}
		prevSeq = be.Seq
		env, err := eventstore.ParseStrict(raw)
		if err != nil {
			f := &Failure{Seq: be.Seq, Reason: err.Error()}
			if env != nil {
				f.Project, f.EventID, f.Type = env.Subject, env.ID, env.EventType()
			}
			return res, f
		}
		if err := tlog.CheckRecord(be.Proof, cp.Size, cp.Root, int64(be.Seq)-1, tlog.RecordHash(raw)); err != nil {
			return res, &Failure{Seq: be.Seq, Project: env.Subject, EventID: env.ID, Type: env.EventType(),
				Reason: "not included in the signed checkpoint: " + err.Error()}
		}
		mp := m.Projects[env.Subject]
		counts[env.Subject]++
		if !mp.Complete {
			continue
		}
		// A whole history: check it as verify does, event by event.
		if err := v.event(eventstore.Stored{Seq: be.Seq, Subject: be.Subject, Raw: raw}); err != nil {
			return res, err
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("bundle: events.jsonl: %w", err)
	}
	if err := v.leftovers(); err != nil {
		return res, err
	}
	ids := make([]string, 0, len(m.Projects))
	for id := range m.Projects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if counts[id] != m.Projects[id].Events {
			return res, &Failure{Project: id, Reason: fmt.Sprintf("the manifest lists %d events of project %s, the bundle holds %d", m.Projects[id].Events, id, counts[id])}
		}
		if m.Projects[id].Complete {
			res.Complete++
		}
	}
	res.Projects = len(m.Projects)
	return res, nil
}
