package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosd/chaosd/faults"
)

// A partition from peer groups (--peers nats, faults.kinds.partition.peers) is not a
// NetworkPolicy: a policy only allows, and the plugins that enforce it let the
// connections already open live on (conntrack's ESTABLISHED), so a pod's NATS and
// Postgres connections, opened long before, would never notice. chaosd's node agent
// puts chaosd's own nftables table (faults/netns, the table of Docker's per-peer
// partition) into the pod's network namespace, dropping every packet to and from the
// peers' addresses, open connections included:
//
//   - a group's entries name Services of the namespace (exactly, else a Service whose
//     name ends in "-NAME", as a Helm release names them: testbed-nats, studio-nats),
//     pods, or IP addresses (a Postgres outside the cluster); a Service stands for its
//     cluster IP (what a pod dials: kube-proxy rewrites it on the node, so inside the
//     pod the packets carry it both ways) and the IPs of the pods it selects; the
//     built-in group "pods" is every other pod of the selector;
//   - the agent confirms it: from inside the pod's namespace each probed peer (a
//     Service's cluster IP and first port, a pod at pods.port) answers before the cut
//     and none after, while the agent itself still reaches them;
//   - the cut is recorded on the node first with a time past the fault's deadline,
//     when the agent removes the table itself should chaosd and its watchdog both be
//     gone; the heal asks the agent on the pod's node to remove it and to see the
//     peers answer again, and reports the packets the table dropped.
const modePeers = "peers"

// peerAddr is one address a pod is cut off from; Probe, when set, is where to check.
type peerAddr struct {
	Group string `json:"group"`
	What  string `json:"what"` // "service testbed-nats", "pod w-b", "address 10.0.0.5"
	Addr  string `json:"addr"`
	Probe string `json:"probe,omitempty"` // ip:port
}

// agentCanCut reports whether the agent pod may enter a pod's network namespace and
// change its nftables (the chart's agent.network: NET_ADMIN and SYS_ADMIN), or why
// not.
func agentCanCut(a *corev1.Pod) error {
	for _, c := range a.Spec.Containers {
		sc := c.SecurityContext
		if sc != nil && sc.Privileged != nil && *sc.Privileged {
			return nil
		}
		var caps []corev1.Capability
		if sc != nil && sc.Capabilities != nil {
			caps = sc.Capabilities.Add
		}
		if slices.Contains(caps, "NET_ADMIN") && slices.Contains(caps, "SYS_ADMIN") {
			return nil
		}
	}
	return fmt.Errorf("chaosd's agent %s may not change a pod's network (it lacks NET_ADMIN and SYS_ADMIN: deploy/helm/chaosd with agent.network=true)", a.Name)
}

// planPeers plans the agent's cut of pod p from the groups.
func (f *partitionFault) planPeers(ctx context.Context, m faults.Member, s faults.Spec, p *corev1.Pod) (faults.Plan, error) {
	if p.Spec.HostNetwork {
		return faults.Plan{}, fmt.Errorf("partition: pod %s runs on the node's network (hostNetwork): chaosd never filters a node's own network", p.Name)
	}
	a, err := f.r.agentPodOn(ctx, p.Spec.NodeName)
	if err != nil {
		return faults.Plan{}, fmt.Errorf("partition: %w", err)
	}
	if err := agentCanCut(a); err != nil {
		return faults.Plan{}, fmt.Errorf("partition from %s: %w", strings.Join(s.Peers, ", "), err)
	}
	agent := a.Name
	peers, err := f.resolvePeers(ctx, p, s.Peers)
	if err != nil {
		return faults.Plan{}, err
	}
	u := partitionUndo{
		Namespace: f.r.cfg.Namespace, Pod: p.Name, UID: string(p.UID), Mode: modePeers,
		Node: p.Spec.NodeName, Agent: agent, Peers: peers, Groups: s.Peers,
	}
	undo, err := json.Marshal(u)
	if err != nil {
		return faults.Plan{}, err
	}
	return faults.Plan{
		Kind: "partition", Target: m.Target, Spec: s, Undo: undo,
		Does: fmt.Sprintf("cut pod %s off from %s (%s) with chaosd's nftables table in its network namespace, open connections included, through chaosd's agent %s on node %s, which removes it by itself %s past the deadline; confirm that the pod reaches no probed peer and the agent still does",
			u.Pod, strings.Join(s.Peers, ", "), describePeers(peers), agent, u.Node, AgentGrace),
		Undoes: fmt.Sprintf("remove the table through the agent on node %s; confirm that pod %s reaches the probed peers again", u.Node, u.Pod),
	}, nil
}

func describePeers(ps []peerAddr) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.What+" "+p.Addr)
	}
	return strings.Join(out, ", ")
}

