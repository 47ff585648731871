// Command ledger is the event-sourced ledger of publicly funded projects.
//
//	ledger serve [flags]   run the HTTP API on NATS JetStream (embedded by default)
//	ledger rebuild [flags] rebuild the read models from the whole stream
//	ledger demo [--url U]  load the demo data into a running ledger
//	ledger report [flags]  a region's figures as the reports state them
//	ledger help            show usage
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/zjfund/ledger/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, errHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case errors.Is(err, errVerify):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(1)
	}
}

// errUsage is a command line the ledger cannot take (exit 2); errHelp, help
// that was asked for and shown (exit 0).
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help shown")
)

// parseFlags parses a subcommand's flags. -h prints the subcommand's own
// usage and flags on stdout (errHelp); a bad flag is reported on the flag
// set's output, stderr (errUsage).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	errOut := fs.Output()
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "Usage: ledger %s [flags]\n\nFlags:\n", fs.Name())
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(errOut)
		return errHelp
	case err != nil:
		fmt.Fprintf(errOut, "Run 'ledger %s -h' for its flags.\n", fs.Name())
		return errUsage
	}
	return nil
}

// versionString is the ledger's version from its build information: the
// module version (or "devel"), the commit and its time, and Go's version.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "ledger (no build information)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	out := "ledger " + v
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		out += " commit " + rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			out += "+modified"
		}
		if t := settings["vcs.time"]; t != "" {
			out += " (" + t + ")"
		}
	}
	return out + " " + bi.GoVersion
}

// openapiCmd is `ledger openapi`: the API's OpenAPI document.
func openapiCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the document to this file instead of standard output")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	doc, err := json.MarshalIndent(httpapi.OpenAPI(), "", "  ")
	if err != nil {
		return err
	}
	doc = append(doc, '\n')
	if *out == "" {
		_, err = stdout.Write(doc)
		return err
	}
	return os.WriteFile(*out, doc, 0o644)
}

// userAgent is the User-Agent of the ledger's own requests (webhook
// deliveries): "ledger/<version>", the version being the module's, or
// "devel" and the commit.
func userAgent() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return "ledger/" + bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				v += "-" + s.Value[:min(12, len(s.Value))]
			}
		}
	}
	return "ledger/" + v
}

const usage = `ledger — an event-sourced ledger of publicly funded projects on NATS JetStream

Usage:
  ledger serve [flags]   run the HTTP API with an embedded NATS server (or --nats-url)
  ledger rebuild [flags] rebuild the read models from the whole stream (with serve stopped)
  ledger demo [--url U]  load the demo data (Zhejiang, 2006–2011) into a running ledger
  ledger report [flags]  a region's figures as the reports state them, e.g.
                         ledger report --county 330682 --programme central_rcep --as-of 2011-12-31
  ledger replay [flags]  a project's timeline, or the portfolio, as of a date or stream position
  ledger verify [flags]  check every event, chain, rule and signed checkpoint (exit 1 on failure);
                         --bundle FILE checks an audit bundle offline
  ledger export [flags]  write an audit bundle (--project, --city, --county, --from, --to, --out)
  ledger subscribe [...]  follow the events through a durable NATS consumer (--durable, --city,
                         --county, --type, --start, --out FILE or --exec CMD)
  ledger users VERB      manage users and their tokens (list, add, disable, enable, token, tokens, revoke)
  ledger bench [--smoke] append, rebuild, lag, query and memory figures against raw JetStream
  ledger openapi         the API's OpenAPI 3.1 document (as GET /openapi.json serves it), for
                         linters and client generators
  ledger version         the version, commit and Go it was built from
  ledger help            show this help

Run "ledger <command> -h" for a command's flags; most can also be set through
the environment variable named in their help.
`

// run is the whole program; tests call it with their own arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "rebuild":
		return rebuild(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], getenv, stdout, stderr)
	case "report":
		return reportCmd(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], getenv, stdout, stderr)
	case "replay":
		return replayCmd(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], getenv, stdout, stderr)
	case "subscribe":
		return subscribeCmd(ctx, args[1:], getenv, stdout, stderr)
	case "users":
		return usersCmd(ctx, args[1:], getenv, stdout, stderr)
	case "openapi":
		return openapiCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "ledger: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
