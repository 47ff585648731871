// Package eventstore keeps the ledger's events on NATS JetStream: the embedded
// server, the stream and its immutability settings, appends with per-project
// optimistic concurrency, atomic multi-event appends, deduplication, the
// CloudEvents envelope with its hash chain, and reading a project's history.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/zjfund/ledger/domain"
)

// Config configures the stream.
type Config struct {
	// ObserveAppend, when set, is told each append's duration (metrics).
	ObserveAppend func(time.Duration)
	// Stream is the stream's name; default "LEDGER".
	Stream string
	// Replicas is 1 on the embedded server, 3 (or 5) on a cluster.
	Replicas int
	// DuplicateWindow is how long JetStream remembers message ids to drop a
	// retried publish; default 2 minutes (JetStream's own default), longer
	// than any of the store's retries. A retry after it is still answered
	// right: every append carries its project's expected sequence, so a
	// retried append whose first try was stored fails that check and the
	// store finds its own events (findRetried). The window costs memory —
	// about 100 bytes per event published within it, 120 MB at 10,000 events/s —
	// which is why it is not longer. Idempotency keys of the HTTP API last
	// forever regardless: they are recorded in the events themselves.
	DuplicateWindow time.Duration
	// Source is the CloudEvents source of every event; default "urn:ledger".
	Source string
	// NoGroupCommit turns group commit off: every append is then published
	// on its own. With it on (the default), appends to different projects
	// that arrive together are committed as one JetStream atomic batch, one
	// fsync for all.
	NoGroupCommit bool
	// ReadOnly opens an existing stream as it is, creating and updating
	// nothing: what verify and export do, with the reader's identity, which
	// may not change streams.
	ReadOnly bool
}

func (c *Config) defaults() {
	if c.Stream == "" {
		c.Stream = "LEDGER"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	if c.Source == "" {
		c.Source = "urn:ledger"
	}
}

// Store appends to and reads from the ledger stream. It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	group  *groupCommit // nil when group commit is off
}

