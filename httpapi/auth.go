package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/zjfund/ledger/app"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/identity"
	"github.com/zjfund/ledger/projections"
)

// Authenticator tells whose a bearer token is.
type Authenticator interface {
	Authenticate(token string) (identity.User, error)
}

type userKey struct{}

// userOf returns the authenticated user of the request, or nil when the
// API runs without authentication (an API built in-process for a
// benchmark; `ledger serve` always authenticates).
func userOf(r *http.Request) *identity.User {
	u, _ := r.Context().Value(userKey{}).(*identity.User)
	return u
}

// SessionCookie is the web workspace's session cookie: the signed-in user's
// token, HttpOnly and SameSite=Strict.
const SessionCookie = "ledger_session"

// public are the routes anyone may call: whether the ledger is up, and its contract.
func public(r *http.Request) bool {
	return r.URL.Path == "/healthz" || r.URL.Path == "/openapi.json"
}

// authenticate reads the bearer token and puts its user in the request's
// context, or answers 401.
func (a *API) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if a.auth == nil || public(r) {
		return r, true
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if h == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// The web workspace's session (its cookie holds the user's token)
		// authenticates reads — the pages' live feed, proofs and bundle
		// downloads. Writes need the header, so a cookie alone never
		// records a step.
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			tok, ok = c.Value, true
		}
	}
	if !ok || strings.TrimSpace(tok) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ledger"`)
		writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthenticated", "send Authorization: Bearer <token>; an admin issues tokens (ledger users token)"))
		return r, false
	}
	u, err := a.auth.Authenticate(strings.TrimSpace(tok))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ledger", error="invalid_token"`)
		writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthenticated", strings.TrimPrefix(err.Error(), identity.ErrUnauthenticated.Error()+": ")))
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), userKey{}, &u)), true
}

func forbidden(code, detail string) *Problem {
	return newProblem(http.StatusForbidden, code, detail)
}

// requireAdmin answers 403 unless the caller is an admin.
func (a *API) requireAdmin(w http.ResponseWriter, r *http.Request) bool {
	u := userOf(r)
	if a.auth == nil || (u != nil && u.Has(identity.RoleAdmin)) {
		return true
	}
	writeProblem(w, r, forbidden("admin-only", "only an admin may do this"))
	return false
}

// commandActor is who records a command: the authenticated user, in the
// role the Ledger-Role header names among theirs (or their only one).
func (a *API) commandActor(r *http.Request) (domain.Actor, *Problem) {
	u := userOf(r)
	if u == nil {
		return actor(r)
	}
	if r.Header.Get(HeaderActor) != "" {
		return domain.Actor{}, fieldProblem(http.StatusBadRequest, "invalid-header", HeaderActor,
			"is not taken: the actor recorded is the authenticated user; leave the header out")
	}
	roles := u.DomainRoles()
	if len(roles) == 0 {
		return domain.Actor{}, forbidden("role-not-granted", fmt.Sprintf("user %s is an admin only: an admin records no lifecycle step", u.ID))
	}
	role := domain.Role(r.Header.Get(HeaderRole))
	switch {
	case role == "" && len(roles) == 1:
		role = roles[0]
	case role == "":
		return domain.Actor{}, fieldProblem(http.StatusBadRequest, "missing-role", HeaderRole, fmt.Sprintf("user %s holds several roles %v: name the one this step is recorded in", u.ID, roles))
	case !role.Valid():
		return domain.Actor{}, fieldProblem(http.StatusBadRequest, "invalid-role", HeaderRole, fmt.Sprintf("%q is not a role; one of %v", role, domain.Roles))
	case !slices.Contains(roles, role):
		p := forbidden("role-not-granted", fmt.Sprintf("user %s does not hold the role %s (holds %v)", u.ID, role, roles))
		p.Field = HeaderRole
		return domain.Actor{}, p
	}
	return domain.Actor{Name: u.Name, Role: role, ID: u.ID, Org: u.Org}, nil
}

// scopeOf is the check that a command's project lies in the user's region
// and, for an owner, belongs to the user's organisation.
func scopeOf(u *identity.User, role domain.Role) func(city, county domain.DivisionCode, owners []string) error {
	if u == nil {
		return nil
	}
	return func(city, county domain.DivisionCode, owners []string) error {
		if !u.InRegion(string(city), string(county)) {
			return &domain.Error{Kind: domain.KindForbidden, Code: "out-of-scope",
				Msg: fmt.Sprintf("the project lies in %s/%s, outside user %s's region %s", city, county, u.ID, u.Region)}
		}
		if role == domain.RoleOwner && !slices.ContainsFunc(owners, func(o string) bool { return strings.TrimSpace(o) == strings.TrimSpace(u.Owner) }) {
			return &domain.Error{Kind: domain.KindForbidden, Code: "out-of-scope",
				Msg: fmt.Sprintf("the project belongs to %s, not to user %s's organisation %s", owners[len(owners)-1], u.ID, u.Owner)}
		}
		return nil
	}
}

// scopeFilter narrows a query's filter to what the user may read: their
// region, and for an owner their organisation's projects. A filter naming
// another region is refused.
func scopeFilter(u *identity.User, f *projections.Filter) *Problem {
	if u == nil || (u.SeesAll() && !onlyOwner(u)) {
		return nil
	}
	if onlyOwner(u) {
		f.OwnerExact = u.Owner
	}
	if u.SeesAll() {
		return nil
	}
	out := func(name, v string) *Problem {
		p := forbidden("out-of-scope", fmt.Sprintf("%s %s lies outside your region %s", name, v, u.Region))
		p.Field = name
		return p
	}
	if strings.HasSuffix(u.Region, "00") { // a city
		if f.City != "" && f.City != u.Region {
			return out("city", f.City)
		}
		if f.County != "" && f.County[:4] != u.Region[:4] {
			return out("county", f.County)
		}
		f.City = u.Region
		return nil
	}
	if f.County != "" && f.County != u.Region {
		return out("county", f.County)
	}
	if f.City != "" && f.City[:4] != u.Region[:4] {
		return out("city", f.City)
	}
	f.County = u.Region
	return nil
}

// onlyOwner reports whether the user reads as an owner only: then they see
// their organisation's projects, not a region's.
func onlyOwner(u *identity.User) bool {
	for _, r := range u.Roles {
		if r != string(domain.RoleOwner) {
			return false
		}
	}
	return true
}

// mayRead reports whether the user may read a project in city and county owned by owner.
func mayRead(u *identity.User, city, county, owner string) bool {
	if u == nil {
		return true
	}
	if onlyOwner(u) {
		return strings.TrimSpace(owner) == strings.TrimSpace(u.Owner) && u.InRegion(city, county)
	}
	return u.InRegion(city, county)
}

// historyVisible reports whether the user may read the project whose
// history is hist: its region and, for an owner, its current owner.
func historyVisible(r *http.Request, id domain.ProjectID, hist []eventstore.Stored) bool {
	u := userOf(r)
	if u == nil || (u.SeesAll() && !onlyOwner(u)) {
		return true
	}
	p, err := app.Fold(id, hist)
	if err != nil {
		return false
	}
	city, county := p.Region()
	return mayRead(u, string(city), string(county), p.View().Owner)
}
