// Command mockai-bench measures how `chaosd mockai` holds many concurrent streams: it
// starts the built chaosd binary as its own process, opens the streams over raw
// HTTP/1.1 on loopback, and reports errors, wall time against the ideal, each
// stream's time to its first frame and to its end, the server's memory (from
// /proc/<pid>/status) per open stream, and the kernel's TCP drop counters (from
// /proc/net/netstat) before and after each run.
//
//	go run ./bench/mockai -chaosd bin/chaosd -streams 5000,10000 -hint slow:20x200
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chaosd/chaosd/mockai"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockai-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	chaosd     string
	streams    []int
	hint       string
	modes      []string
	connecting int
	repeat     int
	settle     time.Duration
	lowat      bool
	threads    int
	cpuProfile string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mockai-bench", flag.ContinueOnError)
	var c config
	var streams, modes string
	fs.StringVar(&c.chaosd, "chaosd", "bin/chaosd", "the chaosd binary to run as the server")
	fs.StringVar(&streams, "streams", "5000,10000", "comma-separated counts of concurrent streams, one server process per count")
	fs.StringVar(&c.hint, "hint", "slow:20x200", "the hint every stream sends (slow:NxMS)")
	fs.StringVar(&modes, "modes", "hijack", "comma-separated server modes: hijack (default server), handler (--hijack=false)")
	fs.IntVar(&c.connecting, "connecting", 512, "most streams connecting at once, from the dial to the first frame (the listen backlog is finite)")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "idle time before the server's baseline memory is read")
	fs.IntVar(&c.repeat, "repeat", 5, "runs per mode and stream count (a fresh server each); the median is the figure, best and worst show the noise")
	fs.BoolVar(&c.lowat, "lowat", true, "read each stream's chunks in a few wake-ups (SO_RCVLOWAT set to the shortest complete response); false wakes the client for every chunk")
	fs.IntVar(&c.threads, "threads", runtime.NumCPU(), "the client's epoll loops (threads), each running an equal share of the streams")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the client's CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-streams %q: want positive counts", streams)
		}
		c.streams = append(c.streams, n)
	}
	c.modes = strings.Split(modes, ",")
	c.repeat = max(c.repeat, 1)
	c.connecting = max(c.connecting, 1)
	chunks, delay, err := parseSlow(c.hint)
	if err != nil {
		return err
	}
	if err := raiseNoFile(); err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ideal := time.Duration(chunks) * delay
	fmt.Fprintf(out, "mockai scale: hint %s (ideal %s per stream), %d CPUs, load average %s, %s, at most %d streams connecting at once\n",
		c.hint, ideal, runtime.NumCPU(), loadAvg(), listenLimits(), c.connecting)
	for _, mode := range c.modes {
		for _, n := range c.streams {
			if err := series(ctx, out, c, mode, n, chunks, delay); err != nil {
				return fmt.Errorf("%s %d: %w", mode, n, err)
			}
		}
	}
	fmt.Fprint(out, `
wall: first dial to the last stream's last chunk (ideal: one stream's N x MS); setup:
first dial to the last stream's first frame (every stream open); rest x: (wall -
setup) / ideal, the time after the last stream opened; first p50/p99: one stream, dial
to first frame; p50/p99/max: one stream, request to last chunk; open@rss: streams open
when rss was sampled (the most at once); rss/hwm: the server's VmRSS then and VmHWM at
the end; KiB/stream: (rss - idle) / open@rss, and the same with hwm; kernel: TCP
counters of /proc/net/netstat before and after the run, for the whole network
namespace.
`)
	return nil
}

