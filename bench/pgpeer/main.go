// Command pgpeer is the PostgreSQL peer of `ledger bench`: the same appends,
// to an event table as PostgreSQL event stores keep one (Marten, Message DB,
// Emmett, Eventuous: one row per event, unique (stream_id, version) as the
// optimistic concurrency check, one INSERT per command with
// synchronous_commit on), from the same number of writers, and the table's
// replay rate with and without decoding the envelope. It is a module of its
// own, so that the PostgreSQL driver is not a dependency of the ledger.
//
//	pgpeer -dsn postgres://… -mode append -clients 64 -duration 10s -size 732
//	pgpeer -dsn postgres://… -mode replay -events 200000 -size 732
//
// It prints one JSON object: {"rate": events/s, "p50_ms", "p99_ms", …}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type result struct {
	Mode     string  `json:"mode"`
	Clients  int     `json:"clients,omitempty"`
	Rate     float64 `json:"rate"` // events/s
	P50ms    float64 `json:"p50_ms,omitempty"`
	P99ms    float64 `json:"p99_ms,omitempty"`
	Events   int     `json:"events"`
	Decoded  float64 `json:"decoded_rate,omitempty"` // replay: events/s with the envelope decoded
	Settings string  `json:"settings"`
}

func main() {
	dsn := flag.String("dsn", os.Getenv("PGPEER_DSN"), "PostgreSQL connection string")
	mode := flag.String("mode", "append", "append or replay")
	clients := flag.Int("clients", 1, "concurrent writers")
	duration := flag.Duration("duration", 5*time.Second, "how long the append measure runs")
	projects := flag.Int("projects", 1000, "projects (streams) the appends go to")
	size := flag.Int("size", 732, "bytes of each event's JSON envelope")
	events := flag.Int("events", 200000, "events for the replay measure")
	flag.Parse()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, *dsn+map[bool]string{true: "&", false: "?"}[strings.Contains(*dsn, "?")]+fmt.Sprintf("pool_max_conns=%d", max(*clients, 4)))
	if err != nil {
		fail(err)
	}
	defer pool.Close()
	var r result
	switch *mode {
	case "append":
		r, err = appends(ctx, pool, *clients, *duration, *projects, *size)
	case "replay":
		r, err = replay(ctx, pool, *events, *size)
	default:
		err = fmt.Errorf("-mode %q: want append or replay", *mode)
	}
	if err != nil {
		fail(err)
	}
	var setting string
	_ = pool.QueryRow(ctx, "show synchronous_commit").Scan(&setting)
	r.Settings = "synchronous_commit=" + setting
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pgpeer:", err)
	os.Exit(1)
}

const schema = `drop table if exists events;
create table events (
  global_position bigserial primary key,
  stream_id text not null,
  version int not null,
  type text not null,
  data jsonb not null,
  recorded timestamptz not null default now(),
  unique (stream_id, version)
)`

// envelope is an event as the ledger stores it, padded to size bytes.
func envelope(stream string, version, size int) []byte {
	head := fmt.Sprintf(`{"specversion":"1.0","id":"%s-%d","source":"urn:ledger:zhejiang","type":"ledger.project.inspection_recorded.v1","subject":%q,"time":"2011-08-15T10:00:00+08:00","actor":"审计署","actorrole":"auditor","data":{"kind":"audit","body":"`, stream, version, stream)
	tail := `"}}`
	pad := max(size-len(head)-len(tail), 0)
	return []byte(head + strings.Repeat("x", pad) + tail)
}

func appends(ctx context.Context, pool *pgxpool.Pool, clients int, d time.Duration, projects, size int) (result, error) {
	if _, err := pool.Exec(ctx, schema); err != nil {
		return result{}, err
	}
	versions := make([]int, projects)
	var lat []time.Duration
	var mu sync.Mutex
	var n atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			owned := (projects - c + clients - 1) / clients
			for i := 0; time.Now().Before(stop); i++ {
				p := c + clients*(i%max(owned, 1))
				stream := fmt.Sprintf("P%06d", p)
				v := versions[p] + 1
				t0 := time.Now()
				_, err := pool.Exec(ctx, "insert into events (stream_id, version, type, data) values ($1, $2, $3, $4)",
					stream, v, "inspection_recorded", envelope(stream, v, size))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, time.Since(t0))
				versions[p] = v
				n.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return result{}, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	return result{Mode: "append", Clients: clients, Rate: float64(n.Load()) / d.Seconds(), P50ms: pct(0.5), P99ms: pct(0.99), Events: int(n.Load())}, nil
}

func replay(ctx context.Context, pool *pgxpool.Pool, events, size int) (result, error) {
	if _, err := pool.Exec(ctx, schema); err != nil {
		return result{}, err
	}
	rows := make([][]any, 0, 10000)
	for i := 0; i < events; i++ {
		stream := fmt.Sprintf("P%06d", i%10000)
		v := i/10000 + 1
		rows = append(rows, []any{stream, v, "inspection_recorded", envelope(stream, v, size)})
		if len(rows) == cap(rows) || i == events-1 {
			if _, err := pool.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"stream_id", "version", "type", "data"}, pgx.CopyFromRows(rows)); err != nil {
				return result{}, err
			}
			rows = rows[:0]
		}
	}
	read := func(decode bool) (float64, int, error) {
		t0 := time.Now()
		rs, err := pool.Query(ctx, "select global_position, stream_id, version, data::text from events order by global_position")
		if err != nil {
			return 0, 0, err
		}
		defer rs.Close()
		n := 0
		var pos int64
		var stream, data string
		var version int
		var env struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Subject string          `json:"subject"`
			Time    time.Time       `json:"time"`
			Data    json.RawMessage `json:"data"`
		}
		for rs.Next() {
			if err := rs.Scan(&pos, &stream, &version, &data); err != nil {
				return 0, 0, err
			}
			if decode {
				if err := json.Unmarshal([]byte(data), &env); err != nil {
					return 0, 0, err
				}
			}
			n++
		}
		return float64(n) / time.Since(t0).Seconds(), n, rs.Err()
	}
	raw, n, err := read(false)
	if err != nil {
		return result{}, err
	}
	dec, _, err := read(true)
	if err != nil {
		return result{}, err
	}
	return result{Mode: "replay", Rate: raw, Decoded: dec, Events: n}, nil
}
