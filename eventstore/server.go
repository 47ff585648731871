package eventstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// ServerConfig configures the embedded nats-server.
type ServerConfig struct {
	// DataDir holds the JetStream file store (under DataDir/jetstream).
	DataDir string
	// MonitorAddr, when set, is the loopback host:port of the server's HTTP
	// monitoring endpoint (/varz, /jsz …), for nats-surveyor and the NATS CLI.
	MonitorAddr string
	// Listen is the loopback host:port for NATS clients (downstream systems,
	// the nats CLI). Empty means in-process connections only.
	Listen string
	// ReaderPassword, when set, adds the NATS user "reader": it may read the
	// ledger stream (subscribe, create and read consumers) and publish nothing
	// to it. Empty means no user but the ledger's own.
	ReaderPassword string
	// Subscribers are NATS identities confined to a region's subjects: each
	// may subscribe to its subjects, and create and read one durable
	// consumer named after itself whose filter is one of its subjects;
	// nothing else.
	Subscribers []Subscriber
	// Logger receives the server's log; nil silences it.
	Logger *slog.Logger
	// MinFree is the free space, in bytes, below which the store refuses
	// appends (ErrStorageFull) before JetStream ever meets a full disk: a
	// JetStream file store that fails a write for want of space stops
	// storing until it is restarted, while a refusal here ends as soon as
	// there is room again. 0: 64 MiB.
	MinFree int64
	// MaxStore is the most bytes JetStream may keep on disk (0: 1 TiB). Set
	// it below the free space of the disk, so that a full store is refused by
	// JetStream's own limit, which it recovers from as soon as there is room,
	// rather than by a failing write to a full disk.
	MaxStore int64
}

// Subscriber is a NATS identity confined to some subjects of the ledger,
// e.g. a city's statistics office on ledger.330600.> or a county's on
// ledger.*.330682.>. Password may be a bcrypt hash.
type Subscriber struct {
	User     string   `json:"user"`
	Password string   `json:"password"`
	Subjects []string `json:"subjects"`
}

// Validate checks the user name and subjects.
func (s Subscriber) Validate() error {
	if s.User == "" || strings.ContainsAny(s.User, ".*> \t") || s.User == ledgerUser || s.User == "reader" {
		return fmt.Errorf("subscriber %q: the user must be one subject token, not %q or %q", s.User, ledgerUser, "reader")
	}
	if s.Password == "" || len(s.Password) > 72 {
		return fmt.Errorf("subscriber %s: a password of 1 to 72 bytes is required", s.User)
	}
	if len(s.Subjects) == 0 {
		return fmt.Errorf("subscriber %s: at least one subject is required", s.User)
	}
	for _, subj := range s.Subjects {
		tok := strings.Split(subj, ".")
		if tok[0] != "ledger" || len(tok) < 2 || len(tok) > 5 || (strings.Contains(subj, ">") && tok[len(tok)-1] != ">") {
			return fmt.Errorf("subscriber %s: subject %q is not a filter on ledger.<city>.<county>.<project>.<event>", s.User, subj)
		}
	}
	return nil
}

// LedgerInbox is the inbox prefix of the ledger's own connections: the
// replies and pull deliveries of its projections, checkpointer, feeds and
// webhooks, for every region. No other identity may subscribe to it.
const LedgerInbox = "_LEDGER_INBOX"

// InboxPrefix is the inbox prefix a NATS identity other than the ledger's
// must connect with (nats.CustomInboxPrefix): its replies are its own, and
// no other identity may subscribe to them.
func InboxPrefix(user string) string { return "_INBOX_" + user }

func subscriberUser(s Subscriber) *server.User {
	sub := append([]string{InboxPrefix(s.User) + ".>"}, s.Subjects...)
	// No stream info: with a subjects filter it lists every project id.
	pub := []string{"$JS.API.INFO",
		"$JS.API.CONSUMER.INFO.LEDGER." + s.User, "$JS.API.CONSUMER.MSG.NEXT.LEDGER." + s.User,
		"$JS.API.CONSUMER.DELETE.LEDGER." + s.User, "$JS.ACK.LEDGER." + s.User + ".>"}
	for _, subj := range s.Subjects {
		// The consumer-create subject carries the filter: only its own subjects.
		pub = append(pub, "$JS.API.CONSUMER.CREATE.LEDGER."+s.User+"."+subj)
	}
	return &server.User{Username: s.User, Password: hashed(s.Password, bcrypt.DefaultCost), Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub, Deny: append([]string{"ledger.>"}, deniedToAll...)},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}}
}

