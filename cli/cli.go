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
		{"healthcheck", "probe an HTTP URL and exit 0 on a 2xx answer (for container health checks)", runHealthcheck},
		{"recover", "heal every fault that the ledger says is still open", runRecover},
		{"check-config", "validate and print the resolved configuration", runCheckConfig},
		{"report", "write the HTML, JUnit and Markdown report of a stored history", runReport},
		{"analyze", "re-check a stored history offline and print the verdicts", runAnalyze},
		{"doctor", "check the target profile against the live cluster (what chaosd assumes, what it sees, the fix)", runDoctor},
		{"targets", "list the target profiles (bundled, mesh-2026-05, ...) or print one", runTargets},
		{"static", "serve a directory and health routes over HTTP (a stand-in for small infrastructure such as minio)", runStatic},
		{"forward", "relay TCP ports to addresses inside a network (what chaosd's forwarder container runs)", runForward},
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
		fmt.Fprintf(out, "Usage: chaosd %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs, lf
}

// parse parses args and rejects stray positional arguments unless allowed.
func parse(fs *flag.FlagSet, args []string, maxPositional int) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > maxPositional {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(maxPositional))
	}
	return nil
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
