// Package identity keeps the ledger's users and their tokens in the ledger's
// own NATS store (two KV buckets) and authenticates requests: who acts, in
// which roles, over which region, and for owners which organisation's
// projects. Tokens are random, shown once, and kept only as SHA-256 hashes,
// with an expiry and a revocation; every change is watched, so that a
// revoked token or a disabled user is refused at once by every process.
package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/domain"
)

// RoleAdmin manages users and webhooks and may read everything; it records
// no lifecycle step.
const RoleAdmin = "admin"

// Province is the region of a user who sees the whole province.
const Province = "province"

// User is a person or an office that acts on the ledger.
type User struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Org      string   `json:"org"`
	Roles    []string `json:"roles"`
	Region   string   `json:"region"`              // "province", a city code (330600) or a county code (330682)
	Owner    string   `json:"owner_org,omitempty"` // for owners: the organisation whose projects they act on
	Disabled bool     `json:"disabled,omitempty"`
	// Keys are the Ed25519 public keys the user signs commands with (HTTP
	// Message Signatures), kept with when they were added and revoked, so
	// that a signature is checked against the key as it was then.
	Keys    []Key     `json:"keys,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Has reports whether u holds role.
func (u *User) Has(role string) bool { return slices.Contains(u.Roles, role) }

// DomainRoles returns the lifecycle roles of u (all but admin).
func (u *User) DomainRoles() []domain.Role {
	var out []domain.Role
	for _, r := range u.Roles {
		if r != RoleAdmin {
			out = append(out, domain.Role(r))
		}
	}
	return out
}

// SeesAll reports whether u may read every region: the province, the NDRC,
// auditors and admins with a province-wide region.
func (u *User) SeesAll() bool { return u.Region == Province }

// ErrInvalid is returned (wrapped) for a user or token request that is not acceptable.
var ErrInvalid = errors.New("invalid")

// ErrNotFound is returned (wrapped) for an unknown user or token.
var ErrNotFound = errors.New("not found")

// Validate checks a user's fields.
func (u *User) Validate() error {
	if len(u.ID) == 0 || len(u.ID) > 64 || strings.Trim(u.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return fmt.Errorf("%w: id: 1–64 ASCII letters, digits, '-' or '_'", ErrInvalid)
	}
	if err := domain.CheckText("name", u.Name, 200, false); err != nil || strings.TrimSpace(u.Name) == "" {
		return fmt.Errorf("%w: name: 1–200 bytes of text", ErrInvalid)
	}
	if err := domain.CheckText("org", u.Org, 200, false); err != nil {
		return fmt.Errorf("%w: org: %v", ErrInvalid, err)
	}
	if len(u.Roles) == 0 {
		return fmt.Errorf("%w: roles: at least one of %v or %s", ErrInvalid, domain.Roles, RoleAdmin)
	}
	for _, r := range u.Roles {
		if r != RoleAdmin && !domain.Role(r).Valid() {
			return fmt.Errorf("%w: roles: %q is not one of %v or %s", ErrInvalid, r, domain.Roles, RoleAdmin)
		}
	}
	switch {
	case u.Region == Province:
	case len(u.Region) == 6 && strings.Trim(u.Region, "0123456789") == "" && !strings.HasSuffix(u.Region, "0000"):
	default:
		return fmt.Errorf("%w: region: %q is not %q, a city code (330600) or a county code (330682)", ErrInvalid, u.Region, Province)
	}
	if u.Has(string(domain.RoleOwner)) && strings.TrimSpace(u.Owner) == "" {
		return fmt.Errorf("%w: owner_org: an owner acts for one organisation; name it", ErrInvalid)
	}
	if u.Owner != "" {
		if err := domain.CheckText("owner_org", u.Owner, 200, false); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return nil
}

// InRegion reports whether a project in city and county lies in u's region.
func (u *User) InRegion(city, county string) bool {
	switch {
	case u.Region == Province:
		return true
	case strings.HasSuffix(u.Region, "00"):
		return city == u.Region
	}
	return county == u.Region
}

// Key is a user's Ed25519 public key for signed commands.
type Key struct {
	ID      string     `json:"key_id"`
	Public  string     `json:"public_key"` // base64 of the 32 bytes
	Added   time.Time  `json:"added"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// KeyAt returns the user's key id as it was at t: added before t and not
