package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/faults/netns"
)

// A cut is the agent's partition of a pod from chosen peers: chaosd's own nftables
// table in the pod's network namespace (faults/netns, the same table Docker's
// per-peer partition uses) dropping every packet to and from the peers' addresses,
// established connections included; and a record of it in the agent's state
// directory with the time by which the agent deletes the table itself, should chaosd
// and its watchdog both be gone ("agent serve" sweeps the records every second).
//
// The namespace is the pod's, not a container's: it belongs to the pod's sandbox and
// outlives a container restarted in place, so the pod is named by its uid and the
// namespace found through any of its processes.
//
// A cut from everything (--all: a whole-pod partition, beside its NetworkPolicy,
// which lets open connections live on) drops every packet but the loopback's and
// those from and to the node (--keep, and the pod's default gateway: the kubelet
// probes the pod from the node, and cut off from its probes the pod would be
// restarted).
type cutRecord struct {
	PodUID string       `json:"pod_uid"`
	Addrs  []netip.Addr `json:"addrs,omitempty"`
	All    bool         `json:"all,omitempty"`
	Keep   []netip.Addr `json:"keep,omitempty"`
	Probes []string     `json:"probes,omitempty"` // ip:port the heal probes again
	Until  time.Time    `json:"until"`
}

// cutSpec is what to cut a pod off from and what to probe.
type cutSpec struct {
	Addrs  []netip.Addr
	All    bool
	Keep   []netip.Addr
	Probes []netip.AddrPort
}

// agentNet is what the agent does in a namespace: faults.Net, a cut from
// everything, the inode that tells a pod sharing the host's namespace, and the
// default gateway of a namespace.
type agentNet struct {
	faults.Net
	cutAll  func(pid int, keep []netip.Addr) error
	inode   func(pid int) (uint64, error)
	gateway func(proc string, pid int) (netip.Addr, error)
}

func hostAgentNet() agentNet {
	return agentNet{Net: faults.NetNS{}, cutAll: netns.CutAllBut, inode: netns.Inode, gateway: defaultGateway}
}

// defaultGateway reads the IPv4 default route's gateway of pid's network namespace
// from /proc/PID/net/route (the kernel shows a process its own namespace's routes).
func defaultGateway(proc string, pid int) (netip.Addr, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "net", "route"))
	if err != nil {
		return netip.Addr{}, err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "00000000" {
			continue
		}
		v, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil || v == 0 {
			continue
		}
		// little-endian on the machines Kubernetes runs on
		return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}), nil
	}
	return netip.Addr{}, fmt.Errorf("no IPv4 default route in %s/%d/net/route", proc, pid)
}

// probeTimeout bounds each reachability probe of a cut or an uncut.
const probeTimeout = time.Second

func cutPath(state, uid string) string { return filepath.Join(state, "cut-"+uid+".json") }

// lockPod serializes the cuts and uncuts of one pod on the node: a heal's uncut
// waits for a cut still in flight (one a chaosd that died asked for) and undoes it,
// instead of running first and leaving it to come in after.
func lockPod(state, uid string) (func(), error) {
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("the agent's state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(state, "cut-"+uid+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the cuts of pod %s: %w", uid, err)
	}
	now := time.Now() // the sweep removes a lock file only when unused for 10 minutes
	_ = os.Chtimes(f.Name(), now, now)
	return func() { f.Close() }, nil
}

// podPIDs are the host pids whose cgroup path names the pod uid, in order
// (cgroupfs: .../pod<uid>/<container>; systemd: ...-pod<uid with _>.slice/...).
func podPIDs(proc, uid string) ([]int, error) {
	keys := []string{"pod" + uid, "pod" + strings.ReplaceAll(uid, "-", "_")}
	return pidsByCgroup(proc, func(cgroup string) bool {
		return strings.Contains(cgroup, keys[0]) || strings.Contains(cgroup, keys[1])
	})
}

// podNamespace finds a process of the pod and refuses a pod on the host's network
// (hostNetwork: cutting it would cut the node).
func podNamespace(n agentNet, proc, uid string) (int, error) {
	pids, err := podPIDs(proc, uid)
	if err != nil {
		return 0, err
	}
	if len(pids) == 0 {
		return 0, errNoPod
	}
	pid := pids[0]
	mine, err := n.inode(pid)
	if err != nil {
		return 0, err
	}
	if host, err := n.inode(1); err == nil && host == mine {
		return 0, fmt.Errorf("pod %s shares the host's network namespace (hostNetwork): the agent never filters the node's own network", uid)
	}
	return pid, nil
}

var errNoPod = errors.New("no process of the pod on this node")

// parseProbes reads ip:port addresses.
func parseProbes(list []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, s := range list {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("--probe %q: want IP:PORT", s)
		}
		out = append(out, ap)
	}
	return out, nil
}

