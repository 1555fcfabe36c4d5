// Command observe measures chaosd's own cost while it observes the cluster: it runs
// chaosd --fault=pause-owner with more and more runs in flight against the bundled
// cluster and prints, for each, chaosd's CPU seconds and peak memory per observed run
// and per chunk seen by a watcher (from the history it wrote).
//
//	go run ./bench/observe -chaosd bin/chaosd -runs 3,12,24
//
// With -base OTHER (e.g. the previous commit's binary) each row is run with both
// binaries, one after the other, and the ratio of their CPU per chunk is printed:
// the comparison is measured side by side in one run. With two rows or more, the
// marginal CPU per chunk between the fewest and the most runs is printed too: the
// cost of observing without the one-shot's fixed costs.
//
// With -dense HINT (a hint of the same run length as -hint but more chunks, e.g.
// -hint slow:20x200 -dense slow:80x50) each row is run again with it: the same runs in
// flight for as long, the same readings, attaches and watchers, only more chunks. The
// difference in CPU over the difference in chunks seen is what one more chunk costs
// one watcher (SSE reading, decoding, the tally, its share of the history), apart from
// what a run costs whatever its chunks (its POSTs and attaches, its Postgres and NATS
// readings every probe interval, their history events), which is printed beside it:
//
//	go run ./bench/observe -chaosd bin/chaosd -runs 100 -hint slow:20x200 -dense slow:80x50
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaosd/chaosd/history"
)

func main() {
	bin := flag.String("chaosd", "bin/chaosd", "chaosd binary")
	base := flag.String("base", "", "also run this chaosd binary on every row and print the ratio (new/base)")
	runs := flag.String("runs", "3,12,24", "runs in flight, comma-separated")
	hint := flag.String("hint", "slow:20x250", "mockai hint of every run")
	dense := flag.String("dense", "", "also run every row with this hint, as long as -hint's but with more chunks, and print the CPU per further watched chunk and per run apart")
	extra := flag.String("args", "", "more chaosd flags for every run, space-separated (e.g. --watchers=2)")
	flag.Parse()
	if *dense != "" {
		if err := sameLength(*hint, *dense); err != nil {
			fail(err)
		}
	}
	dir, err := os.MkdirTemp("", "chaosd-observe-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	fmt.Printf("%-6s %6s %6s %8s %8s %8s %9s %9s %10s %12s %10s %s\n", "binary", "runs", "done", "watches", "chunks", "readings", "wall s", "cpu s", "peak MiB", "cpu ms/run", "cpu µs/chunk", "verdict")
	rows := map[string][]measure{}
	defer func() { marginal(rows) }()
	for _, f := range strings.Split(*runs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-runs: %q is not a positive count", f))
		}
		m, err := one("new", *bin, *hint, *extra, dir, n)
		if err != nil {
			fail(err)
		}
		rows["new"] = append(rows["new"], m)
		if *dense != "" {
			d, err := one("dense", *bin, *dense, *extra, dir, n)
			if err != nil {
				fail(err)
			}
			perChunk(n, m, d)
		}
		if *base == "" {
			continue
		}
		b, err := one("base", *base, *hint, *extra, dir, n)
		if err != nil {
			fail(err)
		}
		rows["base"] = append(rows["base"], b)
		fmt.Printf("%-6s %6d  CPU per chunk new/base %.3f, CPU per run new/base %.3f, readings per run new/base %.3f\n", "ratio", n,
			m.perChunk()/b.perChunk(), m.perRun()/b.perRun(), float64(m.readings*max(b.done, 1))/float64(max(b.readings, 1)*max(m.done, 1)))
	}
}

type measure struct {
	runs                   int // asked for
	cpu                    time.Duration
	done, chunks, readings int
}

// marginal prints, per binary, the CPU per chunk between its fewest-runs and its
// most-runs rows: what each further watched chunk costs, without what every one-shot
// spends whatever its load (start-up, the preflight, the fault, the verdict).
func marginal(rows map[string][]measure) {
	for _, label := range []string{"new", "base"} {
		ms := rows[label]
		if len(ms) < 2 {
			continue
		}
		lo, hi := ms[0], ms[0]
		for _, m := range ms {
			if m.runs < lo.runs {
				lo = m
			}
			if m.runs > hi.runs {
				hi = m
			}
		}
		if hi.chunks <= lo.chunks {
			continue
		}
		fmt.Printf("%-6s marginal CPU per chunk from %d to %d runs: %.1f µs ((%.2f s - %.2f s) / (%d - %d chunks))\n", label, lo.runs, hi.runs,
			float64((hi.cpu-lo.cpu).Microseconds())/float64(hi.chunks-lo.chunks), hi.cpu.Seconds(), lo.cpu.Seconds(), hi.chunks, lo.chunks)
	}
}

