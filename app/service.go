// Package app runs commands: it loads a project's history from the event
// store, folds it, lets the domain decide, and appends the events with the
// project's expected sequence, retrying on a concurrent write when the caller
// did not pin a version.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
)

// Store is what the service needs from the event store.
type Store interface {
	Load(ctx context.Context, id domain.ProjectID) ([]eventstore.Stored, error)
	Append(ctx context.Context, req eventstore.AppendRequest) ([]eventstore.Stored, error)
	// LastOf returns the stream sequence of the project's last event (0
	// for none) without reading its history.
	LastOf(ctx context.Context, id domain.ProjectID) (uint64, error)
}

var _ Store = (*eventstore.Store)(nil)

// Service runs commands against projects. It is safe for concurrent use.
// It keeps the folded state of recently used projects, checked on every
// append by the project's expected sequence, so that a command reads a
// project's history from the stream only when another process wrote to it.
type Service struct {
	store    Store
	now      func() time.Time
	cache    *cache
	gate     *Gate
	fourEyes domain.Fen
}

// SetFourEyes makes disbursements above amount (fen) need a second finance
// user's approval: they are prepared, and paid on approval. 0 turns it off.
func (s *Service) SetFourEyes(amount domain.Fen) { s.fourEyes = amount }

// CachedProjects is how many projects' folded states a Service keeps, and
// CachedBytes the most bytes (estimated) they may hold together.
const (
	CachedProjects = 10_000
	CachedBytes    = 64 << 20
)

// New returns a service on store; now is the clock (time.Now when nil).
func New(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now, cache: newCache(CachedProjects, CachedBytes), gate: NewGate()}
}

// Gate returns the gate every command passes: closed, it refuses them all.
func (s *Service) Gate() *Gate { return s.gate }

// Request is one command for one project.
type Request struct {
	Project domain.ProjectID // ignored for registration, whose command carries the id
	Command domain.Command
	Actor   domain.Actor
	// IfMatch, when set, is the project's version (its last stream sequence)
	// the caller decided on; a project that has moved on fails with
	// *PreconditionError. When nil, a concurrent write makes the service
	// reload and decide again.
	IfMatch *uint64
	// IdempotencyKey, when set, makes a retry of the same request return the
	// events of the first one, for the life of the project. RequestDigest
	// fingerprints the request, so that a key reused for another request fails
	// with ErrIdempotencyKeyReused.
	IdempotencyKey string
	RequestDigest  string
	CorrelationID  string
	CausationID    string
	// Signed, when set, is the author's signature of the request, recorded
	// on the command's events.
	Signed *eventstore.Signed
	// Scope, when set, says whether the actor may act on a project in city
	// and county owned by an organisation that has borne the names owners
	// (at application, and after each approved rename); its error (a
	// *domain.Error of kind KindForbidden) refuses the command before
	// anything is decided.
	Scope func(city, county domain.DivisionCode, owners []string) error
}

// Result is what a command recorded.
type Result struct {
	Project domain.ProjectID
	Events  []eventstore.Stored
	// Version is the project's last stream sequence after the command: its ETag.
	Version uint64
	// Replayed is true when the result is that of an earlier request with the
	// same idempotency key.
	Replayed bool
}

// PreconditionError is returned when the project's version is not IfMatch.
type PreconditionError struct {
	Project  domain.ProjectID
	Expected uint64
	Actual   uint64
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("project %s is at version %d, not %d", e.Project, e.Actual, e.Expected)
}

// ErrIdempotencyKeyReused is returned when an idempotency key comes back with a different request.
var ErrIdempotencyKeyReused = errors.New("idempotency key was used for a different request")

// ErrBusy is returned when concurrent writers kept moving the project for every retry.
var ErrBusy = errors.New("project kept changing under concurrent writes")

// idempotencyNS is the UUID namespace of ids derived from idempotency keys.
var idempotencyNS = uuid.MustParse("6f1c2a55-3d0e-4b7e-9a4f-2f8d7c1e0b9a")

