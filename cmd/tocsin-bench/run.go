package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// errUsage marks errors in how the command was called.
var errUsage = errors.New("usage")

const usage = `tocsin-bench: measure a running tocsin over the wire (loopback only)

Usage:
  tocsin-bench ingest [flags]   POST Alertmanager webhooks; alerts/s and latency
  tocsin-bench e2e [flags]      webhook to WebSocket; deliveries/s, latency, completeness
  tocsin-bench idle [flags]     hold idle WebSockets; server memory per connection

Common flags: --url (default http://127.0.0.1:8080), --token (an admin's; or
TOCSIN_BENCH_TOKEN), --json. "tocsin-bench MODE --help" lists a mode's flags.
`

// common are the flags every mode takes.
type common struct {
	url    string
	token  string
	json   bool
	stderr io.Writer
}

// mode is one subcommand: it defines its flags on fs, and runs with them.
type mode struct {
	flags func(fs *flag.FlagSet) func(ctx context.Context, c common) (*result, error)
}

// modes are the subcommands by name.
var modes = map[string]mode{
	"ingest": {flags: ingestFlags},
	"e2e":    {flags: e2eFlags},
	"idle":   {flags: idleFlags},
}

// run runs the command line args (without the program name) and returns the
// exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	m, ok := modes[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		fmt.Fprintf(stderr, "tocsin-bench: unknown mode %q\n", args[0])
		return 2
	}
	fs := flag.NewFlagSet("tocsin-bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := common{stderr: stderr}
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "tocsin's base URL; its host must be a loopback address")
	fs.StringVar(&c.token, "token", getenv("TOCSIN_BENCH_TOKEN"), "an admin's API token (default $TOCSIN_BENCH_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print one line of JSON instead of a table")
	runMode := m.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tocsin-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := checkTarget(c.url); err != nil {
		fmt.Fprintln(stderr, "tocsin-bench:", err)
		return 2
	}
	c.url = strings.TrimRight(c.url, "/")
	if c.token == "" {
		fmt.Fprintln(stderr, "tocsin-bench: --token (or TOCSIN_BENCH_TOKEN) is required: an admin's API token")
		return 2
	}
	res, err := runMode(ctx, c)
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintln(stderr, "tocsin-bench:", err)
			return 2
		}
		fmt.Fprintln(stderr, "tocsin-bench:", err)
		return 1
	}
	if err := res.print(stdout, c.json); err != nil {
		fmt.Fprintln(stderr, "tocsin-bench:", err)
		return 1
	}
	if len(res.problems) > 0 {
		return 1
	}
	return 0
}

// checkTarget refuses a URL that is not http(s) on a loopback address: the
// load this tool makes is for the machine it runs on.
func checkTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --url must be an http or https URL, got %q", errUsage, raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: --url must name a loopback address (127.0.0.0/8, ::1 or localhost), got %q", errUsage, host)
	}
	return nil
}

// bounds checks that a run is bounded: a positive duration or count, each
// under its cap.
func bounds(duration time.Duration, maxDuration time.Duration, count, maxCount int) error {
	switch {
	case duration < 0 || duration > maxDuration:
		return fmt.Errorf("%w: --duration must be from 0 to %s", errUsage, maxDuration)
	case count < 0 || count > maxCount:
		return fmt.Errorf("%w: the count must be from 0 to %d", errUsage, maxCount)
	case duration == 0 && count == 0:
		return fmt.Errorf("%w: set --duration or a count", errUsage)
	}
	return nil
}