// Embedded is a running embedded nats-server and the credentials of the
// ledger's own NATS user.
type Embedded struct {
	Server   *server.Server
	password string
	dir      string
	minFree  int64

	writeErr  atomic.Pointer[string] // the store's first critical write error
	stopGuard chan struct{}
	guardDone chan struct{}
	free      atomic.Int64 // free bytes under the store at the last look (-1: unknown)
}

// ErrStorageFull is returned by Storage while the disk under the store has
// less free space than the configured minimum.
var ErrStorageFull = errors.New("the disk under the event store is full")

// ErrStoreFailed is returned by Storage once JetStream has failed to write
// the store (a full disk met despite the minimum, an I/O error): it stores
// nothing more until the ledger is restarted.
var ErrStoreFailed = errors.New("the event store failed a write")

// Storage reports whether the store can take writes: nil, or an error that
// wraps ErrStorageFull (space is short; it clears by itself when room is
// made) or ErrStoreFailed (a restart is needed).
func (e *Embedded) Storage() error {
	if msg := e.writeErr.Load(); msg != nil {
		return fmt.Errorf("%w: %s; make room or repair the disk, then restart the ledger", ErrStoreFailed, *msg)
	}
	if f := e.free.Load(); f >= 0 && f < e.minFree {
		return fmt.Errorf("%w: %d bytes free under %s, below the minimum of %d", ErrStorageFull, f, e.dir, e.minFree)
	}
	return nil
}

// guard looks at the free space under the store every half second.
func (e *Embedded) guard() {
	defer close(e.guardDone)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		e.free.Store(freeBytes(e.dir))
		select {
		case <-e.stopGuard:
			return
		case <-t.C:
		}
	}
}

func freeBytes(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// Connect opens an in-process connection as the ledger's own user.
func (e *Embedded) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect("", append([]nats.Option{nats.InProcessServer(e.Server), nats.UserInfo(ledgerUser, e.password), nats.Name(name),
		nats.MaxReconnects(-1), nats.CustomInboxPrefix(LedgerInbox)}, opts...)...)
}

// ClientURL returns the URL of the loopback listener, or "" when there is none.
func (e *Embedded) ClientURL() string {
	if e.Server.Addr() == nil {
		return ""
	}
	return e.Server.ClientURL()
}

// MonitorURL is the base URL of the monitoring endpoint ("" without one).
func (e *Embedded) MonitorURL() string {
	if a := e.Server.MonitorAddr(); a != nil {
		return "http://" + a.String()
	}
	return ""
}

// Shutdown stops the server and waits for it to finish.
func (e *Embedded) Shutdown() {
	close(e.stopGuard)
	<-e.guardDone
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}

const ledgerUser = "ledger"

// deniedToAll are the JetStream API subjects nobody may use through the
// ledger's server: deleting or purging the stream or any message.
var deniedToAll = []string{"$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>", "$JS.API.STREAM.MSG.DELETE.>"}

