// Command mockai-bench measures how `chaosd mockai` holds many concurrent streams: it
// starts the built chaosd binary as its own process, opens the streams over raw
// HTTP/1.1 on loopback, and reports errors, wall time against the ideal, and the
// server's memory (from /proc/<pid>/status) per open stream.
//
//	go run ./bench/mockai -chaosd bin/chaosd -streams 5000,10000 -hint slow:20x200
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
	maxChunk   int
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
	fs.IntVar(&c.repeat, "repeat", 1, "runs per mode and stream count (a fresh server each); on a shared machine the best and the median tell more than one run")
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
	chunks, delay, err := parseSlow(c.hint)
	if err != nil {
		return err
	}
	if err := raiseNoFile(); err != nil {
		return err
	}
	ideal := time.Duration(chunks) * delay
	fmt.Fprintf(out, "mockai scale: hint %s (ideal %s per stream), %d CPUs\n", c.hint, ideal, runtime.NumCPU())
	fmt.Fprintf(out, "%-8s %7s %6s %8s %6s %8s %8s %8s %9s %9s %9s %9s %11s %11s\n",
		"mode", "streams", "errors", "wall", "x ideal", "p50", "p99", "max", "open@rss", "idle MiB", "rss MiB", "hwm MiB", "KiB/stream", "KiB/str hwm")
	for _, mode := range c.modes {
		for _, n := range c.streams {
			var walls []float64
			for range c.repeat {
				r, err := scale(ctx, c, mode, n, chunks, delay)
				if err != nil {
					return fmt.Errorf("%s %d: %w", mode, n, err)
				}
				r.print(out, mode, n, ideal)
				walls = append(walls, float64(r.wall)/float64(ideal))
			}
			if len(walls) > 1 {
				slices.Sort(walls)
				fmt.Fprintf(out, "  %s %d over %d runs: wall x ideal best %.2fx, median %.2fx, worst %.2fx\n",
					mode, n, len(walls), walls[0], walls[len(walls)/2], walls[len(walls)-1])
			}
		}
	}
	fmt.Fprint(out, `
wall: first dial to the last stream's last chunk (ideal: one stream's N x MS); p50/p99/max:
one stream, request to last chunk; open@rss: streams open when rss was sampled (the most
at once); rss/hwm: the server's VmRSS then and VmHWM at the end; KiB/stream: (rss - idle)
/ open@rss, and the same with hwm.
`)
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
	errors      int64
	firstErr    string
	wall        time.Duration
	durations   []time.Duration
	openAtPeak  int64
	idleRSS     int64         // KiB
	rssAtPeak   int64         // KiB, sampled when the most streams were open
	hwm         int64         // KiB, the server's VmHWM at the end
	ramp        time.Duration // until every stream had its first frame
	serverCPU   cpuTime       // server CPU during the run
	clientCPU   cpuTime       // this process's CPU during the run
	serverError string
}

