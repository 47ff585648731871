// Package web is the ledger's browser workspace: server-rendered pages for
// the officials, finance bureaus and auditors the ledger serves — the
// portfolio by province, city and county as of any date, each project's
// file, the watchlist, the reports' figures, and audit — with forms for the
// steps the signed-in user's roles permit, and live updates from the event
// feed.
//
// The pages are a client of the API, called in-process as the signed-in
// user, so that they see and may do exactly what the user may through the
// API: the same region scoping, the same rules, the same access log. The
// session is an HttpOnly, SameSite=Strict cookie holding the user's token;
// forms carry a CSRF token as well. Templates and assets are embedded; the
// JavaScript only enhances (live updates, the in-browser proof check): every
// page works without it.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zjfund/ledger/client"
	"github.com/zjfund/ledger/httpapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Config is what the workspace needs.
type Config struct {
	// API is the ledger's HTTP API; the pages call it in-process.
	API http.Handler
	// Secure marks the cookies Secure (the ledger is reached over TLS, as
	// behind the deploy/ Caddy proxy).
	Secure bool
	Log    *slog.Logger
	// OIDC, when set, offers single sign-on through an OpenID Connect
	// provider next to the token.
	OIDC *OIDCLogin
}

// Server serves the pages.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	pages  map[string]*template.Template
	assets http.Handler
	oidc   *oidcFlow
}

// New parses the templates and routes the pages.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	if cfg.OIDC != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		f, err := newOIDCFlow(ctx, *cfg.OIDC)
		cancel()
		if err != nil {
			return nil, err
		}
		s.oidc = f
		s.mux.HandleFunc("GET /signin/oidc", s.oidcStart)
		s.mux.HandleFunc("GET /signin/oidc/callback", s.oidcCallback)
	}
	for _, name := range []string{"portfolio", "project", "watchlist", "report", "audit", "signin", "error", "continue"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	sub, _ := fs.Sub(assetFS, "assets")
	s.assets = http.StripPrefix("/assets/", http.FileServerFS(sub))
	s.mux.HandleFunc("GET /{$}", s.page(s.portfolio))
	s.mux.HandleFunc("GET /projects/{id}", s.page(s.project))
	s.mux.HandleFunc("POST /projects/{id}/steps/{op}", s.page(s.step))
	s.mux.HandleFunc("GET /watchlist", s.page(s.watchlist))
	s.mux.HandleFunc("GET /report", s.page(s.report))
	s.mux.HandleFunc("GET /audit", s.page(s.audit))
	s.mux.HandleFunc("GET /signin", s.signinForm)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.HandleFunc("POST /signout", s.signout)
	s.mux.HandleFunc("GET /assets/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		s.assets.ServeHTTP(w, r)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		v := &view{s: s, w: w, r: r, lang: langOf(r)}
		v.fail(http.StatusNotFound, v.T("No such page."))
	})
	return s, nil
}

// Mount routes the API's paths to api and every other path to the pages.
func Mount(api http.Handler, s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/openapi.json" {
			api.ServeHTTP(w, r)
			return
		}
		s.ServeHTTP(w, r)
	})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// Cookies of the workspace.
const (
	langCookie = "ledger_lang"
	csrfCookie = "ledger_csrf"
)

// view is one page being answered: the request, the language and, once
// signed in, the user and their client of the API.
type view struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	lang  string
	User  *client.User
	api   *client.Client
	token string
	CSRF  string
}

// page wraps a handler that needs a signed-in user: without a session (or
// with one the ledger no longer accepts) it goes to the sign-in page.
func (s *Server) page(h func(*view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &view{s: s, w: w, r: r, lang: langOf(r)}
		if l := r.URL.Query().Get("lang"); l == "zh" || l == "en" {
			v.lang = l
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
		}
		c, err := r.Cookie(httpapi.SessionCookie)
		if err != nil || c.Value == "" {
			s.toSignin(w, r)
			return
		}
		v.token = c.Value
		v.api = s.client(r, c.Value)
		u, err := v.api.Me(r.Context())
		if err != nil {
			if client.IsCode(err, "unauthenticated") {
				s.clearSession(w)
				s.toSignin(w, r)
				return
			}
			v.fail(http.StatusBadGateway, err.Error())
			return
		}
		v.User = u
		v.CSRF = s.csrfToken(w, r)
		h(v)
	}
}

