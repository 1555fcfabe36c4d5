package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/mockai"
	"github.com/chaosd/chaosd/preflight"
	"github.com/chaosd/chaosd/scenario"
	"github.com/chaosd/chaosd/workload"
)

const benchHelp = `
Find the cluster's ceiling: runs flow through the clean cluster (no faults) at each
rate of --rates in turn, for --step each, and every step reports the runs started and
completed, completed runs per second, the latency of the completed runs (start to
decision: p50, p90, p99), chaosd's own CPU (share of one core) and memory, and
whether the step held. The runs of a step are decided before the next step starts;
every invariant judges all of it, as in a soak, into one history. A warm-up at the
first rate (--warmup, 15s) comes first and is not a step (its runs are in the history
like the others): each pod's first runs open its connections and are slower.

A step fails on the target's side when a run started in it did not complete, an
invariant was violated, the in-flight cap was hit (runs take over 4x the hint's time),
or fewer runs completed per second than were started (under 90%). It fails on
chaosd's side when chaosd falls behind: it fell over a second behind its schedule of
starts (runs are due at exact times, i/rate after the step's start, and a late
wake-up starts the ones it owes), it used over 90% of the cores it may use, or its
goroutines waited over 50 ms to run (the p99 of the Go scheduler's latency) while it
used at least half a core. Then the step's figures say more about chaosd than
about the cluster. Goroutines that waited while chaosd used little CPU mean the
machine was saturated (by the cluster, when it shares the machine): said beside the
step, not held against either side. The ramp stops
at the first failing step (--keep-going runs every step) and names the ceiling: the
last step that held.

  chaosd bench --rates 1,2,4,8,16 --step 30s --hint slow:20x50

Exit status: 0 the ramp ran (whatever its ceiling); 2 it could not run, or no step
held.`

// benchHint is the runs' hint when neither the configuration nor --hint names one.
const benchHint = "slow:20x50"

func init() {
	examples["bench"] = []string{
		"chaosd bench                                    # 1,2,4,8,16 runs/s of slow:20x50, 30 s each",
		"chaosd bench --rates 0.5,1,2 --step 1m --watchers 1",
		"chaosd bench --target bundled-30 --rates 4,8,16,32 --keep-going",
	}
}

type benchOpts struct {
	rates     []float64
	step      time.Duration
	warmup    time.Duration
	keepGoing bool
	out       string
}

func runBench(ctx context.Context, io IO, args []string) error {
	fs, lf := newFlagSet(io, "bench", "[flags]", benchHelp)
	checkOnly := fs.Bool("check-config", false, "print the resolved configuration and exit")
	check := fs.Bool("preflight", envOr(io, "CHAOSD_PREFLIGHT", "true") != "false",
		"check the target profile against the live cluster first (chaosd doctor); false: skip it (env CHAOSD_PREFLIGHT)")
	rates := fs.String("rates", envOr(io, "CHAOSD_BENCH_RATES", "1,2,4,8,16"), "runs started per second at each step, in order (env CHAOSD_BENCH_RATES)")
	step := fs.Duration("step", 30*time.Second, "how long each step starts runs")
	warmup := fs.Duration("warmup", 15*time.Second, "runs at the first rate this long before the first step, not judged (each pod's first runs open its connections; 0: none)")
	keep := fs.Bool("keep-going", false, "run every step, also after one failed")
	out := fs.String("out", envOr(io, "CHAOSD_BENCH_OUT", "chaosd-bench"), "directory for the history (env CHAOSD_BENCH_OUT)")
	cf := config.RegisterFlags(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	o := benchOpts{step: *step, warmup: *warmup, keepGoing: *keep, out: *out}
	var err error
	if o.rates, err = parseRates(*rates); err != nil {
		return err
	}
	if o.step < 5*time.Second {
		return fmt.Errorf("--step %s: must be at least 5s (a step must see runs decided)", o.step)
	}
	if o.warmup < 0 {
		return fmt.Errorf("--warmup %s: must not be negative", o.warmup)
	}
	cfg, path, err := cf.Resolve(io.Getenv)
	if err != nil {
		return err
	}
	hintFlag := false
	fs.Visit(func(f *flag.Flag) { hintFlag = hintFlag || f.Name == "hint" })
	if cfg.Workload.Hint == config.Default().Workload.Hint && !hintFlag && io.Getenv("CHAOSD_HINT") == "" {
		// Short runs unless a hint was asked for: the ramp is about rates, not streams.
		cfg.Workload.Hint = benchHint
	}
	if *checkOnly {
		return printConfig(io.Stdout, cfg, path)
	}
	log, err := lf.logger(io)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return benchMain(ctx, io, cfg, path, log, *check, o)
}

// parseRates reads "1,2,4": positive runs per second, rising.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return nil, fmt.Errorf("--rates: %q is not a positive number of runs per second", strings.TrimSpace(f))
		}
		if len(out) > 0 && r <= out[len(out)-1] {
			return nil, fmt.Errorf("--rates: %v after %v: the rates must rise", r, out[len(out)-1])
		}
		out = append(out, r)
	}
	return out, nil
}