// series runs one mode and stream count c.repeat times and prints each run and the
// best, median and worst wall.
func series(ctx context.Context, out io.Writer, c config, mode string, n, chunks int, delay time.Duration) error {
	ideal := time.Duration(chunks) * delay
	fmt.Fprintf(out, "\n%-8s %7s %3s %6s %8s %6s %8s %7s %8s %8s %8s %8s %8s %8s %7s %7s %10s %10s\n",
		"mode", "streams", "run", "errors", "wall", "x ideal", "setup", "rest x", "first50", "first99", "p50", "p99", "max", "open@rss",
		"idleMiB", "rssMiB", "KiB/stream", "KiB/strhwm")
	var rs []*result
	for i := range c.repeat {
		r, err := scale(ctx, c, mode, n, chunks, delay)
		if err != nil {
			return err
		}
		r.print(out, mode, n, i+1, ideal)
		rs = append(rs, r)
	}
	if len(rs) == 1 {
		return nil
	}
	slices.SortFunc(rs, func(a, b *result) int { return int(a.wall - b.wall) })
	var errs int64
	for _, r := range rs {
		errs += r.errors
	}
	med := rs[len(rs)/2]
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	setups := make([]time.Duration, 0, len(rs))
	rests := make([]float64, 0, len(rs))
	for _, r := range rs {
		setups = append(setups, r.ramp)
		rests = append(rests, r.rest(ideal))
	}
	slices.Sort(setups)
	slices.Sort(rests)
	fmt.Fprintf(out, "  %s %d over %d runs: wall x ideal best %.2fx, median %.2fx, worst %.2fx; errors %d\n",
		mode, n, len(rs), rs[0].ratio(ideal), med.ratio(ideal), rs[len(rs)-1].ratio(ideal), errs)
	fmt.Fprintf(out, "    setup (first dial to the last stream's first frame) best %s, median %s, worst %s; the rest (wall - setup) x ideal best %.2fx, median %.2fx, worst %.2fx\n",
		ms(setups[0]), ms(setups[len(setups)/2]), ms(setups[len(setups)-1]), rests[0], rests[len(rests)/2], rests[len(rests)-1])
	fmt.Fprintf(out, "    median run: per-stream p50 %s, p99 %s, max %s; %.1f KiB per open stream\n",
		ms(med.pct(med.durations, 0.5)), ms(med.pct(med.durations, 0.99)), ms(med.pct(med.durations, 1)), med.perStream(med.rssAtPeak))
	return nil
}

var slowRE = regexp.MustCompile(`^slow:(\d+)x(\d+)$`)

func parseSlow(h string) (int, time.Duration, error) {
	m := slowRE.FindStringSubmatch(h)
	if m == nil {
		return 0, 0, fmt.Errorf("-hint %q: want slow:NxMS", h)
	}
	n, _ := strconv.Atoi(m[1])
	ms, _ := strconv.Atoi(m[2])
	return max(n, 1), time.Duration(ms) * time.Millisecond, nil
}

// raiseNoFile raises this process's open-file limit (the server inherits it): every
// stream is a socket on each side.
func raiseNoFile() error {
	lim := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		// Not root: take the hard limit.
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("getrlimit: %w", err)
		}
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	return nil
}

// result is one scale run.
type result struct {
	errors     int64
	firstErr   string
	wall       time.Duration
	durations  []time.Duration // request to last chunk, per stream
	firsts     []time.Duration // dial to first frame, per stream
	openAtPeak int64
	idleRSS    int64         // KiB
	rssAtPeak  int64         // KiB, sampled when the most streams were open
	hwm        int64         // KiB, the server's VmHWM at the end
	ramp       time.Duration // until every stream had its first frame
	serverCPU  cpuTime       // server CPU during the run
	clientCPU  cpuTime       // this process's CPU during the run
	kernel     string        // kernel counters before and after
	backlog    string        // the server listener's backlog (ss)
}

func (r *result) ratio(ideal time.Duration) float64 { return float64(r.wall) / float64(ideal) }

// rest is the wall after the setup (the last stream's first frame) against the ideal.
func (r *result) rest(ideal time.Duration) float64 { return float64(r.wall-r.ramp) / float64(ideal) }

// pct is the p-quantile of sorted ds.
func (r *result) pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// perStream is the server's memory above its idle baseline per open stream, in KiB.
func (r *result) perStream(kib int64) float64 {
	if r.openAtPeak == 0 {
		return 0
	}
	return float64(kib-r.idleRSS) / float64(r.openAtPeak)
}

func (r *result) print(out io.Writer, mode string, n, run int, ideal time.Duration) {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	fmt.Fprintf(out, "%-8s %7d %3d %6d %8s %6.2fx %8s %6.2fx %8s %8s %8s %8s %8s %8d %7.1f %7.1f %10.1f %10.1f\n",
		mode, n, run, r.errors, ms(r.wall), r.ratio(ideal), ms(r.ramp), r.rest(ideal),
		ms(r.pct(r.firsts, 0.5)), ms(r.pct(r.firsts, 0.99)),
		ms(r.pct(r.durations, 0.5)), ms(r.pct(r.durations, 0.99)), ms(r.pct(r.durations, 1)),
		r.openAtPeak, float64(r.idleRSS)/1024, float64(r.rssAtPeak)/1024,
		r.perStream(r.rssAtPeak), r.perStream(r.hwm))
	fmt.Fprintf(out, "  all open after %s; server listen backlog %s; CPU: server %s, client %s\n", ms(r.ramp), r.backlog, r.serverCPU, r.clientCPU)
	fmt.Fprintf(out, "  kernel: %s\n", r.kernel)
	if r.firstErr != "" {
		fmt.Fprintf(out, "  first error: %s\n", r.firstErr)
	}
}

