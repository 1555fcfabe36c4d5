package faults

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/chaosd/chaosd/faults/netns"
)

// fakeDocker is a function-field fake of the Docker slices; nil fields fall back to a
// tiny in-memory cluster (cluster), so each test overrides only what it cares about.
type fakeDocker struct {
	inspect    func(id string) (container.InspectResponse, error)
	list       func(opts container.ListOptions) ([]container.Summary, error)
	kill       func(id, signal string) error
	start      func(id string) error
	pause      func(id string) error
	unpause    func(id string) error
	disconnect func(netID, id string) error
	connect    func(netID, id string, cfg *network.EndpointSettings) error
	events     func(opts events.ListOptions) (<-chan events.Message, <-chan error)
	c          *cluster
}

var _ Docker = (*fakeDocker)(nil)

func (f *fakeDocker) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	if f.inspect != nil {
		return f.inspect(id)
	}
	return f.c.inspect(id)
}

func (f *fakeDocker) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	if f.list != nil {
		return f.list(o)
	}
	return f.c.list(o), nil
}

func (f *fakeDocker) ContainerKill(_ context.Context, id, sig string) error {
	if f.kill != nil {
		return f.kill(id, sig)
	}
	return f.c.set(id, "kill", func(b *fakeBox) { b.exitBy(sig) })
}

func (f *fakeDocker) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	if f.start != nil {
		return f.start(id)
	}
	return f.c.set(id, "start", func(b *fakeBox) { b.state = "running"; b.pid += 1000 })
}

func (f *fakeDocker) ContainerPause(_ context.Context, id string) error {
	if f.pause != nil {
		return f.pause(id)
	}
	return f.c.set(id, "pause", func(b *fakeBox) { b.state = "paused" })
}

func (f *fakeDocker) ContainerUnpause(_ context.Context, id string) error {
	if f.unpause != nil {
		return f.unpause(id)
	}
	return f.c.set(id, "unpause", func(b *fakeBox) { b.state = "running" })
}

func (f *fakeDocker) NetworkDisconnect(_ context.Context, netID, id string, _ bool) error {
	if f.disconnect != nil {
		return f.disconnect(netID, id)
	}
	return f.c.set(id, "disconnect", func(b *fakeBox) { delete(b.nets, "proj_default") })
}

func (f *fakeDocker) NetworkConnect(_ context.Context, netID, id string, cfg *network.EndpointSettings) error {
	if f.connect != nil {
		return f.connect(netID, id, cfg)
	}
	return f.c.set(id, "connect", func(b *fakeBox) {
		b.nets["proj_default"] = fakeEP{ip: b.ip, aliases: cfg.Aliases}
	})
}

func (f *fakeDocker) Events(_ context.Context, o events.ListOptions) (<-chan events.Message, <-chan error) {
	if f.events != nil {
		return f.events(o)
	}
	return make(chan events.Message), make(chan error)
}

// cluster is a handful of containers: state, pid, one network with aliases.
type cluster struct {
	mu    sync.Mutex
	boxes map[string]*fakeBox
	order []string
	calls []string // "pause mesh-2", ... every mutation, in order
}

type fakeBox struct {
	id, name, service, state string
	labels                   map[string]string
	pid                      int
	ip                       netip.Addr
	nets                     map[string]fakeEP
	port                     uint16
	exit                     int      // the last exit code
	signals                  []string // every signal sent, in order
	stopTimeout              *int     // the container's own stop timeout, seconds (compose's stop_grace_period)
}

// exitBy records sig and ends the container as that signal does (128 + its number).
func (b *fakeBox) exitBy(sig string) {
	b.signals = append(b.signals, sig)
	b.state, b.exit = "exited", map[string]int{"SIGKILL": 137, "SIGTERM": 143}[sig]
}

type fakeEP struct {
	ip      netip.Addr
	aliases []string
}

// newCluster makes containers of compose project "proj" named after their services,
// all running on network proj_default.
func newCluster(services ...string) *cluster {
	c := &cluster{boxes: map[string]*fakeBox{}}
	for i, s := range services {
		id := fmt.Sprintf("%s%064d", s, i)[:64]
		ip := netip.AddrFrom4([4]byte{172, 20, 0, byte(2 + i)})
		c.boxes[id] = &fakeBox{id: id, name: "proj_" + s + "_1", service: s, state: "running", pid: 100 + i, ip: ip,
			labels: map[string]string{LabelProject: "proj", LabelService: s},
			nets:   map[string]fakeEP{"proj_default": {ip: ip, aliases: []string{s, id[:12]}}}, port: 3000}
		c.order = append(c.order, id)
	}
	return c
}

func (c *cluster) docker() *fakeDocker { return &fakeDocker{c: c} }

func (c *cluster) byService(s string) *fakeBox {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.boxes {
		if b.service == s {
			return b
		}
	}
	return nil
}

