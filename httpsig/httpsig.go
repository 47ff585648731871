// Package httpsig implements what the ledger needs of HTTP Message
// Signatures (RFC 9421) with Ed25519, and of Digest Fields (RFC 9530): the
// signature base of a request for its covered components, the parsing of
// Signature-Input and Signature, signing (for clients and tests), and the
// Content-Digest of a body. Structured fields are parsed and serialized with
// github.com/dunglas/httpsfv (RFC 9651).
package httpsig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// ErrInvalid is returned (wrapped) for a signature or digest that is malformed.
var ErrInvalid = errors.New("invalid HTTP message signature")

// Signature is one signature of a request: its label, what it covers, its
// parameters and the signature bytes.
type Signature struct {
	Label      string
	Components []string
	Params     *httpsfv.Params
	Sig        []byte
	KeyID      string
	Alg        string
	Created    time.Time
}

// Parse reads the first signature of the request's Signature-Input and
// Signature fields (the one a client sends).
func Parse(h http.Header) (*Signature, error) {
	in, err := httpsfv.UnmarshalDictionary(h.Values("Signature-Input"))
	if err != nil {
		return nil, fmt.Errorf("%w: Signature-Input: %v", ErrInvalid, err)
	}
	sigs, err := httpsfv.UnmarshalDictionary(h.Values("Signature"))
	if err != nil {
		return nil, fmt.Errorf("%w: Signature: %v", ErrInvalid, err)
	}
	names := in.Names()
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: Signature-Input names no signature", ErrInvalid)
	}
	label := names[0]
	m, _ := in.Get(label)
	il, ok := m.(httpsfv.InnerList)
	if !ok {
		return nil, fmt.Errorf("%w: Signature-Input %s is not an inner list", ErrInvalid, label)
	}
	s := &Signature{Label: label, Params: il.Params}
	for _, it := range il.Items {
		name, ok := it.Value.(string)
		if !ok || name != strings.ToLower(name) {
			return nil, fmt.Errorf("%w: Signature-Input %s: a component must be a lowercase string", ErrInvalid, label)
		}
		if it.Params != nil && len(it.Params.Names()) > 0 {
			return nil, fmt.Errorf("%w: Signature-Input %s: component parameters (%q) are not supported", ErrInvalid, label, name)
		}
		s.Components = append(s.Components, name)
	}
	sm, ok := sigs.Get(label)
	if !ok {
		return nil, fmt.Errorf("%w: Signature has no %s", ErrInvalid, label)
	}
	si, ok := sm.(httpsfv.Item)
	if !ok {
		return nil, fmt.Errorf("%w: Signature %s is not an item", ErrInvalid, label)
	}
	if s.Sig, ok = si.Value.([]byte); !ok {
		return nil, fmt.Errorf("%w: Signature %s is not a byte sequence", ErrInvalid, label)
	}
	if v, ok := il.Params.Get("keyid"); ok {
		s.KeyID, _ = v.(string)
	}
	if v, ok := il.Params.Get("alg"); ok {
		s.Alg, _ = v.(string)
	}
	if v, ok := il.Params.Get("created"); ok {
		if n, ok := v.(int64); ok {
			s.Created = time.Unix(n, 0).UTC()
		}
	}
	return s, nil
}

// Covers reports whether the signature covers component.
func (s *Signature) Covers(component string) bool {
	for _, c := range s.Components {
		if c == component {
			return true
		}
	}
	return false
}

// Base builds the signature base (RFC 9421 §2.5) of r for the signature's
// covered components and parameters.
func (s *Signature) Base(r *http.Request) (string, error) {
	return Base(r, s.Components, s.Params)
}

// Base builds the signature base of r for components and params. Derived
// components @method, @target-uri, @authority, @scheme, @request-target,
// @path and @query are supported, and header fields by their lowercase
// names.
func Base(r *http.Request, components []string, params *httpsfv.Params) (string, error) {
	var b strings.Builder
	items := make([]httpsfv.Item, 0, len(components))
	seen := map[string]bool{}
	for _, c := range components {
		if seen[c] {
			return "", fmt.Errorf("%w: component %q is covered twice", ErrInvalid, c)
		}
		seen[c] = true
		v, err := componentValue(r, c)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%q: %s\n", c, v)
		items = append(items, httpsfv.NewItem(c))
	}
	if params == nil {
		params = httpsfv.NewParams()
	}
	sp, err := httpsfv.Marshal(httpsfv.InnerList{Items: items, Params: params})
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	fmt.Fprintf(&b, "%q: %s", "@signature-params", sp)
	return b.String(), nil
}

