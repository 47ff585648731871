package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/zjfund/ledger/identity"
)

// meResponse is who the caller is.
type meResponse struct {
	identity.User
	Authenticated bool `json:"authenticated"`
}

func (a *API) getMe(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if u == nil {
		writeJSON(w, http.StatusOK, meResponse{})
		return
	}
	writeJSON(w, http.StatusOK, meResponse{User: *u, Authenticated: true})
}

// userRequest adds a user.
type userRequest struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Org    string   `json:"org"`
	Roles  []string `json:"roles"`
	Region string   `json:"region"`
	Owner  string   `json:"owner_org,omitempty"`
}

func (a *API) usersProblem(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, identity.ErrInvalid):
		writeProblem(w, r, newProblem(http.StatusUnprocessableEntity, "invalid-user", err.Error()))
	case errors.Is(err, identity.ErrNotFound):
		writeProblem(w, r, newProblem(http.StatusNotFound, "no-such-user", err.Error()))
	default:
		writeProblem(w, r, problemFor(err, a.log, r.Header.Get(HeaderRequestID)))
	}
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	var req userRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	u, err := a.users.Add(r.Context(), identity.User{ID: req.ID, Name: req.Name, Org: req.Org, Roles: req.Roles, Region: req.Region, Owner: req.Owner})
	if err != nil {
		a.usersProblem(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/users/"+u.ID)
	writeJSON(w, http.StatusCreated, u)
}

type userList struct {
	Users []identity.User `json:"users"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, userList{Users: a.users.Users()})
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	u, err := a.users.User(r.PathValue("user"))
	if err != nil {
		a.usersProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *API) setDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.requireAdmin(w, r) {
			return
		}
		u, err := a.users.SetDisabled(r.Context(), r.PathValue("user"), disabled)
		if err != nil {
			a.usersProblem(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, u)
	}
}

// tokenRequest issues a token.
type tokenRequest struct {
	Label   string `json:"label,omitempty"`
	TTLDays int    `json:"ttl_days,omitempty"` // 1–366, default 90
}

type tokenResponse struct {
	Secret string `json:"token"` // shown once
	identity.Token
}

func (a *API) issueToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	var req tokenRequest
	if !readJSON(w, r, &req, true) {
		return
	}
	if req.TTLDays == 0 {
		req.TTLDays = 90
	}
	if req.TTLDays < 1 || req.TTLDays > 366 {
		writeProblem(w, r, fieldProblem(http.StatusBadRequest, "invalid-field", "ttl_days", "must be 1 to 366"))
		return
	}
	if p := checkText("label", req.Label, maxTextParam); p != nil {
		writeProblem(w, r, p)
		return
	}
	tok, t, err := a.users.Issue(r.Context(), r.PathValue("user"), req.Label, time.Duration(req.TTLDays)*24*time.Hour, "")
	if err != nil {
		a.usersProblem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, tokenResponse{Secret: tok, Token: t})
}

type tokenList struct {
	Tokens []identity.Token `json:"tokens"`
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	if _, err := a.users.User(r.PathValue("user")); err != nil {
		a.usersProblem(w, r, err)
		return
	}
	ts := a.users.Tokens(r.PathValue("user"))
	if ts == nil {
		ts = []identity.Token{}
	}
	writeJSON(w, http.StatusOK, tokenList{Tokens: ts})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireAdmin(w, r) {
		return
	}
	t, err := a.users.Revoke(r.Context(), r.PathValue("user"), r.PathValue("token"))
	if err != nil {
		a.usersProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
