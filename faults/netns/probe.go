package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Reach is the answer of a reachability probe.
type Reach struct {
	Reachable bool
	Detail    string // "connected", "refused (host answered)", or why it is unreachable
}

// Probe dials addr over TCP from inside pid's network namespace. The peer is
// reachable when the connection opens or the peer refuses it (its host answered with
// a reset); a timeout, no route, or a packet filter's refusal make it unreachable.
func Probe(ctx context.Context, pid int, addr netip.AddrPort, timeout time.Duration) (Reach, error) {
	var r Reach
	err := Do(pid, func() error {
		r = probe(ctx, addr, timeout)
		return nil
	})
	return r, err
}

func probe(ctx context.Context, addr netip.AddrPort, timeout time.Duration) Reach {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr.String())
	switch {
	case err == nil:
		_ = c.Close()
		return Reach{Reachable: true, Detail: "connected"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Reach{Reachable: true, Detail: "refused (host answered)"}
	case errors.Is(err, syscall.EPERM):
		return Reach{Detail: "dropped by a packet filter (EPERM)"}
	case errors.Is(err, syscall.ENETUNREACH):
		return Reach{Detail: "no route (ENETUNREACH)"}
	case errors.Is(err, syscall.EHOSTUNREACH):
		return Reach{Detail: "host unreachable (EHOSTUNREACH)"}
	case errors.Is(err, context.DeadlineExceeded):
		return Reach{Detail: fmt.Sprintf("no answer within %s", timeout)}
	default:
		return Reach{Detail: err.Error()}
	}
}

// dockerDNS is Docker's embedded DNS server, inside every container on a user network.
const dockerDNS = "127.0.0.11:53"

// Lookup resolves name through Docker's embedded DNS server inside pid's network
// namespace: what the containers themselves would resolve it to.
func Lookup(ctx context.Context, pid int, name string, timeout time.Duration) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var c net.Conn
			err := Do(pid, func() error {
				var d net.Dialer
				var err error
				c, err = d.DialContext(ctx, network, dockerDNS)
				return err
			})
			return c, err
		},
	}
	// A trailing dot: no search domains from chaosd's own resolv.conf.
	ips, err := r.LookupNetIP(ctx, "ip", name+".")
	if err != nil {
		return nil, fmt.Errorf("netns: resolve %s: %w", name, err)
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, nil
}