// resolvePeers turns the peer groups into addresses (deduplicated, the target's own
// left out). A group that names nothing that exists is an error: a partition from
// nothing would pass for one.
func (f *partitionFault) resolvePeers(ctx context.Context, target *corev1.Pod, groups []string) ([]peerAddr, error) {
	ns := f.r.cfg.Namespace
	var out []peerAddr
	seen := map[string]bool{target.Status.PodIP: true}
	add := func(p peerAddr) {
		if p.Addr != "" && !seen[p.Addr] {
			seen[p.Addr] = true
			out = append(out, p)
		}
	}
	var svcs *corev1.ServiceList
	var pods *corev1.PodList
	for _, g := range groups {
		before := len(out)
		if g == faults.PeersPods {
			ms, err := f.r.List(ctx)
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				ip, ok := m.IPs["pod"]
				if m.ID == string(target.UID) || !ok || m.State != "running" || m.Skipped {
					continue
				}
				add(peerAddr{Group: g, What: "pod " + m.Name, Addr: ip.String(), Probe: podProbe(ip, f.r.cfg.Port)})
			}
			if len(out) == before {
				return nil, fmt.Errorf("partition: peer group pods: no other running pod of selector %s", f.r.sel)
			}
			continue
		}
		names, ok := f.groups[g]
		if !ok {
			return nil, fmt.Errorf("partition: unknown peer group %q (known: %s)", g, strings.Join(faults.PeerGroupNames(f.groups), ", "))
		}
		for _, name := range names {
			if ip, err := netip.ParseAddr(name); err == nil {
				add(peerAddr{Group: g, What: "address", Addr: ip.String()})
				continue
			}
			if svcs == nil {
				var err error
				if svcs, err = f.r.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); err != nil {
					return nil, explain(err, f.r.host(), "list the Services of namespace "+ns)
				}
				if pods, err = f.r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
					return nil, explain(err, f.r.host(), "list the pods of namespace "+ns)
				}
			}
			for _, svc := range servicesNamed(svcs.Items, name) {
				if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
					probe := ""
					if len(svc.Spec.Ports) > 0 {
						probe = netip.AddrPortFrom(ip, uint16(svc.Spec.Ports[0].Port)).String()
					}
					add(peerAddr{Group: g, What: "service " + svc.Name, Addr: ip.String(), Probe: probe})
				}
				if len(svc.Spec.Selector) == 0 {
					continue
				}
				sel := labels.SelectorFromSet(svc.Spec.Selector)
				for i := range pods.Items {
					pp := &pods.Items[i]
					if sel.Matches(labels.Set(pp.Labels)) && pp.Status.PodIP != "" && pp.UID != target.UID {
						add(peerAddr{Group: g, What: "pod " + pp.Name + " of service " + svc.Name, Addr: pp.Status.PodIP})
					}
				}
			}
			for i := range pods.Items {
				if pp := &pods.Items[i]; pp.Name == name && pp.Status.PodIP != "" && pp.UID != target.UID {
					add(peerAddr{Group: g, What: "pod " + pp.Name, Addr: pp.Status.PodIP})
				}
			}
		}
		if len(out) == before {
			return nil, fmt.Errorf("partition: peer group %q (faults.peers.%s: %s) names no Service, pod or IP address of namespace %s", g, g, strings.Join(names, ", "), ns)
		}
	}
	return out, nil
}

