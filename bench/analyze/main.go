// Command analyze-bench measures how fast chaosd re-checks a stored history: it
// generates a synthetic history of about -events events (history/synth: steady runs
// watched early and late, sampled every second, a pause fault every minute), then
// reads the same file several ways, side by side in one run, and prints events/s,
// MB/s, CPU and peak heap of each, with the ratios:
//
//   - decode, encoding/json, 1 goroutine: the old path's decoding (lines split and
//     parsed by encoding/json into history.Event and validated, no checking), for the
//     before/after ratio;
//   - decode, history.Reader, 1 goroutine: history.Decode without read-ahead;
//   - decode, history.Reader, read-ahead: what invariants.Analyze's reading costs,
//     with the workers it uses, and no checking; the faster of the two
//     history.Reader ways is the measured limit of analyze (on a busy machine the
//     single goroutine can win);
//   - analyze in-process, 1 goroutine: invariants.Analyze without read-ahead;
//   - analyze in-process: invariants.Analyze as chaosd runs it;
//   - with -chaosd, `chaosd analyze FILE` through the built binary (peak RSS).
//
// With -rounds N every way is measured N times, the rounds interleaved, and the
// fastest of each is kept (the machine is shared: the fastest is the least
// disturbed).
//
//	go run ./bench/analyze -events 1000000 -chaosd bin/chaosd
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/history/synth"
	"github.com/chaosd/chaosd/invariants"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "analyze-bench:", err)
		os.Exit(1)
	}
}