// benchStep is what one step measured.
type benchStep struct {
	Rate                float64
	Started, Completed  int
	NotCompleted        int
	Skipped             int           // runs due but not started: the in-flight cap was reached
	Late                int           // runs due but not started: chaosd over a second behind its schedule
	Took                time.Duration // from the first start to the last decision
	P50, P90, P99       time.Duration
	CPU                 time.Duration // chaosd's, user and system
	CPUShare            float64       // of one core, over the step
	RSS                 uint64        // bytes, at the step's end
	SchedP99            time.Duration // Go scheduler latency over the step
	Violations          int
	TargetWhy, OwnWhy   []string
	Note                string // neither side's failure, but worth saying
	completedPerSecond  float64
	startedPerSecondCap float64
}

func (s *benchStep) held() bool { return len(s.TargetWhy) == 0 && len(s.OwnWhy) == 0 }

func benchMain(ctx context.Context, io IO, cfg config.Config, path string, log *zap.Logger, check bool, o benchOpts) error {
	plan, err := mockai.ParseHints(cfg.Workload.Hint, mockai.Limits{})
	if err != nil {
		return fmt.Errorf("workload.hint: %w", err)
	}
	env, err := openFaultEnv(ctx, cfg, path, log, true, false) // no fault: no ledger
	if err != nil {
		return err
	}
	defer env.close()
	if err := env.dockerOnly("chaosd bench"); err != nil {
		return err
	}
	v, err := preflightGate(ctx, io, env, check, preflight.Options{Run: true})
	if err != nil {
		return err
	}
	defer v.close()
	cfg, env.cfg = v.cfg, v.cfg
	obs, err := openObservers(ctx, cfg)
	if err != nil {
		return err
	}
	defer obs.close()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	hpath := cfg.Workload.History
	if hpath == "" {
		hpath = filepath.Join(o.out, "bench-"+time.Now().UTC().Format("20060102T150405Z")+".jsonl")
	}
	hw, err := history.Create(hpath, history.Options{Log: log})
	if err != nil {
		return err
	}
	defer hw.Close()
	params := paramsOf(cfg)
	live := invariants.NewLive(hw, params)
	meta := metaOf(cfg, params)
	meta.Note = fmt.Sprintf("bench at %v runs/s, %s per step", o.rates, o.step)
	if err := scenario.Begin(live, meta); err != nil {
		return err
	}
	events, err := watchIntoHistory(ctx, env, live, log)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var lat []time.Duration
	wcfg := watchedLongEnough(workloadConfig(cfg), cfg)
	wcfg.Settle = settleOf(cfg, log) // auto: none, a bench holds no fault
	wl, err := workload.New(wcfg, workload.Deps{Driver: obs.driver, Postgres: obs.pg, NATS: obs.nats, Recorder: live, Log: log,
		UserChecks: userChecks(cfg.Checks), OnDecided: func(_ *workload.Run, outcome string, took time.Duration) {
			if outcome == workload.OutcomeCompleted {
				mu.Lock()
				lat = append(lat, took)
				mu.Unlock()
			}
		}})
	if err != nil {
		return err
	}
	if err := wl.Bootstrap(ctx); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		wl.Monitor(monCtx, time.Second, cfg.Workload.Heartbeats)
	}()
	expect := time.Duration(plan.Chunks) * plan.Delay
	fmt.Fprintf(io.Stdout, "bench: %d pods, hint %s (%s a run), %d late watchers a run, steps of %s at %s runs/s; history %s\n",
		len(cfg.Workload.Pods), cfg.Workload.Hint, expect, wcfg.Watchers, o.step, ratesText(o.rates), hpath)
	if o.warmup > 0 && ctx.Err() == nil {
		fmt.Fprintf(io.Stdout, "warm-up: %s runs/s for %s, not judged...\n", ratesText(o.rates[:1]), o.warmup)
		wctx, stop := context.WithTimeout(ctx, o.warmup)
		_ = wl.RunAt(wctx, ctx, o.rates[0], int(math.Ceil(o.rates[0]*4*expect.Seconds()))+4)
		stop()
	}
	var steps []*benchStep
	for _, rate := range o.rates {
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		st := benchOne(ctx, io, wl, live, rate, o.step, expect, func() []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(lat)
		})
		steps = append(steps, st)
		if !st.held() && !o.keepGoing {
			break
		}
	}
	stopMon()
	<-monDone
	if _, err := events.Stop(200 * time.Millisecond); err != nil {
		log.Warn("docker events", zap.Error(err))
	}
	if _, err := live.Append(history.MetaEvent(history.Meta{Phase: history.MetaEnd})); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	rep := live.Finish()
	if err := hw.Close(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	fmt.Fprintln(io.Stdout)
	writeBenchTable(io.Stdout, steps)
	fmt.Fprintln(io.Stdout)
	_ = invariants.WriteTable(io.Stdout, rep)
	fmt.Fprintln(io.Stdout, "(a bench injects no fault: the invariants that need one are not exercised, and the overall status says so)")
	fmt.Fprintf(io.Stdout, "history: %s (chaosd analyze %[1]s re-checks it)\n", hpath)
	if ctx.Err() != nil {
		return &ExitCodeError{Code: ExitError, Err: errors.New("stopped early by a signal; the steps above ran")}
	}
	return benchCeiling(io.Stdout, steps)
}