// servicesNamed are the Services called name, else those called "<release>-name".
func servicesNamed(all []corev1.Service, name string) []corev1.Service {
	var exact, suffix []corev1.Service
	for _, s := range all {
		switch {
		case s.Name == name:
			exact = append(exact, s)
		case strings.HasSuffix(s.Name, "-"+name):
			suffix = append(suffix, s)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	sort.Slice(suffix, func(i, j int) bool { return suffix[i].Name < suffix[j].Name })
	return suffix
}

func podProbe(ip netip.Addr, port int) string {
	if port <= 0 {
		return ""
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

// allPeers are what a whole-pod partition's agent cut probes: every Service of the
// namespace that selects pods (other than the target) at its cluster IP and first
// port, and the other pods of the selector at pods.port. The agent probes those
// that answered before the cut.
func (f *partitionFault) allPeers(ctx context.Context, target *corev1.Pod) ([]peerAddr, error) {
	ns := f.r.cfg.Namespace
	svcs, err := f.r.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, explain(err, f.r.host(), "list the Services of namespace "+ns)
	}
	var out []peerAddr
	for _, svc := range svcs.Items {
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || len(svc.Spec.Selector) == 0 || len(svc.Spec.Ports) == 0 || labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(target.Labels)) {
			continue
		}
		out = append(out, peerAddr{Group: "all", What: "service " + svc.Name, Addr: ip.String(), Probe: netip.AddrPortFrom(ip, uint16(svc.Spec.Ports[0].Port)).String()})
	}
	ms, err := f.r.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if ip, ok := m.IPs["pod"]; ok && m.ID != string(target.UID) && m.State == "running" && f.r.cfg.Port > 0 {
			out = append(out, peerAddr{Group: "all", What: "pod " + m.Name, Addr: ip.String(), Probe: podProbe(ip, f.r.cfg.Port)})
		}
	}
	return out, nil
}

// agentArgs is the agent's command for a cut (cut) or its undoing.
func (u partitionUndo) agentArgs(cut bool, until time.Time) []string {
	var addrs, probes []string
	for _, p := range u.Peers {
		addrs = append(addrs, p.Addr)
		if p.Probe != "" && !slices.Contains(probes, p.Probe) {
			probes = append(probes, p.Probe)
		}
	}
	args := []string{"/chaosd", "agent", "uncut", "--pod-uid", u.UID}
	switch {
	case cut && u.Mode == modePeers:
		args = []string{"/chaosd", "agent", "cut", "--pod-uid", u.UID, "--addr", strings.Join(addrs, ","), "--until", until.UTC().Format(time.RFC3339)}
	case cut:
		args = []string{"/chaosd", "agent", "cut", "--pod-uid", u.UID, "--all", "--until", until.UTC().Format(time.RFC3339)}
		if u.HostIP != "" {
			args = append(args, "--keep", u.HostIP)
		}
	}
	if len(probes) > 0 {
		args = append(args, "--probe", strings.Join(probes, ","))
	}
	return args
}

// injectPeers asks the agent to cut; its answer (the probes') confirms.
func (f *partitionFault) injectPeers(ctx context.Context, p faults.Plan, u partitionUndo) (faults.Effect, error) {
	out, err := f.agentCut(ctx, p, u)
	applied := time.Now()
	if err != nil {
		return faults.Effect{Applied: applied}, err
	}
	return faults.Effect{Applied: applied, Confirmed: applied, Evidence: out}, nil
}

// agentCut runs the agent's cut and returns its confirmation.
func (f *partitionFault) agentCut(ctx context.Context, p faults.Plan, u partitionUndo) (string, error) {
	code, out, err := f.r.exec.run(ctx, u.Namespace, u.Agent, "agent", u.agentArgs(true, time.Now().Add(p.Spec.Hold+AgentGrace)))
	switch {
	case err != nil:
		return "", fmt.Errorf("partition: agent %s: %w", u.Agent, err)
	case code != 0 || !strings.Contains(out, " CUT "):
		return "", fmt.Errorf("partition: agent %s exited %d: %s", u.Agent, code, trim(out))
	}
	return trimLong(out), nil
}

// healPeers asks the agent on the pod's node to remove the table.
func (f *partitionFault) healPeers(ctx context.Context, u partitionUndo) faults.Healing {
	applied := time.Now()
	out, gone, err := f.agentUncut(ctx, u)
	switch {
	case err != nil:
		return faults.Healing{Applied: applied, Err: err}
	case gone:
		return faults.Healing{Outcome: faults.Unknown, Applied: applied, Evidence: out}
	}
	return faults.Healing{Outcome: faults.Healed, Applied: applied, Confirmed: time.Now(), Evidence: out}
}

// agentUncut asks the agent on the pod's node to remove chaosd's table and to see
// the probed peers answer again; gone: the pod is, with its namespace.
func (f *partitionFault) agentUncut(ctx context.Context, u partitionUndo) (evidence string, gone bool, err error) {
	pod, err := f.r.client.CoreV1().Pods(u.Namespace).Get(ctx, u.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && string(pod.UID) != u.UID) {
		return "pod " + u.Pod + " is gone: its network namespace, and chaosd's table in it, with it", true, nil
	}
	if err != nil {
		return "", false, explain(err, f.r.host(), "get pod "+u.Pod)
	}
	agent, err := f.r.agentOn(ctx, u.Node)
	if err != nil {
		return "", false, fmt.Errorf("uncut: %w (it removes the table itself past the deadline once it runs)", err)
	}
	code, out, err := f.r.exec.run(ctx, u.Namespace, agent, "agent", u.agentArgs(false, time.Time{}))
	switch {
	case err != nil:
		return "", false, fmt.Errorf("uncut: agent %s: %w", agent, err)
	case code != 0 || !strings.Contains(out, " UNCUT"):
		return "", false, fmt.Errorf("uncut: agent %s exited %d: %s", agent, code, trim(out))
	}
	return trimLong(out), false, nil
}

// trimLong is trim with room for the agent's probes.
func trimLong(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	return s
}
