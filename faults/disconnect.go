package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// disconnect takes the target off each of its networks and confirms by inspection and
// by traffic: the target reaches no peer, a witness still reaches them all.
func (p *Partition) disconnect(ctx context.Context, u partitionUndo) (Effect, error) {
	target, err := p.look(ctx, u.Container)
	if err != nil {
		return Effect{}, err
	}
	var errs []error
	for _, ep := range u.Networks {
		if err := p.c.NetworkDisconnect(ctx, ep.ID, u.Container, false); err != nil {
			errs = append(errs, fmt.Errorf("disconnect %s from %s: %w", u.Name, ep.Network, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Effect{}, err
	}
	e := Effect{Applied: time.Now()}
	e.Confirmed, e.Evidence, err = confirm(ctx, p.t, func(ctx context.Context) (bool, string, error) {
		return p.cutOff(ctx, u, target)
	})
	return e, err
}

// cutOff: no network left on the target, no peer reachable from it, all from a witness.
func (p *Partition) cutOff(ctx context.Context, u partitionUndo, target box) (bool, string, error) {
	now, err := p.look(ctx, u.Container)
	if err != nil {
		return false, "", err
	}
	for _, ep := range u.Networks {
		if _, still := now.addrs[ep.Network]; still {
			return false, "still attached to " + ep.Network, nil
		}
	}
	peers, _ := p.peerBoxes(ctx, u.Peers)
	probes := towardsPeers(target, u.Peers, peers, false)
	probes = append(probes, towardsPeers(p.witnessBox(ctx, u.Witness), u.Peers, peers, true)...)
	return p.check(ctx, probes)
}

// reconnect attaches the target again with its recorded endpoint settings and confirms
// by inspection (networks and aliases back), DNS (its name resolves to its new address)
// and traffic (it reaches its peers again).
func (p *Partition) reconnect(ctx context.Context, u partitionUndo) Healing {
	ci, err := inspect(ctx, p.c, u.Container)
	if err != nil {
		return vanishedOr(err)
	}
	var errs []error
	applied := false
	for _, ep := range u.Networks {
		if _, ok := ci.NetworkSettings.Networks[ep.Network]; ok {
			continue // still or already attached
		}
		settings := ep.Settings
		if err := p.c.NetworkConnect(ctx, ep.ID, u.Container, &settings); err != nil {
			errs = append(errs, fmt.Errorf("reconnect %s to %s: %w", u.Name, ep.Network, notFound(err)))
		}
		applied = true
	}
	if err := errors.Join(errs...); err != nil {
		return vanishedOr(err)
	}
	h := Healing{}
	if applied {
		h.Applied = time.Now()
	}
	seen := reached{}
	h.Confirmed, h.Evidence, err = confirm(ctx, p.t, func(ctx context.Context) (bool, string, error) {
		return p.reattached(ctx, u, seen)
	})
	return settle(h, err)
}

// reattached: every network back with its aliases; then, when the target runs, DNS
// and traffic (each peer reached once since the heal began: seen).
func (p *Partition) reattached(ctx context.Context, u partitionUndo, seen reached) (bool, string, error) {
	ci, err := inspect(ctx, p.c, u.Container)
	if err != nil {
		return false, "", err
	}
	for _, ep := range u.Networks {
		now, ok := ci.NetworkSettings.Networks[ep.Network]
		if !ok {
			return false, "not attached to " + ep.Network, nil
		}
		if missing := missingAliases(ep.Settings.Aliases, now.Aliases, u.Container); len(missing) > 0 {
			return false, fmt.Sprintf("aliases %s missing on %s", strings.Join(missing, ", "), ep.Network), nil
		}
	}
	target, err := p.look(ctx, u.Container)
	if err != nil {
		return false, "", err // not running: reattached, but traffic cannot be confirmed
	}
	ok, dns, err := p.resolves(ctx, u, target)
	if !ok || err != nil {
		return ok, dns, err
	}
	peers, _ := p.peerBoxes(ctx, u.Peers)
	ok, ev, err := p.checkHealed(ctx, towardsPeers(target, u.Peers, peers, true), seen)
	return ok, dns + "; " + ev, err
}

// resolves checks that compose DNS gives the target's name its current address, asked
// from the witness's namespace (or the target's own when the witness is the host).
func (p *Partition) resolves(ctx context.Context, u partitionUndo, target box) (bool, string, error) {
	asker := p.witnessBox(ctx, u.Witness)
	if asker.pid == hostBox.pid {
		asker = target
	}
	ips, err := p.net.Lookup(ctx, asker.pid, u.DNSName, p.t.Probe*4)
	if err != nil {
		return false, fmt.Sprintf("%s cannot resolve %s: %v", asker.name, u.DNSName, err), nil
	}
	for _, a := range target.addrs {
		if slices.Contains(ips, a) {
			return true, fmt.Sprintf("%s resolves %s to %s", asker.name, u.DNSName, a), nil
		}
	}
	return false, fmt.Sprintf("%s resolves %s to %v, not to the target's %v", asker.name, u.DNSName, ips, target.addrs), nil
}

// missingAliases are the wanted aliases not present, ignoring the container's short
// id (Docker adds it itself).
func missingAliases(want, have []string, id string) []string {
	var out []string
	for _, a := range want {
		if !shortID(a, id) && !slices.Contains(have, a) {
			out = append(out, a)
		}
	}
	return out
}
