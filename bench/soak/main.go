// Command soak measures chaosd over a long soak against the bundled cluster: it runs
// chaosd soak for -duration with faults on schedules, scrapes chaosd's own /metrics
// every -every, and prints, per window, chaosd's goroutines, live Go heap (after the
// last GC), Go heap in use (garbage included), resident memory and its CPU share of
// the machine; then the growth of each from the first window after the warm-up to the
// last, side by side (goal: under 5%).
//
//	go run ./bench/soak -chaosd bin/chaosd -duration 30m
//
// -target NAME soaks another target's cluster instead (booted with TARGET=NAME
// deploy/cluster.sh up): chaosd gets --target=NAME and, in place of the CHAOSD_*
// variables of this shell, the cluster's own (TARGET=NAME deploy/cluster.sh env).
// At 30 pods, a rate that keeps the pods as busy as 0.5 runs/s keeps three:
//
//	go run ./bench/soak -chaosd bin/chaosd -target bundled-30 -rate 2 -max-in-flight 24 -duration 20m
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// sample is one scrape.
type sample struct {
	at         time.Time
	goroutines float64
	heap       float64 // go_memstats_heap_inuse_bytes (live objects and garbage not yet swept)
	live       float64 // go_gc_heap_live_bytes (live objects after the last GC)
	rss        float64 // process_resident_memory_bytes
	cpu        float64 // process_cpu_seconds_total
	completed  float64 // chaosd_runs_total{outcome="completed"}
	healed     float64 // faults healed, all kinds
}

