package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

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
	drop string // the counter of chaosd's rule that drops this probe ("output ADDR", "input ADDR"), if any
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
		out = append(out, probe{from: from, to: pe.Name, addr: addr, want: want, drop: "output " + addr.Addr().String()})
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
		pr := probe{from: b, to: target.name, addr: netip.AddrPortFrom(a, port), want: want}
		if src, ok := b.addrs[pe.Network]; ok {
			pr.drop = "input " + src.String()
		}
		out = append(out, pr)
	}
	return out
}

// check runs the probes at once; ok when every one saw what it wanted.
func (p *Partition) check(ctx context.Context, probes []probe) (bool, string, error) {
	if len(probes) == 0 {
		return false, "", errors.New("no probe possible: no peer is running")
	}
	good, lines := p.probeAll(ctx, probes)
	return !slices.Contains(good, false), strings.Join(lines, "; "), nil
}

// probeAll runs the probes at once: whether each saw what it wanted, and its line.
func (p *Partition) probeAll(ctx context.Context, probes []probe) ([]bool, []string) {
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
	return good, lines
}

// reached remembers, across the attempts of one heal's confirmation, the probes that
// reached their peer (probe -> its line). A heal is confirmed once every probe has
// reached its peer at least once since the heal began: the heal does not cut a peer
// off again. Requiring every probe to answer within one attempt instead leaves a pod
// with many peers unconfirmed under load, where any of 30 probes may miss an
// attempt's timeout while the network is whole (seen on the 30-pod cluster: heals
// unconfirmed after 10 s of attempts).
type reached map[string]string

// checkHealed is check for a heal (every probe wants its peer reachable), with what
// earlier attempts of the same confirmation reached: only the probes that have not
// reached their peer yet are sent again.
func (p *Partition) checkHealed(ctx context.Context, probes []probe, seen reached) (bool, string, error) {
	if len(probes) == 0 {
		return p.check(ctx, probes) // no peer: check says so
	}
	var again []probe
	for _, pr := range probes {
		if _, ok := seen[pr.String()]; !ok {
			again = append(again, pr)
		}
	}
	good, lines := p.probeAll(ctx, again)
	missing := map[string]string{}
	for i, pr := range again {
		if good[i] {
			seen[pr.String()] = lines[i]
		} else {
			missing[pr.String()] = lines[i]
		}
	}
	out := make([]string, 0, len(probes))
	for _, pr := range probes {
		if line, ok := missing[pr.String()]; ok {
			out = append(out, line)
		} else {
			out = append(out, seen[pr.String()])
		}
	}
	return len(missing) == 0, strings.Join(out, "; "), nil
}

// checkCut is check for a filter partition: a probe meant to be cut off is confirmed
// as soon as chaosd's rule for it counts a dropped packet (the probe's own SYN), without
// waiting out the probe's timeout; otherwise by the probe's answer, as in check.
func (p *Partition) checkCut(ctx context.Context, target box, probes []probe) (bool, string, error) {
	before, err := p.net.Drops(target.pid)
	if err != nil {
		return false, "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i   int
		r   netns.Reach
		err error
	}
	results := make(chan result, len(probes))
	for i, pr := range probes {
		go func() {
			r, err := p.net.Probe(ctx, pr.from.pid, pr.addr, p.t.Probe)
			results <- result{i, r, err}
		}()
	}
	s := newSettling(probes)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for s.pending > 0 {
		select {
		case res := <-results:
			s.answer(res.i, res.r, res.err)
		case <-tick.C:
			if now, err := p.net.Drops(target.pid); err == nil {
				s.dropped(before, now)
			}
		}
	}
	return s.verdict()
}

// settling collects the probes' outcomes as they come.
type settling struct {
	probes  []probe
	lines   []string
	good    []bool
	done    []bool
	pending int
}

func newSettling(probes []probe) *settling {
	n := len(probes)
	return &settling{probes: probes, lines: make([]string, n), good: make([]bool, n), done: make([]bool, n), pending: n}
}

func (s *settling) settle(i int, good bool, line string) {
	if s.done[i] {
		return
	}
	s.done[i], s.good[i], s.lines[i] = true, good, line
	s.pending--
}

func (s *settling) answer(i int, r netns.Reach, err error) {
	pr := s.probes[i]
	if err != nil {
		s.settle(i, false, fmt.Sprintf("%s: probe failed: %v", pr, err))
		return
	}
	s.settle(i, r.Reachable == pr.want, fmt.Sprintf("%s: %s (%s)", pr, reachWord(r.Reachable), r.Detail))
}

func (s *settling) dropped(before, now map[string]uint64) {
	for i, pr := range s.probes {
		if !pr.want && pr.drop != "" && now[pr.drop] > before[pr.drop] {
			chain, _, _ := strings.Cut(pr.drop, " ")
			s.settle(i, true, fmt.Sprintf("%s: unreachable (dropped by chaosd's %s rule)", pr, chain))
		}
	}
}

func (s *settling) verdict() (bool, string, error) {
	ok := true
	for _, g := range s.good {
		ok = ok && g
	}
	return ok, strings.Join(s.lines, "; "), nil
}

func reachWord(ok bool) string {
	if ok {
		return "reachable"
	}
	return "unreachable"
}