// StreamConfig returns the stream configuration the ledger requires: every
// event kept forever (no limits, discard new), message and stream purges and
// deletes denied, no rollups, atomic batches allowed, file storage.
func StreamConfig(cfg Config) jetstream.StreamConfig {
	cfg.defaults()
	return jetstream.StreamConfig{
		Name:               cfg.Stream,
		Description:        "Event-sourced ledger of publicly funded projects",
		Subjects:           []string{"ledger.*.*.*.*"},
		Retention:          jetstream.LimitsPolicy,
		MaxConsumers:       -1,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgsPerSubject:  -1,
		MaxMsgSize:         64 << 10, // CloudEvents intermediaries must forward 64 KiB
		Discard:            jetstream.DiscardNew,
		Storage:            jetstream.FileStorage,
		Replicas:           cfg.Replicas,
		Duplicates:         cfg.DuplicateWindow,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowRollup:        false,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
}

// Open connects the store to the stream on nc, creating it with
// StreamConfig(cfg) if it does not exist. An existing stream that lacks the
// immutability settings is updated to have them (JetStream never lets them be
// turned off again), and to the configured duplicate window (streams made
// before it was 2 minutes have 10); one that cannot be is an error.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Store, error) {
	cfg.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	want := StreamConfig(cfg)
	stream, err := js.Stream(ctx, cfg.Stream)
	switch {
	case cfg.ReadOnly && err != nil:
		return nil, fmt.Errorf("open event store: stream %s: %w", cfg.Stream, err)
	case cfg.ReadOnly:
	case errors.Is(err, jetstream.ErrStreamNotFound):
		stream, err = js.CreateStream(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("open event store: create stream %s: %w", cfg.Stream, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open event store: stream %s: %w", cfg.Stream, err)
	default:
		have := stream.CachedInfo().Config
		want.Replicas = have.Replicas
		switch {
		case !have.DenyDelete || !have.DenyPurge || have.AllowRollup || !have.AllowAtomicPublish || have.Discard != jetstream.DiscardNew ||
			have.MaxMsgsPerSubject != -1 || have.MaxAge != 0 || have.MaxMsgs != -1 || have.MaxBytes != -1:
			stream, err = js.UpdateStream(ctx, want)
			if err != nil {
				return nil, fmt.Errorf("open event store: stream %s lacks the ledger's immutability settings and cannot be updated: %w", cfg.Stream, err)
			}
		case have.Duplicates != want.Duplicates:
			// The window bounds JetStream's memory, not what is stored: a
			// stream this identity may not update keeps the one it has.
			uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if updated, err := js.UpdateStream(uctx, want); err == nil {
				stream = updated
			}
			cancel()
		}
	}
	st := &Store{cfg: cfg, nc: nc, js: js, stream: stream}
	if !cfg.NoGroupCommit && !cfg.ReadOnly {
		st.group = newGroupCommit(st)
	}
	return st, nil
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("event store is closed")

// Close stops the store's own work: appends queued for group commit are
// committed and answered, and Close returns when nothing it started is still
// running. Appends after Close fail with ErrClosed. It does not close the
// NATS connection, which belongs to the caller.
func (s *Store) Close() {
	if s.group != nil {
		s.group.close()
	}
}

// Stream returns the name of the stream.
func (s *Store) Stream() string { return s.cfg.Stream }

// Subject is the subject of an event: ledger.<city>.<county>.<project>.<event>.
func Subject(city, county domain.DivisionCode, id domain.ProjectID, e domain.Event) string {
	return "ledger." + string(city) + "." + string(county) + "." + string(id) + "." + domain.Name(e)
}

// Filter matches the subjects of a city, a county (county codes are unique,
// so the city is not needed with one), a project and an event name, each
// empty for any. With neither project nor event it takes the form region
// identities' permissions name: ledger.330600.>, ledger.*.330682.>.
func Filter(city, county string, project domain.ProjectID, event string) string {
	if project == "" && event == "" {
		switch {
		case county != "":
			return "ledger.*." + county + ".>"
		case city != "":
			return "ledger." + city + ".>"
		}
		return "ledger.>"
	}
	star := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	return "ledger." + star(city) + "." + star(county) + "." + star(string(project)) + "." + star(event)
}

// ProjectFilter matches every subject of one project, whatever its region.
func ProjectFilter(id domain.ProjectID) string { return "ledger.*.*." + string(id) + ".*" }

// Draft is an event to append, with what the envelope records about it.
type Draft struct {
	ID             string // UUID; also the Nats-Msg-Id that deduplicates a retried publish
	Event          domain.Event
	Time           time.Time // when it took effect
	Actor          domain.Actor
	CorrelationID  string
	CausationID    string
	IdempotencyKey string
	RequestDigest  string
	Signed         *Signed // the author's signature of the command, when it was signed
	// Rulebook is the version of the rules that decided the event; empty:
	// the current one (domain.CurrentRulebook).
	Rulebook string
}

// Signed is what the envelope records of a signed command.
type Signed struct {
	Signature, Base, KeyID, Key, Body string
}

// AppendRequest appends a command's events to one project.
type AppendRequest struct {
	Project      domain.ProjectID
	City, County domain.DivisionCode
	// Expected is the stream sequence of the project's last event (0 for a
	// project with none). The append fails with a *ConflictError when another
	// event of the project has been stored since.
	Expected uint64
	// PrevHash is the hash of the project's last event ("" for none).
	PrevHash string
	Events   []Draft
	// Recorded is the recording time (server clock); set by Append when zero.
	Recorded time.Time
}

// Stored is an event as it is on the stream.
type Stored struct {
	Seq      uint64
	Subject  string
	Raw      []byte // the exact stored bytes
	Envelope *Envelope
}

// Decode returns the domain event in the envelope.
func (s Stored) Decode() (domain.Event, error) {
	return domain.DecodeEvent(s.Envelope.EventType(), s.Envelope.Data)
}

// ConflictError is returned by Append when the project has moved past the
// expected sequence (JetStream error 10071, or 10164 on clustered streams).
type ConflictError struct {
	Project  domain.ProjectID
	Expected uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("append to project %s at sequence %d: another event was recorded first", e.Project, e.Expected)
}

// maxBatch is JetStream's limit of messages in one atomic batch.
const maxBatch = 1000

// Append stores req.Events atomically, after the project's last event, each
// carrying the hash of the one before it. It returns the stored events with
// their stream sequences. A retried append of the same drafts (same event ids)
// returns the events stored the first time, not a second copy. It returns a
// *ConflictError when req.Expected is stale.
func (s *Store) Append(ctx context.Context, req AppendRequest) ([]Stored, error) {
	if s.cfg.ObserveAppend != nil {
		defer func(t0 time.Time) { s.cfg.ObserveAppend(time.Since(t0)) }(time.Now())
	}
	n := len(req.Events)
	if n == 0 || n > maxBatch {
		return nil, fmt.Errorf("append %d events to project %s: want 1 to %d", n, req.Project, maxBatch)
	}
	if s.cfg.ReadOnly {
		return nil, fmt.Errorf("append to project %s: the event store was opened read-only", req.Project)
	}
	if req.Recorded.IsZero() {
		req.Recorded = time.Now().UTC()
	}
	msgs, out, err := s.messages(req)
	if err != nil {
		return nil, err
	}
	if s.group != nil && n <= maxGroupedMsgs {
		return s.group.submit(ctx, req, msgs, out)
	}
	return s.commit(ctx, req, msgs, out)
}

// messages seals req's events into the messages that carry them, the first
// with the project's expected sequence, and the Stored they will be.
func (s *Store) messages(req AppendRequest) ([]*nats.Msg, []Stored, error) {
	n := len(req.Events)
	msgs := make([]*nats.Msg, n)
	out := make([]Stored, n)
	prev := req.PrevHash
	for i, d := range req.Events {
		data, err := json.Marshal(d.Event)
		if err != nil {
			return nil, nil, fmt.Errorf("append to project %s: encode %s: %w", req.Project, d.Event.EventType(), err)
		}
		env := &Envelope{
			SpecVersion: "1.0", ID: d.ID, Source: s.cfg.Source, Type: TypePrefix + d.Event.EventType(),
			Subject: string(req.Project), Time: d.Time, DataContentType: "application/json",
			RecordedTime: req.Recorded, Actor: d.Actor.Name, ActorRole: string(d.Actor.Role), ActorID: d.Actor.ID, ActorOrg: d.Actor.Org,
			CorrelationID: d.CorrelationID, CausationID: d.CausationID, IdempotencyKey: d.IdempotencyKey,
			RequestDigest: d.RequestDigest, Rulebook: d.Rulebook, PrevHash: prev, Data: data,
		}
		if env.Rulebook == "" {
			env.Rulebook = domain.CurrentRulebook().VersionString()
		}
		if d.Signed != nil {
			env.Signature, env.SignatureBase, env.SignatureKeyID, env.SignatureKey, env.SignedBody = d.Signed.Signature, d.Signed.Base, d.Signed.KeyID, d.Signed.Key, d.Signed.Body
		}
		raw, h, err := seal(env)
		if err != nil {
			return nil, nil, fmt.Errorf("append to project %s: encode envelope: %w", req.Project, err)
		}
		prev = h
		subj := Subject(req.City, req.County, req.Project, d.Event)
		m := nats.NewMsg(subj)
		m.Data = raw
		m.Header.Set(jetstream.MsgIDHeader, d.ID)
		m.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
		if i == 0 {
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(req.Expected, 10))
			m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, ProjectFilter(req.Project))
		}
		msgs[i] = m
		out[i] = Stored{Subject: subj, Raw: raw, Envelope: env}
	}
	return msgs, out, nil
}

// commit publishes one append's messages on their own: one message, or one
// atomic batch, carrying the project's expected sequence.
func (s *Store) commit(ctx context.Context, req AppendRequest, msgs []*nats.Msg, out []Stored) ([]Stored, error) {
	n := len(msgs)
	var ack *jetstream.PubAck
	var err error
	if n == 1 {
		ack, err = s.js.PublishMsg(ctx, msgs[0])
	} else {
		ack, err = s.publishBatch(ctx, msgs)
	}
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant || apiErr.ErrorCode == 10201) {
			// A retried append whose first try was stored meets its own events.
			if stored, ok := s.findRetried(ctx, req); ok {
				return stored, nil
			}
			return nil, &ConflictError{Project: req.Project, Expected: req.Expected}
		}
		return nil, fmt.Errorf("append %d events to project %s at sequence %d: %w", n, req.Project, req.Expected, err)
	}
	if ack.Duplicate {
		if stored, ok := s.findRetried(ctx, req); ok {
			return stored, nil
		}
		return nil, fmt.Errorf("append to project %s: event %s is a duplicate of sequence %d of another project", req.Project, req.Events[0].ID, ack.Sequence)
	}
	for i := range out {
		out[i].Seq = ack.Sequence - uint64(n-1-i)
	}
	return out, nil
}