func (r *result) print(out io.Writer, mode string, n int, ideal time.Duration) {
	slices.Sort(r.durations)
	pct := func(p float64) time.Duration {
		if len(r.durations) == 0 {
			return 0
		}
		return r.durations[min(len(r.durations)-1, int(p*float64(len(r.durations))))]
	}
	perStream := func(kib int64) float64 {
		if r.openAtPeak == 0 {
			return 0
		}
		return float64(kib-r.idleRSS) / float64(r.openAtPeak)
	}
	fmt.Fprintf(out, "%-8s %7d %6d %8s %6.2fx %8s %8s %8s %9d %9.1f %9.1f %9.1f %11.1f %11.1f\n",
		mode, n, r.errors, r.wall.Round(time.Millisecond), float64(r.wall)/float64(ideal),
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond),
		r.openAtPeak, float64(r.idleRSS)/1024, float64(r.rssAtPeak)/1024, float64(r.hwm)/1024,
		perStream(r.rssAtPeak), perStream(r.hwm))
	fmt.Fprintf(out, "  all open after %s; CPU: server %s, client %s\n", r.ramp.Round(time.Millisecond), r.serverCPU, r.clientCPU)
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
	// One stream to warm the server up, then the idle baseline.
	body := requestBody(c.hint)
	if _, err := oneStream(ctx, srv.addr, []byte(requestBody("slow:2x1")), nil, 2); err != nil {
		return nil, fmt.Errorf("warm-up stream: %w", err)
	}
	if err := sleep(ctx, c.settle); err != nil {
		return nil, err
	}
	r := &result{}
	if r.idleRSS, _, err = procMem(srv.pid()); err != nil {
		return nil, err
	}

	var open, opened atomic.Int64
	cpu0, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	self0 := selfCPU()
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			o := open.Load()
			if o == 0 || o < r.openAtPeak {
				continue
			}
			if rss, _, err := procMem(srv.pid()); err == nil {
				if o > r.openAtPeak {
					r.openAtPeak, r.rssAtPeak = o, rss
				} else {
					r.rssAtPeak = max(r.rssAtPeak, rss)
				}
			}
		}
	}()

	var mu sync.Mutex
	var wg sync.WaitGroup
	var ramp atomic.Int64
	start := time.Now()
	t := &tally{open: &open, opened: &opened, all: int64(n), ramp: &ramp, start: start, connecting: make(chan struct{}, c.connecting)}
	for range n {
		wg.Go(func() {
			d, err := oneStream(ctx, srv.addr, []byte(body), t, chunks)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.errors++
				if r.firstErr == "" {
					r.firstErr = err.Error()
				}
				return
			}
			r.durations = append(r.durations, d)
		})
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.ramp = time.Duration(ramp.Load())
	close(stopSampling)
	<-sampled
	cpu1, err := procCPU(srv.pid())
	if err != nil {
		return nil, err
	}
	r.serverCPU, r.clientCPU = cpu1.minus(cpu0), selfCPU().minus(self0)
	_, r.hwm, err = procMem(srv.pid())
	return r, err
}

func requestBody(hint string) string {
	b, _ := json.Marshal(map[string]any{
		"model":    "mock-model",
		"stream":   true,
		"messages": []map[string]string{{"role": "user", "content": hint}},
	})
	return string(b)
}

var errCount = errors.New("wrong number of content chunks")

// tally counts streams that have their first frame and have not ended yet, records
// when the last of all streams got its first frame, and bounds the streams that are
// connecting: a token is held from the dial until the first frame, so that the
// server's accept queue never overflows (an overflow costs a SYN retransmit, 1 s).
type tally struct {
	open, opened *atomic.Int64
	all          int64
	ramp         *atomic.Int64
	start        time.Time
	connecting   chan struct{}
}

func (t *tally) connect() {
	if t != nil {
		t.connecting <- struct{}{}
	}
}

// connected releases the connect token; it runs once per stream.
func (t *tally) connected() {
	if t != nil {
		<-t.connecting
	}
}

func (t *tally) opening() {
	if t == nil {
		return
	}
	t.open.Add(1)
	if t.opened.Add(1) == t.all {
		t.ramp.Store(int64(time.Since(t.start)))
	}
}

func (t *tally) closing() {
	if t != nil {
		t.open.Add(-1)
	}
}

// oneStream dials addr and runs one stream on the connection.
func oneStream(ctx context.Context, addr string, body []byte, t *tally, chunks int) (time.Duration, error) {
	t.connect()
	connected := sync.OnceFunc(t.connected)
	defer connected()
	d := net.Dialer{KeepAlive: -1} // no keep-alive probes: fewer syscalls per dial
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	return streamOn(conn, body, t, connected, chunks)
}