// RegistrationID returns the project id a registration without an id gets:
// derived from the idempotency key when there is one (so a retry names the
// same project), a new UUIDv7 otherwise.
func RegistrationID(actor domain.Actor, key string) domain.ProjectID {
	if key != "" {
		return domain.ProjectID(uuid.NewSHA1(idempotencyNS, []byte("register\x00"+actorKey(actor.Name, actor.ID)+"\x00"+key)).String())
	}
	return domain.ProjectID(uuid.Must(uuid.NewV7()).String())
}

const maxAttempts = 8

// Handle runs one command. It returns the domain's refusal (*domain.Error), a
// *PreconditionError, ErrIdempotencyKeyReused, ErrBusy, or a store error.
// Nothing is written unless the whole command is.
func (s *Service) Handle(ctx context.Context, req Request) (Result, error) {
	id := req.Project
	if reg, ok := req.Command.(*domain.RegisterProject); ok {
		if reg.ID == "" {
			reg.ID = RegistrationID(req.Actor, req.IdempotencyKey)
		}
		id = reg.ID
	}
	if err := id.Validate("id"); err != nil {
		return Result{}, err
	}
	if err := s.gate.Err(); err != nil {
		return Result{}, err
	}
	if d, ok := req.Command.(*domain.Disburse); ok {
		d.FourEyesAbove = s.fourEyes
	}
	if err := domain.CheckBounds(req.Command); err != nil {
		return Result{}, err
	}
	if err := domain.CheckText("actor", req.Actor.Name, 200, false); err != nil {
		return Result{}, err
	}
	agg := s.cache.get(id)
	agg.mu.Lock()
	defer func() {
		size := agg.size()
		agg.mu.Unlock()
		s.cache.resize(id, size)
	}()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		fresh := !agg.valid // read from the stream in this attempt
		if fresh {
			hist, err := s.store.Load(ctx, id)
			if err != nil {
				return Result{}, err
			}
			if err := agg.load(id, hist); err != nil {
				return Result{}, err
			}
		}
		if req.IdempotencyKey != "" {
			if found, ok := agg.keys[idemKey(actorKey(req.Actor.Name, req.Actor.ID), req.IdempotencyKey)]; ok {
				if found.digest != digestOf(req.RequestDigest) {
					return Result{}, fmt.Errorf("project %s, key %q: %w", id, req.IdempotencyKey, ErrIdempotencyKeyReused)
				}
				evs, err := s.replayed(ctx, id, found)
				if err != nil {
					return Result{}, err
				}
				return Result{Project: id, Events: evs, Version: agg.last, Replayed: true}, nil
			}
		}
		if req.Scope != nil {
			city, county := agg.p.Region()
			owners := agg.p.OwnerNames() // without building the whole View on every command
			if reg, ok := req.Command.(*domain.RegisterProject); ok && !agg.p.Exists() {
				city, county, owners = reg.City, reg.County, []string{reg.Owner}
			}
			if agg.p.Exists() || req.Command.CommandName() == "register" {
				if err := req.Scope(city, county, owners); err != nil {
					return Result{}, err
				}
			}
		}
		if req.IfMatch != nil && *req.IfMatch != agg.last {
			if !fresh { // the cache may trail the stream: answer from the stream
				agg.valid = false
				continue
			}
			return Result{}, &PreconditionError{Project: id, Expected: *req.IfMatch, Actual: agg.last}
		}
		evs, err := agg.p.Decide(req.Command, req.Actor, s.now())
		if err != nil {
			if !fresh && !errors.Is(err, domain.ErrInvalid) && !errors.Is(err, domain.ErrForbidden) {
				// Refused on cached state: it is the stream's state that must
				// refuse, not a stale copy of it. One look at the project's
				// last sequence says whether the copy is current (another
				// process may have written); only then is its history read.
				last, lerr := s.store.LastOf(ctx, id)
				if lerr != nil {
					return Result{}, lerr
				}
				if last != agg.last {
					agg.valid = false
					continue
				}
			}
			return Result{}, err
		}
		city, county := agg.p.Region()
		if reg, ok := req.Command.(*domain.RegisterProject); ok {
			city, county = reg.City, reg.County
		}
		drafts := make([]eventstore.Draft, len(evs))
		for i, e := range evs {
			drafts[i] = eventstore.Draft{
				ID: eventID(req, id, i), Event: e, Time: req.Command.EffectiveAt(), Actor: req.Actor,
				CorrelationID: req.CorrelationID, CausationID: req.CausationID,
				IdempotencyKey: req.IdempotencyKey, RequestDigest: req.RequestDigest, Signed: req.Signed,
				Rulebook: domain.CurrentRulebook().VersionString(),
			}
		}
		stored, err := s.store.Append(ctx, eventstore.AppendRequest{
			Project: id, City: city, County: county, Expected: agg.last, PrevHash: agg.prev, Events: drafts,
			Recorded: s.now().UTC(),
		})
		var ce *eventstore.ConflictError
		if errors.As(err, &ce) {
			// Another process wrote: reload, then with IfMatch report the
			// version that won; without, decide again on the new state.
			agg.valid = false
			continue
		}
		if err != nil {
			agg.valid = false // the append may or may not have been stored
			return Result{}, err
		}
		for i, st := range stored {
			agg.p.ApplyBy(evs[i], req.Command.EffectiveAt(), req.Actor)
			agg.record(st)
		}
		return Result{Project: id, Events: stored, Version: agg.last}, nil
	}
	return Result{}, fmt.Errorf("run %s on project %s: %w", req.Command.CommandName(), id, ErrBusy)
}

