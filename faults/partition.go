package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"go.uber.org/zap"
)

// Partition cuts a container off, then heals it. With no peer groups it is cut off
// from everything: disconnected from each of its networks, and reconnected with the
// exact endpoint settings it had (aliases included, so compose DNS finds it again).
// With peer groups (nats, postgres, mockai, pods, ...) it keeps its networks and
// chaosd's own nftables table in its network namespace drops every packet to and from
// the peers' addresses, both directions; the heal deletes the table.
//
// Both directions of real traffic confirm it: TCP probes from inside the target's
// namespace must find the peers unreachable (and peers the target, for a filter),
// while a witness (another container, else the host) still reaches the peers; after
// the heal the probes must get through again.
type Partition struct {
	c interface {
		inspector
		lister
		networker
	}
	net    Net
	sel    Selector
	groups map[string][]string
	t      Timing
	log    *zap.Logger
}

var _ Fault = (*Partition)(nil)

func newPartition(d Deps) Fault {
	return &Partition{c: d.Docker, net: d.Net, sel: d.Selector, groups: d.PeerGroups, t: d.Timing.withDefaults(), log: d.logger().Named("partition")}
}

// Partition modes.
const (
	modeDisconnect = "disconnect"
	modeFilter     = "filter"
)

// PeersPods is the built-in peer group of every other pod in the selector.
const PeersPods = "pods"

type partitionUndo struct {
	Container string     `json:"container"`
	Name      string     `json:"name"`
	Mode      string     `json:"mode"`
	Networks  []endpoint `json:"networks,omitempty"` // disconnect: the endpoints to restore, exactly
	Peers     []peer     `json:"peers"`              // cut off from these: the traffic checks
	Witness   string     `json:"witness,omitempty"`  // a container that must still reach the peers
	DNSName   string     `json:"dns_name,omitempty"` // disconnect: a name of the target peers resolve again
	Port      uint16     `json:"port"`               // a port of the target, for probes towards it
}

// endpoint is a network attachment's configuration (not its operational data).
type endpoint struct {
	Network  string                   `json:"network"`
	ID       string                   `json:"id"`
	Settings network.EndpointSettings `json:"settings"`
}

// peer is a container the target is cut off from, on one network.
type peer struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Network string         `json:"network"`
	Addr    netip.AddrPort `json:"addr"` // at injection; re-read at heal (it may restart)
}

// Name implements Fault.
func (*Partition) Name() string { return "partition" }

// Plan implements Fault.
func (p *Partition) Plan(ctx context.Context, m Member, s Spec) (Plan, error) {
	ci, err := inspect(ctx, p.c, m.ID)
	if err != nil {
		return Plan{}, err
	}
	if err := partitionable(ci); err != nil {
		return Plan{}, err
	}
	members, err := p.sel.List(ctx, p.c)
	if err != nil {
		return Plan{}, err
	}
	u := partitionUndo{Container: m.ID, Name: m.Name, Mode: modeDisconnect, Port: firstPort(m)}
	if len(s.Peers) > 0 {
		u.Mode = modeFilter
	}
	if u.Peers, err = p.peers(m, members, s.Peers); err != nil {
		return Plan{}, err
	}
	u.Witness = witness(m, members, u.Peers)
	if u.Mode == modeDisconnect {
		u.Networks, u.DNSName = endpoints(ci, m)
	}
	return p.plan(m, s, u)
}

func (p *Partition) plan(m Member, s Spec, u partitionUndo) (Plan, error) {
	raw, err := marshalUndo(u)
	if err != nil {
		return Plan{}, err
	}
	pl := Plan{Kind: p.Name(), Target: m.Target, Spec: s, Undo: raw, member: m}
	if u.Mode == modeDisconnect {
		pl.Does = fmt.Sprintf("disconnect %s from %s for %s", m.Name, networkNames(u.Networks), s.Hold)
		pl.Undoes = "reconnect it with the same endpoint settings (aliases " + strings.Join(aliasesOf(u.Networks), ", ") + ")"
	} else {
		pl.Does = fmt.Sprintf("drop all traffic between %s and %s (nftables table %q in its network namespace) for %s", m.Name, peerNames(u.Peers), "chaosd", s.Hold)
		pl.Undoes = "delete the table"
	}
	return pl, nil
}

// partitionable refuses containers chaosd cannot cut off without hurting others.
func partitionable(ci container.InspectResponse) error {
	if !running(ci) {
		return fmt.Errorf("partition: %s is not running", strings.TrimPrefix(ci.Name, "/"))
	}
	if ci.HostConfig != nil {
		if nm := ci.HostConfig.NetworkMode; nm.IsHost() || nm.IsContainer() || nm.IsNone() {
			return fmt.Errorf("partition: %s has network mode %q: refusing (it shares or has no network namespace of its own)", strings.TrimPrefix(ci.Name, "/"), nm)
		}
	}
	return nil
}

// peers resolves the peer groups (none: everything) to addresses on networks the
// target shares with them.
func (p *Partition) peers(target Member, members []Member, groups []string) ([]peer, error) {
	var chosen []Member
	if len(groups) == 0 {
		for _, m := range members {
			if m.ID != target.ID && m.Running() && !m.Skipped { // a skip-labelled one is not even probed
				chosen = append(chosen, m)
			}
		}
	}
	for _, g := range groups {
		ms, err := p.group(g, target, members)
		if err != nil {
			return nil, err
		}
		chosen = append(chosen, ms...)
	}
	out := sharedAddrs(target, chosen)
	if len(out) == 0 {
		return nil, fmt.Errorf("partition: no running peer shares a network with %s", target.Pod)
	}
	return out, nil
}

