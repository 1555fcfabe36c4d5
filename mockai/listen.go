package mockai

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// DefaultListenBurst is the burst of connections arriving at once that Listen expects
// the kernel's queues to hold: a load test opening thousands of streams at once.
const DefaultListenBurst = 4096

// procSys is where the kernel's sysctls are read; a test points it elsewhere.
var procSys = "/proc/sys"

// ListenLimits are the kernel's bounds of a listener's queues. A connection that
// completes its handshake waits in the accept queue, at most Somaxconn of them (Go
// asks the kernel for somaxconn as the backlog of every listener); a full accept queue
// drops the connection's last ACK and the client finds out only when its SYN is sent
// again, 1 s later (then 3 s, 7 s). A half-open connection waits in the SYN queue,
// bounded by the backlog and by SynBacklog; when that is full the kernel answers with
// SYN cookies if Syncookies is not 0, and drops the SYN otherwise.
type ListenLimits struct {
	Somaxconn  int // net.core.somaxconn
	SynBacklog int // net.ipv4.tcp_max_syn_backlog
	Syncookies int // net.ipv4.tcp_syncookies; -1 when unknown
}

// ReadListenLimits reads the kernel's listen limits (Linux); a value that cannot be
// read is an error.
func ReadListenLimits() (ListenLimits, error) {
	read := func(name string) (int, error) {
		b, err := os.ReadFile(procSys + "/" + name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return n, nil
	}
	var l ListenLimits
	var err error
	if l.Somaxconn, err = read("net/core/somaxconn"); err != nil {
		return l, err
	}
	if l.SynBacklog, err = read("net/ipv4/tcp_max_syn_backlog"); err != nil {
		return l, err
	}
	if l.Syncookies, err = read("net/ipv4/tcp_syncookies"); err != nil {
		l.Syncookies = -1
	}
	return l, nil
}

// Short names what in l cannot take burst connections arriving at once, or is "".
func (l ListenLimits) Short(burst int) string {
	var s []string
	if l.Somaxconn < burst {
		s = append(s, fmt.Sprintf("net.core.somaxconn is %d (the accept queue)", l.Somaxconn))
	}
	if l.SynBacklog < burst && l.Syncookies == 0 {
		s = append(s, fmt.Sprintf("net.ipv4.tcp_max_syn_backlog is %d with SYN cookies off (the SYN queue)", l.SynBacklog))
	}
	return strings.Join(s, "; ")
}

// Listen listens on a TCP address like net.Listen, and warns on log when the kernel's
// listen limits cannot hold burst connections arriving at once (burst ≤ 0:
// DefaultListenBurst): past them, connections are dropped and their clients wait for
// a SYN retransmit, which shows as streams starting a second or more late. The limits
// are sysctls of the host (or of the container's network namespace); Listen does not
// change them.
func Listen(address string, burst int, log *zap.Logger) (net.Listener, error) {
	if burst <= 0 {
		burst = DefaultListenBurst
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	l, err := ReadListenLimits()
	switch {
	case err != nil:
		log.Debug("listen limits unknown", zap.Error(err))
	case l.Short(burst) != "":
		log.Warn("the kernel's listen queues are shorter than a burst of connections arriving at once: "+
			"past them connections wait for a SYN retransmit (1 s or more); raise the sysctls to serve such bursts",
			zap.Int("burst", burst), zap.String("short", l.Short(burst)),
			zap.Int("somaxconn", l.Somaxconn), zap.Int("tcp_max_syn_backlog", l.SynBacklog), zap.Int("tcp_syncookies", l.Syncookies))
	}
	return ln, nil
}