func main() {
	bin := flag.String("chaosd", "bin/chaosd", "chaosd binary")
	duration := flag.Duration("duration", 30*time.Minute, "soak duration")
	warmup := flag.Duration("warmup", 5*time.Minute, "measure growth from the window after this")
	window := flag.Duration("window", 5*time.Minute, "averaging window")
	every := flag.Duration("every", 10*time.Second, "scrape interval")
	schedule := flag.String("schedule", "kill=@every 60s;pause=@every 75s;partition=@every 90s", "chaosd --schedule")
	rate := flag.String("rate", "0.5", "runs started per second")
	maxInFlight := flag.Int("max-in-flight", 0, "chaosd --max-in-flight (0: chaosd's default)")
	keep := flag.Bool("keep", false, "keep the soak's directory (history, report, ledger) and print where it is, instead of removing it")
	target := flag.String("target", "", "chaosd --target, with the environment of TARGET=NAME deploy/cluster.sh env (default: chaosd's own, bundled, and this shell's environment)")
	flag.Parse()
	if *warmup+2**window > *duration {
		fail(fmt.Errorf("-duration %s: want at least -warmup + 2 -window (%s)", *duration, *warmup+2**window))
	}
	dir, err := os.MkdirTemp("", "chaosd-soak-bench-")
	if err != nil {
		fail(err)
	}
	if *keep {
		defer fmt.Printf("kept: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	cfg := filepath.Join(dir, "chaosd.yaml")
	if err := os.WriteFile(cfg, []byte("faults:\n  kinds:\n    kill: {down_for: 5s}\n    pause: {duration: 10s}\n    partition: {duration: 10s}\n"), 0o644); err != nil {
		fail(err)
	}
	addr, err := freeAddr()
	if err != nil {
		fail(err)
	}
	args := []string{"soak", "--config", cfg, "--out", dir, "--ledger", filepath.Join(dir, "ledger.jsonl"),
		"--duration", duration.String(), "--warmup", "30s", "--cooldown", "60s", "--rate", *rate, "--schedule", *schedule,
		"--metrics-addr", addr, "--history-max", "64MiB", "--progress", "off", "--log-level", "warn"}
	if *maxInFlight > 0 {
		args = append(args, "--max-in-flight", strconv.Itoa(*maxInFlight))
	}
	cmd := exec.Command(*bin, args...)
	against := "the bundled cluster"
	if *target != "" {
		env, err := clusterEnv(*target)
		if err != nil {
			fail(err)
		}
		cmd.Args = append(cmd.Args, "--target", *target)
		cmd.Env = env
		against = "target " + *target
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fmt.Printf("machine: %d CPUs; chaosd soak for %s against %s at %s runs/s, scraping http://%s/metrics every %s\n",
		runtime.NumCPU(), *duration, against, *rate, addr, *every)
	var samples []sample
	tick := time.NewTicker(*every)
	defer tick.Stop()
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-done:
			break loop
		case <-tick.C:
			if s, err := scrape("http://" + addr + "/metrics"); err == nil {
				samples = append(samples, s)
			}
		}
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		fail(waitErr)
	}
	code := cmd.ProcessState.ExitCode()
	if len(samples) < 4 {
		fail(fmt.Errorf("chaosd soak exited %d after %d scrapes:\n%s%s", code, len(samples), lastLines(errOut.String(), 20), out.String()))
	}
	report(samples, *warmup, *window)
	fmt.Printf("\nchaosd soak exit %d; its summary:\n%s", code, lastLines(out.String(), 14))
}

func report(samples []sample, warmup, window time.Duration) {
	if len(samples) < 4 {
		fail(fmt.Errorf("only %d scrapes", len(samples)))
	}
	t0 := samples[0].at
	fmt.Printf("\n%-13s %11s %14s %14s %9s %10s %9s %7s\n", "window", "goroutines", "live heap MiB", "heap in use", "RSS MiB", "cpu share", "runs ok", "faults")
	var windows [][]sample
	for _, s := range samples {
		i := int(s.at.Sub(t0) / window)
		for len(windows) <= i {
			windows = append(windows, nil)
		}
		windows[i] = append(windows[i], s)
	}
	type avg struct{ g, l, h, r float64 }
	var avgs []avg
	full := int(window / (samples[1].at.Sub(samples[0].at)))
	for i, w := range windows {
		if len(w) < 2 || len(w) < full/2 {
			continue // a partial last window (the drain) says nothing about growth
		}
		a := avg{mean(w, func(s sample) float64 { return s.goroutines }), mean(w, func(s sample) float64 { return s.live }),
			mean(w, func(s sample) float64 { return s.heap }), mean(w, func(s sample) float64 { return s.rss })}
		first, last := w[0], w[len(w)-1]
		share := (last.cpu - first.cpu) / last.at.Sub(first.at).Seconds() / float64(runtime.NumCPU())
		fmt.Printf("%-13s %11.1f %14.2f %14.2f %9.1f %9.2f%% %9.0f %7.0f\n", fmt.Sprintf("%s-%s", time.Duration(i)*window, time.Duration(i+1)*window),
			a.g, a.l/(1<<20), a.h/(1<<20), a.r/(1<<20), 100*share, last.completed, last.healed)
		if time.Duration(i)*window >= warmup {
			avgs = append(avgs, a)
		}
	}
	all := samples[len(samples)-1]
	share := (all.cpu - samples[0].cpu) / all.at.Sub(samples[0].at).Seconds() / float64(runtime.NumCPU())
	fmt.Printf("\nchaosd's CPU share of the machine over the soak: %.2f%% (%.1f CPU s in %s on %d CPUs)\n",
		100*share, all.cpu-samples[0].cpu, all.at.Sub(samples[0].at).Round(time.Second), runtime.NumCPU())
	if len(avgs) < 2 {
		fmt.Println("growth: not enough windows after the warm-up")
		return
	}
	first, last := avgs[0], avgs[len(avgs)-1]
	fmt.Printf("growth after the warm-up, first window to last (goal < 5%%): goroutines %+.1f%%, live heap %+.1f%%, RSS %+.1f%% (heap in use, garbage included: %+.1f%%)\n",
		growth(first.g, last.g), growth(first.l, last.l), growth(first.r, last.r), growth(first.h, last.h))
}

func growth(a, b float64) float64 { return 100 * (b - a) / a }

func mean(w []sample, f func(sample) float64) float64 {
	t := 0.0
	for _, s := range w {
		t += f(s)
	}
	return t / float64(len(w))
}

func scrape(url string) (sample, error) {
	resp, err := http.Get(url)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	s := sample{at: time.Now()}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(val, &v); err != nil {
			continue
		}
		switch {
		case name == "go_goroutines":
			s.goroutines = v
		case name == "go_memstats_heap_inuse_bytes":
			s.heap = v
		case name == "go_gc_heap_live_bytes":
			s.live = v
		case name == "process_resident_memory_bytes":
			s.rss = v
		case name == "process_cpu_seconds_total":
			s.cpu = v
		case name == `chaosd_runs_total{outcome="completed"}`:
			s.completed = v
		case strings.HasPrefix(name, "chaosd_faults_total{") && strings.Contains(name, `outcome="healed"`):
			s.healed += v
		}
	}
	return s, sc.Err()
}

// clusterEnv is this process's environment without its CHAOSD_* and TESTBED_*
// variables (they may point at another cluster), plus the assignments that
// TARGET=target deploy/cluster.sh env prints (KEY=VALUE or KEY='VALUE' lines; its
// export, unset and comment lines are skipped).
func clusterEnv(target string) ([]string, error) {
	cmd := exec.Command("deploy/cluster.sh", "env")
	cmd.Env = append(os.Environ(), "TARGET="+target)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	printed, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("TARGET=%s deploy/cluster.sh env (run from the repository's root): %w: %s", target, err, strings.TrimSpace(stderr.String()))
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAOSD_") && !strings.HasPrefix(kv, "TESTBED_") {
			env = append(env, kv)
		}
	}
	for _, line := range strings.Split(string(printed), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.ContainsAny(key, " #") {
			continue
		}
		env = append(env, key+"="+strings.TrimSuffix(strings.TrimPrefix(val, "'"), "'"))
	}
	return env, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "soak bench:", err)
	os.Exit(2)
}