// revoked by then.
func (u *User) KeyAt(id string, t time.Time) (ed25519.PublicKey, error) {
	for _, k := range u.Keys {
		if k.ID != id {
			continue
		}
		if t.Before(k.Added) {
			return nil, fmt.Errorf("%w: key %s of user %s was added at %s, after %s", ErrNotFound, id, u.ID, k.Added.Format(time.RFC3339), t.Format(time.RFC3339))
		}
		if k.Revoked != nil && !t.Before(*k.Revoked) {
			return nil, fmt.Errorf("%w: key %s of user %s was revoked at %s", ErrNotFound, id, u.ID, k.Revoked.Format(time.RFC3339))
		}
		b, err := base64.StdEncoding.DecodeString(k.Public)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key %s of user %s is not an Ed25519 public key", id, u.ID)
		}
		return ed25519.PublicKey(b), nil
	}
	return nil, fmt.Errorf("%w: user %s has no key %q", ErrNotFound, u.ID, id)
}

// Token is a stored token: its hash, never the token itself.
type Token struct {
	ID      string     `json:"id"` // the first 16 hex digits of the hash: names the token in lists and revocations
	Hash    string     `json:"hash"`
	User    string     `json:"user"`
	Label   string     `json:"label,omitempty"`
	Created time.Time  `json:"created"`
	Expires time.Time  `json:"expires"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// TokenPrefix starts every token the ledger issues.
const TokenPrefix = "lgr_"

// MinTokenLen is the shortest token accepted from an operator (--users-file,
// LEDGER_ADMIN_TOKEN): 32 characters after any prefix.
const MinTokenLen = 32

// NewToken returns a random token: 160 bits, base32.
func NewToken() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashToken is the stored form of a token.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

const (
	usersBucket  = "LEDGER_USERS"
	tokensBucket = "LEDGER_TOKENS"
)

// Directory is the user directory.
type Directory struct {
	users, tokens jetstream.KeyValue
	now           func() time.Time

	mu       sync.RWMutex // guards byID, byHash
	byID     map[string]*User
	byHash   map[string]*Token
	loaded   chan struct{} // closed once both watches have delivered what was stored
	stop     context.CancelFunc
	done     sync.WaitGroup
	watchErr error
}

// Open opens (creating) the directory's buckets on nc and starts watching
// them; Close stops the watches.
func Open(ctx context.Context, nc *nats.Conn, replicas int) (*Directory, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if replicas <= 0 {
		replicas = 1
	}
	open := func(name, desc string) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: desc, Storage: jetstream.FileStorage,
			History: 10, Replicas: replicas})
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", name, err)
		}
		return kv, nil
	}
	d := &Directory{now: time.Now, byID: map[string]*User{}, byHash: map[string]*Token{}, loaded: make(chan struct{})}
	if d.users, err = open(usersBucket, "the ledger's users"); err != nil {
		return nil, err
	}
	if d.tokens, err = open(tokensBucket, "the hashes of the users' tokens"); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	uw, err := d.users.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, err
	}
	tw, err := d.tokens.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, err
	}
	var ready sync.WaitGroup
	ready.Add(2)
	d.done.Add(2)
	go d.watch(wctx, uw, &ready, func(k string, v []byte) {
		if v == nil {
			delete(d.byID, k)
			return
		}
		var u User
		if json.Unmarshal(v, &u) == nil {
			d.byID[k] = &u
		}
	})
	go d.watch(wctx, tw, &ready, func(k string, v []byte) {
		if v == nil {
			delete(d.byHash, k)
			return
		}
		var t Token
		if json.Unmarshal(v, &t) == nil {
			d.byHash[k] = &t
		}
	})
	go func() { ready.Wait(); close(d.loaded) }()
	select {
	case <-d.loaded:
	case <-ctx.Done():
		d.Close()
		return nil, ctx.Err()
	}
	return d, nil
}

func (d *Directory) watch(ctx context.Context, w jetstream.KeyWatcher, ready *sync.WaitGroup, apply func(string, []byte)) {
	defer d.done.Done()
	defer func() { _ = w.Stop() }()
	once := sync.OnceFunc(ready.Done)
	defer once()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // what was stored has been delivered
				once()
				continue
			}
			d.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				apply(e.Key(), e.Value())
			} else {
				apply(e.Key(), nil)
			}
			d.mu.Unlock()
		}
	}
}

// Close stops watching.
func (d *Directory) Close() {
	d.stop()
	d.done.Wait()
}

// Empty reports whether the directory has no user.
func (d *Directory) Empty() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.byID) == 0
}

// Users returns every user, by id.
func (d *Directory) Users() []User {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]User, 0, len(d.byID))
	for _, u := range d.byID {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// User returns one user.
func (d *Directory) User(id string) (User, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if u := d.byID[id]; u != nil {
		return *u, nil
	}
	return User{}, fmt.Errorf("%w: no user %q", ErrNotFound, id)
}

// Tokens returns a user's tokens (their hashes and ids, never the tokens).
func (d *Directory) Tokens(user string) []Token {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Token
	for _, t := range d.byHash {
		if t.User == user {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b Token) int { return a.Created.Compare(b.Created) })
	return out
}

// Add stores a new user; it fails for an id that exists.
func (d *Directory) Add(ctx context.Context, u User) (User, error) {
	if err := u.Validate(); err != nil {
		return User{}, err
	}
	u.Created, u.Updated = d.now().UTC(), d.now().UTC()
	data, _ := json.Marshal(u)
	if _, err := d.users.Create(ctx, u.ID, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return User{}, fmt.Errorf("%w: user %q exists already", ErrInvalid, u.ID)
		}
		return User{}, err
	}
	d.applyUser(u)
	return u, nil
}

// SetDisabled disables (or enables again) a user: a disabled user's tokens
// are refused.
func (d *Directory) SetDisabled(ctx context.Context, id string, disabled bool) (User, error) {
	return d.update(ctx, id, func(u *User) error { u.Disabled = disabled; return nil })
}

// AddKey registers an Ed25519 public key (32 bytes) for the user under id.
func (d *Directory) AddKey(ctx context.Context, user, id string, pub []byte) (User, error) {
	if len(pub) != ed25519.PublicKeySize {
		return User{}, fmt.Errorf("%w: public_key: an Ed25519 public key is 32 bytes, not %d", ErrInvalid, len(pub))
	}
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		return User{}, fmt.Errorf("%w: key_id: 1–64 ASCII letters, digits, '-', '_' or '.'", ErrInvalid)
	}
	return d.update(ctx, user, func(u *User) error {
		for _, k := range u.Keys {
			if k.ID == id {
				return fmt.Errorf("%w: key_id: user %s has a key %q already (revoked keys keep their id)", ErrInvalid, user, id)
			}
		}
		u.Keys = append(u.Keys, Key{ID: id, Public: base64.StdEncoding.EncodeToString(pub), Added: d.now().UTC()})
		return nil
	})
}

// RevokeKey revokes the user's key id: signatures made after now with it are refused.
func (d *Directory) RevokeKey(ctx context.Context, user, id string) (User, error) {
	return d.update(ctx, user, func(u *User) error {
		for i := range u.Keys {
			if u.Keys[i].ID == id && u.Keys[i].Revoked == nil {
				now := d.now().UTC()
				u.Keys[i].Revoked = &now
				return nil
			}
		}
		return fmt.Errorf("%w: user %s has no active key %q", ErrNotFound, user, id)
	})
}

// update changes a user's record with a revision-checked write.
func (d *Directory) update(ctx context.Context, id string, change func(*User) error) (User, error) {
	e, err := d.users.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return User{}, fmt.Errorf("%w: no user %q", ErrNotFound, id)
	}
	if err != nil {
		return User{}, err
	}
	var u User
	if err := json.Unmarshal(e.Value(), &u); err != nil {
		return User{}, err
	}
	if err := change(&u); err != nil {
		return User{}, err
	}
	u.Updated = d.now().UTC()
	data, _ := json.Marshal(u)
	if _, err := d.users.Update(ctx, id, data, e.Revision()); err != nil {
		return User{}, err
	}
	d.applyUser(u)
	return u, nil
}

func (d *Directory) applyUser(u User) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID[u.ID] = &u
}

// Issue stores a token for the user, valid for ttl, and returns it: the
// only time it is shown. With tok set (an operator's own, at least
// MinTokenLen long) that token is stored instead of a new one.
func (d *Directory) Issue(ctx context.Context, user, label string, ttl time.Duration, tok string) (string, Token, error) {
	if _, err := d.User(user); err != nil {
		return "", Token{}, err
	}
	if tok == "" {
		tok = NewToken()
	} else if len(strings.TrimPrefix(tok, TokenPrefix)) < MinTokenLen {
		return "", Token{}, fmt.Errorf("%w: a token given by an operator must be at least %d characters", ErrInvalid, MinTokenLen)
	}
	if ttl <= 0 {
		ttl = 90 * 24 * time.Hour
	}
	h := HashToken(tok)
	now := d.now().UTC()
	t := Token{ID: h[:16], Hash: h, User: user, Label: label, Created: now, Expires: now.Add(ttl)}
	data, _ := json.Marshal(t)
	if _, err := d.tokens.Create(ctx, h, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return "", Token{}, fmt.Errorf("%w: that token is in use already", ErrInvalid)
		}
		return "", Token{}, err
	}
	d.mu.Lock()
	d.byHash[h] = &t
	d.mu.Unlock()
	return tok, t, nil
}

// Revoke revokes the user's token whose id is id.
func (d *Directory) Revoke(ctx context.Context, user, id string) (Token, error) {
	d.mu.RLock()
	var found *Token
	for _, t := range d.byHash {
		if t.User == user && t.ID == id {
			c := *t
			found = &c
		}
	}
	d.mu.RUnlock()
	if found == nil {
		return Token{}, fmt.Errorf("%w: user %q has no token %q", ErrNotFound, user, id)
	}
	now := d.now().UTC()
	found.Revoked = &now
	data, _ := json.Marshal(found)
	if _, err := d.tokens.Put(ctx, found.Hash, data); err != nil {
		return Token{}, err
	}
	d.mu.Lock()
	d.byHash[found.Hash] = found
	d.mu.Unlock()
	return *found, nil
}

// ErrUnauthenticated is returned (wrapped) by Authenticate.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticate returns the user a bearer token belongs to, if the token is
// known, unexpired and unrevoked and its user enabled.
func (d *Directory) Authenticate(tok string) (User, error) {
	h := HashToken(tok)
	d.mu.RLock()
	t := d.byHash[h]
	var u *User
	if t != nil {
		u = d.byID[t.User]
	}
	d.mu.RUnlock()
	switch {
	case t == nil || subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1:
		return User{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	case t.Revoked != nil:
		return User{}, fmt.Errorf("%w: the token was revoked at %s", ErrUnauthenticated, t.Revoked.Format(time.RFC3339))
	case !d.now().Before(t.Expires):
		return User{}, fmt.Errorf("%w: the token expired at %s", ErrUnauthenticated, t.Expires.Format(time.RFC3339))
	case u == nil:
		return User{}, fmt.Errorf("%w: the token's user no longer exists", ErrUnauthenticated)
	case u.Disabled:
		return User{}, fmt.Errorf("%w: user %s is disabled", ErrUnauthenticated, u.ID)
	}
	return *u, nil
}
