package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestEverySubcommandsHelpAndBadFlags: -h prints the subcommand's own usage
// and flags on stdout and exits 0 (errHelp); a flag it does not have is a
// usage error (exit 2) reported on stderr.
func TestEverySubcommandsHelpAndBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string // one of its own flags
		not  string // a flag of another subcommand, not its own
	}{
		{[]string{"serve"}, "-http-addr", "-bundle"},
		{[]string{"rebuild"}, "-data-dir", "-bundle"},
		{[]string{"demo"}, "-token", "-data-dir"},
		{[]string{"report"}, "-county", "-data-dir"},
		{[]string{"replay"}, "-as-of", "-bundle"},
		{[]string{"verify"}, "-bundle", "-http-addr"},
		{[]string{"export"}, "-out", "-bundle"},
		{[]string{"subscribe"}, "-durable", "-bundle"},
		{[]string{"bench"}, "-smoke", "-bundle"},
		{[]string{"users", "add"}, "-roles", "-bundle"},
		{[]string{"users", "token"}, "-ttl-days", "-bundle"},
		{[]string{"openapi"}, "-out", "-bundle"},
	} {
		name := strings.Join(c.args, " ")
		var out, errb bytes.Buffer
		err := run(context.Background(), append(append([]string{}, c.args...), "-h"), func(string) string { return "" }, &out, &errb)
		if !errors.Is(err, errHelp) || !strings.Contains(out.String(), "Usage: ledger "+name) || !strings.Contains(out.String(), c.flag) ||
			strings.Contains(out.String(), c.not+" ") || errb.Len() != 0 {
			t.Fatalf("ledger %s -h: %v\nstdout:\n%s\nstderr:\n%s", name, err, out.String(), errb.String())
		}
		out.Reset()
		errb.Reset()
		err = run(context.Background(), append(append([]string{}, c.args...), "--no-such-flag"), func(string) string { return "" }, &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(errb.String(), "no-such-flag") {
			t.Fatalf("ledger %s --no-such-flag: %v\nstderr:\n%s", name, err, errb.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil || !strings.Contains(out.String(), "ledger serve") {
		t.Fatalf("ledger help: %v", err)
	}
	if err := run(context.Background(), []string{"nonsense"}, func(string) string { return "" }, &out, &out); !errors.Is(err, errUsage) {
		t.Fatalf("an unknown command: %v", err)
	}
}