func componentValue(r *http.Request, c string) (string, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	authority := strings.ToLower(r.Host)
	if authority == "" && r.URL != nil {
		authority = strings.ToLower(r.URL.Host)
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	switch c {
	case "@method":
		return r.Method, nil
	case "@target-uri":
		u := scheme + "://" + authority + path
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		return u, nil
	case "@authority":
		return authority, nil
	case "@scheme":
		return scheme, nil
	case "@request-target":
		if r.URL.RawQuery != "" {
			return path + "?" + r.URL.RawQuery, nil
		}
		return path, nil
	case "@path":
		return path, nil
	case "@query":
		return "?" + r.URL.RawQuery, nil
	}
	if strings.HasPrefix(c, "@") {
		return "", fmt.Errorf("%w: derived component %q is not supported", ErrInvalid, c)
	}
	vals := r.Header.Values(c)
	if len(vals) == 0 && c == "content-length" && r.ContentLength >= 0 {
		vals = []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	if len(vals) == 0 {
		return "", fmt.Errorf("%w: the request has no %q field to cover", ErrInvalid, c)
	}
	for i := range vals {
		vals[i] = strings.TrimSpace(vals[i])
	}
	return strings.Join(vals, ", "), nil
}

// Verify checks the signature over base with an Ed25519 public key.
func (s *Signature) Verify(base string, pub ed25519.PublicKey) bool {
	if s.Alg != "" && s.Alg != "ed25519" {
		return false
	}
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, []byte(base), s.Sig)
}

// Sign signs r with an Ed25519 key: it sets Signature-Input and Signature
// (label sig1) over components, with created and keyid (and alg).
func Sign(r *http.Request, components []string, keyID string, created time.Time, key ed25519.PrivateKey) error {
	params := httpsfv.NewParams()
	params.Add("created", created.Unix())
	params.Add("keyid", keyID)
	params.Add("alg", "ed25519")
	base, err := Base(r, components, params)
	if err != nil {
		return err
	}
	items := make([]httpsfv.Item, len(components))
	for i, c := range components {
		items[i] = httpsfv.NewItem(c)
	}
	in := httpsfv.NewDictionary()
	in.Add("sig1", httpsfv.InnerList{Items: items, Params: params})
	sig := httpsfv.NewDictionary()
	sig.Add("sig1", httpsfv.NewItem(ed25519.Sign(key, []byte(base))))
	si, err := httpsfv.Marshal(in)
	if err != nil {
		return err
	}
	ss, err := httpsfv.Marshal(sig)
	if err != nil {
		return err
	}
	r.Header.Set("Signature-Input", si)
	r.Header.Set("Signature", ss)
	return nil
}

// ContentDigest is the Content-Digest field value of body (RFC 9530), with sha-256.
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	d := httpsfv.NewDictionary()
	d.Add("sha-256", httpsfv.NewItem(sum[:]))
	s, _ := httpsfv.Marshal(d)
	return s
}

// CheckContentDigest checks a Content-Digest field value against body: it
// must carry sha-256 or sha-512, and each it carries must match.
func CheckContentDigest(field []string, body []byte) error {
	d, err := httpsfv.UnmarshalDictionary(field)
	if err != nil {
		return fmt.Errorf("%w: Content-Digest: %v", ErrInvalid, err)
	}
	checked := 0
	for _, alg := range d.Names() {
		m, _ := d.Get(alg)
		it, ok := m.(httpsfv.Item)
		if !ok {
			return fmt.Errorf("%w: Content-Digest %s is not an item", ErrInvalid, alg)
		}
		got, ok := it.Value.([]byte)
		if !ok {
			return fmt.Errorf("%w: Content-Digest %s is not a byte sequence", ErrInvalid, alg)
		}
		var want []byte
		switch alg {
		case "sha-256":
			s := sha256.Sum256(body)
			want = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			want = s[:]
		default:
			continue // an algorithm this ledger does not check
		}
		if string(got) != string(want) {
			return fmt.Errorf("%w: Content-Digest %s does not match the body", ErrInvalid, alg)
		}
		checked++
	}
	if checked == 0 {
		return fmt.Errorf("%w: Content-Digest carries neither sha-256 nor sha-512", ErrInvalid)
	}
	return nil
}
