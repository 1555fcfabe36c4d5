package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// filter installs chaosd's nftables table in the target's namespace and confirms by
// the table's rules and by traffic both ways, while a witness still reaches the peers.
func (p *Partition) filter(ctx context.Context, u partitionUndo) (Effect, error) {
	target, err := p.look(ctx, u.Container)
	if err != nil {
		return Effect{}, err
	}
	if host, err := p.net.IsHost(target.pid); err != nil || host {
		return Effect{}, errors.Join(fmt.Errorf("partition: refusing to filter %s: it shares chaosd's network namespace", u.Name), err)
	}
	if err := p.net.Cut(target.pid, peerAddrs(u.Peers)); err != nil {
		return Effect{}, fmt.Errorf("partition %s: %w", u.Name, err)
	}
	e := Effect{Applied: time.Now()}
	want := 2 * len(peerAddrs(u.Peers))
	e.Confirmed, e.Evidence, err = confirm(ctx, p.t, func(ctx context.Context) (bool, string, error) {
		if ok, ev, err := p.rules(target.pid, true, want); !ok || err != nil {
			return ok, ev, err
		}
		peers, _ := p.peerBoxes(ctx, u.Peers)
		probes := towardsPeers(target, u.Peers, peers, false)
		probes = append(probes, fromPeers(target, u.Port, u.Peers, peers, false)...)
		probes = append(probes, towardsPeers(p.witnessBox(ctx, u.Witness), u.Peers, peers, true)...)
		return p.checkCut(ctx, target, probes)
	})
	return e, err
}

// unfilter deletes chaosd's table from the target's current namespace and confirms by
// its absence and by traffic both ways. A target no longer running took its namespace
// (and the rules) with it, but nothing can be confirmed: Unknown.
func (p *Partition) unfilter(ctx context.Context, u partitionUndo) Healing {
	target, err := p.look(ctx, u.Container)
	if errors.Is(err, errNotRunning) {
		return Healing{Outcome: Unknown, Evidence: err.Error() + "; its network namespace and the rules went with it, traffic not confirmed"}
	}
	if err != nil {
		return vanishedOr(err)
	}
	if err := p.net.Uncut(target.pid); err != nil {
		return Healing{Err: fmt.Errorf("heal partition of %s: %w", u.Name, err)}
	}
	h := Healing{Applied: time.Now()}
	seen := reached{}
	h.Confirmed, h.Evidence, err = confirm(ctx, p.t, func(ctx context.Context) (bool, string, error) {
		if ok, ev, err := p.rules(target.pid, false, 0); !ok || err != nil {
			return ok, ev, err
		}
		peers, _ := p.peerBoxes(ctx, u.Peers)
		probes := towardsPeers(target, u.Peers, peers, true)
		probes = append(probes, fromPeers(target, u.Port, u.Peers, peers, true)...)
		return p.checkHealed(ctx, probes, seen)
	})
	return settle(h, err)
}

// rules checks chaosd's table: present with n rules, or absent.
func (p *Partition) rules(pid int, present bool, n int) (bool, string, error) {
	has, count, err := p.net.Rules(pid)
	if err != nil {
		return false, "", err
	}
	if present {
		return has && count == n, fmt.Sprintf("table chaosd: %d of %d rules", count, n), nil
	}
	return !has, fmt.Sprintf("table chaosd present: %v", has), nil
}

// peerAddrs are the distinct addresses of the peers.
func peerAddrs(ps []peer) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, p := range ps {
		if a := p.Addr.Addr(); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