// scale starts a server, opens n streams at once, and measures.
func scale(ctx context.Context, c config, mode string, n, chunks int, delay time.Duration) (*result, error) {
	args := []string{"mockai", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"}
	switch mode {
	case "hijack":
	case "handler":
		args = append(args, "--hijack=false")
	default:
		return nil, fmt.Errorf("unknown mode %q: want hijack or handler", mode)
	}
	srv, err := startServer(ctx, c.chaosd, args)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	r := &result{backlog: listenBacklog(srv.addr)}
	var open, opened, ramp atomic.Int64
	t := &tally{open: &open, opened: &opened, all: int64(n), ramp: &ramp}
	cl, err := newClient(srv.addr, requestBody(c.hint), chunks, c.connecting, c.threads, t)
	if err != nil {
		return nil, err
	}
	// One stream to warm the server up (and to measure the shortest response), then
	// the idle baseline.
	if c.lowat {
		if err := cl.calibrate(ctx, srv.addr); err != nil {
			return nil, err
		}
	} else if err := warmUp(ctx, srv.addr); err != nil {
		return nil, err
	}
	if err := sleep(ctx, c.settle); err != nil {
		return nil, err
	}
	if r.idleRSS, _, err = procMem(srv.pid()); err != nil {
		return nil, err
	}
	cpu0, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	ns0, err := readNetstat()
	if err != nil {
		return nil, err
	}
	self0 := selfCPU()
	stopSampling := sampleMemory(srv.pid(), &open, r)

	start := time.Now()
	t.start = start
	streams := cl.run(ctx, n)
	r.wall = time.Since(start)
	r.ramp = time.Duration(ramp.Load())
	stopSampling()
	cpu1, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	r.serverCPU, r.clientCPU = cpu1.minus(cpu0), selfCPU().minus(self0)
	// Checked after the run, on the client's own time.
	for _, st := range streams {
		if err := st.check(chunks); err != nil {
			r.errors++
			if r.firstErr == "" {
				r.firstErr = err.Error()
			}
			continue
		}
		r.durations = append(r.durations, st.total)
		r.firsts = append(r.firsts, st.firstFrame)
	}
	slices.Sort(r.durations)
	slices.Sort(r.firsts)
	ns1, err := readNetstat()
	if err != nil {
		return nil, err
	}
	r.kernel = ns1.delta(ns0)
	_, r.hwm, err = procMem(srv.pid())
	return r, err
}

// sampleMemory samples the server's RSS every 20 ms while the most streams are open,
// into r.openAtPeak and r.rssAtPeak, until the returned func is called.
func sampleMemory(pid int, open *atomic.Int64, r *result) (stop func()) {
	sampled := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			o := open.Load()
			if o == 0 || o < r.openAtPeak {
				continue
			}
			if rss, _, err := procMem(pid); err == nil {
				if o > r.openAtPeak {
					r.openAtPeak, r.rssAtPeak = o, rss
				} else {
					r.rssAtPeak = max(r.rssAtPeak, rss)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-sampled
	}
}

// warmUp runs one short stream.
func warmUp(ctx context.Context, addr string) error {
	w, err := newClient(addr, requestBody("slow:2x1"), 2, 1, 1, nil)
	if err != nil {
		return err
	}
	if err := w.run(ctx, 1)[0].check(2); err != nil {
		return fmt.Errorf("warm-up stream: %w", err)
	}
	return nil
}

func requestBody(hint string) string {
	b, _ := json.Marshal(map[string]any{
		"model":    "mock-model",
		"stream":   true,
		"messages": []map[string]string{{"role": "user", "content": hint}},
	})
	return string(b)
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// listenLimits names the kernel limits of the server's accept and SYN queues.
func listenLimits() string {
	l, err := mockai.ReadListenLimits()
	if err != nil {
		return "listen limits unknown: " + err.Error()
	}
	return fmt.Sprintf("somaxconn %d, tcp_max_syn_backlog %d, tcp_syncookies %d", l.Somaxconn, l.SynBacklog, l.Syncookies)
}

// listenBacklog is the backlog of the listener on addr as ss reports it (the Send-Q of
// a listening socket), or "?".
func listenBacklog(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "?"
	}
	b, err := exec.Command("ss", "-lntH", fmt.Sprintf("sport = :%d", ap.Port())).Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return f[2]
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
