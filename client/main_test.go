package client_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The ledger the tests and examples talk to: the ledger binary, built from
// this repository and started on a temporary data directory, with one user
// per role.
var (
	ledgerURL string // its HTTP API
	natsURL   string // its NATS listener, as the reader identity
)

// Tokens of the test users.
const (
	cityToken     = "client-city-token-0123456789abcdef0123"
	provinceToken = "client-province-token-0123456789abcdef"
	financeToken  = "client-finance-token-0123456789abcdef0"
	auditorToken  = "client-auditor-token-0123456789abcdef0"
)

const readerPassword = "client-reader-secret"

var users = []map[string]any{
	{"id": "admin", "name": "Administrator", "org": "ledger", "roles": []string{"admin"}, "region": "province", "token": "client-admin-token-0123456789abcdef012"},
	{"id": "shaoxing", "name": "绍兴市发改委", "org": "绍兴市发改委", "roles": []string{"city_drc"}, "region": "330600", "token": cityToken},
	{"id": "liqiang", "name": "李强", "org": "省发改委资环处", "roles": []string{"province_drc"}, "region": "province", "token": provinceToken},
	{"id": "chenjing", "name": "陈静", "org": "上虞市财政局", "roles": []string{"finance"}, "region": "330682", "token": financeToken},
	{"id": "audit", "name": "审计署上海特派办", "org": "审计署", "roles": []string{"auditor"}, "region": "province", "token": auditorToken},
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ledger-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, err := startLedger(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start a ledger:", err)
		return 1
	}
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the ledger:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left:", err)
			code = 1
		}
	}
	return code
}

// startLedger builds the ledger and starts `ledger serve` in dir, waiting
// until it listens; stop ends it with SIGTERM and waits.
func startLedger(dir string) (stop func() error, err error) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	bin := filepath.Join(dir, "ledger")
	build := exec.Command(gobin, "build", "-o", bin, "../cmd/ledger")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}
	b, _ := json.Marshal(users)
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, b, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--http-addr", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0",
		"--users-file", usersFile, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "LEDGER_NATS_READER_PASSWORD="+readerPassword)
	dieWithTest(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	stop = func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return cmd.Wait()
	}
	timeout := time.After(2 * time.Minute)
	for ledgerURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				return nil, fmt.Errorf("ledger serve ended before it listened")
			}
			if u, ok := strings.CutPrefix(l, "ledger: NATS clients on "); ok {
				natsURL = strings.Replace(u, "nats://", "nats://reader:"+readerPassword+"@", 1)
			}
			if u, ok := strings.CutPrefix(l, "ledger: listening on "); ok {
				ledgerURL = u
			}
		case <-timeout:
			go func() {
				for range lines {
				}
			}()
			_ = stop()
			return nil, fmt.Errorf("ledger serve did not listen within 2 minutes")
		}
	}
	go func() {
		for range lines { // the rest of the output, until the process ends
		}
	}()
	return stop, nil
}

// cst is the reports' time zone.
var cst = time.FixedZone("CST", 8*3600)

func day(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", s, cst)
	if err != nil {
		panic(err)
	}
	return t.Add(10 * time.Hour)
}
