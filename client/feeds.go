package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CloudEvent is a ledger event as stored: a CloudEvent 1.0 with the
// ledger's extension attributes. Data is the event's payload, whose schema
// /v1/schemas/{type} gives.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	RecordedTime    time.Time       `json:"recordedtime"`
	Actor           string          `json:"actor"`
	ActorRole       string          `json:"actorrole"`
	ActorID         string          `json:"actorid,omitempty"`
	ActorOrg        string          `json:"actororg,omitempty"`
	CorrelationID   string          `json:"correlationid"`
	CausationID     string          `json:"causationid,omitempty"`
	IdempotencyKey  string          `json:"idempotencykey,omitempty"`
	Rulebook        string          `json:"rulebook,omitempty"`
	PrevHash        string          `json:"prevhash"`
	Hash            string          `json:"hash"`
	Data            json.RawMessage `json:"data"`
}

// Event is one event of a feed: its position in the ledger's stream, the
// bytes exactly as stored (what the hash chain vouches for), and those
// bytes decoded.
type Event struct {
	Seq uint64
	Raw []byte
	CloudEvent
}

func decodeEvent(seq uint64, raw []byte) (Event, error) {
	e := Event{Seq: seq, Raw: raw}
	if err := json.Unmarshal(raw, &e.CloudEvent); err != nil {
		return Event{}, fmt.Errorf("ledger: event %d does not decode: %w", seq, err)
	}
	return e, nil
}

// StreamQuery selects the events of a feed.
type StreamQuery struct {
	City, County, Project string
	Type                  string // an event name, e.g. "funds_disbursed" or "funds_disbursed.v1"
	// FromSeq starts at this stream position (1: from the beginning); 0:
	// the events recorded from now on.
	FromSeq uint64
}

// Events follows the ledger's Server-Sent Event feed: each event matching
// q, in stream order, as long as ctx lasts. A dropped connection is
// resumed after the last event received (Last-Event-ID), after a pause
// that doubles up to 30 s; a refusal (*Problem) ends the iteration with it.
func (c *Client) Events(ctx context.Context, q StreamQuery) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		// The feed lasts: the client's timeout would cut it.
		h := &http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect, Jar: c.http.Jar}
		v := url.Values{}
		for k, s := range map[string]string{"city": q.City, "county": q.County, "project": q.Project, "type": q.Type} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q.FromSeq > 0 {
			v.Set("from_seq", strconv.FormatUint(q.FromSeq, 10))
		}
		var last uint64
		pause := 500 * time.Millisecond
		for ctx.Err() == nil {
			r := request{method: http.MethodGet, path: "/v1/events/stream", query: v, header: http.Header{"Accept": {"text/event-stream"}}}
			if last > 0 {
				r.header.Set("Last-Event-ID", strconv.FormatUint(last, 10))
			}
			resp, err := c.send(ctx, r, h)
			var p *Problem
			if errors.As(err, &p) && p.Status != http.StatusServiceUnavailable {
				yield(Event{}, err)
				return
			}
			if err == nil {
				stop := false
				last, stop = readSSE(resp, last, yield, &pause)
				resp.Body.Close()
				if stop {
					return
				}
			}
			if p != nil && p.RetryAfter > 0 {
				pause = p.RetryAfter
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(pause*2, 30*time.Second)
		}
	}
}

// readSSE reads one connection's events, yielding each; it returns the last
// sequence yielded and whether the caller stopped.
func readSSE(resp *http.Response, last uint64, yield func(Event, error) bool, pause *time.Duration) (uint64, bool) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var id uint64
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data.Len() > 0 && id > last {
				e, err := decodeEvent(id, bytes.Clone(data.Bytes()))
				if !yield(e, err) || err != nil {
					return last, true
				}
				last = id
				*pause = 500 * time.Millisecond // events flow: the next drop starts the pauses afresh
			}
			data.Reset()
		case line[0] == ':':
		case bytes.HasPrefix(line, []byte("id:")):
			id, _ = strconv.ParseUint(string(bytes.TrimSpace(line[3:])), 10, 64)
		case bytes.HasPrefix(line, []byte("data:")):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(bytes.TrimPrefix(line[5:], []byte(" ")))
		}
	}
	return last, false
}

// NATSInbox is the connection option a ledger NATS identity needs: its
// replies come on an inbox of its own ("_INBOX_<user>"), the only one its
// permissions allow.
//
//	nc, err := nats.Connect(url, nats.UserInfo(user, password), client.NATSInbox(user))
func NATSInbox(user string) nats.Option { return nats.CustomInboxPrefix("_INBOX_" + user) }

// Consume hands fn each event of the ledger's stream through the durable
// JetStream consumer durable (created with filter, a subject filter such as
// "ledger.330600.>", when it does not exist), in stream order, one at a
// time: an event is acknowledged when fn returns nil and redelivered after a
// second otherwise, so fn sees every event at least once, across restarts.
// nc is a connection with a NATS identity of the ledger's (a region's
// subscriber, or the reader), made with NATSInbox. Consume returns nil when ctx ends, or the
// first error of NATS.
func Consume(ctx context.Context, nc *nats.Conn, durable, filter string, fn func(Event) error) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.Consumer(ctx, "LEDGER", durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(ctx, "LEDGER", jetstream.ConsumerConfig{Durable: durable, FilterSubject: filter,
			AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1, DeliverPolicy: jetstream.DeliverAllPolicy})
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("ledger: durable consumer %s: %w", durable, err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
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
			e, err := decodeEvent(meta.Sequence.Stream, m.Data())
			if err == nil {
				err = fn(e)
			}
			if err != nil {
				_ = m.NakWithDelay(time.Second)
				continue
			}
			if err := m.DoubleAck(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			return err
		}
	}
	return nil
}