type opts struct {
	events  int
	out     string
	keep    bool
	chaosd  string
	rounds  int
	workers int
	profile string
	gogc    int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("analyze-bench", flag.ContinueOnError)
	var o opts
	fs.IntVar(&o.events, "events", 1_000_000, "events in the synthetic history")
	fs.StringVar(&o.out, "out", "", "where to write the history (default: a temporary file); an existing file is read as it is")
	fs.BoolVar(&o.keep, "keep", false, "keep the history file")
	fs.StringVar(&o.chaosd, "chaosd", "", "also time `<chaosd> analyze FILE` with this binary")
	fs.IntVar(&o.rounds, "rounds", 1, "measure every way this many times (interleaved) and keep the fastest")
	fs.IntVar(&o.workers, "workers", 0, "decoding goroutines of the read-ahead (0: invariants.Analyze's default, one per CPU)")
	fs.IntVar(&o.gogc, "gogc", invariants.GCPercent, "the collector's GOGC for the in-process ways (default: what chaosd analyze sets)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the in-process analyze (read-ahead) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", o.rounds)
	}
	debug.SetGCPercent(o.gogc)
	path, cleanup, err := o.file()
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := os.Stat(path); o.out == "" || err != nil {
		if err := generate(out, path, o.events); err != nil {
			return err
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return measure(ctx, out, path, st.Size(), o)
}

func (o opts) file() (string, func(), error) {
	if o.out != "" {
		return o.out, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "analyze-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("temp dir: %w", err)
	}
	path := filepath.Join(dir, "history.jsonl")
	if o.keep {
		return path, func() {}, nil
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

func generate(out io.Writer, path string, events int) error {
	start := time.Now()
	w, err := history.Create(path, history.Options{Buffered: true})
	if err != nil {
		return err
	}
	n, err := synth.Generate(w, synth.Options{Events: events})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(out, "generated %d events, %.1f MB, in %s (%.0f events/s written)\n  %s\n",
		n, mb(st.Size()), el.Round(time.Millisecond), float64(n)/el.Seconds(), path)
	return nil
}

// result is one measurement of one way.
type result struct {
	events   int
	wall     time.Duration
	cpu      time.Duration
	peakHeap uint64 // bytes in use, sampled every 64k events (in-process ways)
	maxRSS   int64  // KiB (the binary)
	note     string
}

// way is one way of reading the history.
type way struct {
	name string
	run  func(path string) (result, error)
}

func measure(ctx context.Context, out io.Writer, path string, size int64, o opts) error {
	workers := invariants.Options{Workers: o.workers}.DecodeWorkers()
	ways := []way{
		{"decode, encoding/json, 1 goroutine (old)", decodeStd},
		{"decode, history.Reader, 1 goroutine", func(p string) (result, error) { return decode(p, 0) }},
		{fmt.Sprintf("decode, history.Reader, read-ahead %d workers", workers), func(p string) (result, error) { return decode(p, workers) }},
		{"analyze in-process, 1 goroutine", func(p string) (result, error) { return analyze(p, -1) }},
		{fmt.Sprintf("analyze in-process, read-ahead %d workers", workers), func(p string) (result, error) { return analyze(p, workers) }},
	}
	if o.chaosd != "" {
		ways = append(ways, way{o.chaosd + " analyze FILE", func(p string) (result, error) { return viaBinary(ctx, o.chaosd, p) }})
	}
	if o.profile != "" {
		if err := profile(o.profile, func() error { _, err := analyze(path, workers); return err }); err != nil {
			return err
		}
	}
	best := make([]result, len(ways))
	for round := range o.rounds {
		for i, w := range ways {
			r, err := w.run(path)
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			if round == 0 || r.wall < best[i].wall {
				best[i] = r
			}
		}
	}
	fmt.Fprintf(out, "%d CPUs (GOMAXPROCS %d), GOGC %d in-process; fastest of %d round(s); %.1f MB\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), o.gogc, o.rounds, mb(size))
	for i, w := range ways {
		r := best[i]
		fmt.Fprintf(out, "%-58s %8.0f events/s %6.1f MB/s  wall %6.2fs  CPU %6.2fs (%7.0f events per CPU-second)  %s\n",
			w.name+":", rate(r.events, r.wall), mb(size)/r.wall.Seconds(), r.wall.Seconds(), r.cpu.Seconds(), rate(r.events, r.cpu), memText(r))
	}
	limit, inproc := best[2], best[4]
	limitWay := ways[2].name
	if best[1].wall < limit.wall {
		limit, limitWay = best[1], ways[1].name
	}
	fmt.Fprintf(out, "decode limit: %s, %.0f events/s\n", limitWay, rate(limit.events, limit.wall))
	fmt.Fprintf(out, "analyze in-process / decode limit: %.2f\n", ratio(inproc, limit))
	// On a shared machine the wall ratio moves with the neighbours from one second
	// to the next; the CPU each way took per event moves far less. With every core
	// busy the wall ratio can reach the CPU ratio, no more.
	fmt.Fprintf(out, "by CPU per event (the wall ratio's ceiling on a machine whose cores are all busy): analyze in-process %.2f", cpuRatio(inproc, limit))
	if o.chaosd != "" {
		fmt.Fprintf(out, ", chaosd analyze %.2f", cpuRatio(best[5], limit))
	}
	fmt.Fprintln(out)
	if o.chaosd != "" {
		fmt.Fprintf(out, "chaosd analyze / decode limit: %.2f\n", ratio(best[5], limit))
	}
	fmt.Fprintf(out, "decode limit / old decode: %.2f; analyze in-process / analyze 1 goroutine: %.2f\n", ratio(limit, best[0]), ratio(inproc, best[3]))
	return nil
}

// ratio is a's speed over b's.
func ratio(a, b result) float64 { return rate(a.events, a.wall) / rate(b.events, b.wall) }

// cpuRatio is b's CPU per event over a's: how a's speed compares with b's when
// both keep every core busy.
func cpuRatio(a, b result) float64 { return rate(a.events, a.cpu) / rate(b.events, b.cpu) }

func rate(n int, d time.Duration) float64 { return float64(n) / max(d.Seconds(), 1e-9) }

func memText(r result) string {
	if r.maxRSS > 0 {
		return fmt.Sprintf("max RSS %.1f MB; %s", float64(r.maxRSS)/1024, r.note)
	}
	return fmt.Sprintf("peak heap in use %.1f MB", mb(int64(r.peakHeap)))
}

// sampler keeps the peak of the heap in use, sampled every 64k events.
type sampler struct{ peak uint64 }

func (s *sampler) sample(events int) {
	if events%(64<<10) != 0 {
		return
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.peak = max(s.peak, m.HeapInuse)
}

// timed runs f from a collected heap and measures it.
func timed(f func(s *sampler) (int, error)) (result, error) {
	runtime.GC()
	var s sampler
	cpu0, start := cpuTime(), time.Now()
	n, err := f(&s)
	return result{events: n, wall: time.Since(start), cpu: cpuTime() - cpu0, peakHeap: s.peak}, err
}

// decodeStd is the old path: lines split by bufio and parsed by encoding/json.
func decodeStd(path string) (result, error) {
	f, err := os.Open(path)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	return timed(func(s *sampler) (int, error) {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 256<<10), history.MaxLine)
		n := 0
		for sc.Scan() {
			var e history.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return n, fmt.Errorf("line %d: %w", n+1, err)
			}
			if err := e.Validate(); err != nil {
				return n, fmt.Errorf("line %d: %w", n+1, err)
			}
			n++
			s.sample(n)
		}
		return n, sc.Err()
	})
}

// decode reads every event with history.Reader, with read-ahead on workers
// goroutines (0: none).
func decode(path string, workers int) (result, error) {
	r, c, err := history.Open(path)
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	return timed(func(s *sampler) (int, error) {
		if workers > 0 {
			stop := r.ReadAhead(workers)
			defer stop()
		}
		n := 0
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			n++
			s.sample(n)
		}
	})
}

// analyze checks the history in-process with invariants.AnalyzeWith.
func analyze(path string, workers int) (result, error) {
	r, c, err := history.Open(path)
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	return timed(func(s *sampler) (int, error) {
		rep, err := invariants.AnalyzeWith(r, invariants.Params{}, invariants.Options{Progress: s.sample, Workers: workers})
		if err == nil && rep.Status != invariants.Pass {
			err = fmt.Errorf("the synthetic history should pass, got %s", rep.Status)
		}
		return rep.Events, err
	})
}

func viaBinary(ctx context.Context, bin, path string) (result, error) {
	lines, err := countLines(path)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "analyze", "--progress", "off", path)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	err = cmd.Run()
	el := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return result{}, fmt.Errorf("run %s: %w", bin, err)
	}
	ps := cmd.ProcessState
	return result{events: lines, wall: el, cpu: ps.UserTime() + ps.SystemTime(), maxRSS: maxRSS(ps),
		note: fmt.Sprintf("exit %d", ps.ExitCode())}, nil
}

// countLines counts the events of the history, for the binary's rate.
func countLines(path string) (int, error) {
	r, c, err := history.Open(path)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := r.ReadAhead(runtime.GOMAXPROCS(0))
	defer stop()
	n := 0
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// profile writes a CPU profile of f to path.
func profile(path string, f func() error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return err
	}
	err = f()
	pprof.StopCPUProfile()
	return err
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }
