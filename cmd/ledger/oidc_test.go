package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// issuer is an OpenID Connect provider fixture: discovery, a JWKS, and ID
// tokens signed with its RSA key.
type issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys",
			"authorization_endpoint": is.srv.URL + "/auth", "token_endpoint": is.srv.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	return is
}

// token signs an ID token with claims, for aud, valid from now for ttl.
func (is *issuer) token(t *testing.T, aud string, ttl time.Duration, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: is.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	std := jwt.Claims{Issuer: is.srv.URL, Subject: "sub-1", Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(now.Add(ttl))}
	raw, err := jwt.Signed(sig).Claims(std).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestOpenIDConnectTokens: ID tokens of an office's single sign-on act as
// the users their claims describe; a token for another audience, an expired
// one, one signed by another key, or one whose claims make no valid user is
// refused.
func TestOpenIDConnectTokens(t *testing.T) {
	is := newIssuer(t)
	l := startLedger(t, t.TempDir(), "--oidc-issuer", is.srv.URL, "--oidc-audience", "ledger")
	claims := map[string]any{"preferred_username": "wangwu", "name": "王五", "org": "上虞市发改局", "ledger_roles": []string{"county_drc"}, "ledger_region": "330682"}
	tok := is.token(t, "ledger", time.Hour, claims)
	r := call(t, "POST", l.base+"/v1/projects", registration("OIDC1", "330682"), "Authorization", "Bearer "+tok)
	if r.status != 201 {
		t.Fatalf("register with an ID token: %d %s", r.status, r.raw)
	}
	h := call(t, "GET", l.base+"/v1/projects/OIDC1/events", nil)
	ce := h.body["events"].([]any)[0].(map[string]any)["event"].(map[string]any)
	if ce["actorid"] != "oidc:wangwu" || ce["actor"] != "王五" || ce["actororg"] != "上虞市发改局" {
		t.Fatalf("the recorded actor: %v %v %v", ce["actorid"], ce["actor"], ce["actororg"])
	}
	other := newIssuer(t)
	bad := map[string]string{
		"another audience":     is.token(t, "someone-else", time.Hour, claims),
		"expired":              is.token(t, "ledger", -time.Minute, claims),
		"another issuer's key": other.token(t, "ledger", time.Hour, claims),
		"no role":              is.token(t, "ledger", time.Hour, map[string]any{"preferred_username": "x", "name": "x", "ledger_region": "330682"}),
		"a role that is none":  is.token(t, "ledger", time.Hour, map[string]any{"preferred_username": "x", "name": "x", "ledger_roles": "mayor", "ledger_region": "330682"}),
		"an unknown region":    is.token(t, "ledger", time.Hour, map[string]any{"preferred_username": "x", "name": "x", "ledger_roles": "auditor", "ledger_region": "everywhere"}),
	}
	for what, tok := range bad {
		if r := call(t, "GET", l.base+"/v1/me", nil, "Authorization", "Bearer "+tok); r.status != 401 {
			t.Fatalf("%s: %d %s", what, r.status, r.raw)
		}
	}
	// The region in the claims binds: another county's project is refused.
	r = call(t, "POST", l.base+"/v1/projects", registration("OIDC2", "330681"), "Authorization", "Bearer "+tok)
	if r.status != 403 || r.body["code"] != "out-of-scope" {
		t.Fatalf("another county with an ID token: %d %s", r.status, r.raw)
	}
}
