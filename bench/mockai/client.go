package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The client is a load generator, like wrk: a few threads, each running an epoll loop
// over raw non-blocking sockets, with no goroutine, no runtime poller and no buffered
// reader per stream. A stream is a connect, one write of the request, reads of raw
// bytes until the last HTTP chunk, and a close; the bytes are checked after the run
// (checkStream), so that the client spends its CPU on the sockets while the server
// runs.
//
// Its other saving is SO_RCVLOWAT: after the first frame, a stream asks the kernel not
// to report its socket readable until nearly as many bytes as the shortest complete
// response holds are there (or the connection ends). A 20-chunk stream then wakes the
// client about 3 times instead of 22, and the server's writes need not wake a reader
// either; the kernel still receives (and acknowledges) every chunk when it is sent.
// Near the end the client goes back to a wake-up per chunk, so the wait never holds
// back the end of a stream (see calibrate).

// tally counts streams that have their first frame and have not ended yet, and
// records when the last of all streams got its first frame.
type tally struct {
	open, opened *atomic.Int64
	all          int64
	ramp         *atomic.Int64
	start        time.Time
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

// client is what every stream of a run shares.
type client struct {
	addr   netip.AddrPort
	family int
	req    []byte // the whole HTTP request
	chunks int    // content chunks each stream must carry
	// floor is the length of the shortest complete response (0: wake up for every
	// chunk, without SO_RCVLOWAT).
	floor int
	// connecting bounds the streams connecting at once, from the connect to the first
	// frame, so that the server's accept queue does not overflow (an overflow costs a
	// SYN retransmit, 1 s).
	connecting int
	threads    int
	t          *tally
}

func newClient(addr, body string, chunks, connecting, threads int, t *tally) (*client, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", addr, err)
	}
	c := &client{
		req:    fmt.Appendf(nil, "POST /v1/chat/completions HTTP/1.1\r\nHost: mockai\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body),
		chunks: chunks, connecting: max(connecting, 1), threads: max(threads, 1), t: t,
	}
	c.addr, c.family = ap, unix.AF_INET6
	if ap.Addr().Is4() {
		c.family = unix.AF_INET
	}
	return c, nil
}

// sockaddr is the server's address for one epoll loop: unix.Connect writes into the
// Sockaddr it is given, so loops must not share one.
func (c *client) sockaddr() unix.Sockaddr {
	if c.family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(c.addr.Port()), Addr: c.addr.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(c.addr.Port()), Addr: c.addr.Addr().As16()}
}

// calibrate measures floor: the length of a response to the same number of chunks
// with no delay, whose frames the server writes in as few HTTP chunks as it can. A
// stream with delays carries the same frames (the ids, timestamps and Date header are
// of fixed length) in as many HTTP chunks or more, each adding its size line and
// CRLF, so no complete response is shorter.
func (c *client) calibrate(ctx context.Context, addr string) error {
	z, err := newClient(addr, requestBody(fmt.Sprintf("slow:%dx0", c.chunks)), c.chunks, 1, 1, nil)
	if err != nil {
		return err
	}
	st := z.run(ctx, 1)[0]
	if err := st.check(c.chunks); err != nil {
		return fmt.Errorf("calibration stream: %w", err)
	}
	c.floor = len(st.raw)
	return nil
}

// conn is one stream on the client.
type conn struct {
	fd         int
	raw        []byte // the response so far
	written    int    // bytes of the request written
	dialed     time.Time
	sent       time.Time // when the request was written
	firstFrame time.Duration
	total      time.Duration // from the request to the last chunk
	lowat      int
	opened     bool
	err        error
}

// check checks the response of a stream that ended without an error.
func (s *conn) check(chunks int) error {
	if s.err != nil {
		return s.err
	}
	return checkStream(s.raw, chunks)
}

// run runs n streams, at most c.connecting connecting at once, on c.threads epoll
// loops, and returns them once every one has ended.
func (c *client) run(ctx context.Context, n int) []*conn {
	streams := make([]*conn, n)
	for i := range streams {
		streams[i] = &conn{fd: -1}
	}
	threads := min(c.threads, n)
	var wg sync.WaitGroup
	for i := range threads {
		part := streams[i*n/threads : (i+1)*n/threads]
		slots := max(c.connecting/threads, 1)
		wg.Go(func() { c.loop(ctx, part, slots) })
	}
	wg.Wait()
	return streams
}

// loop runs streams on one epoll instance: it keeps up to slots of them connecting
// and serves the events of all.
func (c *client) loop(ctx context.Context, streams []*conn, slots int) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		for _, s := range streams {
			s.err = fmt.Errorf("epoll: %w", err)
		}
		return
	}
	defer unix.Close(ep)
	l := &loopState{c: c, sa: c.sockaddr(), ep: ep, streams: streams}
	events := make([]unix.EpollEvent, 256)
	for l.next < len(streams) || l.live > 0 {
		for l.connecting < slots && l.next < len(streams) {
			l.dial(l.next)
			l.next++
		}
		k, err := unix.EpollWait(ep, events, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.failAll(fmt.Errorf("epoll_wait: %w", err))
			return
		}
		if ctx.Err() != nil {
			l.failAll(ctx.Err())
			return
		}
		for _, ev := range events[:max(k, 0)] {
			l.event(int(ev.Fd), ev.Events)
		}
	}
}