// replayed reads back the events an idempotency key recorded.
func (s *Service) replayed(ctx context.Context, id domain.ProjectID, k keyRef) ([]eventstore.Stored, error) {
	hist, err := s.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []eventstore.Stored
	for _, h := range hist {
		if h.Seq >= k.first && len(out) < int(k.n) {
			out = append(out, h)
		}
	}
	if len(out) != int(k.n) {
		return nil, fmt.Errorf("project %s: the %d events of a replayed request are not all on the stream from sequence %d", id, k.n, k.first)
	}
	return out, nil
}

// eventID is a new UUIDv7, or, with an idempotency key, a UUID derived from
// the key, the actor, the project and the event's place in the command, so
// that a retried publish carries the same Nats-Msg-Id.
func eventID(req Request, id domain.ProjectID, i int) string {
	if req.IdempotencyKey == "" {
		return uuid.Must(uuid.NewV7()).String()
	}
	return uuid.NewSHA1(idempotencyNS, []byte(fmt.Sprintf("%s\x00%s\x00%s\x00%d", actorKey(req.Actor.Name, req.Actor.ID), id, req.IdempotencyKey, i))).String()
}

// Fold decodes a project's stored history and folds it into the aggregate.
// An event that does not decode is an error naming its sequence.
func Fold(id domain.ProjectID, hist []eventstore.Stored) (*domain.Project, error) {
	p := domain.NewProject(id)
	for _, h := range hist {
		e, err := h.Decode()
		if err != nil {
			return nil, fmt.Errorf("fold project %s: sequence %d: %w", id, h.Seq, err)
		}
		p.ApplyBy(e, h.Envelope.Time, domain.Actor{Name: h.Envelope.Actor, Role: domain.Role(h.Envelope.ActorRole), ID: h.Envelope.ActorID, Org: h.Envelope.ActorOrg})
	}
	return p, nil
}

// Project returns the current state of a project and its version (last
// stream sequence). It returns a *domain.Error of kind KindNotFound for a
// project without events.
func (s *Service) Project(ctx context.Context, id domain.ProjectID) (domain.View, uint64, error) {
	hist, err := s.History(ctx, id)
	if err != nil {
		return domain.View{}, 0, err
	}
	p, err := Fold(id, hist)
	if err != nil {
		return domain.View{}, 0, err
	}
	return p.View(), hist[len(hist)-1].Seq, nil
}

// History returns a project's events as stored, in order, or a *domain.Error
// of kind KindNotFound when it has none.
func (s *Service) History(ctx context.Context, id domain.ProjectID) ([]eventstore.Stored, error) {
	if err := id.Validate("id"); err != nil {
		return nil, err
	}
	hist, err := s.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(hist) == 0 {
		return nil, &domain.Error{Kind: domain.KindNotFound, Code: domain.CodeNotFound, Project: id, Msg: "no such project"}
	}
	return hist, nil
}
