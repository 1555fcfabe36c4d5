// Command observe measures chaosd's own cost while it observes the cluster: it runs
// chaosd --fault=pause-owner with more and more runs in flight against the bundled
// cluster and prints, for each, chaosd's CPU seconds and peak memory per observed run
// and per chunk seen by a watcher (from the history it wrote).
//
//	go run ./bench/observe -chaosd bin/chaosd -runs 3,12,24
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
	runs := flag.String("runs", "3,12,24", "runs in flight, comma-separated")
	hint := flag.String("hint", "slow:20x250", "mockai hint of every run")
	flag.Parse()
	dir, err := os.MkdirTemp("", "chaosd-observe-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	fmt.Printf("%6s %6s %8s %9s %9s %10s %12s %10s %s\n", "runs", "done", "chunks", "wall s", "cpu s", "peak MiB", "cpu ms/run", "cpu µs/chunk", "verdict")
	for _, f := range strings.Split(*runs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail(fmt.Errorf("-runs: %q is not a positive count", f))
		}
		if err := one(*bin, *hint, dir, n); err != nil {
			fail(err)
		}
	}
}

func one(bin, hint, dir string, n int) error {
	hist := filepath.Join(dir, fmt.Sprintf("h-%d.jsonl", n))
	cmd := exec.Command(bin, "--fault=pause-owner", "--duration=10s", "--runs="+strconv.Itoa(n), "--hint="+hint,
		"--history="+hist, "--ledger="+filepath.Join(dir, "ledger.jsonl"), "--log-level=error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("run chaosd: %w", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	done, chunks, err := observed(hist)
	if err != nil {
		return err
	}
	verdict := map[int]string{0: "pass", 1: "FAIL", 2: "unknown"}[cmd.ProcessState.ExitCode()]
	fmt.Printf("%6d %6d %8d %9.1f %9.2f %10.1f %12.1f %10.1f %s\n", n, done, chunks, wall.Seconds(), cpu.Seconds(),
		float64(ru.Maxrss)/1024, float64(cpu.Milliseconds())/float64(max(done, 1)), float64(cpu.Microseconds())/float64(max(chunks, 1)), verdict)
	return nil
}

// observed counts the runs started and the chunks the watchers saw.
func observed(path string) (runs, chunks int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r := history.NewReader(f)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return runs, chunks, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("history %s: %w", path, err)
		}
		switch {
		case e.Type == history.TypeOp && e.Op.Name == history.OpStartRun && e.Op.Phase == history.PhaseOK:
			runs++
		case e.Type == history.TypeWatch:
			chunks += e.Watch.Order.Len()
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "observe:", err)
	os.Exit(2)
}