func (s *Server) toSignin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = "/"
	}
	http.Redirect(w, r, "/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
}

func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh") {
		return c.Value
	}
	return "zh"
}

// csrfToken is the request's CSRF token (double submit: a cookie and a
// form field that must match), set when missing.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
	return tok
}

// checkCSRF reports whether a form's CSRF field matches its cookie.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && c.Value != "" && r.PostFormValue("csrf") == c.Value
}

// client is the API as the holder of token, called in-process.
func (s *Server) client(r *http.Request, token string) *client.Client {
	c, _ := client.New("http://ledger.in-process", client.WithToken(token), client.WithUserAgent("ledger-web ("+r.UserAgent()+")"),
		client.WithHTTPClient(&http.Client{Transport: inProcess{api: s.cfg.API, remote: r.RemoteAddr}}))
	return c
}

// inProcess is a RoundTripper that answers a request with the API's handler,
// in this process: the API sees the browser's address for its access log.
type inProcess struct {
	api    http.Handler
	remote string
}

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	r.RemoteAddr = t.remote
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	t.api.ServeHTTP(rec, r)
	return &http.Response{StatusCode: rec.status, Status: fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)), Header: rec.header,
		Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// recorder keeps an in-process answer.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(b)
}

// render writes a page.
func (v *view) render(status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["V"] = v
	var buf bytes.Buffer
	if err := v.s.pages[name].Execute(&buf, data); err != nil {
		v.s.cfg.Log.Error("web: render", "page", name, "err", err)
		http.Error(v.w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	v.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	v.w.Header().Set("Cache-Control", "no-store")
	v.w.WriteHeader(status)
	_, _ = v.w.Write(buf.Bytes())
}

// fail answers a page saying what went wrong.
func (v *view) fail(status int, msg string) {
	v.render(status, "error", map[string]any{"Status": status, "Message": msg})
}

// problem answers a page for an error of the API: its status and words.
func (v *view) problem(err error) {
	var p *client.Problem
	if errors.As(err, &p) {
		v.fail(p.Status, v.problemText(p))
		return
	}
	v.fail(http.StatusBadGateway, err.Error())
}

// T translates an English message into the page's language.
func (v *view) T(msg string) string {
	if v.lang == "en" {
		return msg
	}
	if zh, ok := zhMessages[msg]; ok {
		return zh
	}
	return msg
}

// Path is the request's path and query with one parameter changed (for
// the language switch and links that keep the date).
func (v *view) With(key, value string) string {
	u := *v.r.URL
	q := u.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// Query is a parameter of the request's query.
func (v *view) Query(key string) string { return v.r.URL.Query().Get(key) }

// Lang is the page's language as an HTML lang attribute.
func (v *view) Lang() string {
	if v.lang == "en" {
		return "en"
	}
	return "zh-CN"
}

// signinForm asks for a token.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	v := &view{s: s, w: w, r: r, lang: langOf(r)}
	v.CSRF = s.csrfToken(w, r)
	v.render(http.StatusOK, "signin", map[string]any{"Next": safeNext(r.URL.Query().Get("next")), "OIDC": s.oidc != nil})
}

// signin checks the token with the ledger and keeps it in the session
// cookie.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	v := &view{s: s, w: w, r: r, lang: langOf(r)}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		v.CSRF = s.csrfToken(w, r)
		v.render(http.StatusForbidden, "signin", map[string]any{"Error": v.T("The form expired; please sign in again."), "Next": "/", "OIDC": s.oidc != nil})
		return
	}
	v.CSRF = r.PostFormValue("csrf")
	next := safeNext(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("token"))
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	u, err := s.client(r, token).Me(ctx)
	if token == "" || err != nil || !u.Authenticated {
		v.render(http.StatusUnauthorized, "signin", map[string]any{"Error": v.T("The ledger does not accept this token."), "Next": next, "OIDC": s.oidc != nil})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err == nil && checkCSRF(r) {
		s.clearSession(w)
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
