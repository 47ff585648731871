package audit_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"github.com/zjfund/ledger/audit"
	"github.com/zjfund/ledger/domain"
	"github.com/zjfund/ledger/eventstore"
	"github.com/zjfund/ledger/internal/testload"
)

type ledgerT struct {
	dir   string
	srv   *eventstore.Embedded
	nc    *nats.Conn
	store *eventstore.Store
	cps   *eventstore.Checkpoints
}

func openLedger(t *testing.T, dir string) *ledgerT {
	t.Helper()
	srv, err := eventstore.StartServer(eventstore.ServerConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("audit-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := eventstore.Open(ctx, nc, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := eventstore.OpenCheckpoints(ctx, nc, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := &ledgerT{dir: dir, srv: srv, nc: nc, store: st, cps: cps}
	t.Cleanup(l.close)
	return l
}

func (l *ledgerT) close() {
	if l.nc != nil {
		l.store.Close()
		l.nc.Close()
		l.srv.Shutdown()
		l.nc = nil
	}
}

var key struct {
	signer note.Signer
	vkey   string
}

// source makes a ledger with random histories and checkpoints every 50 events.
func source(t *testing.T) (*ledgerT, string) {
	t.Helper()
	l := openLedger(t, t.TempDir())
	testload.Load(t, l.store, 3, 40, 100, false)
	keyPath := filepath.Join(t.TempDir(), "checkpoint.key")
	s, vkey, created, err := audit.LoadOrCreateKey(keyPath, "ledger-test")
	if err != nil || !created {
		t.Fatalf("create key: %v (created %v)", err, created)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	c := audit.NewCheckpointer(l.store, l.cps, audit.CheckpointerConfig{Origin: "ledger-test/LEDGER", Every: 50, Signer: s, Key: vkey})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	last, _ := l.store.LastSequence(context.Background())
	for deadline := time.Now().Add(20 * time.Second); ; <-time.After(10 * time.Millisecond) { // poll
		if _, size := c.Latest(); size == int64(last) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer did not read the stream")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if cp, _ := c.Latest(); cp.Size != int64(last) {
		t.Fatalf("the last checkpoint covers %d of %d events", cp.Size, last)
	}
	return l, vkey
}

type msg struct {
	subject string
	raw     []byte
	seq     uint64
	id      string
	project string
	typ     string
}

func messages(t *testing.T, l *ledgerT) []msg {
	t.Helper()
	var out []msg
	if err := l.store.Read(context.Background(), eventstore.ReadOptions{}, func(s eventstore.Stored) error {
		out = append(out, msg{s.Subject, append([]byte(nil), s.Raw...), s.Seq, s.Envelope.ID, s.Envelope.Subject, s.Envelope.EventType()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkpoints(t *testing.T, l *ledgerT) []eventstore.StoredCheckpoint {
	t.Helper()
	cps, err := l.cps.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// rewrite writes msgs and cps, as they are, into a new ledger: a copy of the stream someone altered.
func rewrite(t *testing.T, msgs []msg, cps []eventstore.StoredCheckpoint) *ledgerT {
	t.Helper()
	l := openLedger(t, t.TempDir())
	js, _ := jetstream.New(l.nc)
	for _, m := range msgs {
		if _, err := js.Publish(context.Background(), m.subject, m.raw); err != nil {
			t.Fatal(err)
		}
	}
	var seq uint64
	for _, c := range cps {
		s, err := l.cps.Append(context.Background(), c.Size, c.Signed, seq)
		if err != nil {
			t.Fatal(err)
		}
		seq = s
	}
	return l
}

func verify(t *testing.T, l *ledgerT, vkey string) (audit.Result, *audit.Failure) {
	t.Helper()
	res, err := audit.Verify(context.Background(), l.store, audit.VerifyOptions{Key: vkey, Checkpoints: checkpoints(t, l)})
	var f *audit.Failure
	if err != nil && !errors.As(err, &f) {
		t.Fatalf("verify: %v", err)
	}
	return res, f
}

func TestTamperDrills(t *testing.T) {
	src, vkey := source(t)
	orig := messages(t, src)
	cps := checkpoints(t, src)
	if len(cps) < 3 {
		t.Fatalf("%d checkpoints; the drills want several", len(cps))
	}
	res, f := verify(t, src, vkey)
	if f != nil || res.Events != uint64(len(orig)) || res.Covered != int64(len(orig)) || res.Checkpoints != len(cps) {
		t.Fatalf("the untouched ledger: %+v, %v", res, f)
	}
	t.Logf("untouched: %d events of %d projects, %d checkpoints verified", res.Events, res.Projects, res.Checkpoints)
	// A project with several events, and its events' places in the stream.
	byProject := map[string][]int{}
	for i, m := range orig {
		byProject[m.project] = append(byProject[m.project], i)
	}
	var proj string
	for p, idx := range byProject {
		if len(idx) >= 4 && (proj == "" || p < proj) {
			proj = p
		}
	}
	idx := byProject[proj]

	t.Run("an amount altered", func(t *testing.T) {
		msgs := append([]msg(nil), orig...)
		i := -1
		for j, m := range msgs {
			if m.typ == "funds_disbursed.v1" {
				i = j
				break
			}
		}
		if i < 0 {
			t.Fatal("no disbursement in the random histories")
		}
		raw := string(msgs[i].raw)
		at := strings.Index(raw, `"amount":`) + len(`"amount":`)
		end := at + strings.IndexAny(raw[at:], ",}")
		n, _ := strconv.ParseInt(raw[at:end], 10, 64)
		msgs[i].raw = []byte(raw[:at] + strconv.FormatInt(n*10, 10) + raw[end:])
		_, f := verify(t, rewrite(t, msgs, cps), vkey)
		if f == nil || f.Seq != msgs[i].seq || f.EventID != msgs[i].id || !strings.Contains(f.Reason, "hash") {
			t.Fatalf("got %v; want the altered event %d (%s) named for its hash", f, msgs[i].seq, msgs[i].id)
		}
		t.Log(f)
	})

	t.Run("an event removed", func(t *testing.T) {
		gone := idx[1]
		msgs := append(append([]msg(nil), orig[:gone]...), orig[gone+1:]...)
		next := orig[idx[2]]
		_, f := verify(t, rewrite(t, msgs, cps), vkey)
		if f == nil || f.EventID != next.id || !strings.Contains(f.Reason, "prevhash") {
			t.Fatalf("got %v; want the event after the removed one (%s) named for its prevhash", f, next.id)
		}
		t.Log(f)
	})

	t.Run("two events swapped", func(t *testing.T) {
		msgs := append([]msg(nil), orig...)
		a, b := idx[1], idx[2]
		msgs[a].raw, msgs[b].raw = msgs[b].raw, msgs[a].raw
		msgs[a].subject, msgs[b].subject = msgs[b].subject, msgs[a].subject
		_, f := verify(t, rewrite(t, msgs, cps), vkey)
		if f == nil || f.EventID != orig[b].id || f.Seq != orig[a].seq {
			t.Fatalf("got %v; want the event moved forward (%s, now at %d) named", f, orig[b].id, orig[a].seq)
		}
		t.Log(f)
	})

	t.Run("a checkpoint signed with another key", func(t *testing.T) {
		_, otherKey, _ := note.GenerateKey(rand.Reader, "ledger-test")
		skey, _, _ := note.GenerateKey(rand.Reader, "ledger-test")
		_ = otherKey
		other, _ := note.NewSigner(skey)
		forged := append([]eventstore.StoredCheckpoint(nil), cps...)
		n, err := note.Open(cps[1].Signed, note.VerifierList(mustVerifier(t, vkey)))
		if err != nil {
			t.Fatal(err)
		}
		signed, err := note.Sign(&note.Note{Text: n.Text}, other)
		if err != nil {
			t.Fatal(err)
		}
		forged[1].Signed = signed
		_, f := verify(t, rewrite(t, orig, forged), vkey)
		if f == nil || f.Checkpoint != cps[1].Size || !strings.Contains(f.Reason, "not signed by the ledger's key") {
			t.Fatalf("got %v; want checkpoint %d refused for its signature", f, cps[1].Size)
		}
		t.Log(f)
	})

	t.Run("a disbursement the rules would refuse, hashed and chained", func(t *testing.T) {
		// Appended through the store itself, bypassing the domain: hash and
		// chain are right, the rules are not.
		l := rewrite(t, orig, nil)
		hist, err := l.store.Load(context.Background(), domain.ProjectID(proj))
		if err != nil {
			t.Fatal(err)
		}
		last := hist[len(hist)-1]
		tok := strings.Split(last.Subject, ".")
		forged, err := l.store.Append(context.Background(), eventstore.AppendRequest{Project: domain.ProjectID(proj), City: domain.DivisionCode(tok[1]), County: domain.DivisionCode(tok[2]),
			Expected: last.Seq, PrevHash: last.Envelope.Hash, Events: []eventstore.Draft{{ID: "forged-1", Time: last.Envelope.Time,
				Event: domain.FundsDisbursed{Source: domain.SourceCentralBudget, Amount: 1_000_000_000 * domain.Wan, Tranche: 99, Basis: "?"},
				Actor: domain.Actor{Name: "someone", Role: domain.RoleFinance}}}})
		if err != nil {
			t.Fatal(err)
		}
		_, f := verify(t, l, vkey)
		if f == nil || f.EventID != "forged-1" || f.Seq != forged[0].Seq || !strings.Contains(f.Reason, "rules would not have recorded it") {
			t.Fatalf("got %v; want the forged disbursement at %d named for the rules", f, forged[0].Seq)
		}
		t.Log(f)
	})

	t.Run("an amount altered, rehashed and rechained", func(t *testing.T) {
		// Whoever rewrites an event and fixes its hash and its project's chain
		// still cannot match the signed checkpoints.
		msgs := append([]msg(nil), orig...)
		i := idx[len(idx)-1]
		env, err := eventstore.Parse(msgs[i].raw)
		if err != nil {
			t.Fatal(err)
		}
		raw := string(msgs[i].raw)
		raw = strings.Replace(raw, `"actor":"`+env.Actor+`"`, `"actor":"someone else"`, 1)
		body := raw[:len(raw)-75] + "}"
		msgs[i].raw = []byte(body[:len(body)-1] + `,"hash":"` + audit.HashForTest([]byte(body)) + `"}`)
		_, f := verify(t, rewrite(t, msgs, cps), vkey)
		if f == nil || f.Checkpoint == 0 || f.Checkpoint < int64(msgs[i].seq) {
			t.Fatalf("got %v; want the first checkpoint covering sequence %d refused", f, msgs[i].seq)
		}
		t.Log(f)
	})
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFlippedByteInABlockFile corrupts one byte of an event in a copy of a
// stopped ledger's store directory, and checks that verify names that event.
func TestFlippedByteInABlockFile(t *testing.T) {
	src, vkey := source(t)
	orig := messages(t, src)
	victim := orig[len(orig)/2]
	src.close()
	copyDir := t.TempDir()
	if err := os.CopyFS(copyDir, os.DirFS(src.dir)); err != nil {
		t.Fatal(err)
	}
	flipped := false
	_ = filepath.WalkDir(copyDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || flipped || !strings.HasSuffix(path, ".blk") || !strings.Contains(path, string(filepath.Separator)+"LEDGER"+string(filepath.Separator)) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		at := bytes.Index(b, []byte(victim.id))
		if at < 0 {
			return nil
		}
		b[at+3] ^= 0x01 // a byte of the event's id
		flipped = true
		return os.WriteFile(path, b, 0o644)
	})
	if !flipped {
		t.Fatal("the victim event is in no block file")
	}
	l := openLedger(t, copyDir)
	_, f := verify(t, l, vkey)
	if f == nil || f.Seq != victim.seq {
		t.Fatalf("got %v; want the event at sequence %d named", f, victim.seq)
	}
	t.Log(f)
}

func TestBundleVerifiesOfflineAndRejectsAnyChangedByte(t *testing.T) {
	src, vkey := source(t)
	orig := messages(t, src)
	cps := checkpoints(t, src)
	proj := orig[0].project
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), src.store, cps, vkey, audit.Selection{Filter: eventstore.ProjectFilter(domain.ProjectID(proj)), Label: "project " + proj}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, m := range orig {
		if m.project == proj {
			want++
		}
	}
	if n != want {
		t.Fatalf("exported %d events of %s, it has %d", n, proj, want)
	}
	src.close() // no server from here on
	b := buf.Bytes()
	res, err := audit.VerifyBundle(bytes.NewReader(b), int64(len(b)), vkey)
	if err != nil || res.Events != want || res.Complete != 1 {
		t.Fatalf("the bundle: %+v, %v", res, err)
	}
	// Another key pinned: refused.
	_, other, _ := note.GenerateKey(rand.Reader, "ledger-test")
	if _, err := audit.VerifyBundle(bytes.NewReader(b), int64(len(b)), other); err == nil {
		t.Fatal("a bundle checked against another key: want a refusal")
	}
	// Every single changed byte is refused (the zip's CRCs, JSON, the hashes, the proofs or the signature catch it).
	for _, at := range []int{len(b) / 7, len(b) / 3, len(b) / 2, 2 * len(b) / 3, len(b) - 30} {
		bad := append([]byte(nil), b...)
		bad[at] ^= 0x20
		if _, err := audit.VerifyBundle(bytes.NewReader(bad), int64(len(bad)), ""); err == nil {
			t.Fatalf("a bundle with byte %d of %d changed verified", at, len(b))
		}
	}
	// An event altered inside a well-formed archive: its hash refuses it.
	forged := rezip(t, b, func(name string, data []byte) []byte {
		if name != "events.jsonl" {
			return data
		}
		return bytes.Replace(data, []byte(`\"actor\":\"`), []byte(`\"actor\":\"X`), 1)
	})
	if _, err := audit.VerifyBundle(bytes.NewReader(forged), int64(len(forged)), vkey); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("an altered event in a well-formed bundle: %v; want its hash refused", err)
	}
}

func TestRegionAndPeriodBundles(t *testing.T) {
	src, vkey := source(t)
	cps := checkpoints(t, src)
	from := testload.Start.AddDate(0, 6, 0)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), src.store, cps, vkey, audit.Selection{Filter: "ledger.330600.>", From: from, Label: "330600 from " + from.Format(time.DateOnly)}, &buf)
	if err != nil || n == 0 {
		t.Fatalf("export: %d events, %v", n, err)
	}
	res, err := audit.VerifyBundle(bytes.NewReader(buf.Bytes()), int64(buf.Len()), vkey)
	if err != nil || res.Events != n {
		t.Fatalf("a region and period bundle: %+v, %v", res, err)
	}
	t.Logf("region 330600 from %s: %d events of %d projects, %d of them whole histories", from.Format(time.DateOnly), res.Events, res.Projects, res.Complete)
}

// rezip rewrites a zip archive, passing each file through edit.
func rezip(t *testing.T, b []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		w, _ := zw.Create(f.Name)
		w.Write(edit(f.Name, data))
	}
	zw.Close()
	return out.Bytes()
}