// hashed is a password as the server keeps it: bcrypt (a password given
// hashed already is kept as it is), so that no plaintext password is in the
// server's configuration.
func hashed(pw string, cost int) string {
	if strings.HasPrefix(pw, "$2a$") || strings.HasPrefix(pw, "$2b$") || strings.HasPrefix(pw, "$2y$") {
		return pw
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil { // only for a password over 72 bytes: keep the server from starting with it
		panic(fmt.Sprintf("hash a NATS password: %v", err))
	}
	return string(h)
}

func users(cfg ServerConfig, ledgerPassword string) []*server.User {
	us := []*server.User{{
		Username: ledgerUser, Password: hashed(ledgerPassword, bcrypt.MinCost), // random and in this process only
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: deniedToAll},
			Subscribe: &server.SubjectPermission{Allow: []string{">"}},
		},
	}}
	if cfg.ReaderPassword != "" {
		us = append(us, &server.User{
			Username: "reader", Password: hashed(cfg.ReaderPassword, bcrypt.DefaultCost),
			Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{
					Allow: []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.LEDGER", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST",
						"$JS.API.STREAM.MSG.GET.LEDGER", "$JS.API.DIRECT.GET.LEDGER", "$JS.API.DIRECT.GET.LEDGER.>",
						"$JS.API.CONSUMER.CREATE.LEDGER", "$JS.API.CONSUMER.CREATE.LEDGER.>", "$JS.API.CONSUMER.DURABLE.CREATE.LEDGER.>",
						"$JS.API.CONSUMER.INFO.LEDGER.>", "$JS.API.CONSUMER.NAMES.LEDGER", "$JS.API.CONSUMER.LIST.LEDGER",
						"$JS.API.CONSUMER.MSG.NEXT.LEDGER.>", "$JS.ACK.LEDGER.>", "$JS.FC.LEDGER.>",
						"$JS.API.STREAM.INFO.LEDGER_CHECKPOINTS", "$JS.API.STREAM.MSG.GET.LEDGER_CHECKPOINTS", "$JS.API.DIRECT.GET.LEDGER_CHECKPOINTS"},
					Deny: append([]string{"ledger.>", "$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>"}, deniedToAll...),
				},
				Subscribe: &server.SubjectPermission{Allow: []string{"ledger.>", InboxPrefix("reader") + ".>"}},
			},
		})
	}
	for _, s := range cfg.Subscribers {
		us = append(us, subscriberUser(s))
	}
	return us
}

// StartServer starts an embedded nats-server with JetStream on a file store
// under cfg.DataDir, with sync_interval: always (every message is fsynced
// before its acknowledgement). It refuses a listen address that is not
// loopback. Deleting or purging the stream or a message is denied to every
// NATS user of the server, the ledger itself included.
func StartServer(cfg ServerConfig) (*Embedded, error) {
	for _, s := range cfg.Subscribers {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("start nats-server: %w", err)
		}
	}
	if len(cfg.ReaderPassword) > 72 {
		return nil, fmt.Errorf("start nats-server: the reader's password is longer than 72 bytes (bcrypt's limit)")
	}
	pw := rand.Text() // the ledger user's password lives only in this process
	opts := &server.Options{
		Users:      users(cfg, pw),
		ServerName: "ledger",
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		SyncAlways: true,
		NoSigs:     true,
		DontListen: cfg.Listen == "",
		// Set explicitly: left at 0, JetStream takes 75% of the disk space
		// free when it starts, and keeps that figure however the disk changes.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  cfg.MaxStore,
	}
	if opts.JetStreamMaxStore <= 0 {
		opts.JetStreamMaxStore = 1 << 40
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("start nats-server: listen address %q: %w", cfg.Listen, err)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("start nats-server: listen address %q is not loopback; serve other hosts from an external NATS cluster with TLS", cfg.Listen)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("start nats-server: listen port %q: %w", port, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	if cfg.MonitorAddr != "" {
		host, port, err := net.SplitHostPort(cfg.MonitorAddr)
		p, perr := strconv.Atoi(port)
		if ip := net.ParseIP(host); err != nil || perr != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return nil, fmt.Errorf("start nats-server: monitoring address %q: want a loopback host:port", cfg.MonitorAddr)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.HTTPHost, opts.HTTPPort = host, p
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats-server: %w", err)
	}
	emb := &Embedded{Server: ns, password: pw, dir: cfg.DataDir, minFree: cfg.MinFree, stopGuard: make(chan struct{}), guardDone: make(chan struct{})}
	if emb.minFree <= 0 {
		emb.minFree = 64 << 20
	}
	emb.free.Store(freeBytes(cfg.DataDir))
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns.SetLoggerV2(slogAdapter{l: log.With("component", "nats-server"), onError: func(msg string) {
		if strings.Contains(msg, "write error") || strings.Contains(msg, "no space left") {
			emb.writeErr.CompareAndSwap(nil, &msg)
		}
	}}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("start nats-server: not ready after 30s")
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("start nats-server: JetStream did not start")
	}
	go emb.guard()
	return emb, nil
}

// slogAdapter sends nats-server logs to slog, and its errors to onError too.
type slogAdapter struct {
	l       *slog.Logger
	onError func(string)
}

// Noticef: the server's banner and notices are debug-level for the ledger
// (--nats-debug shows them).
func (a slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.Errorf(f, v...) }
func (a slogAdapter) Errorf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	a.onError(msg)
	a.l.Error(msg)
}
func (a slogAdapter) Debugf(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
