package eventstore

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/domain"
)

// harness is a real nats-server started in-process on a temp store dir.
type harness struct {
	dir   string
	srv   *Embedded
	nc    *nats.Conn
	store *Store
}

func start(t *testing.T, dir string) *harness {
	t.Helper()
	return startWith(t, ServerConfig{DataDir: dir})
}

// startWith is start with a server configuration of the test's own.
func startWith(t *testing.T, cfg ServerConfig) *harness {
	t.Helper()
	dir := cfg.DataDir
	srv, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("test")
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	st, err := Open(context.Background(), nc, Config{Source: "urn:ledger:test"})
	if err != nil {
		nc.Close()
		srv.Shutdown()
		t.Fatal(err)
	}
	h := &harness{dir: dir, srv: srv, nc: nc, store: st}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.nc != nil {
		h.store.Close()
		h.nc.Close()
		h.srv.Shutdown()
		h.nc = nil
	}
}

func (h *harness) msgs(t *testing.T) uint64 {
	t.Helper()
	info, err := h.store.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

var when = time.Date(2011, 8, 15, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

func draft(e domain.Event) Draft {
	return Draft{ID: uuid.Must(uuid.NewV7()).String(), Event: e, Time: when,
		Actor: domain.Actor{Name: "李明", Role: domain.RoleFinance}, CorrelationID: "corr-1"}
}

func appendOne(t *testing.T, s *Store, id domain.ProjectID, expected uint64, prev string, e domain.Event) Stored {
	t.Helper()
	got, err := s.Append(context.Background(), AppendRequest{Project: id, City: "330600", County: "330682", Expected: expected, PrevHash: prev, Events: []Draft{draft(e)}})
	if err != nil {
		t.Fatalf("append %s to %s at %d: %v", e.EventType(), id, expected, err)
	}
	return got[0]
}

func TestConcurrentWritersOnOneProjectExactlyOneWins(t *testing.T) {
	h := start(t, t.TempDir())
	first := appendOne(t, h.store, "P1", 0, "", domain.ProjectClosed{Note: "seed"})
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	var other []error
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Writers use different event types, so different subjects: the
			// expectation must hold over the project's whole subject space.
			var e domain.Event = domain.FundsDisbursed{Source: domain.SourceCentralBudget, Amount: domain.Fen(i + 1), Tranche: 1, Basis: "b"}
			if i%2 == 1 {
				e = domain.ProgressReported{AsOf: "2011-08-15", InvestmentCompleted: domain.Fen(i)}
			}
			_, err := h.store.Append(context.Background(), AppendRequest{Project: "P1", City: "330600", County: "330682",
				Expected: first.Seq, PrevHash: first.Envelope.Hash, Events: []Draft{draft(e)}})
			mu.Lock()
			defer mu.Unlock()
			var ce *ConflictError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce):
				conflicts++
			default:
				other = append(other, err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || conflicts != writers-1 || len(other) > 0 {
		t.Fatalf("%d writers at sequence %d: %d won, %d conflicted, other errors %v; want 1 and %d", writers, first.Seq, wins, conflicts, other, writers-1)
	}
	if n := h.msgs(t); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
}

func TestWildcardExpectationCoversEveryEventTypeOfTheProject(t *testing.T) {
	h := start(t, t.TempDir())
	appendOne(t, h.store, "P1", 0, "", domain.ProvincialReviewPassed{Reference: "r"})
	// Another project's events do not move P1's sequence.
	appendOne(t, h.store, "P2", 0, "", domain.ProvincialReviewPassed{Reference: "r"})
	_, err := h.store.Append(context.Background(), AppendRequest{Project: "P1", City: "330600", County: "330682", Expected: 0,
		Events: []Draft{draft(domain.NationalReplyReceived{Reference: "r"})}})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Project != "P1" || ce.Expected != 0 {
		t.Fatalf("append at 0 to a project with an event of another type: got %v, want *ConflictError", err)
	}
}

func TestRetriedAppendIsStoredOnce(t *testing.T) {
	h := start(t, t.TempDir())
	req := AppendRequest{Project: "P1", City: "330600", County: "330682",
		Events: []Draft{draft(domain.ChangeApproved{ChangeID: "c1", Reference: "r"}), draft(domain.OwnerRenamed{ChangeID: "c1", From: "a", To: "b"})}}
	first, err := h.store.Append(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.store.Append(context.Background(), req)
	if err != nil {
		t.Fatalf("retry of a stored append: %v", err)
	}
	if len(again) != 2 || again[0].Seq != first[0].Seq || again[1].Seq != first[1].Seq {
		t.Fatalf("retry returned sequences %v, want those of the first try %d,%d", again, first[0].Seq, first[1].Seq)
	}
	// A plain publish of the same message id (no expectation) is dropped by JetStream's dedupe.
	m := nats.NewMsg(first[0].Subject)
	m.Data = first[0].Raw
	m.Header.Set(jetstream.MsgIDHeader, first[0].Envelope.ID)
	js, _ := jetstream.New(h.nc)
	ack, err := js.PublishMsg(context.Background(), m)
	if err != nil || !ack.Duplicate || ack.Sequence != first[0].Seq {
		t.Fatalf("republish with the same Nats-Msg-Id: ack %+v, err %v; want a duplicate of %d", ack, err, first[0].Seq)
	}
	if n := h.msgs(t); n != 2 {
		t.Fatalf("stream holds %d messages after retries, want 2", n)
	}
}

// After JetStream's duplicate window a retried append is no longer dropped
// by its message ids; the project's expected sequence refuses it instead, and
// the store answers with the events of the first try.
func TestRetriedAppendPastTheDuplicateWindowIsStoredOnce(t *testing.T) {
	h := start(t, t.TempDir())
	ctx := context.Background()
	for _, events := range [][]Draft{
		{draft(domain.ChangeApproved{ChangeID: "c1", Reference: "r"})},
		{draft(domain.ChangeApproved{ChangeID: "c2", Reference: "r"}), draft(domain.OwnerRenamed{ChangeID: "c2", From: "a", To: "b"})},
	} {
		last, _ := h.store.LastSequence(ctx)
		req := AppendRequest{Project: "P1", City: "330600", County: "330682", Expected: last, Recorded: time.Now().UTC(), Events: events}
		first, err := h.store.Append(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		// The same messages again, as JetStream sees them once it has
		// forgotten their ids.
		msgs, out, err := h.store.messages(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			m.Header.Del(jetstream.MsgIDHeader)
		}
		again, err := h.store.commit(ctx, req, msgs, out)
		if err != nil {
			t.Fatalf("retry past the window: %v", err)
		}
		if len(again) != len(first) || again[0].Seq != first[0].Seq || again[len(again)-1].Seq != first[len(first)-1].Seq {
			t.Fatalf("retry returned %v, want the first try's sequences", again)
		}
	}
	if n := h.msgs(t); n != 3 {
		t.Fatalf("stream holds %d messages, want 3", n)
	}
}

func TestAtomicAppendChainsHashesAndIsAllOrNothing(t *testing.T) {
	h := start(t, t.TempDir())
	a := appendOne(t, h.store, "P1", 0, "", domain.ProjectClosed{})
	evs := []Draft{draft(domain.ChangeApproved{ChangeID: "c1", Reference: "r"}), draft(domain.OwnerRenamed{ChangeID: "c1", From: "a", To: "b"}),
		draft(domain.ContentChanged{ChangeID: "c1", Description: "d"})}
	got, err := h.store.Append(context.Background(), AppendRequest{Project: "P1", City: "330600", County: "330682", Expected: a.Seq, PrevHash: a.Envelope.Hash, Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := h.store.Load(context.Background(), "P1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 {
		t.Fatalf("history has %d events, want 4", len(hist))
	}
	prev := ""
	for i, s := range hist {
		if s.Envelope.PrevHash != prev {
			t.Fatalf("event %d: prevhash %q, want %q", i, s.Envelope.PrevHash, prev)
		}
		prev = s.Envelope.Hash
		if i > 0 && s.Seq != got[i-1].Seq {
			t.Fatalf("event %d at sequence %d, Append said %d", i, s.Seq, got[i-1].Seq)
		}
	}
	// A stale batch stores none of its events.
	_, err = h.store.Append(context.Background(), AppendRequest{Project: "P1", City: "330600", County: "330682", Expected: a.Seq,
		Events: []Draft{draft(domain.ChangeApproved{ChangeID: "c2", Reference: "r"}), draft(domain.ContentChanged{ChangeID: "c2", Description: "d"})}})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("stale batch: got %v, want *ConflictError", err)
	}
	if n := h.msgs(t); n != 4 {
		t.Fatalf("stream holds %d messages after a refused batch, want 4", n)
	}
}

func TestDeletesAndPurgesAreRefused(t *testing.T) {
	h := start(t, t.TempDir())
	s := appendOne(t, h.store, "P1", 0, "", domain.ProjectClosed{})
	js, _ := jetstream.New(h.nc)
	// Denied API requests get no reply (the server drops them and tells the
	// connection of the permission violation), so they end by the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	denied := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	stream, err := js.Stream(ctx, "LEDGER")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(denied(), s.Seq); err == nil {
		t.Error("deleting a message: want an error")
	}
	if err := stream.SecureDeleteMsg(denied(), s.Seq); err == nil {
		t.Error("erasing a message: want an error")
	}
	if err := stream.Purge(denied()); err == nil {
		t.Error("purging the stream: want an error")
	}
	if err := stream.Purge(denied(), jetstream.WithPurgeSubject("ledger.>")); err == nil {
		t.Error("purging a subject: want an error")
	}
	if err := js.DeleteStream(denied(), "LEDGER"); err == nil {
		t.Error("deleting the stream: want an error")
	}
	cfg := StreamConfig(Config{})
	cfg.DenyDelete, cfg.DenyPurge = false, false
	if _, err := js.UpdateStream(ctx, cfg); err == nil {
		t.Error("turning deny_delete and deny_purge off: want an error")
	}
	cfg = StreamConfig(Config{})
	cfg.MaxAge = time.Hour
	cfg.Discard = jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, cfg); err == nil {
		// The update went through: Open must put the settings back.
		again, err := Open(ctx, h.nc, Config{})
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
	}
	// A stream made when the duplicate window was 10 minutes is brought to
	// the configured one, which bounds the memory JetStream keeps for it.
	cfg = StreamConfig(Config{})
	cfg.Duplicates = 10 * time.Minute
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, h.nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	info, err := h.store.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != 2*time.Minute {
		t.Errorf("duplicate window after Open: %v, want 2m0s", info.Config.Duplicates)
	}
	if info.State.Msgs != 1 || !info.Config.DenyDelete || !info.Config.DenyPurge || info.Config.AllowRollup || info.Config.MaxAge != 0 {
		t.Fatalf("after the attempts: %d messages, config %+v", info.State.Msgs, info.Config)
	}
}

func TestEventsSurviveARestartWithTheirBytes(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir)
	var prev string
	var seq uint64
	var want []Stored
	for i := 0; i < 5; i++ {
		s := appendOne(t, h.store, "P1", seq, prev, domain.FundsDisbursed{Source: domain.SourceCentralBudget, Amount: domain.Fen(i+1) * domain.Wan, Tranche: i + 1, Basis: "b"})
		want = append(want, s)
		prev, seq = s.Envelope.Hash, s.Seq
	}
	h.stop()
	h2 := start(t, dir)
	got, err := h2.store.Load(context.Background(), "P1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after restart %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || string(got[i].Raw) != string(want[i].Raw) {
			t.Fatalf("event %d differs after restart", i)
		}
	}
	if h2.srv.Server.JetStreamConfig() == nil || !h2.srv.Server.JetStreamConfig().SyncAlways {
		t.Fatal("the embedded server does not run with sync_interval: always")
	}
}

func TestCloudEventBodyDecodes(t *testing.T) {
	h := start(t, t.TempDir())
	d := draft(domain.FundsDisbursed{Source: domain.SourceCentralBudget, Amount: 600 * domain.Wan, Tranche: 1, Basis: "预拨 50%"})
	d.CausationID, d.IdempotencyKey = "cause-1", "key-1"
	before := time.Now().UTC()
	got, err := h.store.Append(context.Background(), AppendRequest{Project: "P1", City: "330200", County: "330200", Events: []Draft{d}})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := h.store.Load(context.Background(), "P1")
	if err != nil || len(hist) != 1 {
		t.Fatalf("load: %v, %d events", err, len(hist))
	}
	s := hist[0]
	e := s.Envelope
	checks := []struct{ name, got, want string }{
		{"subject on the stream", s.Subject, "ledger.330200.330200.P1.funds_disbursed"},
		{"specversion", e.SpecVersion, "1.0"},
		{"id", e.ID, d.ID},
		{"source", e.Source, "urn:ledger:test"},
		{"type", e.Type, "ledger.project.funds_disbursed.v1"},
		{"subject", e.Subject, "P1"},
		{"datacontenttype", e.DataContentType, "application/json"},
		{"actor", e.Actor, "李明"},
		{"actorrole", e.ActorRole, "finance"},
		{"correlationid", e.CorrelationID, "corr-1"},
		{"causationid", e.CausationID, "cause-1"},
		{"idempotencykey", e.IdempotencyKey, "key-1"},
		{"prevhash", e.PrevHash, ""},
		{"hash", e.Hash, got[0].Envelope.Hash},
		{"time", e.Time.Format(time.RFC3339), "2011-08-15T00:00:00+08:00"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if e.RecordedTime.Before(before.Add(-time.Second)) || e.RecordedTime.After(time.Now().Add(time.Second)) {
		t.Errorf("recordedtime %s is not the time of the append", e.RecordedTime)
	}
	if len(e.Hash) != 64 || ComputeHash(s.Raw) != e.Hash {
		t.Errorf("hash %q does not match the stored bytes", e.Hash)
	}
	ev, err := s.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if fd, ok := ev.(domain.FundsDisbursed); !ok || fd.Amount != 600*domain.Wan {
		t.Fatalf("decoded data %#v", ev)
	}
	// One changed byte breaks the hash.
	tampered := append([]byte(nil), s.Raw...)
	i := len(`{"specversion":"1.0","id":"`)
	tampered[i] ^= 1
	if _, err := Parse(tampered); !errors.Is(err, ErrBadHash) {
		t.Fatalf("parse a tampered event: got %v, want ErrBadHash", err)
	}
}

func TestReaderMayReadButNotWrite(t *testing.T) {
	h := startWith(t, ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ReaderPassword: quickHash(t, "s3cret")})
	srv, st := h.srv, h.store
	if _, err := StartServer(ServerConfig{DataDir: t.TempDir(), Listen: "0.0.0.0:4222"}); err == nil {
		t.Fatal("a non-loopback listen address: want an error")
	}
	if _, err := nats.Connect(srv.ClientURL()); err == nil {
		t.Fatal("connecting without credentials: want an error")
	}
	var mu sync.Mutex
	var asyncErrs []error
	rd, err := nats.Connect(srv.ClientURL(), nats.Timeout(20*time.Second), nats.UserInfo("reader", "s3cret"), nats.CustomInboxPrefix(InboxPrefix("reader")), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		asyncErrs = append(asyncErrs, err)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	violations := func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), asyncErrs...)
	}
	sub, err := rd.SubscribeSync("ledger.>")
	if err != nil {
		t.Fatal(err)
	}
	rd.Flush()
	appendOne(t, st, "P1", 0, "", domain.ProjectClosed{})
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "ledger.330600.330682.P1.project_closed" {
		t.Fatalf("reader's subscription: %v, %v", m, err)
	}
	// Opened read-only, as verify and export open it with the reader's
	// identity: nothing is changed (the reader may not), even on a stream
	// whose duplicate window is not the configured one, and it reads.
	wcfg := StreamConfig(Config{})
	wcfg.Duplicates = 10 * time.Minute
	if _, err := st.js.UpdateStream(context.Background(), wcfg); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(context.Background(), rd, Config{ReadOnly: true})
	if err != nil {
		t.Fatalf("reader opening the store read-only: %v", err)
	}
	if hist, err := ro.Load(context.Background(), "P1"); err != nil || len(hist) != 1 {
		t.Fatalf("read-only store's history of P1: %d events, %v", len(hist), err)
	}
	if _, err := ro.Append(context.Background(), AppendRequest{Project: "P1", City: "330600", County: "330682", Expected: 1,
		Events: []Draft{draft(domain.ProjectClosed{})}}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("appending through a read-only store: %v, want a read-only refusal", err)
	}
	ro.Close()
	if info, err := st.Info(context.Background()); err != nil || info.Config.Duplicates != 10*time.Minute {
		t.Fatalf("after a read-only open: %v, %v; want the window left at 10m", info.Config.Duplicates, err)
	}
	nctx, ncancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // the reader may not even ask about it
	defer ncancel()
	if _, err := Open(nctx, rd, Config{ReadOnly: true, Stream: "NOPE"}); err == nil {
		t.Fatal("opening a missing stream read-only: want an error")
	}
	rjs, _ := jetstream.New(rd)
	pctx, pcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer pcancel()
	if _, err := rjs.Publish(pctx, "ledger.330600.330682.P1.project_closed", []byte(`{}`)); err == nil {
		t.Fatal("reader publishing an event: want an error")
	}
	expectViolation(t, "reader publishing an event", "ledger.330600.330682.P1.project_closed", violations)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := rjs.DeleteStream(ctx, "LEDGER"); err == nil {
		t.Fatal("reader deleting the stream: want an error")
	}
	expectViolation(t, "reader deleting the stream", "$JS.API.STREAM.DELETE.LEDGER", violations)
	// The ledger's durable consumers (a webhook's, a region's) are not the reader's to delete.
	if _, err := st.js.CreateOrUpdateConsumer(context.Background(), "LEDGER", jetstream.ConsumerConfig{Durable: "wh-someone"}); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer dcancel()
	if err := rjs.DeleteConsumer(dctx, "LEDGER", "wh-someone"); err == nil {
		t.Fatal("reader deleting a consumer: want an error")
	}
	expectViolation(t, "reader deleting a consumer", "$JS.API.CONSUMER.DELETE.LEDGER.wh-someone", violations)
	if _, err := st.js.Consumer(context.Background(), "LEDGER", "wh-someone"); err != nil {
		t.Fatalf("the consumer after the reader's attempt: %v", err)
	}
	// Nor is the ledger's inbox the reader's to read.
	if _, err := rd.SubscribeSync(LedgerInbox + ".>"); err == nil {
		rd.Flush()
		expectViolation(t, "reader subscribing to the ledger's inbox", LedgerInbox+".>", violations)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
}

// TestLoadReadsLongHistoriesInOrder: a project's history longer than one
// direct-get batch, interleaved with another project's events, loads whole
// and in order.
// A read whose context ends stops handing events to its caller: none comes
// after the cancel — above all none the parsers never saw, which would come
// without its envelope. (The reader once closed an abandoned chunk's done
// channel, and the caller, selecting on it and on the context at once, could
// take it for parsed.)
func TestReadStopsAtTheCancel(t *testing.T) {
	h := start(t, t.TempDir())
	ctx := context.Background()
	var last uint64
	var prev string
	for round := 0; round < 4; round++ {
		var drafts []Draft
		for i := 0; i < 500; i++ {
			drafts = append(drafts, draft(domain.InspectionRecorded{Kind: "audit", Body: "b"}))
		}
		got, err := h.store.Append(ctx, AppendRequest{Project: "MANY", City: "330600", County: "330682", Expected: last, PrevHash: prev, Events: drafts})
		if err != nil {
			t.Fatal(err)
		}
		last, prev = got[len(got)-1].Seq, got[len(got)-1].Envelope.Hash
	}
	for try := 0; try < 40; try++ {
		rctx, cancel := context.WithCancel(ctx)
		stopAt := uint64(1 + try*47%1900)
		cancelled := false
		err := h.store.Read(rctx, ReadOptions{Follow: true}, func(s Stored) error {
			if s.Envelope == nil {
				t.Fatalf("try %d: event %d handed over without its envelope", try, s.Seq)
			}
			if cancelled {
				t.Fatalf("try %d: event %d handed over after the cancel at %d", try, s.Seq, stopAt)
			}
			if s.Seq == stopAt {
				cancel()
				cancelled = true
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("try %d: read ended with %v, want context.Canceled", try, err)
		}
	}
}

func TestLoadReadsLongHistoriesInOrder(t *testing.T) {
	h := start(t, t.TempDir())
	ctx := context.Background()
	var last, other uint64
	var prev, otherPrev string
	for round := 0; round < 3; round++ {
		var drafts []Draft
		for i := 0; i < 250; i++ {
			drafts = append(drafts, draft(domain.InspectionRecorded{Kind: "audit", Body: "b", Reference: string(rune('a' + round))}))
		}
		got, err := h.store.Append(ctx, AppendRequest{Project: "LONG", City: "330600", County: "330682", Expected: last, PrevHash: prev, Events: drafts})
		if err != nil {
			t.Fatal(err)
		}
		last, prev = got[len(got)-1].Seq, got[len(got)-1].Envelope.Hash
		o := appendOne(t, h.store, "OTHER", other, otherPrev, domain.ProjectClosed{})
		other, otherPrev = o.Seq, o.Envelope.Hash
	}
	hist, err := h.store.Load(ctx, "LONG")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 750 {
		t.Fatalf("loaded %d events, want 750", len(hist))
	}
	prevHash := ""
	for i, s := range hist {
		if s.Envelope.Subject != "LONG" || s.Envelope.PrevHash != prevHash || (i > 0 && s.Seq <= hist[i-1].Seq) {
			t.Fatalf("event %d at %d out of order or of another project", i, s.Seq)
		}
		prevHash = s.Envelope.Hash
	}
	if hist[749].Seq != last {
		t.Fatalf("last loaded sequence %d, want %d", hist[749].Seq, last)
	}
	if none, err := h.store.Load(ctx, "NOPE"); err != nil || len(none) != 0 {
		t.Fatalf("unknown project: %v, %d events", err, len(none))
	}
	for _, c := range []struct {
		id   domain.ProjectID
		want uint64
	}{{"LONG", last}, {"OTHER", other}, {"NOPE", 0}} {
		if got, err := h.store.LastOf(ctx, c.id); err != nil || got != c.want {
			t.Fatalf("LastOf(%s) = %d, %v; want %d", c.id, got, err, c.want)
		}
	}
}

// TestGroupCommitConflictsFailAlone: 2, 16 and 256 appends to different
// projects at once, about one in sixteen with a stale expectation. They are
// packed into atomic batches where there are enough of them; each stale
// append fails alone with a *ConflictError, every other one commits, at the
// sequence it was told, with its chain.
func TestGroupCommitConflictsFailAlone(t *testing.T) {
	for _, n := range []int{2, 16, 256} {
		t.Run(fmt.Sprintf("%d_at_once", n), func(t *testing.T) { conflictsFailAlone(t, n) })
	}
}

func conflictsFailAlone(t *testing.T, concurrent int) {
	h := start(t, t.TempDir())
	ctx := context.Background()
	// 20 projects that already have an event: appends to them at 0 are stale.
	stale := map[domain.ProjectID]bool{}
	for i := 0; i < 20; i++ {
		id := domain.ProjectID(fmt.Sprintf("OLD-%02d", i))
		appendOne(t, h.store, id, 0, "", domain.ProjectClosed{})
		stale[id] = true
	}
	// First 400 fresh appends at once: they go in atomic batches.
	var pre []domain.ProjectID
	for i := 0; i < 400; i++ {
		pre = append(pre, domain.ProjectID(fmt.Sprintf("PRE-%03d", i)))
	}
	var pwg sync.WaitGroup
	preGate := make(chan struct{})
	for _, id := range pre {
		pwg.Add(1)
		go func(id domain.ProjectID) {
			defer pwg.Done()
			<-preGate
			if _, err := h.store.Append(ctx, AppendRequest{Project: id, City: "330600", County: "330682", Events: []Draft{draft(domain.ProjectClosed{})}}); err != nil {
				t.Errorf("append to %s: %v", id, err)
			}
		}(id)
	}
	close(preGate)
	pwg.Wait()
	if gs := h.store.GroupStats(); gs.Batches == 0 || gs.Fallbacks != 0 {
		t.Fatalf("400 fresh appends at once: group commit stats %+v; want batches and no fallback", gs)
	}
	staleN := max(1, concurrent/16)
	fresh := concurrent - staleN
	type result struct {
		id     domain.ProjectID
		stored []Stored
		err    error
	}
	results := make(chan result, fresh+len(stale))
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	ids := []domain.ProjectID{}
	for i := 0; i < fresh; i++ {
		ids = append(ids, domain.ProjectID(fmt.Sprintf("NEW-%03d", i)))
		if i%16 == 0 && i/16 < staleN {
			ids = append(ids, domain.ProjectID(fmt.Sprintf("OLD-%02d", i/16)))
		}
	}
	for _, id := range ids {
		wg.Add(1)
		go func(id domain.ProjectID) {
			defer wg.Done()
			<-startGate
			evs := []Draft{draft(domain.ProgressReported{AsOf: "2011-08-15", InvestmentCompleted: 1})}
			if len(id)%2 == 0 { // some appends carry two events
				evs = append(evs, draft(domain.InspectionRecorded{Kind: "audit", Body: "b"}))
			}
			st, err := h.store.Append(ctx, AppendRequest{Project: id, City: "330600", County: "330682", Expected: 0, Events: evs})
			results <- result{id, st, err}
		}(id)
	}
	close(startGate)
	wg.Wait()
	close(results)
	committed := 0
	for r := range results {
		var ce *ConflictError
		switch {
		case stale[r.id]:
			if !errors.As(r.err, &ce) {
				t.Fatalf("stale append to %s: got %v, want *ConflictError", r.id, r.err)
			}
		case r.err != nil:
			t.Fatalf("append to %s: %v", r.id, r.err)
		default:
			hist, err := h.store.Load(ctx, r.id)
			if err != nil || len(hist) != len(r.stored) {
				t.Fatalf("project %s: stored %d, loaded %d (%v)", r.id, len(r.stored), len(hist), err)
			}
			prev := ""
			for i := range hist {
				if hist[i].Seq != r.stored[i].Seq || hist[i].Envelope.ID != r.stored[i].Envelope.ID || hist[i].Envelope.PrevHash != prev {
					t.Fatalf("project %s event %d: stored at %d, Append said %d; prevhash %q", r.id, i, hist[i].Seq, r.stored[i].Seq, hist[i].Envelope.PrevHash)
				}
				prev = hist[i].Envelope.Hash
			}
			committed += len(r.stored)
		}
	}
	if n := h.msgs(t); n != uint64(committed+len(stale)+len(pre)) {
		t.Fatalf("stream holds %d messages, want %d", n, committed+len(stale)+len(pre))
	}
	if committed == 0 && fresh > 0 {
		t.Fatal("nothing committed")
	}
	gs := h.store.GroupStats()
	t.Logf("%d appends: %d atomic batches carried %d of them; %d batches fell back to single appends", len(ids), gs.Batches, gs.Appends, gs.Fallbacks)
	if concurrent >= 256 && gs.Fallbacks == 0 {
		t.Fatalf("group commit stats %+v: want fallbacks for the stale appends", gs)
	}
}

// TestRegionSubscriberIsConfined: a city's identity reads its city's events
// through a durable consumer named after itself, and is refused every other
// region's subjects, other consumers, and publishing — with real NATS permissions.
func TestRegionSubscriberIsConfined(t *testing.T) {
	h := startWith(t, ServerConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Subscribers: []Subscriber{{User: "shaoxing", Password: quickHash(t, "sx-secret"), Subjects: []string{"ledger.330600.>"}}}})
	srv, st := h.srv, h.store
	appendOne(t, st, "SX1", 0, "", domain.ProjectClosed{}) // 330600.330682
	if _, err := st.Append(context.Background(), AppendRequest{Project: "NB1", City: "330200", County: "330206", Events: []Draft{draft(domain.ProjectClosed{})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := StartServer(ServerConfig{DataDir: t.TempDir(), Subscribers: []Subscriber{{User: "x", Password: "p", Subjects: []string{"other.>"}}}}); err == nil {
		t.Fatal("a subscriber on a subject outside the ledger: want an error")
	}

	var asyncErrs []error
	var mu sync.Mutex
	sx, err := nats.Connect(srv.ClientURL(), nats.Timeout(20*time.Second), nats.UserInfo("shaoxing", "sx-secret"), nats.CustomInboxPrefix(InboxPrefix("shaoxing")), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		asyncErrs = append(asyncErrs, err)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sx.Close()
	js, _ := jetstream.New(sx)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, "LEDGER", jetstream.ConsumerConfig{Durable: "shaoxing", FilterSubject: "ledger.330600.>", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("its own durable on its own subjects: %v", err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject())
		if err := m.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "ledger.330600.") {
		t.Fatalf("the city's consumer delivered %v", got)
	}
	violations := func() []error {
		mu.Lock()
		defer mu.Unlock()
		return append([]error(nil), asyncErrs...)
	}
	denied := func(what, subject string, f func(ctx context.Context) error) {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := f(c); err == nil {
			t.Fatalf("%s: allowed, want refused", what)
		}
		expectViolation(t, what, subject, violations)
	}
	denied("a durable on another city", "$JS.API.CONSUMER.CREATE.LEDGER.shaoxing.ledger.330200.>", func(c context.Context) error {
		_, err := js.CreateOrUpdateConsumer(c, "LEDGER", jetstream.ConsumerConfig{Durable: "shaoxing", FilterSubject: "ledger.330200.>"})
		return err
	})
	denied("a durable under another name", "$JS.API.CONSUMER.CREATE.LEDGER.everything", func(c context.Context) error {
		_, err := js.CreateOrUpdateConsumer(c, "LEDGER", jetstream.ConsumerConfig{Durable: "everything", FilterSubject: "ledger.330600.>"})
		return err
	})
	denied("an unfiltered consumer", "$JS.API.CONSUMER.CREATE.LEDGER.shaoxing", func(c context.Context) error {
		_, err := js.CreateOrUpdateConsumer(c, "LEDGER", jetstream.ConsumerConfig{Durable: "shaoxing"})
		return err
	})
	denied("publishing an event", "ledger.330600.330682.SX1.project_closed", func(c context.Context) error {
		_, err := js.Publish(c, "ledger.330600.330682.SX1.project_closed", []byte(`{}`))
		return err
	})
	denied("deleting the stream", "$JS.API.STREAM.DELETE.LEDGER", func(c context.Context) error { return js.DeleteStream(c, "LEDGER") })
	denied("the stream's info (it lists every project)", "$JS.API.STREAM.INFO.LEDGER", func(c context.Context) error {
		_, err := js.Stream(c, "LEDGER")
		return err
	})
	// The inboxes of the ledger and of every other identity are closed to it.
	for _, inbox := range []string{"_INBOX.>", LedgerInbox + ".>", InboxPrefix("reader") + ".>", ">"} {
		if _, err := sx.SubscribeSync(inbox); err == nil {
			sx.Flush()
			expectViolation(t, "subscribing to "+inbox, inbox, violations)
		}
	}
	if _, err := sx.SubscribeSync("ledger.330200.>"); err == nil {
		sx.Flush()
		expectViolation(t, "subscribing to another city", "ledger.330200.>", violations)
	}
	if info, _ := st.Info(context.Background()); info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2", info.State.Msgs)
	}
}

// expectViolation waits until the server has reported a permissions
// violation naming subject: a refusal by permission, told apart from a
// timeout or any other error.
func expectViolation(t *testing.T, what, subject string, errs func() []error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		for _, err := range errs() {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no permissions violation on %q from the server (errors seen: %v)", what, subject, errs())
		}
		<-time.After(wait) // the next look
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		city, county string
		project      domain.ProjectID
		event, want  string
	}{
		{"", "", "", "", "ledger.>"},
		{"330600", "", "", "", "ledger.330600.>"},
		{"", "330682", "", "", "ledger.*.330682.>"},
		{"330600", "330682", "", "", "ledger.*.330682.>"},
		{"", "", "P1", "", ProjectFilter("P1")},
		{"330600", "", "", "funds_disbursed", "ledger.330600.*.*.funds_disbursed"},
		{"", "330682", "P1", "funds_disbursed", "ledger.*.330682.P1.funds_disbursed"},
	}
	for _, tc := range tests {
		if got := Filter(tc.city, tc.county, tc.project, tc.event); got != tc.want {
			t.Errorf("Filter(%q, %q, %q, %q) = %q, want %q", tc.city, tc.county, tc.project, tc.event, got, tc.want)
		}
	}
}

// quickHash is pw as a bcrypt hash of the lowest cost, which the server
// keeps as given: at the default cost a race-built server on two loaded
// cores took over a second to check a password, and sent its first PING
// before the client's handshake had its PONG ("expected 'PONG', got 'PING'").
func quickHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
