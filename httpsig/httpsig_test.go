package httpsig

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The RFC's own Ed25519 test key (RFC 9421 Appendix B.1.4): its private
// seed ("d") and public key ("x"), base64url.
const (
	rfcKeyD = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
	rfcKeyX = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
)

// rfcRequest is the example request of RFC 9421 Appendix B.2 (and its body's digests, RFC 9530).
func rfcRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", "http://example.com/foo?param=Value&Pet=dog", strings.NewReader(`{"hello": "world"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	r.Header.Set("Content-Length", "18")
	return r
}

// TestRFC9421AppendixB26: the signature base and the Ed25519 signature of the
// RFC's example, exactly as the RFC gives them; and its verification.
func TestRFC9421AppendixB26(t *testing.T) {
	r := rfcRequest(t)
	r.Header.Set("Signature-Input", `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`)
	r.Header.Set("Signature", `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`)
	s, err := Parse(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.Base(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	if base != want {
		t.Fatalf("signature base:\n%s\nwant\n%s", base, want)
	}
	x, _ := base64.RawURLEncoding.DecodeString(rfcKeyX)
	if !s.Verify(base, ed25519.PublicKey(x)) {
		t.Fatal("the RFC's signature does not verify with its key")
	}
	if s.KeyID != "test-key-ed25519" || s.Created != time.Unix(1618884473, 0).UTC() {
		t.Fatalf("parameters: %q %v", s.KeyID, s.Created)
	}
	// Signing the same base with the RFC's private key gives the RFC's signature (Ed25519 is deterministic).
	d, _ := base64.RawURLEncoding.DecodeString(rfcKeyD)
	if got := base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(d), []byte(base))); got != base64.StdEncoding.EncodeToString(s.Sig) {
		t.Fatalf("signing the base gives %s", got)
	}
	// One byte of the base changed: the signature no longer verifies.
	if s.Verify(strings.Replace(base, "/foo", "/fop", 1), ed25519.PublicKey(x)) {
		t.Fatal("a changed base verifies")
	}
}

// TestRFC9530Digests: the RFC's Content-Digest examples for {"hello": "world"}.
func TestRFC9530Digests(t *testing.T) {
	body := []byte(`{"hello": "world"}`)
	if got := ContentDigest(body); got != "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" {
		t.Fatalf("sha-256: %s", got)
	}
	if err := CheckContentDigest([]string{"sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"}, body); err != nil {
		t.Fatal(err)
	}
	if err := CheckContentDigest([]string{ContentDigest(body)}, []byte(`{"hello": "World"}`)); err == nil {
		t.Fatal("a digest of another body: want an error")
	}
	if err := CheckContentDigest([]string{"md5=:AAAA:"}, body); err == nil {
		t.Fatal("no sha-256 or sha-512: want an error")
	}
}

// TestSignAndVerify: what Sign produces, Parse and Verify accept.
func TestSignAndVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	r := rfcRequest(t)
	r.Header.Set("Content-Digest", ContentDigest([]byte(`{"hello": "world"}`)))
	if err := Sign(r, []string{"@method", "@path", "content-digest"}, "k1", time.Unix(1700000000, 0), priv); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := s.Base(r)
	if !s.Verify(base, pub) || s.Label != "sig1" || s.Alg != "ed25519" || !s.Covers("content-digest") {
		t.Fatalf("a signature made by Sign: %+v\n%s", s, base)
	}
	r.Method = "PUT"
	if base, _ := s.Base(r); s.Verify(base, pub) {
		t.Fatal("another method verifies")
	}
}
