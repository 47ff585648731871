package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// Failure is the first thing verification found wrong: an event (by stream
// sequence, project, id and type) or a checkpoint (by the tree size it signs).
type Failure struct {
	Seq        uint64 `json:"seq,omitempty"`
	Project    string `json:"project,omitempty"`
	EventID    string `json:"event_id,omitempty"`
	Type       string `json:"type,omitempty"`
	Checkpoint int64  `json:"checkpoint,omitempty"`
	Reason     string `json:"reason"`
}

func (f *Failure) Error() string {
	switch {
	case f.Checkpoint > 0:
		return fmt.Sprintf("checkpoint of %d events: %s", f.Checkpoint, f.Reason)
	case f.EventID != "":
		return fmt.Sprintf("event at sequence %d (project %s, id %s, %s): %s", f.Seq, f.Project, f.EventID, f.Type, f.Reason)
	}
	return fmt.Sprintf("event at sequence %d: %s", f.Seq, f.Reason)
}

// Result tells what verification covered.
type Result struct {
	Events      uint64 `json:"events"`
	Projects    int    `json:"projects"`
	LastSeq     uint64 `json:"last_seq"`
	Checkpoints int    `json:"checkpoints"`
	Covered     int64  `json:"covered"` // events covered by the latest verified checkpoint
	Filter      string `json:"filter,omitempty"`
}

// VerifyOptions bound a verification.
type VerifyOptions struct {
	// Filter restricts it to matching subjects (a project, a region); then
	// the Merkle tree and the checkpoints are not checked, for they cover the
	// whole stream.
	Filter string
	// Key is the public key the checkpoints must be signed with.
	Key         string
	Checkpoints []eventstore.StoredCheckpoint
	// Progress, when set, is called every 10,000 events with the count so far and the total.
	Progress func(done, total uint64)
	// Keys, when set, gives the signing keys users held, from the user
	// directory: a signed command's key is then checked to be its author's.
	Keys KeyLookup
}

type projectState struct {
	p          *domain.Project
	city, cnty string
	lastHash   string
	pending    []pendingEvent
}

type pendingEvent struct {
	seq uint64
	env *eventstore.Envelope
	ev  domain.Event
}

// verifier holds the state of one verification.
type verifier struct {
	projects map[string]*projectState
	tree     Tree
	whole    bool
	lastSeq  uint64
	events   uint64
	keys     KeyLookup
}