// publishBatch publishes msgs as one JetStream atomic batch and returns the
// acknowledgement of its commit, leaving msgs as they were, so that they can
// be published again on their own.
func (s *Store) publishBatch(ctx context.Context, msgs []*nats.Msg) (*jetstream.PubAck, error) {
	return PublishAtomicBatch(ctx, s.nc, s.js, msgs)
}

// PublishAtomicBatch publishes msgs (at most 1,000) as one JetStream atomic
// batch — all stored or none — and returns the acknowledgement of its commit.
// It sets the batch headers on copies of msgs.
func PublishAtomicBatch(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, msgs []*nats.Msg) (*jetstream.PubAck, error) {
	id := nuid.Next()
	for i, orig := range msgs {
		m := nats.NewMsg(orig.Subject)
		m.Data = orig.Data
		for k, v := range orig.Header {
			m.Header[k] = append([]string(nil), v...)
		}
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i == len(msgs)-1 {
			m.Header.Set("Nats-Batch-Commit", "1")
			return js.PublishMsg(ctx, m)
		}
		if err := nc.PublishMsg(m); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("publish an atomic batch: no messages")
}

// findRetried looks after req.Expected for the events of req, stored by an
// earlier try of the same append.
func (s *Store) findRetried(ctx context.Context, req AppendRequest) ([]Stored, bool) {
	after, err := s.load(ctx, req.Project, req.Expected+1)
	if err != nil || len(after) < len(req.Events) {
		return nil, false
	}
	for i, d := range req.Events {
		if after[i].Envelope.ID != d.ID {
			return nil, false
		}
	}
	return after[:len(req.Events)], true
}

// Load returns the project's events in stream order, each checked against its
// hash. A project without events has an empty history, not an error.
func (s *Store) Load(ctx context.Context, id domain.ProjectID) ([]Stored, error) {
	return s.load(ctx, id, 1)
}

func (s *Store) load(ctx context.Context, id domain.ProjectID, from uint64) ([]Stored, error) {
	// JetStream's batched direct get: no consumer to create and delete, one
	// request per 256 events of the project, answered from the store's
	// subject index.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	inbox := s.nc.NewRespInbox()
	replies := make(chan *nats.Msg, 300) // a batch and its end marker
	sub, err := s.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nil, fmt.Errorf("load project %s: %w", id, err)
	}
	defer sub.Unsubscribe()
	var out []Stored
	seq := from
	for {
		req, _ := json.Marshal(directGet{Seq: seq, NextFor: ProjectFilter(id), Batch: 256})
		if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+s.cfg.Stream, inbox, req); err != nil {
			return nil, fmt.Errorf("load project %s: %w", id, err)
		}
	batch:
		for {
			var m *nats.Msg
			select {
			case m = <-replies:
			case <-ctx.Done():
				return nil, fmt.Errorf("load project %s: %w", id, ctx.Err())
			}
			switch m.Header.Get("Status") {
			case "":
			case "404": // nothing (more) for the project
				return out, nil
			case "204": // the end of a batch, and how many match after it
				if m.Header.Get("Nats-Num-Pending") == "0" || len(out) == 0 {
					return out, nil
				}
				seq = out[len(out)-1].Seq + 1
				break batch
			default:
				return nil, fmt.Errorf("load project %s: direct get: %s %s", id, m.Header.Get("Status"), m.Header.Get("Description"))
			}
			n, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("load project %s: direct get without a sequence: %w", id, err)
			}
			env, err := Parse(m.Data)
			if err != nil {
				return nil, fmt.Errorf("load project %s: sequence %d: %w", id, n, err)
			}
			out = append(out, Stored{Seq: n, Subject: m.Header.Get(jetstream.SubjectHeader), Raw: m.Data, Envelope: env})
		}
	}
}

