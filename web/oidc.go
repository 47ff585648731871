package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/zjfund/ledger/httpapi"
)

// OIDCLogin is single sign-on through an OpenID Connect provider: the
// authorization code flow with PKCE, for a client registered with the
// provider. The ID token it yields is the session's token, as the API
// accepts it (--oidc-issuer, --oidc-audience = ClientID).
type OIDCLogin struct {
	Issuer, ClientID, ClientSecret string
	// PublicURL is the ledger's address as browsers reach it
	// (https://ledger.example); the provider sends them back to
	// PublicURL/signin/oidc/callback, which must be registered with it.
	// Empty: taken from each request (the Host it was sent to).
	PublicURL string
}

// oidcFlow is the discovered provider.
type oidcFlow struct {
	cfg      OIDCLogin
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	name     string
}

func newOIDCFlow(ctx context.Context, cfg OIDCLogin) (*oidcFlow, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("web: OpenID Connect sign-in needs the client id (--oidc-audience) and its secret")
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("web: OpenID Connect issuer %s: %w", cfg.Issuer, err)
	}
	name := cfg.Issuer
	if u, err := url.Parse(cfg.Issuer); err == nil {
		name = u.Host
	}
	return &oidcFlow{cfg: cfg, provider: p, verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}), name: name}, nil
}

// oauth is the client configuration for the request's redirect address.
func (f *oidcFlow) oauth(r *http.Request) *oauth2.Config {
	base := strings.TrimRight(f.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return &oauth2.Config{ClientID: f.cfg.ClientID, ClientSecret: f.cfg.ClientSecret, Endpoint: f.provider.Endpoint(),
		RedirectURL: base + "/signin/oidc/callback", Scopes: []string{oidc.ScopeOpenID, "profile"}}
}

// flowCookie keeps the state, nonce, PKCE verifier and destination of a
// sign-in under way, for the provider's redirect back (a top-level GET from
// another site, hence SameSite=Lax), for ten minutes.
const flowCookie = "ledger_oidc"

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// oidcStart sends the browser to the provider.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	f := s.oidc
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	next := safeNext(r.URL.Query().Get("next"))
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: strings.Join([]string{state, nonce, verifier, url.QueryEscape(next)}, "."),
		Path: "/signin/oidc", MaxAge: 600, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, f.oauth(r).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// oidcCallback takes the provider's answer: the code for an ID token, the
// token checked (signature, audience, expiry, nonce) and accepted by the
// ledger, then the session.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	v := &view{s: s, w: w, r: r, lang: langOf(r)}
	v.CSRF = s.csrfToken(w, r)
	refuse := func(status int, why string) {
		s.cfg.Log.Warn("web: OpenID Connect sign-in refused", "why", why, "remote", r.RemoteAddr)
		v.render(status, "signin", map[string]any{"Error": v.T("The single sign-on did not complete; please try again.") + " (" + why + ")", "Next": "/", "OIDC": s.oidc != nil})
	}
	c, err := r.Cookie(flowCookie)
	parts := []string{}
	if err == nil {
		parts = strings.Split(c.Value, ".")
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: "/signin/oidc", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	if len(parts) != 4 || q.Get("state") == "" || q.Get("state") != parts[0] {
		refuse(http.StatusBadRequest, "state")
		return
	}
	if e := q.Get("error"); e != "" {
		refuse(http.StatusUnauthorized, e)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := s.oidc.oauth(r).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
	if err != nil {
		refuse(http.StatusBadGateway, "token exchange")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := s.oidc.verifier.Verify(ctx, raw)
	if err != nil || idt.Nonce != parts[1] {
		refuse(http.StatusUnauthorized, "id token")
		return
	}
	u, err := s.client(r, raw).Me(ctx)
	if err != nil || !u.Authenticated {
		refuse(http.StatusUnauthorized, "not a user of this ledger")
		return
	}
	age := int(min(time.Until(idt.Expiry), 12*time.Hour).Seconds())
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: raw, Path: "/", HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: age})
	next, _ := url.QueryUnescape(parts[3])
	// A page (not a redirect) carries the browser on: a SameSite=Strict
	// cookie set in answer to another site's navigation is not sent on
	// the redirect that follows it.
	v.render(http.StatusOK, "continue", map[string]any{"Next": safeNext(next)})
}
