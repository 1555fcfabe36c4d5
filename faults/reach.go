package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/chaosd/chaosd/faults/netns"
)

// box is a container as seen now: its namespace (pid) and its addresses.
type box struct {
	name  string
	pid   int // netns.Host for the host itself
	addrs map[string]netip.Addr
}

var hostBox = box{name: "host", pid: netns.Host}

// look inspects a container: the box of a running one, or errNotRunning / errVanished.
func (p *Partition) look(ctx context.Context, id string) (box, error) {
	pid, ci, err := p.targetPID(ctx, id)
	if err != nil {
		return box{}, err
	}
	b := box{name: strings.TrimPrefix(ci.Name, "/"), pid: pid, addrs: map[string]netip.Addr{}}
	for name, ep := range ci.NetworkSettings.Networks {
		if a, err := netip.ParseAddr(ep.IPAddress); err == nil {
			b.addrs[name] = a
		}
	}
	return b, nil
}

// witnessBox is the recorded witness if it still runs, else the host.
func (p *Partition) witnessBox(ctx context.Context, id string) box {
	if id == "" {
		return hostBox
	}
	if b, err := p.look(ctx, id); err == nil {
		return b
	}
	return hostBox
}

// probe is one expected reachability.
type probe struct {
	from box
	to   string
	addr netip.AddrPort
	want bool
}

func (pr probe) String() string {
	return fmt.Sprintf("%s -> %s (%s)", pr.from.name, pr.to, pr.addr)
}

// peerBoxes inspects the peers now; peers no longer running are left out and named.
func (p *Partition) peerBoxes(ctx context.Context, peers []peer) (map[string]box, []string) {
	out := map[string]box{}
	var gone []string
	for _, pe := range peers {
		if _, ok := out[pe.ID]; ok {
			continue
		}
		b, err := p.look(ctx, pe.ID)
		if err != nil {
			gone = append(gone, pe.Name)
			continue
		}
		out[pe.ID] = b
	}
	return out, gone
}

// towardsPeers are probes from a box to every peer still there, at its current address.
func towardsPeers(from box, peers []peer, now map[string]box, want bool) []probe {
	var out []probe
	for _, pe := range peers {
		b, ok := now[pe.ID]
		if !ok {
			continue
		}
		addr := pe.Addr
		if a, ok := b.addrs[pe.Network]; ok {
			addr = netip.AddrPortFrom(a, pe.Addr.Port())
		}
		out = append(out, probe{from: from, to: pe.Name, addr: addr, want: want})
	}
	return out
}

// fromPeers are probes from every peer still there to the target on their network.
func fromPeers(target box, port uint16, peers []peer, now map[string]box, want bool) []probe {
	var out []probe
	for _, pe := range peers {
		b, ok := now[pe.ID]
		a, shared := target.addrs[pe.Network]
		if !ok || !shared {
			continue
		}
		out = append(out, probe{from: b, to: target.name, addr: netip.AddrPortFrom(a, port), want: want})
	}
	return out
}

// check runs the probes at once; ok when every one saw what it wanted.
func (p *Partition) check(ctx context.Context, probes []probe) (bool, string, error) {
	if len(probes) == 0 {
		return false, "", errors.New("no probe possible: no peer is running")
	}
	lines := make([]string, len(probes))
	good := make([]bool, len(probes))
	var wg sync.WaitGroup
	for i, pr := range probes {
		wg.Go(func() {
			r, err := p.net.Probe(ctx, pr.from.pid, pr.addr, p.t.Probe)
			switch {
			case err != nil:
				lines[i] = fmt.Sprintf("%s: probe failed: %v", pr, err)
			default:
				good[i] = r.Reachable == pr.want
				lines[i] = fmt.Sprintf("%s: %s (%s)", pr, reachWord(r.Reachable), r.Detail)
			}
		})
	}
	wg.Wait()
	ok := true
	for _, g := range good {
		ok = ok && g
	}
	return ok, strings.Join(lines, "; "), nil
}

func reachWord(ok bool) string {
	if ok {
		return "reachable"
	}
	return "unreachable"
}