// probeAll probes every address from inside pid's namespace (netns.Host: the
// agent's own) and describes the answers. The probes run together: a cut one waits
// its whole timeout.
func probeAll(ctx context.Context, n agentNet, pid int, probes []netip.AddrPort) (reached, unreached []string, err error) {
	type answer struct {
		r   netns.Reach
		err error
	}
	answers := make([]answer, len(probes))
	var wg sync.WaitGroup
	for i, ap := range probes {
		wg.Go(func() {
			r, err := n.Probe(ctx, pid, ap, probeTimeout)
			answers[i] = answer{r, err}
		})
	}
	wg.Wait()
	for i, ap := range probes {
		a := answers[i]
		if a.err != nil {
			return nil, nil, a.err
		}
		if a.r.Reachable {
			reached = append(reached, ap.String()+" "+a.r.Detail)
		} else {
			unreached = append(unreached, ap.String()+" "+a.r.Detail)
		}
	}
	return reached, unreached, nil
}

// agentCut cuts the pod off from addrs, confirmed by probes: before the cut the pod
// must reach every probed peer (a cut from everything: those that answer, one at
// least); after it, the pod must reach none while the agent still reaches them all
// (the witness: the peer is up, the cut is what stops it). The record is
// written before the table, and the table removed again when the cut is not
// confirmed.
func agentCut(ctx context.Context, w io.Writer, n agentNet, proc, state, uid string, spec cutSpec, until time.Time) error {
	addrs, probes := spec.Addrs, spec.Probes
	if len(addrs) == 0 && !spec.All {
		return errors.New("cut: no --addr to cut the pod off from (or --all)")
	}
	unlock, err := lockPod(state, uid)
	if err != nil {
		return err
	}
	defer unlock()
	pid, err := podNamespace(n, proc, uid)
	if errors.Is(err, errNoPod) {
		return &ExitCodeError{Code: ExitUnhealthy, Err: fmt.Errorf("cut: %w (pod %s)", err, uid)}
	}
	if err != nil {
		return fmt.Errorf("cut: %w", err)
	}
	up, down, err := probeAll(ctx, n, pid, probes)
	if err != nil {
		return fmt.Errorf("cut: probe from pod %s: %w", uid, err)
	}
	if spec.All {
		// Any peer that answers tells a cut from everything: probe those.
		probes = slices.DeleteFunc(probes, func(ap netip.AddrPort) bool {
			return !slices.ContainsFunc(up, func(s string) bool { return strings.HasPrefix(s, ap.String()+" ") })
		})
		if len(probes) == 0 {
			return fmt.Errorf("cut: before the cut pod %s reaches none of the probed peers (%s): no probe could tell the cut's effect", uid, noneIfEmpty(down))
		}
		gw, err := n.gateway(proc, pid)
		if err != nil {
			return fmt.Errorf("cut: the node's address as pod %s sees it: %w", uid, err)
		}
		if !slices.Contains(spec.Keep, gw) {
			spec.Keep = append(spec.Keep, gw)
		}
	} else if len(down) > 0 {
		return fmt.Errorf("cut: before the cut pod %s already cannot reach %s: no probe could tell the cut's effect", uid, strings.Join(down, "; "))
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("the agent's state directory: %w", err)
	}
	ps := make([]string, len(probes))
	for i, p := range probes {
		ps[i] = p.String()
	}
	rec, err := json.Marshal(cutRecord{PodUID: uid, Addrs: addrs, All: spec.All, Keep: spec.Keep, Probes: ps, Until: until.UTC()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(cutPath(state, uid), rec, 0o600); err != nil {
		return fmt.Errorf("record the cut: %w", err)
	}
	undo := func(why error) error {
		uerr := n.Uncut(pid)
		if uerr == nil {
			_ = os.Remove(cutPath(state, uid))
		}
		return errors.Join(why, uerr)
	}
	cut := func() error { return n.Cut(pid, addrs) }
	what := joinAddrs(addrs)
	if spec.All {
		cut = func() error { return n.cutAll(pid, spec.Keep) }
		what = "everything but the loopback and " + joinAddrs(spec.Keep)
	}
	if err := cut(); err != nil {
		return undo(fmt.Errorf("cut pod %s (pid %d): %w (the agent needs CAP_NET_ADMIN and CAP_SYS_ADMIN: the chart's agent.network)", uid, pid, err))
	}
	reached, cutOff, err := probeAll(ctx, n, pid, probes)
	if err != nil {
		return undo(fmt.Errorf("cut: probe from pod %s: %w", uid, err))
	}
	if len(reached) > 0 {
		return undo(fmt.Errorf("cut: pod %s still reaches %s under chaosd's nftables table", uid, strings.Join(reached, "; ")))
	}
	witness, lost, err := probeAll(ctx, n, netns.Host, probes)
	if err != nil {
		return undo(fmt.Errorf("cut: probe from the agent: %w", err))
	}
	if len(lost) > 0 {
		return undo(fmt.Errorf("cut: the agent cannot reach %s either: the peer, not the cut, may be down", strings.Join(lost, "; ")))
	}
	_, rules, _ := n.Rules(pid)
	_, err = fmt.Fprintf(w, "pod %s CUT off from %s (%d rules, pid %d); the agent removes the table itself at %s unless uncut before; from the pod: %s; from the agent: %s\n",
		uid, what, rules, pid, until.UTC().Format(time.RFC3339), noneIfEmpty(cutOff), noneIfEmpty(witness))
	return err
}

// agentUncut deletes chaosd's table from the pod's namespace and, for the probes of
// the record (or given), confirms that the pod reaches its peers again. A pod with no
// process left on the node took its namespace with it: nothing is cut.
func agentUncut(ctx context.Context, w io.Writer, n agentNet, proc, state, uid string, probes []netip.AddrPort) error {
	unlock, err := lockPod(state, uid)
	if err != nil {
		return err
	}
	defer unlock()
	var rec cutRecord
	b, err := os.ReadFile(cutPath(state, uid))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("the cut record of pod %s: %w", uid, err)
		}
		if probes == nil {
			if probes, err = parseProbes(rec.Probes); err != nil {
				return fmt.Errorf("the cut record of pod %s: %w", uid, err)
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	pid, err := podNamespace(n, proc, uid)
	if errors.Is(err, errNoPod) {
		if err := os.Remove(cutPath(state, uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		_, err = fmt.Fprintf(w, "pod %s UNCUT: no process of it is left on this node, its network namespace went with it\n", uid)
		return err
	}
	if err != nil {
		return fmt.Errorf("uncut: %w", err)
	}
	drops, _ := n.Drops(pid)
	if err := n.Uncut(pid); err != nil {
		return fmt.Errorf("uncut pod %s (pid %d): %w", uid, pid, err)
	}
	if present, _, err := n.Rules(pid); err != nil || present {
		return fmt.Errorf("uncut pod %s: chaosd's table still present (%v)", uid, err)
	}
	// The peers answer again once the table is gone; a connection the cut broke may
	// take its own time to come back, a new one may not.
	var down []string
	for range 5 {
		if _, down, err = probeAll(ctx, n, pid, probes); err != nil || len(down) == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("uncut: probe from pod %s: %w", uid, err)
	}
	if len(down) > 0 {
		return fmt.Errorf("uncut pod %s: table deleted, yet the pod still cannot reach %s", uid, strings.Join(down, "; "))
	}
	if err := os.Remove(cutPath(state, uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_, err = fmt.Fprintf(w, "pod %s UNCUT (pid %d): %s; the pod reaches %d probed peers again\n", uid, pid, describeDrops(drops), len(probes))
	return err
}

// sweepCuts uncuts every recorded cut past its time, and reports what it did; it
// removes the lock files of pods with no cut left for 10 minutes.
func sweepCuts(ctx context.Context, w io.Writer, n agentNet, proc, state string, now time.Time) {
	locks, _ := filepath.Glob(filepath.Join(state, "cut-*.lock"))
	for _, l := range locks {
		if fi, err := os.Stat(l); err == nil && now.Sub(fi.ModTime()) > 10*time.Minute {
			if _, err := os.Stat(strings.TrimSuffix(l, ".lock") + ".json"); errors.Is(err, os.ErrNotExist) {
				_ = os.Remove(l)
			}
		}
	}
	recs, _ := filepath.Glob(filepath.Join(state, "cut-*.json"))
	for _, p := range recs {
		b, err := os.ReadFile(p)
		var rec cutRecord
		if err != nil || json.Unmarshal(b, &rec) != nil || now.Before(rec.Until) {
			continue
		}
		if err := agentUncut(ctx, w, n, proc, state, rec.PodUID, nil); err != nil {
			fmt.Fprintf(w, "chaosd agent: the cut of pod %s is past its time (%s) and could not be undone: %v\n", rec.PodUID, rec.Until.Format(time.RFC3339), err)
		}
	}
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func noneIfEmpty(s []string) string {
	if len(s) == 0 {
		return "nothing probed"
	}
	return strings.Join(s, "; ")
}

// describeDrops sums the packets the table dropped: the evidence that real traffic
// was cut, not only new connections.
func describeDrops(d map[string]uint64) string {
	var in, out uint64
	for k, n := range d {
		if strings.HasPrefix(k, "input ") {
			in += n
		} else {
			out += n
		}
	}
	return fmt.Sprintf("the table had dropped %d packets from the peers and %d to them", in, out)
}