// group returns the running members of one peer group.
func (p *Partition) group(g string, target Member, members []Member) ([]Member, error) {
	names, ok := p.groups[g]
	if !ok && g != PeersPods {
		return nil, fmt.Errorf("partition: unknown peer group %q (known: %s)", g, strings.Join(PeerGroupNames(p.groups), ", "))
	}
	var out []Member
	for _, m := range members {
		in := slices.Contains(names, m.Pod) || slices.Contains(names, m.Service)
		if !ok { // pods: every other pod
			in = !m.Infra && !m.Skipped
		}
		if in && m.ID != target.ID && m.Running() && !m.Skipped {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("partition: peer group %q has no running container", g)
	}
	return out, nil
}

// PeerGroupNames lists the peer groups, the built-in "pods" included.
func PeerGroupNames(groups map[string][]string) []string {
	names := []string{PeersPods}
	for g := range groups {
		if g != PeersPods {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	return names
}

func sharedAddrs(target Member, ms []Member) []peer {
	var out []peer
	seen := map[string]bool{}
	for _, m := range ms {
		for netName, a := range m.IPs {
			if _, shared := target.IPs[netName]; !shared || seen[m.ID+netName] {
				continue
			}
			seen[m.ID+netName] = true
			out = append(out, peer{ID: m.ID, Name: m.Pod, Network: netName, Addr: netip.AddrPortFrom(a, firstPort(m))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// witness picks a running container that is neither the target nor a peer.
func witness(target Member, members []Member, peers []peer) string {
	for _, m := range members {
		if m.ID == target.ID || !m.Running() || m.Skipped || slices.ContainsFunc(peers, func(p peer) bool { return p.ID == m.ID }) {
			continue
		}
		return m.ID
	}
	return ""
}

// endpoints records the target's network attachments and a DNS name of it.
func endpoints(ci container.InspectResponse, m Member) ([]endpoint, string) {
	var eps []endpoint
	dns := ""
	for name, ep := range ci.NetworkSettings.Networks {
		eps = append(eps, endpoint{Network: name, ID: ep.NetworkID, Settings: network.EndpointSettings{
			IPAMConfig: ep.IPAMConfig, Links: ep.Links, Aliases: ep.Aliases, DriverOpts: ep.DriverOpts,
		}})
		for _, a := range ep.Aliases {
			if dns == "" && !shortID(a, m.ID) {
				dns = a
			}
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Network < eps[j].Network })
	if dns == "" {
		dns = m.Name
	}
	return eps, dns
}

// firstPort is a TCP port the container exposes, else the discard port: a closed port
// still proves reachability, as the host answers with a reset.
func firstPort(m Member) uint16 {
	var ports []uint16
	for _, p := range m.Ports {
		if p.Type == "tcp" {
			ports = append(ports, p.PrivatePort)
		}
	}
	if len(ports) == 0 {
		return 9
	}
	return slices.Min(ports)
}

// Inject implements Fault.
func (p *Partition) Inject(ctx context.Context, pl Plan) (Effect, error) {
	var u partitionUndo
	if err := unmarshalUndo(pl.Undo, &u); err != nil {
		return Effect{}, err
	}
	if u.Mode == modeDisconnect {
		return p.disconnect(ctx, u)
	}
	return p.filter(ctx, u)
}

// Heal implements Fault.
func (p *Partition) Heal(ctx context.Context, raw json.RawMessage) Healing {
	var u partitionUndo
	if err := unmarshalUndo(raw, &u); err != nil {
		return Healing{Err: err}
	}
	if u.Mode == modeDisconnect {
		return p.reconnect(ctx, u)
	}
	return p.unfilter(ctx, u)
}

// targetPID returns the pid of a running target, or why there is none.
func (p *Partition) targetPID(ctx context.Context, id string) (int, container.InspectResponse, error) {
	ci, err := inspect(ctx, p.c, id)
	if err != nil {
		return 0, ci, err
	}
	if !running(ci) || ci.State.Pid <= 0 {
		return 0, ci, fmt.Errorf("%w: %s is %s", errNotRunning, strings.TrimPrefix(ci.Name, "/"), ci.State.Status)
	}
	return ci.State.Pid, ci, nil
}

var errNotRunning = errors.New("target not running")

func networkNames(eps []endpoint) string {
	var ns []string
	for _, e := range eps {
		ns = append(ns, e.Network)
	}
	return strings.Join(ns, ", ")
}

func aliasesOf(eps []endpoint) []string {
	var as []string
	for _, e := range eps {
		as = append(as, e.Settings.Aliases...)
	}
	return as
}

func peerNames(ps []peer) string {
	var ns []string
	for _, p := range ps {
		ns = append(ns, fmt.Sprintf("%s (%s)", p.Name, p.Addr.Addr()))
	}
	return strings.Join(ns, ", ")
}

// shortID reports whether alias is the container's short id, which Docker adds to its
// aliases by itself.
func shortID(alias, id string) bool { return len(alias) >= 12 && strings.HasPrefix(id, alias) }
