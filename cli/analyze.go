package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
)

const analyzeHelp = `
Re-check a stored history (the JSONL file chaosd writes while it runs, "-" for
stdin) offline: every invariant is judged again from the events, and a verdict table
(see the legend below) is printed, followed by the full diagnosis of every verdict
that is not a pass. --json prints the report as JSON instead.

Deadlines and graces default to the history's own settings (its begin line carries
the heartbeat TTL and intervals) and are derived from them; the flags override.

Statuses: pass; fail (violated); unknown (some window that mattered could not be
observed); not-exercised (nothing the invariant is about was observed); not-promised
(what was observed is something the mesh under test does not promise, e.g. a run
whose owner never came back, on a mesh that recovers runs only on a restart). Only
pass counts as a pass. Invariants judge by the promises the history's begin line
records (its target profile's); a history without them is judged by the May 2026
mesh's, and an invariant whose promise is not made is not run (a note says so).

Exit status: 0 every invariant passed, 1 an invariant was violated, 2 the history
could not be read (a malformed line is named by its number) or a verdict is unknown,
not exercised or not promised.`

type analyzeOpts struct {
	json        bool
	heartbeat   string
	ignore      string
	userChecks  string
	progress    string
	params      invariants.Params
	maxEvidence int
}

func runAnalyze(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "analyze", "FILE [flags]", analyzeHelp+"\n\n"+invariants.TableLegend)
	o := analyzeFlags(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("analyze: want one history FILE (see --help)")
	}
	p, err := o.resolve()
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(invariants.GCPercent))
	}
	rep, err := analyzeFile(ctx, io, fs.Arg(0), p, o.progress)
	if err != nil {
		return err
	}
	if err := o.print(io.Stdout, rep); err != nil {
		return err
	}
	return verdictExit(rep.Status)
}

func analyzeFlags(fs *flag.FlagSet) *analyzeOpts {
	o := &analyzeOpts{}
	p := &o.params
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.DurationVar(&p.HeartbeatTTL, "heartbeat-ttl", 0, "heartbeat bucket TTL (default: the history's, else 45s)")
	fs.DurationVar(&p.HeartbeatInterval, "heartbeat-interval", 0, "pods' heartbeat refresh interval (default: the history's, else 10s)")
	fs.DurationVar(&p.DetectInterval, "detect-interval", 0, "how often pods look for dead peers (default: the history's, else 10s)")
	fs.DurationVar(&p.BootTime, "boot-time", 0, "how long a pod takes from its start to ready (default: the history's; pod-recovers' deadline derives from it)")
	fs.DurationVar(&p.Slack, "slack", 0, "added to graces for scheduling and resume work (default 10s)")
	fs.DurationVar(&p.OwnerGrace, "owner-grace", 0, "owner-alive: how long a down pod may own an in-progress run, or a run may have no owner (default TTL + detect interval + slack)")
	fs.DurationVar(&p.RunDeadline, "run-deadline", 0, "run-completes: a fixed deadline per run (default: streaming time + owner grace + 2 slack)")
	fs.DurationVar(&p.RecoverDeadline, "recover-deadline", 0, "pod-recovers: a healed pod must be ready within this (default boot time + interval + slack; 2 TTL for histories without a boot time)")
	fs.DurationVar(&p.KeyGrace, "key-grace", 0, "heartbeat-bucket: a pod ready this long must have a key (default interval + slack)")
	fs.DurationVar(&p.ReadyStale, "ready-stale", 0, "a readiness reading older than this no longer counts (default 3 intervals)")
	fs.DurationVar(&p.PurgeConfirm, "purge-confirm", 0, "stream-integrity: Postgres must still say in_progress this long after a buffer shrank (default 1s)")
	fs.DurationVar(&p.FlowBound, "flow-bound", 0, "runs-flow: the longest fault-free stretch with no run started and completed (default the larger of 1m and 10 times the longest run's streaming time)")
	fs.DurationVar(&p.Skew, "skew", 0, "tolerance for events written out of time order; deadlines are judged this late (default 2s)")
	fs.StringVar(&o.heartbeat, "heartbeat-check", "auto", "heartbeat-bucket invariant: auto (the history says), on, off")
	fs.StringVar(&o.ignore, "ignore-containers", "", "comma-separated pod/container name patterns whose deaths are expected (default migrate,*-migrate-*)")
	fs.StringVar(&o.userChecks, "user-checks", "", "comma-separated names of declared user checks, besides those the history declares")
	fs.IntVar(&o.maxEvidence, "max-evidence", 20, "findings kept per verdict")
	fs.StringVar(&o.progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal), on, off")
	return o
}