// LastOf returns the stream sequence of the project's last event, or 0 when
// it has none: one direct get of the last message on its subjects.
func (s *Store) LastOf(ctx context.Context, id domain.ProjectID) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	req, _ := json.Marshal(directGet{LastFor: ProjectFilter(id)})
	m, err := s.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+s.cfg.Stream, req)
	if err != nil {
		return 0, fmt.Errorf("last event of project %s: %w", id, err)
	}
	switch m.Header.Get("Status") {
	case "":
	case "404":
		return 0, nil
	default:
		return 0, fmt.Errorf("last event of project %s: direct get: %s %s", id, m.Header.Get("Status"), m.Header.Get("Description"))
	}
	n, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("last event of project %s: direct get without a sequence: %w", id, err)
	}
	return n, nil
}

// directGet is a request of JetStream's direct get API.
type directGet struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	Batch   int    `json:"batch,omitempty"`
}

// LastSequence returns the stream's last sequence (0 when it is empty). It
// asks the stream itself (a batched direct get of its first message, which
// says how many follow) rather than the JetStream API, whose queue can be
// long while consumers are created; the stream never deletes, so its last
// sequence is that first message's plus the number after it.
func (s *Store) LastSequence(ctx context.Context) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	inbox := s.nc.NewRespInbox()
	replies := make(chan *nats.Msg, 4)
	sub, err := s.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return 0, fmt.Errorf("stream %s: last sequence: %w", s.cfg.Stream, err)
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(directGet{Seq: 1, NextFor: "ledger.>", Batch: 1})
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+s.cfg.Stream, inbox, req); err != nil {
		return 0, fmt.Errorf("stream %s: last sequence: %w", s.cfg.Stream, err)
	}
	select {
	case m := <-replies:
		switch m.Header.Get("Status") {
		case "404":
			return 0, nil
		case "":
			seq, err1 := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			pending, err2 := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			if err1 == nil && err2 == nil {
				return seq + pending, nil
			}
		}
	case <-ctx.Done():
		return 0, fmt.Errorf("stream %s: last sequence: %w", s.cfg.Stream, ctx.Err())
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", s.cfg.Stream, err)
	}
	return info.State.LastSeq, nil
}

