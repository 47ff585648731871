package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zjfund/ledger/eventstore"
)

// subscribeCmd is `ledger subscribe`, the reference downstream subscriber:
// a durable JetStream consumer, filtered, that hands each event to its
// output and acknowledges it only after that.
func subscribeCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats-url", envOr(getenv, "LEDGER_NATS_URL", "nats://127.0.0.1:4222"), "the ledger's NATS, with a subscriber's credentials in it or in --nats-creds (LEDGER_NATS_URL)")
	creds := fs.String("nats-creds", getenv("LEDGER_NATS_CREDS"), "credentials file for --nats-url (LEDGER_NATS_CREDS)")
	durable := fs.String("durable", "", "the durable consumer's name (a region identity's must be its user name)")
	inbox := fs.String("inbox-prefix", "", "the inbox prefix of the connection; default _INBOX_<user> for a URL that names its user, the one the ledger's NATS permissions give each identity")
	city := fs.String("city", "", "only this city's events (GB/T 2260 code)")
	county := fs.String("county", "", "only this county's events")
	typ := fs.String("type", "", "only this event name, e.g. funds_disbursed")
	start := fs.String("start", "beginning", "where a new consumer starts: beginning, new, seq:N or time:RFC3339 (an existing one resumes)")
	out := fs.String("out", "", "append JSON lines to this file (fsynced; exactly once across crashes) instead of stdout")
	execCmd := fs.String("exec", "", "run this shell command per event, the event on its stdin; a failure is retried")
	count := fs.Int("count", 0, "stop after this many events (0: run until interrupted)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *durable == "" {
		fmt.Fprintln(stderr, "subscribe: --durable is required")
		return errUsage
	}
	// The filter is written as region identities' permissions name it
	// (ledger.330600.>, ledger.*.330682.>); an event type needs all tokens.
	filter := eventstore.Filter(*city, *county, "", *typ)
	cfg := jetstream.ConsumerConfig{Durable: *durable, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 5 * time.Second, MaxAckPending: 1} // one at a time: order per project, and overall; a crashed run's event comes back after AckWait
	switch {
	case *start == "beginning":
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case *start == "new":
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	case strings.HasPrefix(*start, "seq:"):
		n, err := strconv.ParseUint(strings.TrimPrefix(*start, "seq:"), 10, 64)
		if err != nil {
			return fmt.Errorf("--start %s: %w", *start, err)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, n
	case strings.HasPrefix(*start, "time:"):
		t, err := time.Parse(time.RFC3339, strings.TrimPrefix(*start, "time:"))
		if err != nil {
			return fmt.Errorf("--start %s: %w", *start, err)
		}
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	default:
		return fmt.Errorf("--start %q: want beginning, new, seq:N or time:RFC3339", *start)
	}
	prefix := *inbox
	if prefix == "" {
		prefix = clientInbox(*natsURL)
	}
	opts := []nats.Option{nats.Name("ledger-subscribe " + *durable), nats.Timeout(10 * time.Second), nats.MaxReconnects(-1), nats.CustomInboxPrefix(prefix)}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	nc, err := nats.Connect(*natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactURLs(*natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The consumer by name, without asking for the stream's info (which a
	// region's identity may not read).
	cons, err := js.Consumer(ctx, "LEDGER", *durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(ctx, "LEDGER", cfg)
	}
	if err != nil {
		return fmt.Errorf("durable consumer %s: %w", *durable, err)
	}

	// The output: a file that is also the subscriber's own record of what it
	// handled, so that a redelivery after a crash is not written twice.
	var handled uint64
	write := func(line []byte) error { _, err := stdout.Write(line); return err }
	if *out != "" {
		f, last, err := openJSONLines(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		handled = last
		write = func(line []byte) error {
			if _, err := f.Write(line); err != nil {
				return err
			}
			return f.Sync()
		}
	}
	n := 0
	for *count == 0 || n < *count {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := meta.Sequence.Stream
			if seq > handled {
				line := append(fmt.Appendf(nil, `{"seq":%d,"subject":%q,"event":`, seq, m.Subject()), m.Data()...)
				line = append(line, "}\n"...)
				if *execCmd != "" {
					c := exec.CommandContext(ctx, "sh", "-c", *execCmd)
					c.Stdin, c.Stdout, c.Stderr = bytes.NewReader(m.Data()), stdout, stderr
					if err := c.Run(); err != nil {
						_ = m.NakWithDelay(time.Second) // redelivered after a pause
						fmt.Fprintf(stderr, "subscribe: event %d: %v; it will be redelivered\n", seq, err)
						continue
					}
				} else if err := write(line); err != nil {
					return err
				}
				handled = seq
			}
			if err := m.DoubleAck(ctx); err != nil {
				return fmt.Errorf("acknowledge %d: %w", seq, err)
			}
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// openJSONLines opens the output file for appending and returns the stream
// sequence of its last complete line; a torn last line (a crash mid-write)
// is cut off.
func openJSONLines(path string) (*os.File, uint64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, err
	}
	var last uint64
	var good int64
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break
		}
		good += int64(len(line))
		if i := bytes.IndexByte(line, ','); i > 0 {
			if n, err := strconv.ParseUint(strings.TrimPrefix(string(line[:i]), `{"seq":`), 10, 64); err == nil {
				last = n
			}
		}
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, last, nil
}
