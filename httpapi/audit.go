package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/projections"
)

type timelineResponse struct {
	Project domain.ProjectID            `json:"project"`
	AsOf    *time.Time                  `json:"as_of,omitempty"`
	AtSeq   uint64                      `json:"at_seq,omitempty"`
	Version uint64                      `json:"version"`
	Entries []projections.TimelineEntry `json:"entries"`
}

// getTimeline replays one project's history from the stream: each event with
// its times, actor and role, what it changed and the running totals per
// funding source; bounded by as_of (effective) and at_seq (stream position).
func (a *API) getTimeline(w http.ResponseWriter, r *http.Request) {
	id := domain.ProjectID(r.PathValue("id"))
	q, p := parseReadQuery(r)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	hist, err := a.cmds.History(r.Context(), id)
	if err == nil && !historyVisible(r, id, hist) {
		err = &domain.Error{Kind: domain.KindNotFound, Code: domain.CodeNotFound, Project: id, Msg: "no such project in your scope"}
	}
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	if q.atSeq != 0 {
		n := 0
		for n < len(hist) && hist[n].Seq <= q.atSeq {
			n++
		}
		hist = hist[:n]
	}
	entries, err := projections.Timeline(hist, q.asOf)
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	if entries == nil {
		entries = []projections.TimelineEntry{}
	}
	out := timelineResponse{Project: id, AsOf: q.envelope(0).AsOf, AtSeq: q.atSeq, Entries: entries}
	if len(entries) > 0 {
		out.Version = entries[len(entries)-1].Seq
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(out.Version, 10))
	writeJSON(w, http.StatusOK, out)
}

type checkpointJSON struct {
	Seq  uint64    `json:"seq"`
	Size int64     `json:"size"`
	Root tlog.Hash `json:"root,omitempty"`
	Note string    `json:"note"`
}

type checkpointsResponse struct {
	Key         string           `json:"key"`
	TreeSize    int64            `json:"tree_size"` // events the checkpointer has read
	Checkpoints []checkpointJSON `json:"checkpoints"`
}

func (a *API) getCheckpoints(w http.ResponseWriter, r *http.Request) {
	stored, err := a.checkpoints.All(r.Context())
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	_, size := a.audit.Latest()
	out := checkpointsResponse{Key: a.key, TreeSize: size, Checkpoints: []checkpointJSON{}}
	for _, s := range stored {
		c := checkpointJSON{Seq: s.Seq, Size: s.Size, Note: string(s.Signed)}
		if cp, err := audit.OpenCheckpoint(s.Signed, a.key); err == nil {
			c.Root = cp.Root
		}
		out.Checkpoints = append(out.Checkpoints, c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getLatestCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, _ := a.audit.Latest()
	if cp.Size == 0 {
		writeProblem(w, r, newProblem(http.StatusNotFound, "no-checkpoint", "no checkpoint has been signed yet"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(cp.Signed)
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(a.key + "\n"))
}

type proofResponse struct {
	Seq        uint64           `json:"seq"`
	Subject    string           `json:"subject"`
	Event      string           `json:"event"` // exactly as stored
	Leaf       tlog.Hash        `json:"leaf_hash"`
	Proof      tlog.RecordProof `json:"proof"`
	Checkpoint checkpointJSON   `json:"checkpoint"`
}

// getProof proves that the event at a stream sequence is in the latest checkpoint.
func (a *API) getProof(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", "seq", "must be a stream sequence (a positive integer)"))
		return
	}
	proof, cp, err := a.audit.Prove(seq)
	if err != nil {
		writeProblem(w, r, newProblem(http.StatusNotFound, "not-covered", err.Error()))
		return
	}
	s, err := a.source.Get(r.Context(), seq)
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	writeJSON(w, http.StatusOK, proofResponse{Seq: seq, Subject: s.Subject, Event: string(s.Raw), Leaf: tlog.RecordHash(s.Raw), Proof: proof,
		Checkpoint: checkpointJSON{Size: cp.Size, Root: cp.Root, Note: string(cp.Signed)}})
}

// getExport answers an audit bundle of the events the caller may read:
// a project, a city or a county (a user of a region gets their region's),
// optionally bounded by effective dates.
func (a *API) getExport(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if p := a.scopeFeed(r, v); p != nil {
		writeProblem(w, r, p)
		return
	}
	if v.Get("type") != "" {
		writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", "type", "an audit bundle holds whole histories: select by project, city or county"))
		return
	}
	filter, p := subjectFilter(v)
	if p != nil {
		writeProblem(w, r, p)
		return
	}
	if filter == "ledger.>" {
		filter = ""
	}
	sel := audit.Selection{Filter: filter, Label: strings.TrimSpace(fmt.Sprintf("%s %s %s", filter, v.Get("from"), v.Get("to")))}
	for _, b := range []struct {
		name string
		to   *time.Time
		end  bool
	}{{"from", &sel.From, false}, {"to", &sel.To, true}} {
		if s := v.Get(b.name); s != "" {
			d, err := domain.ParseDate(s)
			if err != nil {
				writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-parameter", b.name, "must be a date such as 2011-12-31"))
				return
			}
			*b.to = d.Time()
			if b.end {
				*b.to = d.Time().AddDate(0, 0, 1).Add(-time.Nanosecond)
			}
		}
	}
	stored, err := a.checkpoints.All(r.Context())
	if err != nil {
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
		return
	}
	var buf bytes.Buffer
	n := 0
	err = a.replaying(func() error {
		var err error
		n, err = audit.Export(r.Context(), a.source, stored, a.key, sel, &buf)
		return err
	})
	var busy *Problem
	switch {
	case errors.As(err, &busy):
		writeProblem(w, r, busy)
		return
	case err != nil:
		p := newProblem(http.StatusConflict, "not-exportable", err.Error())
		writeProblem(w, r, p)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="ledger-bundle.zip"`)
	w.Header().Set("Ledger-Events", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