// Info returns the stream's current information.
func (s *Store) Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	return s.stream.Info(ctx, opts...)
}

// ReadOptions selects what Read delivers.
type ReadOptions struct {
	// From is the first stream sequence to deliver (0 and 1 both mean the start).
	From uint64
	// Until, when non-zero, is the last sequence to deliver.
	Until uint64
	// Filter restricts delivery to matching subjects ("" for all).
	Filter string
	// Follow keeps reading new events as they are stored until ctx ends;
	// otherwise Read returns once it has delivered the events stored when it began.
	Follow bool
	// Raw delivers the stored bytes without decoding or checking them
	// (Envelope is nil): for verifiers that check and report themselves.
	Raw bool
	// Window is how many messages the reader pulls ahead (default 1000);
	// a feed that waits on a slow client keeps it small.
	Window int
}

// maxFilter bounds a subject filter: a consumer's create request carries it
// in its subject, and NATS closes a connection whose control line exceeds
// 4,096 bytes.
const maxFilter = 512

// CorruptError is returned by Read for a stored event that is not a
// well-formed CloudEvent or whose bytes do not match its hash.
type CorruptError struct {
	Stream string
	Seq    uint64
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("read stream %s: sequence %d: %v", e.Stream, e.Seq, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrStopRead may be returned by Read's callback to end the read without error.
var ErrStopRead = errors.New("stop reading")

// Read delivers events in stream order to fn, one at a time, each checked
// against its hash. It returns fn's error (nil for ErrStopRead), ctx's error
// when following, a *CorruptError for an event that does not parse or
// match its hash, or another read error.
func (s *Store) Read(ctx context.Context, o ReadOptions, fn func(Stored) error) error {
	if len(o.Filter) > maxFilter {
		return fmt.Errorf("read stream %s: the filter is %d bytes, more than %d", s.cfg.Stream, len(o.Filter), maxFilter)
	}
	window := o.Window
	if window <= 0 {
		window = 1000
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: 30 * time.Second}
	if o.Filter != "" {
		cfg.FilterSubjects = []string{o.Filter}
	}
	if o.From > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.From
	}
	cons, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read stream %s from %d: %w", s.cfg.Stream, o.From, err)
	}
	if !o.Follow && cons.CachedInfo().NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(window))
	if err != nil {
		return fmt.Errorf("read stream %s from %d: %w", s.cfg.Stream, o.From, err)
	}
	defer it.Stop()
	// Three stages, so that the cores share the work: one goroutine receives
	// messages and cuts them into chunks (a chunk ends when it is full or
	// nothing more is pending, so a follower waits for no one); parsers check
	// and decode the chunks in parallel; the caller applies them in stream
	// order.
	type item struct {
		s    Stored
		last bool
		err  error
	}
	type chunk struct {
		items []item
		done  chan struct{}
	}
	const chunkSize = 64
	parsers := min(max(runtime.GOMAXPROCS(0), 1), 4)
	order := make(chan *chunk, 2*parsers+2) // chunks in stream order, for the caller
	work := make(chan *chunk, 2*parsers+2)  // chunks to parse
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range parsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for i := range c.items {
					x := &c.items[i]
					if x.err == nil && !o.Raw {
						env, err := Parse(x.s.Raw)
						if err != nil {
							x.err = &CorruptError{Stream: s.cfg.Stream, Seq: x.s.Seq, Err: err}
						}
						x.s.Envelope = env
					}
				}
				close(c.done)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		cur := &chunk{done: make(chan struct{})}
		flush := func() bool {
			if len(cur.items) == 0 {
				return true
			}
			c := cur
			cur = &chunk{done: make(chan struct{})}
			select {
			case order <- c:
			case <-pctx.Done():
				return false
			}
			select {
			case work <- c:
				return true
			case <-pctx.Done():
				close(c.done) // the caller is gone; nothing waits for it
				return false
			}
		}
		fail := func(err error) {
			cur.items = append(cur.items, item{err: err})
			flush()
		}
		for {
			m, err := it.Next(jetstream.NextContext(pctx))
			if err != nil {
				if pctx.Err() == nil {
					fail(fmt.Errorf("read stream %s: %w", s.cfg.Stream, err))
				}
				return
			}
			meta, err := m.Metadata()
			if err != nil {
				fail(fmt.Errorf("read stream %s: %w", s.cfg.Stream, err))
				return
			}
			seq := meta.Sequence.Stream
			if o.Until != 0 && seq > o.Until {
				flush()
				return
			}
			last := !o.Follow && (meta.NumPending == 0 || (o.Until != 0 && seq >= o.Until))
			cur.items = append(cur.items, item{s: Stored{Seq: seq, Subject: m.Subject(), Raw: m.Data()}, last: last})
			if last {
				flush()
				return
			}
			if len(cur.items) == chunkSize || meta.NumPending == 0 {
				if !flush() {
					return
				}
			}
		}
	}()
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, x := range c.items {
			// Once ctx ends nothing more is handed over: a chunk the reader
			// abandoned then has its done closed without being parsed, and
			// the select above may take it.
			if err := ctx.Err(); err != nil {
				return err
			}
			if x.err != nil {
				return x.err
			}
			if err := fn(x.s); err != nil {
				if errors.Is(err, ErrStopRead) {
					return nil
				}
				return err
			}
			if x.last {
				return nil
			}
		}
	}
	return ctx.Err()
}

// Get returns the event at stream sequence seq, checked against its hash.
func (s *Store) Get(ctx context.Context, seq uint64) (Stored, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return Stored{}, fmt.Errorf("get sequence %d of stream %s: %w", seq, s.cfg.Stream, err)
	}
	env, err := Parse(m.Data)
	if err != nil {
		return Stored{}, fmt.Errorf("get sequence %d of stream %s: %w", seq, s.cfg.Stream, err)
	}
	return Stored{Seq: m.Sequence, Subject: m.Subject, Raw: m.Data, Envelope: env}, nil
}

// IsStorageFull reports whether err is JetStream refusing a write for want
// of room: its store limit reached, or the disk under it full.
func IsStorageFull(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10023, 10047, 10028: // insufficient resources; storage resources exceeded; memory resources exceeded
			return true
		}
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "no space left") || strings.Contains(msg, "insufficient storage") ||
		strings.Contains(msg, "insufficient resources") || strings.Contains(msg, "resource limits exceeded") ||
		strings.Contains(msg, "maximum bytes exceeded")
}
