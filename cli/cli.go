// Package cli wires chaosd's subcommands. cmd/chaosd only calls Main, so that tests
// can run every command in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/logging"
)

// Exit codes shared by every command.
const (
	ExitOK       = 0 // done; for verdicts: every invariant passed
	ExitViolated = 1 // an invariant was violated
	ExitError    = 2 // could not run (bad input, unreachable dependency) or a verdict is unknown
)

// IO is where a command reads its environment and writes its output.
type IO struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Stdio is the process's own IO.
func Stdio() IO { return IO{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv} }

// command is one subcommand. Run gets the arguments after the command name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io IO, args []string) error
}

// commands is the one list of subcommands; help and dispatch both read it.
func commands() []command {
	cmds := []command{
		{"version", "print chaosd's version and build information", runVersion},
		{"mockai", "serve the OpenAI-compatible streaming mock LLM", runMockai},
		{"testbed", "run a testbed pod: a stand-in for one mesh pod (or migrate its schema)", runTestbed},
		{"smoke", "drive one run through the cluster and watch it from every pod", runSmoke},
		{"healthcheck", "probe an HTTP URL and exit 0 on a 2xx answer (for container health checks), or a tcp:// address", runHealthcheck},
		{"agent", "chaosd's node agent on Kubernetes: SIGKILL a container in place, run by chaosd through pods/exec", runAgent},
		{"probe-pod", "hold a Kubernetes probe pod open until SIGTERM (chaosd's partition probes run chaosd healthcheck in it)", runProbePod},
		{"recover", "heal every fault that the ledger says is still open", runRecover},
		{"check-config", "validate and print the resolved configuration", runCheckConfig},
		{"report", "write the HTML, JUnit and Markdown report of a stored history", runReport},
		{"analyze", "re-check a stored history offline and print the verdicts", runAnalyze},
		{"doctor", "check the target profile against the live cluster (what chaosd assumes, what it sees, the fix)", runDoctor},
		{"targets", "list the target profiles (bundled, mesh-2026-05, ...) or print one", runTargets},
		{"static", "serve a directory and health routes over HTTP (a stand-in for small infrastructure such as minio)", runStatic},
		{"forward", "relay TCP ports to addresses inside a network (what chaosd's forwarder container runs)", runForward},
		{"bench", "find the cluster's ceiling: runs at rising rates, no faults; per step throughput, latency and chaosd's own cost", runBench},
		{"soak", "the overnight soak: steady runs, faults on cron schedules, live alerts and metrics, a report", runSoak},
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// ExitCodeError carries a specific exit code out of a command.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string { return e.Err.Error() }
func (e *ExitCodeError) Unwrap() error { return e.Err }

// Main runs chaosd with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			if strings.TrimLeft(args[1], "-") == "fault" {
				return Main(ctx, []string{"--help-fault"}, io)
			}
			return Main(ctx, []string{args[1], "--help"}, io)
		}
		usage(io.Stdout)
		return ExitOK
	}
	if args[0] == "--version" {
		args = []string{"version"}
	}
	if args[0] == "--help-fault" {
		args = []string{"--help"}
	}
	if strings.HasPrefix(args[0], "-") {
		// chaosd --fault=KIND[-owner|-random] ...: one fault, held, healed.
		return exitCode(io, "--fault", runFault(ctx, io, args))
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(io, c.name, c.run(ctx, io, args[1:]))
		}
	}
	fmt.Fprintf(io.Stderr, "chaosd: unknown command %q\n\n", args[0])
	usage(io.Stderr)
	return ExitError
}

func exitCode(io IO, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		if ec.Err != nil {
			fmt.Fprintf(io.Stderr, "chaosd %s: %v\n", name, ec.Err)
		}
		return ec.Code
	}
	fmt.Fprintf(io.Stderr, "chaosd %s: %v\n", name, err)
	return ExitError
}