// Verify reads the stream (or the part Filter selects) and checks every
// event: that it decodes, that its stored bytes hash to its hash, that it
// carries its project's previous hash, that its subject names its project,
// region and type, that the domain rules would have produced it from the
// project's history as its recorded actor at its recorded times, and that no
// sequence is missing. Over the whole stream it then checks each checkpoint:
// signed with Key, covering a prefix of the events whose Merkle root it
// signs, each consistent with the one before. It returns a *Failure for the
// first problem.
func Verify(ctx context.Context, src Stream, o VerifyOptions) (Result, error) {
	total, err := src.LastSequence(ctx)
	if err != nil {
		return Result{}, err
	}
	v := &verifier{projects: map[string]*projectState{}, whole: o.Filter == "", keys: o.Keys}
	err = src.Read(ctx, eventstore.ReadOptions{Filter: o.Filter, Until: total, Raw: true}, func(s eventstore.Stored) error {
		if err := v.event(s); err != nil {
			return err
		}
		if o.Progress != nil && v.events%10000 == 0 {
			o.Progress(s.Seq, total)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	if o.Progress != nil {
		o.Progress(v.lastSeq, total)
	}
	if v.whole && v.lastSeq != total {
		return Result{}, &Failure{Seq: v.lastSeq + 1, Reason: fmt.Sprintf("the stream ends at %d, its state says %d", v.lastSeq, total)}
	}
	if err := v.leftovers(); err != nil {
		return Result{}, err
	}
	res := Result{Events: v.events, Projects: len(v.projects), LastSeq: v.lastSeq, Filter: o.Filter}
	if !v.whole {
		return res, nil
	}
	n, covered, err := v.checkpoints(o.Checkpoints, o.Key)
	res.Checkpoints, res.Covered = n, covered
	return res, err
}

func (v *verifier) event(s eventstore.Stored) error {
	v.events++
	fail := func(env *eventstore.Envelope, format string, args ...any) error {
		f := &Failure{Seq: s.Seq, Reason: fmt.Sprintf(format, args...)}
		if env != nil {
			f.Project, f.EventID, f.Type = env.Subject, env.ID, env.EventType()
		}
		return f
	}
	if v.whole {
		if s.Seq != v.lastSeq+1 {
			return &Failure{Seq: v.lastSeq + 1, Reason: fmt.Sprintf("missing: the stream goes from sequence %d to %d", v.lastSeq, s.Seq)}
		}
		if err := v.tree.Append(s.Raw); err != nil {
			return err
		}
	}
	v.lastSeq = s.Seq
	env, err := eventstore.ParseStrict(s.Raw)
	if err != nil {
		return fail(env, "%v", err)
	}
	tok := strings.Split(s.Subject, ".")
	if len(tok) != 5 || tok[0] != "ledger" || tok[3] != env.Subject || !strings.HasPrefix(env.EventType(), tok[4]+".") {
		return fail(env, "stored on subject %s, which does not name its project %s and type %s", s.Subject, env.Subject, env.EventType())
	}
	ev, err := domain.DecodeEventStrict(env.EventType(), env.Data)
	if err != nil {
		return fail(env, "%v", err)
	}
	ps := v.projects[env.Subject]
	if ps == nil {
		reg, ok := ev.(domain.ProjectRegistered)
		if !ok {
			return fail(env, "the project's first event is not its registration")
		}
		ps = &projectState{p: domain.NewProject(domain.ProjectID(env.Subject)), city: string(reg.City), cnty: string(reg.County)}
		v.projects[env.Subject] = ps
	}
	if tok[1] != ps.city || tok[2] != ps.cnty {
		return fail(env, "stored under region %s.%s, the project is registered in %s.%s", tok[1], tok[2], ps.city, ps.cnty)
	}
	if env.PrevHash != ps.lastHash {
		return fail(env, "its prevhash %q is not the hash of the project's previous event (%q): an event before it was removed, altered or moved", env.PrevHash, ps.lastHash)
	}
	ps.lastHash = env.Hash
	ps.pending = append(ps.pending, pendingEvent{s.Seq, env, ev})
	return v.reproduce(ps, false)
}

// reproduce checks the project's pending events against the rules, a
// command at a time; with final, a command still missing events fails.
func (v *verifier) reproduce(ps *projectState, final bool) error {
	for len(ps.pending) > 0 {
		first := ps.pending[0]
		evs := make([]domain.Event, len(ps.pending))
		for i, pe := range ps.pending {
			evs[i] = pe.ev
		}
		actor := domain.Actor{Name: first.env.Actor, Role: domain.Role(first.env.ActorRole), ID: first.env.ActorID, Org: first.env.ActorOrg}
		rb, err := domain.RulebookVersion(first.env.Rulebook)
		if err != nil {
			return &Failure{Seq: first.seq, Project: first.env.Subject, EventID: first.env.ID, Type: first.env.EventType(), Reason: err.Error()}
		}
		n, err := ps.p.Reproduce(rb, evs, actor, first.env.Time, first.env.RecordedTime)
		if errors.Is(err, domain.ErrIncomplete) && !final {
			return nil
		}
		if err != nil {
			return &Failure{Seq: first.seq, Project: first.env.Subject, EventID: first.env.ID, Type: first.env.EventType(),
				Reason: "the domain rules would not have recorded it: " + err.Error()}
		}
		if err := checkSigned(first.env, first.ev, v.keys); err != nil {
			return &Failure{Seq: first.seq, Project: first.env.Subject, EventID: first.env.ID, Type: first.env.EventType(),
				Reason: "signed command: " + err.Error()}
		}
		for _, pe := range ps.pending[1:n] {
			if pe.env.Rulebook != first.env.Rulebook {
				return &Failure{Seq: pe.seq, Project: pe.env.Subject, EventID: pe.env.ID, Type: pe.env.EventType(),
					Reason: fmt.Sprintf("records rulebook %q, the command's first event %q: one command is decided under one rulebook", pe.env.Rulebook, first.env.Rulebook)}
			}
		}
		for _, pe := range ps.pending[:n] {
			ps.p.ApplyBy(pe.ev, pe.env.Time, domain.Actor{Name: pe.env.Actor, Role: domain.Role(pe.env.ActorRole), ID: pe.env.ActorID, Org: pe.env.ActorOrg})
		}
		ps.pending = ps.pending[n:]
	}
	return nil
}

func (v *verifier) leftovers() error {
	ids := make([]string, 0, len(v.projects))
	for id := range v.projects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := v.reproduce(v.projects[id], true); err != nil {
			return err
		}
	}
	return nil
}

// checkpoints checks each stored checkpoint against the tree the events make.
func (v *verifier) checkpoints(stored []eventstore.StoredCheckpoint, key string) (int, int64, error) {
	var prev Checkpoint
	for _, s := range stored {
		cp, err := OpenCheckpoint(s.Signed, key)
		if err != nil {
			return 0, 0, &Failure{Checkpoint: max(s.Size, 1), Reason: "not signed by the ledger's key: " + err.Error()}
		}
		if cp.Size <= prev.Size {
			return 0, 0, &Failure{Checkpoint: cp.Size, Reason: fmt.Sprintf("follows a checkpoint of %d events", prev.Size)}
		}
		if cp.Size > v.tree.Size() {
			return 0, 0, &Failure{Checkpoint: cp.Size, Seq: uint64(v.tree.Size()) + 1, Reason: fmt.Sprintf("covers %d events, the stream holds %d: the events from sequence %d on were removed or lost", cp.Size, v.tree.Size(), v.tree.Size()+1)}
		}
		root, err := v.tree.Root(cp.Size)
		if err != nil {
			return 0, 0, err
		}
		if root != cp.Root {
			return 0, 0, &Failure{Checkpoint: cp.Size, Reason: fmt.Sprintf("the first %d events hash to %s, the checkpoint signed %s: an event at or before sequence %d was altered, removed or reordered", cp.Size, root, cp.Root, cp.Size)}
		}
		if prev.Size > 0 {
			proof, err := v.tree.ProveTree(cp.Size, prev.Size)
			if err == nil {
				err = tlog.CheckTree(proof, cp.Size, cp.Root, prev.Size, prev.Root)
			}
			if err != nil {
				return 0, 0, &Failure{Checkpoint: cp.Size, Reason: fmt.Sprintf("not consistent with the checkpoint of %d events: %v", prev.Size, err)}
			}
		}
		prev = cp
	}
	return len(stored), prev.Size, nil
}
