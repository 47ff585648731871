package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// issuer is an OpenID Connect provider fixture: discovery, a JWKS, and ID
// tokens signed with its RSA key.
type issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey

	// The browser sign-in: the claims of whoever signs in at /auth, and the
	// codes handed out.
	mu    sync.Mutex
	login map[string]any
	codes map[string]authCode
}

type authCode struct{ nonce, challenge, redirect string }

// clientSecret is the ledger's secret at the fixture's issuer.
const clientSecret = "ledger-client-secret"

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
	is.codes = map[string]authCode{}
	// The authorization endpoint signs the user in at once and sends the
	// browser back with a code.
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("client_id") != "ledger" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		code := fmt.Sprintf("code-%d", time.Now().UnixNano())
		is.mu.Lock()
		is.codes[code] = authCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		is.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	// The token endpoint trades a code, with the PKCE verifier and the
	// client's secret, for an ID token.
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		is.mu.Lock()
		c, known := is.codes[r.PostForm.Get("code")]
		delete(is.codes, r.PostForm.Get("code"))
		claims := maps.Clone(is.login)
		is.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if id != "ledger" || secret != clientSecret || !known || c.redirect != r.PostForm.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		claims["nonce"] = c.nonce
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": is.token(t, "ledger", time.Hour, claims)})
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

// TestWorkspaceSingleSignOn: with a client secret the web workspace signs
// people in through the OpenID Connect provider (authorization code with
// PKCE and a nonce); the ID token becomes the session and the pages show
// the user its claims make. A callback whose state is not the one sent is
// refused, and so is a provider's user who is not a user of the ledger.
func TestWorkspaceSingleSignOn(t *testing.T) {
	is := newIssuer(t)
	is.login = map[string]any{"preferred_username": "wangwu", "name": "王五", "org": "上虞市发改局", "ledger_roles": []string{"county_drc"}, "ledger_region": "330682"}
	l := startLedger(t, t.TempDir(), "--oidc-issuer", is.srv.URL, "--oidc-audience", "ledger", "--oidc-client-secret", clientSecret)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(l.base + "/signin"); st != 200 || !strings.Contains(body, `href="/signin/oidc?next=`) {
		t.Fatalf("the sign-in page offers no single sign-on: %d", st)
	}
	st, body := get(l.base + "/signin/oidc?next=/watchlist")
	if st != 200 || !strings.Contains(body, `content="0;url=/watchlist"`) {
		t.Fatalf("after the provider: %d %s", st, body)
	}
	if st, body := get(l.base + "/watchlist"); st != 200 || !strings.Contains(body, "王五") || !strings.Contains(body, "上虞市") {
		t.Fatalf("the watchlist as the signed-in user: %d %.400s", st, body)
	}
	// A callback whose state is not the one this browser sent.
	if st, _ := get(l.base + "/signin/oidc/callback?code=x&state=forged"); st != http.StatusBadRequest {
		t.Fatalf("a forged state: %d", st)
	}
	// The provider knows someone the ledger does not accept (no role).
	is.mu.Lock()
	is.login = map[string]any{"preferred_username": "nobody", "name": "某人", "ledger_region": "330682"}
	is.mu.Unlock()
	jar2, _ := cookiejar.New(nil)
	browser.Jar = jar2
	if st, body := get(l.base + "/signin/oidc?next=/"); st != http.StatusUnauthorized || !strings.Contains(body, "统一身份认证未完成") {
		t.Fatalf("a provider's user who is none of the ledger's: %d %.300s", st, body)
	}
	if st, body := get(l.base + "/watchlist"); st != 200 || !strings.Contains(body, `id="token"`) {
		t.Fatalf("the watchlist without a session is not the sign-in page: %d", st)
	}
}

// TestWorkspaceSingleSignOnInTheBrowser: the same sign-on in Chromium, where
// the session cookie is SameSite=Strict and the provider's redirect back
// comes from another site: the page after the callback carries the browser
// on with the session.
func TestWorkspaceSingleSignOnInTheBrowser(t *testing.T) {
	path := browser(t)
	is := newIssuer(t)
	is.login = map[string]any{"preferred_username": "wangwu", "name": "王五", "org": "上虞市发改局", "ledger_roles": []string{"county_drc"}, "ledger_region": "330682"}
	l := startLedger(t, t.TempDir(), "--oidc-issuer", is.srv.URL, "--oidc-audience", "ledger", "--oidc-client-secret", clientSecret)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	tb := newTab(t, bctx)
	// The browser reaches the ledger as localhost and the provider as
	// 127.0.0.1: two sites, as in life.
	base := strings.Replace(l.base, "127.0.0.1", "localhost", 1)
	var who, loc string
	tb.run(t, "single sign-on",
		chromedp.Navigate(base+"/watchlist"),
		chromedp.WaitVisible(`a[href^="/signin/oidc"]`, chromedp.ByQuery),
		chromedp.Click(`a[href^="/signin/oidc"]`, chromedp.ByQuery),
		chromedp.WaitVisible("header .who strong", chromedp.ByQuery),
		chromedp.Text("header .who strong", &who, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if who != "王五" || !strings.HasSuffix(loc, "/watchlist") {
		t.Fatalf("after the sign-on: %q at %s", who, loc)
	}
	if errs := tb.takeErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
