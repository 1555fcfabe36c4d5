package faults

import (
	"context"
	"net/netip"
	"time"

	"github.com/chaosd/chaosd/faults/netns"
)

// Net is what partitions do inside network namespaces, named by a process id
// (netns.Host: chaosd's own).
type Net interface {
	Probe(ctx context.Context, pid int, addr netip.AddrPort, timeout time.Duration) (netns.Reach, error)
	Lookup(ctx context.Context, pid int, name string, timeout time.Duration) ([]netip.Addr, error)
	Cut(pid int, addrs []netip.Addr) error
	Uncut(pid int) error
	Rules(pid int) (present bool, rules int, err error)
	Drops(pid int) (map[string]uint64, error) // packets dropped per "input ADDR" / "output ADDR"
	IsHost(pid int) (bool, error)
}

// NetNS is Net on the real namespaces of the host.
type NetNS struct{}

var _ Net = NetNS{}

// Probe implements Net.
func (NetNS) Probe(ctx context.Context, pid int, addr netip.AddrPort, timeout time.Duration) (netns.Reach, error) {
	return netns.Probe(ctx, pid, addr, timeout)
}

// Lookup implements Net.
func (NetNS) Lookup(ctx context.Context, pid int, name string, timeout time.Duration) ([]netip.Addr, error) {
	return netns.Lookup(ctx, pid, name, timeout)
}

// Cut implements Net.
func (NetNS) Cut(pid int, addrs []netip.Addr) error { return netns.Cut(pid, addrs) }

// Uncut implements Net.
func (NetNS) Uncut(pid int) error { return netns.Uncut(pid) }

// Rules implements Net.
func (NetNS) Rules(pid int) (bool, int, error) { return netns.Rules(pid) }

// Drops implements Net.
func (NetNS) Drops(pid int) (map[string]uint64, error) { return netns.Drops(pid) }

// IsHost implements Net.
func (NetNS) IsHost(pid int) (bool, error) { return netns.IsHost(pid) }