// loopState is one epoll loop's streams and counts.
type loopState struct {
	c          *client
	sa         unix.Sockaddr // the server's address, this loop's own
	ep         int
	streams    []*conn
	next       int // the next stream to dial
	connecting int // dialed, without a first frame yet
	live       int // dialed, not ended
}

// dial starts stream i's connect; the socket reports writable once it is connected.
func (l *loopState) dial(i int) {
	s := l.streams[i]
	s.dialed = time.Now()
	fd, err := unix.Socket(l.c.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		s.err = fmt.Errorf("socket: %w", err)
		return
	}
	s.fd = fd
	l.connecting++
	l.live++
	if err := unix.Connect(fd, l.sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		l.end(s, fmt.Errorf("connect: %w", err))
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(i)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.end(s, fmt.Errorf("epoll_ctl: %w", err))
	}
}

// event handles the readiness of stream i.
func (l *loopState) event(i int, events uint32) {
	s := l.streams[i]
	if s.fd < 0 {
		return // ended earlier in this batch
	}
	if s.written < len(l.c.req) {
		l.write(i, s)
		return
	}
	l.read(s)
}

// write sends the request once connected, then waits for the response.
func (l *loopState) write(i int, s *conn) {
	// The instant is taken before the write that may complete the request: the
	// server cannot start the stream earlier, so no stream looks faster than its ideal.
	before := time.Now()
	n, err := unix.Write(s.fd, l.c.req[s.written:])
	if err != nil {
		if !errors.Is(err, unix.EAGAIN) {
			l.end(s, fmt.Errorf("write request: %w", err))
		}
		return
	}
	s.written += n
	if s.written < len(l.c.req) {
		return
	}
	s.sent = before
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, s.fd, &ev); err != nil {
		l.end(s, fmt.Errorf("epoll_ctl: %w", err))
	}
}

// read reads what the socket holds and ends the stream at its last chunk.
func (l *loopState) read(s *conn) {
	if len(s.raw) == cap(s.raw) {
		s.raw = slices.Grow(s.raw, max(len(s.raw), l.c.floor+l.c.floor/8, 4<<10))
	}
	n, err := unix.Read(s.fd, s.raw[len(s.raw):cap(s.raw)])
	if n > 0 {
		s.raw = s.raw[:len(s.raw)+n]
	}
	if !s.opened {
		if i := bytes.Index(s.raw, []byte("\r\n\r\n")); i >= 0 && len(s.raw) > i+4 {
			s.firstFrame = time.Since(s.dialed)
			s.opened = true
			l.connecting--
			l.c.t.opening()
		}
	}
	switch {
	case bytes.HasSuffix(s.raw, lastChunk):
		s.total = time.Since(s.sent)
		l.end(s, nil)
	case errors.Is(err, unix.EAGAIN):
	case err != nil:
		l.end(s, fmt.Errorf("read after %d bytes: %w", len(s.raw), err))
	case n == 0:
		l.end(s, fmt.Errorf("read after %d bytes: connection closed", len(s.raw)))
	case s.opened && l.c.floor > 0:
		l.lowat(s)
	}
}

// lowat keeps the socket from being reported readable before nearly a complete
// response could be there (a margin against any byte counted wrong), then goes back
// to a wake-up per chunk. The kernel caps SO_RCVLOWAT at half the receive buffer, so
// it is set again after every wake-up until the end is near.
func (l *loopState) lowat(s *conn) {
	near := l.c.floor - l.c.floor/16
	want := max(near-len(s.raw), 1)
	if want == 1 && s.lowat <= 1 {
		return
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_RCVLOWAT, want); err != nil {
		l.end(s, fmt.Errorf("SO_RCVLOWAT %d: %w", want, err))
		return
	}
	s.lowat = want
}

// end closes stream s, with err when it failed.
func (l *loopState) end(s *conn, err error) {
	s.err = err
	_ = unix.Close(s.fd) // closing also removes it from the epoll set
	s.fd = -1
	l.live--
	if s.opened {
		l.c.t.closing()
	} else {
		l.connecting--
	}
}

// failAll ends every stream still open, and those not dialed yet, with err.
func (l *loopState) failAll(err error) {
	for _, s := range l.streams[:l.next] {
		if s.fd >= 0 {
			l.end(s, err)
		}
	}
	for _, s := range l.streams[l.next:] {
		s.err = err
	}
}

// lastChunk ends a chunked body. Frames hold no "\r", so it cannot occur before the end.
var lastChunk = []byte("\r\n0\r\n\r\n")

var errCount = errors.New("wrong number of content chunks")

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
