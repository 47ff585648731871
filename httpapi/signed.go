package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/httpsig"
)

// signatureWindow is how far a signature's creation time may lie from the
// ledger's clock; a signature older than that is refused, and one seen
// within it is refused again (a replay).
const signatureWindow = 5 * time.Minute

// replays remembers the signatures seen within the window.
type replays struct {
	mu   sync.Mutex
	seen map[string]time.Time // signature bytes → when they stop mattering
	max  int
}

func newReplays(max int) *replays { return &replays{seen: map[string]time.Time{}, max: max} }

// first reports whether sig is seen for the first time, remembering it
// until until. Beyond max remembered it refuses (rather than forgets).
func (r *replays) first(sig []byte, until time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if len(r.seen) >= r.max {
		for k, t := range r.seen {
			if now.After(t) {
				delete(r.seen, k)
			}
		}
		if len(r.seen) >= r.max {
			return false, fmt.Errorf("%d signed requests within %s: the ledger remembers no more; retry shortly", r.max, signatureWindow)
		}
	}
	if t, ok := r.seen[string(sig)]; ok && now.Before(t) {
		return false, nil
	}
	r.seen[string(sig)] = until
	return true, nil
}

// SignaturePolicy says which commands must be signed: by command name
// (disburse, issue_plan, …), for every role.
type SignaturePolicy map[string]bool

// signedCommand checks the request's signature, when it carries one: the
// covered components include @method, @path and content-digest, the
// Content-Digest matches the body, the signature was made within the
// window by a key the authenticated user holds, and it was not seen before.
// It returns what the events record of it, or nil for an unsigned request
// (refused when the policy wants a signature).
func (a *API) signedCommand(r *http.Request, command string, body []byte) (*eventstore.Signed, *Problem) {
	u := userOf(r)
	if r.Header.Get("Signature-Input") == "" && r.Header.Get("Signature") == "" {
		if a.mustSign[command] && u != nil {
			return nil, forbidden("signature-required", fmt.Sprintf("%s must be signed by its author (HTTP Message Signatures, RFC 9421, over @method, @path and content-digest)", command))
		}
		return nil, nil
	}
	bad := func(code, detail string) *Problem {
		p := newProblem(http.StatusUnauthorized, code, detail)
		p.Field = "Signature"
		return p
	}
	if u == nil {
		return nil, bad("signature-invalid", "a signed command needs an authenticated user")
	}
	s, err := httpsig.Parse(r.Header)
	if err != nil {
		return nil, bad("signature-invalid", err.Error())
	}
	for _, c := range []string{"@method", "@path", "content-digest"} {
		if !s.Covers(c) {
			return nil, bad("signature-invalid", fmt.Sprintf("the signature must cover %s (it covers %v)", c, s.Components))
		}
	}
	if err := httpsig.CheckContentDigest(r.Header.Values("Content-Digest"), body); err != nil {
		return nil, bad("signature-invalid", err.Error())
	}
	now := time.Now()
	if s.Created.IsZero() || s.Created.Before(now.Add(-signatureWindow)) || s.Created.After(now.Add(signatureWindow)) {
		return nil, bad("signature-expired", fmt.Sprintf("the signature was created at %s; the ledger takes signatures made within %s of its clock (%s)",
			s.Created.Format(time.RFC3339), signatureWindow, now.UTC().Format(time.RFC3339)))
	}
	key, err := u.KeyAt(s.KeyID, now)
	if err != nil {
		return nil, bad("signature-invalid", err.Error())
	}
	base, err := s.Base(r)
	if err != nil {
		return nil, bad("signature-invalid", err.Error())
	}
	if !s.Verify(base, key) {
		return nil, bad("signature-invalid", fmt.Sprintf("the signature does not verify with key %s of user %s", s.KeyID, u.ID))
	}
	first, err := a.seenSigs.first(s.Sig, s.Created.Add(signatureWindow))
	if err != nil {
		p := newProblem(http.StatusServiceUnavailable, "busy", err.Error())
		p.retryAfter = 5
		return nil, p
	}
	if !first {
		return nil, bad("signature-replayed", "this signature was used already: sign each request anew")
	}
	sigField := r.Header.Get("Signature")
	return &eventstore.Signed{Signature: sigField, Base: base, KeyID: s.KeyID, Key: base64.StdEncoding.EncodeToString(key),
		Body: base64.StdEncoding.EncodeToString(body)}, nil
}

// keyRequest registers one of the caller's own signing keys.
type keyRequest struct {
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"` // base64 (standard or URL-safe, padded or not) of the 32-byte Ed25519 key
}

func (a *API) addKey(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if u == nil {
		writeProblem(w, r, forbidden("admin-only", "keys belong to authenticated users"))
		return
	}
	var req keyRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	var pub []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if pub, err = enc.DecodeString(strings.TrimSpace(req.PublicKey)); err == nil {
			break
		}
	}
	if err != nil {
		writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-field", "public_key", "must be the base64 of a 32-byte Ed25519 public key"))
		return
	}
	nu, err := a.users.AddKey(r.Context(), u.ID, req.KeyID, pub)
	if err != nil {
		a.usersProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, nu)
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if u == nil {
		writeProblem(w, r, forbidden("admin-only", "keys belong to authenticated users"))
		return
	}
	nu, err := a.users.RevokeKey(r.Context(), u.ID, r.PathValue("key"))
	if err != nil {
		a.usersProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nu)
}