func (o *analyzeOpts) resolve() (invariants.Params, error) {
	p := o.params
	switch o.heartbeat {
	case "auto":
	case "on", "off":
		on := o.heartbeat == "on"
		p.HeartbeatCheck = &on
	default:
		return p, fmt.Errorf("--heartbeat-check: %q, want auto, on or off", o.heartbeat)
	}
	if o.ignore != "" {
		p.IgnoreContainers = splitList(o.ignore)
	}
	p.UserChecks = splitList(o.userChecks)
	if o.maxEvidence < 1 {
		return p, fmt.Errorf("--max-evidence: %d must be at least 1", o.maxEvidence)
	}
	p.MaxEvidence = o.maxEvidence
	switch o.progress {
	case "auto", "on", "off":
	default:
		return p, fmt.Errorf("--progress: %q, want auto, on or off", o.progress)
	}
	return p, p.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// analyzeFile reads and checks the history at path ("-": stdin), with its rotated
// segments.
func analyzeFile(ctx context.Context, io IO, path string, p invariants.Params, progress string) (invariants.Report, error) {
	cr := &countingReader{ctx: ctx}
	hr, closer, size, err := openHistory(path, cr)
	if err != nil {
		return invariants.Report{}, &ExitCodeError{Code: ExitError, Err: err}
	}
	defer closer.Close()
	var report func(int)
	if showProgress(io.Stderr, progress) {
		report = progressPrinter(io.Stderr, cr, size)
		defer fmt.Fprint(io.Stderr, "\r\033[K")
	}
	rep, err := invariants.Analyze(hr, p, report)
	if err != nil {
		return rep, &ExitCodeError{Code: ExitError, Err: fmt.Errorf("%s: %w", path, err)}
	}
	return rep, nil
}

// openHistory opens the history at path, its rotated segments (plain or gzipped)
// oldest first and then the live file, reading every file's bytes as stored through
// cr; size is their total on disk, for the progress percentage.
func openHistory(path string, cr *countingReader) (*history.Reader, io.Closer, int64, error) {
	if path == "-" {
		cr.r = os.Stdin
		return history.NewReader(cr), io.NopCloser(nil), 0, nil
	}
	hr, closer, err := history.OpenWith(path, func(r io.Reader) io.Reader {
		cr.r = r // the files are read one after the other
		return cr
	})
	if err != nil {
		return nil, nil, 0, err
	}
	size, err := history.Size(path)
	if err != nil {
		closer.Close()
		return nil, nil, 0, err
	}
	return hr, closer, size, nil
}

// countingReader counts bytes for progress and stops reading when ctx ends. The
// history is read on a goroutine of its own (read-ahead) while progress is
// printed: n is atomic.
type countingReader struct {
	r   io.Reader
	n   atomic.Int64
	ctx context.Context
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func showProgress(w io.Writer, mode string) bool {
	if mode != "auto" {
		return mode == "on"
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func progressPrinter(w io.Writer, cr *countingReader, size int64) func(int) {
	start := time.Now()
	return func(events int) {
		rate := float64(events) / max(time.Since(start).Seconds(), 1e-9)
		pct := ""
		if size > 0 {
			pct = fmt.Sprintf(" (%.0f%%)", 100*float64(cr.n.Load())/float64(size))
		}
		fmt.Fprintf(w, "\r\033[Kanalyze: %d events%s, %.0f events/s", events, pct, rate)
	}
}

func (o *analyzeOpts) print(w io.Writer, rep invariants.Report) error {
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	}
	if err := invariants.WriteTable(w, rep); err != nil {
		return err
	}
	return invariants.WriteDiagnoses(w, rep)
}

// verdictExit maps an overall verdict to chaosd's exit code convention.
func verdictExit(st invariants.Status) error {
	switch st {
	case invariants.Pass:
		return nil
	case invariants.Fail:
		return &ExitCodeError{Code: ExitViolated, Err: errors.New("invariants violated (see above)")}
	}
	return &ExitCodeError{Code: ExitError, Err: errors.New("some verdicts are unknown, not exercised or not promised: not a pass (see above)")}
}
