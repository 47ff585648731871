package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/httpsig"
)

// signedPost sends body to path as user, signed with key under keyID
// (created at created), and returns the answer.
func signedPost(t *testing.T, base, path, user, keyID string, key ed25519.PrivateKey, created time.Time, body any, change func(*http.Request)) response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tokenOf(user))
	req.Header.Set("Content-Digest", httpsig.ContentDigest(b))
	if err := httpsig.Sign(req, []string{"@method", "@path", "@authority", "content-digest"}, keyID, created, key); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// TestSignedCommands: a finance user registers an Ed25519 key and signs a
// disbursement (RFC 9421 over @method, @path, @authority and content-digest);
// the events record the signature, and verify checks it against the key as
// the directory held it. A forged signature, a replayed one, an old one and
// a body changed after signing are refused; with --require-signatures an
// unsigned disbursement is refused. An event whose recorded signature is
// altered (in a copy of the store, its hash fixed) fails verify, named.
func TestSignedCommands(t *testing.T) {
	dir := t.TempDir()
	l := startLedger(t, dir, "--require-signatures", "disburse")
	runScript(t, l, approvedScript("SG"))
	pub, priv, _ := ed25519.GenerateKey(nil)
	if r := call(t, "POST", l.base+"/v1/me/keys", map[string]any{"key_id": "chenjing-2026", "public_key": base64.StdEncoding.EncodeToString(pub)}, finance...); r.status != 201 {
		t.Fatalf("register a key: %d %s", r.status, r.raw)
	}
	disb := func(day string, amount int64) map[string]any {
		return map[string]any{"effective_time": at(day), "source": "central_budget", "amount": amount, "basis": "进度检查"}
	}
	if r := call(t, "POST", l.base+"/v1/projects/SG/disbursements", disb("2009-09-01", 100*wan), finance...); r.status != 403 || r.body["code"] != "signature-required" {
		t.Fatalf("an unsigned disbursement under --require-signatures: %d %s", r.status, r.raw)
	}
	now := time.Now()
	var replayed *http.Request
	r := signedPost(t, l.base, "/v1/projects/SG/disbursements", "chenjing", "chenjing-2026", priv, now, disb("2009-09-01", 100*wan), func(req *http.Request) {
		replayed = req.Clone(context.Background())
	})
	if r.status != 201 {
		t.Fatalf("a signed disbursement: %d %s", r.status, r.raw)
	}
	h := call(t, "GET", l.base+"/v1/projects/SG/events", nil)
	evs := h.body["events"].([]any)
	ce := evs[len(evs)-1].(map[string]any)["event"].(map[string]any)
	if ce["signaturekeyid"] != "chenjing-2026" || ce["signature"] == nil || !strings.Contains(ce["signaturebase"].(string), `"@path": /v1/projects/SG/disbursements`) {
		t.Fatalf("the recorded signature: %v", ce)
	}
	// The same signature again, on the same body: a replay.
	b, _ := json.Marshal(disb("2009-09-01", 100*wan))
	replayed.Body = io.NopCloser(bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(replayed)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(raw), "signature-replayed") {
		t.Fatalf("a replayed signature: %d %s", resp.StatusCode, raw)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	for what, c := range map[string]struct {
		key     ed25519.PrivateKey
		created time.Time
		change  func(*http.Request)
		code    string
	}{
		"a forged signature": {other, now, nil, "signature-invalid"},
		"an old signature":   {priv, now.Add(-10 * time.Minute), nil, "signature-expired"},
		"a body changed after": {priv, now, func(r *http.Request) {
			changed := `{"effective_time":"2009-09-02T10:00:00+08:00","source":"central_budget","amount":99900,"basis":"x"}`
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(changed)), int64(len(changed))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(changed)), nil }
		}, "signature-invalid"},
		"another user's key": {priv, now, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tokenOf("sunqi")) }, "signature-invalid"},
	} {
		r := signedPost(t, l.base, "/v1/projects/SG/disbursements", "chenjing", "chenjing-2026", c.key, c.created, disb("2009-09-02", 10*wan), c.change)
		if r.status != 401 || r.body["code"] != c.code {
			t.Fatalf("%s: %d %s", what, r.status, r.raw)
		}
	}
	l.stop()
	err, out := runCmd("verify", "--data-dir", dir, "--key", filepath.Join(dir, "checkpoint.key.pub"))
	if err != nil || !strings.Contains(out, "signed commands") || strings.Contains(out, "not checked") {
		t.Fatalf("verify of the signed history: %v\n%s", err, out)
	}

	// The recorded signature altered, the event's hash fixed, in a copy.
	target := ce["id"].(string)
	copyDir := rewriteStore(t, dir, func(raw []byte) []byte {
		if !bytes.Contains(raw, []byte(target)) {
			return raw
		}
		var env map[string]any
		_ = json.Unmarshal(raw, &env)
		sig := env["signature"].(string)
		forged := strings.Replace(sig, sig[7:9], "AA", 1)
		out := bytes.Replace(raw, []byte(sig), []byte(forged), 1)
		// Re-seal: the hash covers the bytes but their last 75 (`,"hash":"<64 hex>"}`).
		h := eventstore.ComputeHash(out)
		copy(out[len(out)-66:len(out)-2], h)
		return out
	})
	err, out = runCmd("verify", "--data-dir", copyDir, "--key", filepath.Join(dir, "checkpoint.key.pub"))
	if err == nil || !strings.Contains(out, target) || !strings.Contains(out, "signed command") {
		t.Fatalf("verify of the altered signature: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "FAILED") {
			t.Log(line)
		}
	}
}

// rewriteStore copies the events of the ledger in dir, each through alter,
// into a new store, and returns its data directory.
func rewriteStore(t *testing.T, dir string, alter func([]byte) []byte) string {
	t.Helper()
	ctx := context.Background()
	src, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	snc, _ := src.Connect("read")
	st, err := eventstore.Open(ctx, snc, eventstore.Config{NoGroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	type m struct {
		subj string
		raw  []byte
	}
	var msgs []m
	if err := st.Read(ctx, eventstore.ReadOptions{Raw: true}, func(s eventstore.Stored) error {
		msgs = append(msgs, m{s.Subject, append([]byte(nil), s.Raw...)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	snc.Close()
	src.Shutdown()
	out := t.TempDir()
	dst, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Shutdown()
	dnc, _ := dst.Connect("write")
	defer dnc.Close()
	ds, err := eventstore.Open(ctx, dnc, eventstore.Config{NoGroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	js, _ := jetstream.New(dnc)
	for _, x := range msgs {
		if _, err := js.Publish(ctx, x.subj, alter(x.raw)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eventstore.OpenCheckpoints(ctx, dnc, 1); err != nil {
		t.Fatal(err)
	}
	return out
}