func ratesText(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.FormatFloat(r, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// benchOne runs one step: runs started at rate for d, then every one of them decided.
func benchOne(ctx context.Context, io IO, wl *workload.Workload, live *invariants.Live, rate float64, d, expect time.Duration,
	latencies func() []time.Duration) *benchStep {
	st := &benchStep{Rate: rate}
	before := wl.Stats()
	vBefore := violations(live)
	cpu0 := processCPU()
	sched0 := schedHist()
	start := time.Now()
	// Room for runs that take up to 4x the hint's time: hitting the cap means the
	// cluster is that slow, and the step fails for it.
	maxIn := int(math.Ceil(rate*4*expect.Seconds())) + 4
	fmt.Fprintf(io.Stdout, "step %s runs/s: starting runs for %s (cap %d in flight)...\n", ratesText([]float64{rate}), d, maxIn)
	starting, stop := context.WithTimeout(ctx, d)
	_ = wl.RunAt(starting, ctx, rate, maxIn) // returns once every run started is decided
	stop()
	st.Took = time.Since(start)
	st.CPU = processCPU() - cpu0
	st.CPUShare = st.CPU.Seconds() / st.Took.Seconds()
	st.SchedP99 = schedP99(sched0, schedHist())
	st.RSS = processRSS()
	after := wl.Stats()
	st.Started = after.Started - before.Started
	st.Completed = after.Completed - before.Completed
	st.NotCompleted = after.Failed - before.Failed
	st.Skipped = after.Skipped - before.Skipped
	st.Late = after.Late - before.Late
	st.Violations = violations(live) - vBefore
	ls := latencies()
	slices.Sort(ls)
	st.P50, st.P90, st.P99 = pct(ls, 0.50), pct(ls, 0.90), pct(ls, 0.99)
	// Completed per second over the starting window plus one run's expected time:
	// a cluster that keeps up completes what was started at the rate it was started.
	st.completedPerSecond = float64(st.Completed) / (d + expect).Seconds()
	st.startedPerSecondCap = float64(st.Started) / (d + expect).Seconds()
	judgeStep(st)
	verdict := "held"
	if !st.held() {
		verdict = "FAILED: " + strings.Join(append(append([]string{}, st.TargetWhy...), st.OwnWhy...), "; ")
	}
	if st.Note != "" {
		verdict += " (" + st.Note + ")"
	}
	fmt.Fprintf(io.Stdout, "step %s runs/s: %d started, %d completed (%.2f/s), p50 %s p99 %s, chaosd %.0f%% of a core, %s\n",
		ratesText([]float64{rate}), st.Started, st.Completed, st.completedPerSecond, st.P50.Round(time.Millisecond), st.P99.Round(time.Millisecond),
		100*st.CPUShare, verdict)
	return st
}

// judgeStep fills in why a step failed, on whose side.
func judgeStep(st *benchStep) {
	if st.Started == 0 {
		st.TargetWhy = append(st.TargetWhy, "no run was started")
	}
	if st.NotCompleted > 0 {
		st.TargetWhy = append(st.TargetWhy, fmt.Sprintf("%d runs not completed", st.NotCompleted))
	}
	if st.Violations > 0 {
		st.TargetWhy = append(st.TargetWhy, fmt.Sprintf("%d invariant violations", st.Violations))
	}
	if st.Skipped > 0 {
		st.TargetWhy = append(st.TargetWhy, fmt.Sprintf("in-flight cap hit %d times (runs over 4x the hint's time)", st.Skipped))
	}
	if st.Started > 0 && st.completedPerSecond < 0.9*st.startedPerSecondCap {
		st.TargetWhy = append(st.TargetWhy, fmt.Sprintf("completed %.2f runs/s of %.2f started", st.completedPerSecond, st.startedPerSecondCap))
	}
	if st.Late > 0 {
		st.OwnWhy = append(st.OwnWhy, fmt.Sprintf("chaosd behind its schedule: %d runs due not started (over a second late)", st.Late))
	}
	waited := st.SchedP99 > 50*time.Millisecond
	switch limit := float64(runtime.GOMAXPROCS(0)); {
	case st.CPUShare > 0.9*limit:
		st.OwnWhy = append(st.OwnWhy, fmt.Sprintf("chaosd busy: %.0f%% of a core, over 90%% of the %d it may use", 100*st.CPUShare, int(limit)))
	case waited && st.CPUShare >= 0.5:
		st.OwnWhy = append(st.OwnWhy, fmt.Sprintf("chaosd behind: its goroutines waited %s to run (p99) while it used %.0f%% of a core",
			st.SchedP99.Round(time.Millisecond), 100*st.CPUShare))
	case waited:
		// chaosd asked for little CPU and still waited: the machine was saturated
		// (by the cluster, on a shared machine), which the step's figures include.
		st.Note = fmt.Sprintf("machine saturated: chaosd waited %s to run (p99) using only %.0f%% of a core",
			st.SchedP99.Round(time.Millisecond), 100*st.CPUShare)
	}
}

func writeBenchTable(w io.Writer, steps []*benchStep) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RATE\tSTARTED\tCOMPLETED\tDONE/S\tP50\tP90\tP99\tCHAOSD CPU\tRSS\tSCHED P99\tVERDICT")
	for _, s := range steps {
		verdict := "held"
		switch {
		case len(s.OwnWhy) > 0:
			verdict = "CHAOSD: " + strings.Join(s.OwnWhy, "; ")
			if len(s.TargetWhy) > 0 {
				verdict += " (and the target: " + strings.Join(s.TargetWhy, "; ") + ")"
			}
		case len(s.TargetWhy) > 0:
			verdict = "TARGET: " + strings.Join(s.TargetWhy, "; ")
		}
		if s.Note != "" {
			verdict += " (" + s.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%s\t%s\t%s\t%.0f%%\t%.0f MiB\t%s\t%s\n", ratesText([]float64{s.Rate}), s.Started, s.Completed,
			s.completedPerSecond, s.P50.Round(time.Millisecond), s.P90.Round(time.Millisecond), s.P99.Round(time.Millisecond),
			100*s.CPUShare, float64(s.RSS)/(1<<20), s.SchedP99.Round(100*time.Microsecond), verdict)
	}
	_ = tw.Flush()
}

// benchCeiling names the last step that held; none is exit 2.
func benchCeiling(w io.Writer, steps []*benchStep) error {
	var ceiling *benchStep
	for _, s := range steps {
		if !s.held() {
			break
		}
		ceiling = s
	}
	if ceiling == nil {
		return &ExitCodeError{Code: ExitError, Err: errors.New("bench: no step held; start lower (--rates)")}
	}
	fmt.Fprintf(w, "ceiling: %s runs/s held (chaosd %.0f%% of a core there, %.0f MiB)", ratesText([]float64{ceiling.Rate}),
		100*ceiling.CPUShare, float64(ceiling.RSS)/(1<<20))
	if last := steps[len(steps)-1]; last != ceiling {
		side := "the target"
		if len(last.OwnWhy) > 0 {
			side = "chaosd"
		}
		fmt.Fprintf(w, "; %s runs/s failed on %s's side", ratesText([]float64{last.Rate}), side)
	} else {
		fmt.Fprint(w, "; every step held: the ceiling is higher (raise --rates)")
	}
	fmt.Fprintln(w)
	return nil
}

func violations(l *invariants.Live) int {
	n := 0
	for _, c := range l.Counts() {
		n += c.Violations
	}
	return n
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// processCPU is this process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processRSS is this process's resident memory now (VmRSS), 0 when unknown.
func processRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

const schedMetric = "/sched/latencies:seconds"

// schedHist reads the Go scheduler's latency histogram (cumulative since start).
func schedHist() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := s[0].Value.Float64Histogram()
	return &metrics.Float64Histogram{Counts: slices.Clone(h.Counts), Buckets: slices.Clone(h.Buckets)}
}

// schedP99 is the 99th percentile of the scheduling latencies between two readings
// (the upper bound of its bucket).
func schedP99(a, b *metrics.Float64Histogram) time.Duration {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return 0
	}
	var total uint64
	diff := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		diff[i] = b.Counts[i] - a.Counts[i]
		total += diff[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(0.99 * float64(total)))
	var seen uint64
	for i, c := range diff {
		seen += c
		if seen >= want {
			up := b.Buckets[i+1]
			if math.IsInf(up, 1) {
				up = b.Buckets[i]
			}
			return time.Duration(up * float64(time.Second))
		}
	}
	return 0
}