func usage(w io.Writer) {
	fmt.Fprint(w, `chaosd soak-tests a multi-pod LLM run service: it keeps runs flowing, injects
faults on the pods that own them, and checks invariants.

Usage:
  chaosd --fault=KIND[-owner|-random] [flags]   inject one fault, hold it, heal it
  chaosd <command> [flags]
  chaosd help <command>                          (chaosd help fault: the fault flags)

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nEvery command takes --help, --log-level and --log-format.\n")
}

// examples are the command lines each command's --help shows, keyed by the name
// newFlagSet gets. Flags may come before or after the arguments.
var examples = map[string][]string{
	"--fault=KIND[-owner|-random]": {
		"chaosd --fault=kill-owner                      # SIGKILL the owner of a run in flight, hold auto, judge",
		"chaosd --fault=pause-owner --duration 40s      # freeze it for 40 s",
		"chaosd --fault=partition-owner --target mesh-2026-05 --history bin/part.jsonl",
		"chaosd --fault=kill-owner --check-config       # print the resolved settings, touch nothing",
	},
	"--watch-fault=FAULT": {"chaosd --watch-fault=f-1 --ledger /var/lib/chaosd/ledger.jsonl   (started by chaosd itself)"},
	"analyze": {
		"chaosd analyze bin/demo/kill-owner.jsonl",
		"chaosd analyze bin/soak/history.jsonl --json > verdicts.json",
		"chaosd analyze bin/demo/kill-owner.jsonl --log-level debug --progress off",
	},
	"check-config": {"chaosd check-config --config chaosd.yaml"},
	"doctor": {
		"chaosd doctor                  # the bundled profile against the running cluster",
		"chaosd doctor --suggest        # which profile fits this cluster",
		"chaosd doctor --target mesh-current --no-run --json",
	},
	"forward":     {"chaosd forward 0.0.0.0:15432=postgres:5432 0.0.0.0:14222=nats:4222 --dial-timeout 2s"},
	"healthcheck": {"chaosd healthcheck http://127.0.0.1:3000/health/ready --timeout 2s", "chaosd healthcheck tcp://10.244.0.7:3000 --timeout 1s"},
	"agent":       {"chaosd agent serve                   # the DaemonSet's command", "chaosd agent kill --container-id 3f2a...   # what chaosd runs in it"},
	"probe-pod":   {"chaosd probe-pod    # the command of the probe pod chaosd creates for a Kubernetes partition"},
	"mockai": {
		"chaosd mockai --listen 127.0.0.1:8080",
		"curl -N 127.0.0.1:8080/v1/chat/completions -d '{\"model\":\"slow:20x200\",\"stream\":true,\"messages\":[]}'",
	},
	"recover": {"chaosd recover                  # heal what the ledger says is open", "chaosd recover --ledger bin/demo/ledger.jsonl"},
	"report": {
		"chaosd report bin/demo/kill-owner.jsonl --out report-out",
		"chaosd report bin/soak/history.jsonl --out bin/soak/report && chromium bin/soak/report/report.html",
	},
	"smoke":   {"chaosd smoke --kill-owner", "chaosd smoke --hint slow:40x100 --pods http://127.0.0.1:13001,http://127.0.0.1:13002"},
	"soak":    {"chaosd soak --duration 8h", "chaosd soak --duration 5m --schedule 'kill=@every 40s;pause=@every 50s'"},
	"static":  {"chaosd static --listen :9000 --dir /data"},
	"targets": {"chaosd targets", "chaosd targets mesh-current"},
	"testbed": {"chaosd testbed migrate --database-url postgres://...", "TESTBED_BUGS=deliver-new chaosd testbed --log-level debug"},
	"version": {"chaosd version"},
}

// logFlags are the logging flags every command has.
type logFlags struct {
	level, format string
}

// newFlagSet makes a FlagSet that reports errors instead of exiting, prints a usage
// text with the command's synopsis, and carries the shared logging flags.
func newFlagSet(io IO, name, synopsis, description string) (*flag.FlagSet, *logFlags) {
	fs := flag.NewFlagSet("chaosd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	lf := &logFlags{}
	fs.StringVar(&lf.level, "log-level", envOr(io, "CHAOSD_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env CHAOSD_LOG_LEVEL)")
	fs.StringVar(&lf.format, "log-format", envOr(io, "CHAOSD_LOG_FORMAT", logging.FormatAuto), "log format: auto (console on a terminal, JSON otherwise), console, json (env CHAOSD_LOG_FORMAT)")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: chaosd %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(description))
		if ex := examples[name]; len(ex) > 0 {
			fmt.Fprint(out, "\nExamples:\n")
			for _, e := range ex {
				fmt.Fprintf(out, "  %s\n", e)
			}
		}
		fmt.Fprint(out, "\nFlags (before or after the arguments):\n")
		printDefaults(fs)
	}
	return fs, lf
}

// printDefaults is flag.PrintDefaults with the flags spelled as people type them,
// with two dashes (one works too).
func printDefaults(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			line += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintln(fs.Output(), line)
	})
}

// parse parses args, flags before and after the positional arguments alike (as
// docker, kubectl and go test accept them), and rejects positional arguments beyond
// maxPositional. After it, fs.Args() holds the positional arguments in order.
func parse(fs *flag.FlagSet, args []string, maxPositional int) error {
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if fs.NArg() > maxPositional {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(maxPositional))
	}
	return nil
}

// parseInterleaved runs the standard flag parser over args repeatedly: it stops at the
// first positional argument, which is set aside, and goes on with the rest. A "--"
// ends the flags: everything after it is positional, as with the flag package alone.
// The positional arguments are then handed back to fs (fs.Parse after "--"), so that
// fs.Arg and fs.NArg see them and every flag keeps the value it was given.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if used := args[:len(args)-len(rest)]; len(used) > 0 && used[len(used)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func (lf *logFlags) logger(io IO) (*zap.Logger, error) {
	return logging.New(logging.Options{Level: lf.level, Format: lf.format, Out: io.Stderr})
}

func envOr(io IO, key, def string) string {
	if v := io.Getenv(key); v != "" {
		return v
	}
	return def
}
