package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ReadyMessage is what the proxy logs once every listener is bound; the forwarder
// waits for it in the container's logs.
const ReadyMessage = "forwarder ready"

// DefaultDialTimeout bounds each connection to a target.
const DefaultDialTimeout = 5 * time.Second

// Mapping is one port of the proxy: connections to Listen are relayed to Target. Both
// are host:port; Target is resolved on each connection, so it may name a service
// whose address changes (a restarted container).
type Mapping struct {
	Listen string
	Target string
}

// ParseMapping parses LISTEN=TARGET, e.g. "0.0.0.0:10001=postgres:5432".
func ParseMapping(s string) (Mapping, error) {
	l, t, ok := strings.Cut(s, "=")
	if !ok {
		return Mapping{}, fmt.Errorf("mapping %q: want LISTEN=TARGET, e.g. 0.0.0.0:10001=postgres:5432", s)
	}
	if err := checkHostPort(l, true); err != nil {
		return Mapping{}, fmt.Errorf("mapping %q: listen address: %w", s, err)
	}
	if err := checkHostPort(t, false); err != nil {
		return Mapping{}, fmt.Errorf("mapping %q: target: %w", s, err)
	}
	return Mapping{Listen: l, Target: t}, nil
}

func (m Mapping) String() string { return m.Listen + "=" + m.Target }

// checkHostPort checks host:port; the host may be empty only for a listen address,
// and port 0 is allowed only there.
func checkHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" && !listen {
		return fmt.Errorf("%q: no host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fmt.Errorf("%q: bad port %q", s, port)
	}
	return nil
}

// Proxy relays TCP connections for a set of mappings: one listener each, one
// goroutine pair per connection, half-closes passed on.
type Proxy struct {
	mappings  []Mapping
	listeners []net.Listener
}

// Listen binds every mapping's listen address; on error none stays bound.
func Listen(ms []Mapping) (*Proxy, error) {
	if len(ms) == 0 {
		return nil, errors.New("proxy: no mappings")
	}
	p := &Proxy{mappings: ms}
	for _, m := range ms {
		ln, err := net.Listen("tcp", m.Listen)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("proxy: listen %s: %w", m.Listen, err)
		}
		p.listeners = append(p.listeners, ln)
	}
	return p, nil
}

// Addrs returns the bound listen address of each mapping, in order.
func (p *Proxy) Addrs() []net.Addr {
	out := make([]net.Addr, len(p.listeners))
	for i, ln := range p.listeners {
		out[i] = ln.Addr()
	}
	return out
}

func (p *Proxy) close() {
	for _, ln := range p.listeners {
		_ = ln.Close()
	}
}

// Serve relays connections until ctx ends, then closes the listeners and every open
// connection and returns nil. dialTimeout <= 0 means DefaultDialTimeout.
func (p *Proxy) Serve(ctx context.Context, log *zap.Logger, dialTimeout time.Duration) error {
	if log == nil {
		log = zap.NewNop()
	}
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, p.close)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, len(p.listeners))
	for i, ln := range p.listeners {
		m := p.mappings[i]
		log.Info("forwarding", zap.String("listen", ln.Addr().String()), zap.String("target", m.Target))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := accept(ctx, log, ln, m.Target, dialTimeout); err != nil {
				errc <- err
				cancel(err) // one broken listener ends the proxy, loudly
			}
		}()
	}
	log.Info(ReadyMessage, zap.Int("mappings", len(p.listeners)))
	wg.Wait()
	p.close()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// accept serves one listener until ctx ends (which closes it) or it fails.
func accept(ctx context.Context, log *zap.Logger, ln net.Listener, target string, dialTimeout time.Duration) error {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("proxy: accept on %s: %w", ln.Addr(), err)
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			relay(ctx, log, c, target, dialTimeout)
		}()
	}
}

// relay connects c to target and copies both ways until both sides have closed
// their half, or either fails, or ctx ends.
func relay(ctx context.Context, log *zap.Logger, c net.Conn, target string, dialTimeout time.Duration) {
	defer c.Close()
	log = log.With(zap.String("client", c.RemoteAddr().String()), zap.String("target", target))
	d := net.Dialer{Timeout: dialTimeout}
	up, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		log.Warn("dial target", zap.Error(err))
		return
	}
	defer up.Close()
	abort := sync.OnceFunc(func() { _ = c.Close(); _ = up.Close() })
	stop := context.AfterFunc(ctx, abort)
	defer stop()
	log.Debug("connection open")
	var wg sync.WaitGroup
	var sent, received int64
	wg.Add(2)
	go func() { defer wg.Done(); sent = copyHalf(up, c, abort) }()
	go func() { defer wg.Done(); received = copyHalf(c, up, abort) }()
	wg.Wait()
	log.Debug("connection closed", zap.Int64("sent", sent), zap.Int64("received", received))
}

// copyHalf copies src to dst, then passes the end of src on as a half-close of dst;
// a failed copy aborts the connection both ways.
func copyHalf(dst, src net.Conn, abort func()) int64 {
	n, err := io.Copy(dst, src)
	if err != nil {
		abort()
		return n
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return n
		}
	}
	abort()
	return n
}