// What observation costs chaosd, measured with bench/observe -dense on the bundled
// cluster (100 runs in flight, 3 pods, 2 late watchers; 2026-12-07): one chunk read by
// one watcher (24-40 µs), and one reading tick of a run in flight, which carries the
// rest of a run's cost (a 4-second run cost 16-19 ms apart from its chunks: its POSTs
// and attaches, 16 Postgres and NATS readings and their history events).
const (
	costPerReading = time.Millisecond
	costPerChunk   = 40 * time.Microsecond
)

// observationLoad estimates the share of one core that chaosd needs to observe runs
// started at rate per second of the hint, each read every probe and watched by
// 1+watchers pods: what the soak warns about before chaosd, not the cluster, becomes
// the bottleneck.
func observationLoad(rate float64, maxInFlight int, hint string, probe time.Duration, watchers, pods int) (inFlight, share float64, err error) {
	plan, err := mockai.ParseHints(hint, mockai.Limits{})
	if err != nil {
		return 0, 0, err
	}
	if watchers <= 0 || watchers > pods-1 {
		watchers = pods - 1
	}
	runTime := time.Duration(plan.Chunks)*plan.Delay + time.Second // the stream and its set-up
	inFlight = min(float64(maxInFlight), rate*runTime.Seconds())
	readings := inFlight / probe.Seconds()
	chunks := min(rate, inFlight/runTime.Seconds()) * float64(plan.Chunks) * float64(1+watchers)
	share = readings*costPerReading.Seconds() + chunks*costPerChunk.Seconds()
	return inFlight, share, nil
}

// warnObservationLoad says, before a soak starts, when chaosd itself would need over
// half a core to observe the load asked for.
func warnObservationLoad(w io.Writer, cfg config.Config) {
	wl := cfg.Workload
	inFlight, share, err := observationLoad(cfg.Soak.Rate, cfg.Soak.MaxInFlight, wl.Hint, wl.ProbeInterval.Std(), wl.Watchers, len(wl.Pods))
	if err != nil || share <= 0.5 {
		return
	}
	watchers := wl.Watchers
	if watchers <= 0 || watchers > len(wl.Pods)-1 {
		watchers = len(wl.Pods) - 1
	}
	fmt.Fprintf(w, "warning: at %v runs/s of %s (about %.0f in flight, read every %s, watched from %d pods) chaosd itself needs about %.0f%% of a core "+
		"to observe them: on a machine shared with the cluster chaosd may become the bottleneck; lower --rate or raise --probe-interval, "+
		"and run chaosd bench to see where the cluster's ceiling is\n",
		cfg.Soak.Rate, wl.Hint, inFlight, wl.ProbeInterval, 1+watchers, 100*share)
}
