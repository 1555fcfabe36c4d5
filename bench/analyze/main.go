// Command analyze-bench measures how fast chaosd re-checks a stored history: it
// generates a synthetic history of about -events events (history/synth: steady runs
// watched early and late, sampled every second, a pause fault every minute), then
// checks it in-process with invariants.Analyze and, with -chaosd, through the built
// binary (`chaosd analyze FILE`), and prints events/s, MB/s and peak heap.
//
//	go run ./bench/analyze -events 1000000 -chaosd bin/chaosd
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	events int
	out    string
	keep   bool
	chaosd string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("analyze-bench", flag.ContinueOnError)
	var o opts
	fs.IntVar(&o.events, "events", 1_000_000, "events in the synthetic history")
	fs.StringVar(&o.out, "out", "", "where to write the history (default: a temporary file)")
	fs.BoolVar(&o.keep, "keep", false, "keep the history file")
	fs.StringVar(&o.chaosd, "chaosd", "", "also time `<chaosd> analyze FILE` with this binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, cleanup, err := o.file()
	if err != nil {
		return err
	}
	defer cleanup()
	if err := generate(out, path, o.events); err != nil {
		return err
	}
	if err := inProcess(out, path); err != nil {
		return err
	}
	if o.chaosd != "" {
		return viaBinary(ctx, out, o.chaosd, path)
	}
	return nil
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
	os.Remove(path)
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

func inProcess(out io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	runtime.GC()
	var peak uint64
	sample := func(int) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	cpu0 := cpuTime()
	start := time.Now()
	rep, err := invariants.Analyze(history.NewReader(f), invariants.Params{}, sample)
	el := time.Since(start)
	if err != nil {
		return err
	}
	cpu := cpuTime() - cpu0
	fmt.Fprintf(out, "in-process: %d events in %s wall: %.0f events/s, %.1f MB/s; CPU %.2fs: %.0f events per CPU-second; peak heap in use %.1f MB; verdict %s\n",
		rep.Events, el.Round(time.Millisecond), float64(rep.Events)/el.Seconds(), mb(st.Size())/el.Seconds(),
		cpu.Seconds(), float64(rep.Events)/cpu.Seconds(), mb(int64(peak)), rep.Status)
	if rep.Status != invariants.Pass {
		return fmt.Errorf("the synthetic history should pass, got %s", rep.Status)
	}
	return nil
}

func viaBinary(ctx context.Context, out io.Writer, bin, path string) error {
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "analyze", "--progress", "off", path)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	el := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	lines, err := countLines(path)
	if err != nil {
		return err
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Fprintf(out, "%s analyze: %d events in %s wall: %.0f events/s, %.1f MB/s; CPU %.2fs: %.0f events per CPU-second; exit %d, max RSS %.1f MB\n",
		bin, lines, el.Round(time.Millisecond), float64(lines)/el.Seconds(), mb(st.Size())/el.Seconds(),
		cpu.Seconds(), float64(lines)/cpu.Seconds(), cmd.ProcessState.ExitCode(), float64(maxRSS(cmd.ProcessState))/1024)
	return nil
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := history.NewReader(f)
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

func mb(n int64) float64 { return float64(n) / (1 << 20) }