// perChunk prints what one more watched chunk costs, from two rows of the same runs in
// flight and run length, sparse and dense, and what a run costs apart from its chunks.
func perChunk(n int, sparse, dense measure) {
	if dense.chunks <= sparse.chunks {
		fmt.Printf("%-6s %6d  the dense hint's runs saw no more chunks (%d against %d): no per-chunk figure\n", "chunk", n, dense.chunks, sparse.chunks)
		return
	}
	c := float64((dense.cpu - sparse.cpu).Microseconds()) / float64(dense.chunks-sparse.chunks)
	rest := (float64(sparse.cpu.Microseconds()) - c*float64(sparse.chunks)) / float64(max(sparse.done, 1)) / 1000
	fmt.Printf("%-6s %6d  CPU per further watched chunk %.1f µs ((%.2f s - %.2f s) / (%d - %d chunks)); the rest, per run: %.1f ms (its POSTs, attaches and readings, with the one-shot's fixed costs spread over the runs)\n",
		"chunk", n, c, dense.cpu.Seconds(), sparse.cpu.Seconds(), dense.chunks, sparse.chunks, rest)
}

// sameLength checks that two slow:NxMS hints make runs of the same length.
func sameLength(a, b string) error {
	la, err := hintLength(a)
	if err != nil {
		return err
	}
	lb, err := hintLength(b)
	if err != nil {
		return err
	}
	if la != lb {
		return fmt.Errorf("-dense %s streams for %s and -hint %s for %s: want the same length, so that only the chunks differ", b, lb, a, la)
	}
	return nil
}

func hintLength(h string) (time.Duration, error) {
	var n, ms int
	if _, err := fmt.Sscanf(h, "slow:%dx%d", &n, &ms); err != nil || n < 1 || ms < 1 {
		return 0, fmt.Errorf("hint %q: want slow:NxMS", h)
	}
	return time.Duration(n*ms) * time.Millisecond, nil
}

func (m measure) perChunk() float64 { return float64(m.cpu.Microseconds()) / float64(max(m.chunks, 1)) }
func (m measure) perRun() float64   { return float64(m.cpu.Milliseconds()) / float64(max(m.done, 1)) }

func one(label, bin, hint, extra, dir string, n int) (measure, error) {
	hist := filepath.Join(dir, fmt.Sprintf("h-%s-%d.jsonl", label, n))
	args := []string{"--fault=pause-owner", "--duration=10s", "--runs=" + strconv.Itoa(n), "--hint=" + hint,
		"--history=" + hist, "--ledger=" + filepath.Join(dir, "ledger.jsonl"), "--log-level=error"}
	args = append(args, strings.Fields(extra)...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return measure{}, fmt.Errorf("run chaosd: %w", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m := measure{runs: n, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	var watches int
	m.done, watches, m.chunks, m.readings, err = observed(hist)
	if err != nil {
		return m, err
	}
	verdict := map[int]string{0: "pass", 1: "FAIL", 2: "unknown"}[cmd.ProcessState.ExitCode()]
	fmt.Printf("%-6s %6d %6d %8d %8d %8d %9.1f %9.2f %10.1f %12.1f %10.1f %s\n", label, n, m.done, watches, m.chunks, m.readings, wall.Seconds(), m.cpu.Seconds(),
		float64(ru.Maxrss)/1024, m.perRun(), m.perChunk(), verdict)
	return m, nil
}

// observed counts the runs started, the watchers and the chunks they saw, and the
// readings of runs in flight (one Postgres and one NATS reading each): a binary that
// reads less often under load costs less per chunk without being cheaper per reading.
func observed(path string) (runs, watches, chunks, readings int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer f.Close()
	r := history.NewReader(f)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return runs, watches, chunks, readings, nil
		}
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("history %s: %w", path, err)
		}
		switch {
		case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Phase == history.PhaseOK:
			runs++
		case e.Type == history.TypeWatch:
			watches++
			chunks += e.Watch.Order.Len()
		case e.Type == history.TypeProbe && e.Probe.Kind == history.ProbeThread:
			readings++
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "observe:", err)
	os.Exit(2)
}