func (c *cluster) set(id, call string, f func(*fakeBox)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.boxes[id]
	if !ok {
		return errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	f(b)
	c.calls = append(c.calls, call+" "+b.service)
	return nil
}

func (c *cluster) inspect(id string) (container.InspectResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.boxes[id]
	if !ok {
		return container.InspectResponse{}, errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	st := &container.State{Status: container.ContainerState(b.state), Running: b.state == "running" || b.state == "paused", Paused: b.state == "paused", ExitCode: b.exit}
	if st.Running {
		st.Pid = b.pid
	}
	ci := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: b.id, Name: "/" + b.name, State: st,
		HostConfig: &container.HostConfig{NetworkMode: "proj_default"}},
		Config:          &container.Config{Env: []string{"POD_NAME=" + b.service}, StopTimeout: b.stopTimeout},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}}
	for n, ep := range b.nets {
		ci.NetworkSettings.Networks[n] = &network.EndpointSettings{NetworkID: "net-" + n, IPAddress: ep.ip.String(), Aliases: ep.aliases}
	}
	return ci, nil
}

func (c *cluster) list(o container.ListOptions) []container.Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []container.Summary
	for _, id := range c.order {
		b := c.boxes[id]
		if !matches(b.labels, o.Filters.Get("label")) {
			continue
		}
		s := container.Summary{ID: b.id, Names: []string{"/" + b.name}, Labels: b.labels, State: container.ContainerState(b.state),
			Ports:           []container.Port{{PrivatePort: b.port, Type: "tcp"}},
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}}}
		for n, ep := range b.nets {
			s.NetworkSettings.Networks[n] = &network.EndpointSettings{IPAddress: ep.ip.String()}
		}
		out = append(out, s)
	}
	return out
}

func matches(labels map[string]string, want []string) bool {
	for _, kv := range want {
		found := false
		for k, v := range labels {
			if k+"="+v == kv {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (c *cluster) callLog() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// fakeNet is a function-field fake of Net; by default a filter cuts exactly the
// addresses given, and probes answer accordingly.
type fakeNet struct {
	mu    sync.Mutex
	cut   map[int][]netip.Addr // pid -> cut-off addresses
	drops map[int]map[string]uint64
	probe func(pid int, addr netip.AddrPort) netns.Reach
	c     *cluster
}

var _ Net = (*fakeNet)(nil)

func newFakeNet(c *cluster) *fakeNet {
	return &fakeNet{cut: map[int][]netip.Addr{}, drops: map[int]map[string]uint64{}, c: c}
}

func (n *fakeNet) count(pid int, key string) {
	if n.drops[pid] == nil {
		n.drops[pid] = map[string]uint64{}
	}
	n.drops[pid][key]++
}

func (n *fakeNet) Drops(pid int) (map[string]uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]uint64{}
	for k, v := range n.drops[pid] {
		out[k] = v
	}
	return out, nil
}

func (n *fakeNet) Probe(ctx context.Context, pid int, addr netip.AddrPort, timeout time.Duration) (netns.Reach, error) {
	if n.probe != nil {
		return n.probe(pid, addr), nil
	}
	r := n.reach(pid, addr.Addr())
	if r.Detail == "dropped" { // as on a real network: no answer until the timeout
		select {
		case <-ctx.Done():
		case <-time.After(timeout):
		}
	}
	return r, nil
}

// reach models the cluster: no network, or a cut address on either side, is unreachable.
func (n *fakeNet) reach(pid int, to netip.Addr) netns.Reach {
	n.mu.Lock()
	defer n.mu.Unlock()
	from := n.c.byPID(pid)
	if from != nil && len(from.nets) == 0 {
		return netns.Reach{Detail: "no route"}
	}
	for _, a := range n.cut[pid] {
		if a == to {
			n.count(pid, "output "+to.String())
			return netns.Reach{Detail: "dropped"}
		}
	}
	if dst := n.c.byIP(to); dst != nil && from != nil {
		for _, a := range n.cut[dst.pid] {
			if a == from.ip {
				n.count(dst.pid, "input "+from.ip.String())
				return netns.Reach{Detail: "dropped"}
			}
		}
	}
	return netns.Reach{Reachable: true, Detail: "connected"}
}

func (n *fakeNet) Lookup(_ context.Context, _ int, name string, _ time.Duration) ([]netip.Addr, error) {
	if b := n.c.byService(name); b != nil && len(b.nets) > 0 {
		return []netip.Addr{b.ip}, nil
	}
	return nil, fmt.Errorf("no such host %s", name)
}

func (n *fakeNet) Cut(pid int, addrs []netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[pid] = addrs
	return nil
}

func (n *fakeNet) Uncut(pid int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, pid)
	return nil
}

func (n *fakeNet) Rules(pid int) (bool, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.cut[pid]
	return ok, 2 * len(a), nil
}

func (n *fakeNet) IsHost(pid int) (bool, error) { return pid == netns.Host, nil }

func (c *cluster) byPID(pid int) *fakeBox {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.boxes {
		if b.pid == pid {
			return b
		}
	}
	return nil
}

func (c *cluster) byIP(a netip.Addr) *fakeBox {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.boxes {
		if b.ip == a {
			return b
		}
	}
	return nil
}

// testDeps wires a cluster into Deps with fast timings.
func testDeps(c *cluster, n Net) Deps {
	return Deps{
		Docker: c.docker(), Net: n,
		Selector:   Selector{Project: "proj", Infra: []string{"postgres", "nats"}, PodName: DefaultPodNameRule},
		PeerGroups: map[string][]string{"nats": {"nats"}, "postgres": {"postgres"}},
		Timing:     Timing{Confirm: time.Second, Probe: 100 * time.Millisecond, Poll: time.Millisecond, Settle: time.Millisecond},
	}
}
