package testenv

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Link is a TCP proxy between one client (a pod) and a dependency, which a test can
// cut (every connection reset, new ones refused) and heal: a partition of that
// client alone.
type Link struct {
	URL    string // the URL through the link, when made by Via (or set by its user)
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

// NewLink proxies to target (host:port) from a fresh loopback port. It is closed when
// the test ends.
func NewLink(t testing.TB, target string) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Link{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); l.SetCut(true) })
	go l.serve()
	return l
}

// Via rewrites a URL's host (nats://..., postgres://...) to go through a new link.
func Via(t testing.TB, raw string) (string, *Link) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLink(t, u.Host)
	u.Host = l.Addr()
	l.URL = u.String()
	return l.URL, l
}

// Addr is the link's own address (host:port).
func (l *Link) Addr() string { return l.ln.Addr().String() }

func (l *Link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.pipe(c)
	}
}

func (l *Link) pipe(c net.Conn) {
	up, err := net.Dial("tcp", l.target)
	if err != nil || !l.track(c, up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (l *Link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	for _, c := range cs {
		l.conns[c] = true
	}
	return true
}

// SetCut cuts the link (true: every open connection is closed, new ones refused) or
// heals it.
func (l *Link) SetCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
		l.conns = map[net.Conn]bool{}
	}
}