// streamOn sends one streamed chat completion and reads it to its last chunk,
// checking that it carries the expected content chunks and ends with [DONE]. It
// returns the time from sending the request to the last chunk. It reads raw bytes and
// checks them once at the end, so that the client spends little CPU per chunk.
func streamOn(conn net.Conn, body []byte, open *tally, connected func(), chunks int) (time.Duration, error) {
	start := time.Now()
	req := fmt.Appendf(nil, "POST /v1/chat/completions HTTP/1.1\r\nHost: mockai\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := conn.Write(req); err != nil {
		return 0, fmt.Errorf("write request: %w", err)
	}
	raw := make([]byte, 0, 8<<10)
	opened := false
	for !bytes.HasSuffix(raw, lastChunk) {
		if len(raw) == cap(raw) {
			raw = slices.Grow(raw, len(raw))
		}
		n, err := conn.Read(raw[len(raw):cap(raw)])
		raw = raw[:len(raw)+n]
		if !opened {
			if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 && len(raw) > i+4 {
				connected()
				open.opening()
				opened = true
				defer open.closing()
			}
		}
		if err != nil && !bytes.HasSuffix(raw, lastChunk) {
			return 0, fmt.Errorf("read after %d bytes: %w", len(raw), err)
		}
	}
	elapsed := time.Since(start)
	return elapsed, checkStream(raw, chunks)
}

// lastChunk ends a chunked body. Frames hold no "\r", so it cannot occur before the end.
var lastChunk = []byte("\r\n0\r\n\r\n")

// checkStream checks a raw chunked response: status 200, the expected number of
// content chunks, and [DONE] last.
func checkStream(raw []byte, chunks int) error {
	head, rest, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("response head %.80q", head)
	}
	var body []byte
	for {
		line, tail, ok := bytes.Cut(rest, []byte("\r\n"))
		size, err := strconv.ParseInt(string(line), 16, 32)
		if !ok || err != nil || int64(len(tail)) < size+2 {
			return fmt.Errorf("bad chunk size line %.40q", line)
		}
		if size == 0 {
			break
		}
		body, rest = append(body, tail[:size]...), tail[size+2:]
	}
	if !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
		return errors.New("stream ended without [DONE]")
	}
	if n := bytes.Count(body, []byte(`"content":"chunk-`)); n != chunks {
		return fmt.Errorf("%w: got %d, want %d", errCount, n, chunks)
	}
	return nil
}

// server is a running chaosd mockai process.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func startServer(ctx context.Context, bin string, args []string) (*server, error) {
	cmd := exec.Command(bin, args...)
	cmd.WaitDelay = 2 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct {
				Msg   string `json:"msg"`
				Addr  string `json:"addr"`
				Level string `json:"level"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addrc <- line.Addr
			} else if line.Level != "info" {
				fmt.Fprintln(os.Stderr, "server:", sc.Text())
			}
		}
	}()
	select {
	case s.addr = <-addrc:
		return s, nil
	case <-s.done:
		_ = cmd.Wait()
		return nil, errors.New("server exited before listening")
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, errors.New("server did not log its address within 10s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and waits for the server to exit (killing it after 15s).
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() {
		_ = s.cmd.Wait() // WaitDelay: returns even if the log pipe stays open
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-exited
	}
}

// cpuTime is CPU time spent in user and in system (kernel) mode.
type cpuTime struct{ user, sys time.Duration }

func (c cpuTime) minus(o cpuTime) cpuTime { return cpuTime{c.user - o.user, c.sys - o.sys} }

func (c cpuTime) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	return fmt.Sprintf("%s (user %s, sys %s)", r(c.user+c.sys), r(c.user), r(c.sys))
}

// procCPU reads the CPU time of pid.
func procCPU(pid int) (cpuTime, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTime{}, fmt.Errorf("read server stat: %w", err)
	}
	// The fields after the command name (which may hold spaces) start after ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return cpuTime{}, errors.New("short /proc/<pid>/stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const tick = time.Second / 100 // USER_HZ is 100 on Linux
	return cpuTime{time.Duration(ut) * tick, time.Duration(st) * tick}, nil
}

func selfCPU() cpuTime {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return cpuTime{}
	}
	return cpuTime{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// procMem reads VmRSS and VmHWM (KiB) of pid.
func procMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read server status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return rss, hwm, nil
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
