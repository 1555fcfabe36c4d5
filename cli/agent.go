package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const agentDescription = `
chaosd's node agent on Kubernetes, run by the DaemonSet of deploy/helm/chaosd
(agent.enabled) with the host's process namespace (hostPID). It judges nothing and
remembers nothing: chaosd writes the fault and its undo to its ledger first, then runs
one request in the agent on the target's node through pods/exec.

  chaosd agent serve                          hold the agent pod open until SIGTERM,
                                              thawing every freeze past its time
                                              (each second)
  chaosd agent kill --container-id ID         SIGKILL every process of the container
                                              (found by its cgroup), as the kernel
                                              would on an OOM kill; the kubelet then
                                              restarts it in place, under the same pod
                                              name
  chaosd agent freeze --container-id ID --until TIME
                                              freeze the container's cgroup (pause),
                                              recorded first in --state with TIME
                                              (RFC 3339), when serve thaws it should
                                              chaosd and its watchdog both be gone
  chaosd agent thaw --container-id ID         thaw it and drop the record
  chaosd agent cut --pod-uid UID --addr A,B --probe IP:PORT,... --until TIME
                                              cut the pod off from those addresses:
                                              chaosd's nftables table in the pod's
                                              network namespace drops every packet to
                                              and from them, established connections
                                              included; recorded first in --state,
                                              confirmed by the probes (the pod reaches
                                              each before and none after, the agent
                                              still does); serve removes it at TIME
  chaosd agent cut --pod-uid UID --all --keep NODE-IP --probe IP:PORT,... --until TIME
                                              cut it off from everything but the
                                              loopback and the node (its kubelet's
                                              probes): the open connections a
                                              NetworkPolicy lets live on
  chaosd agent uncut --pod-uid UID            delete the table, confirm the pod reaches
                                              the recorded probes again, drop the record

kill prints the pids it signalled and exits 0, or exits 1 when no process of the
container is found (it is not running on this node). freeze and thaw print the
cgroup's state once it says FROZEN or THAWED, and fail otherwise; cut and uncut say
CUT or UNCUT once confirmed, and fail otherwise (cut also exits 1 when no process of
the pod is on this node). cut and uncut need CAP_NET_ADMIN and CAP_SYS_ADMIN (entering
another network namespace): the chart's agent.network.`

func runAgent(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "agent", "serve | kill --container-id ID | freeze --container-id ID --until TIME | thaw --container-id ID | cut --pod-uid UID --addr A,... --until TIME | uncut --pod-uid UID", agentDescription)
	id := fs.String("container-id", "", "the container's runtime id (the part after containerd:// in the pod's status)")
	proc := fs.String("proc", "/proc", "the host's /proc (the agent runs with hostPID)")
	cgroupRoot := fs.String("cgroup-root", "/host/sys/fs/cgroup", "the host's /sys/fs/cgroup, mounted writable (freeze, thaw)")
	state := fs.String("state", "/var/lib/chaosd-agent", "the agent's records of its freezes (a hostPath: it outlives the agent pod)")
	until := fs.String("until", "", "freeze, cut: when the agent undoes it itself (RFC 3339)")
	podUID := fs.String("pod-uid", "", "cut, uncut: the pod's uid (metadata.uid)")
	addrList := fs.String("addr", "", "cut: the addresses to cut the pod off from, comma-separated")
	probeList := fs.String("probe", "", "cut, uncut: IP:PORT peers to probe from the pod's namespace, comma-separated")
	all := fs.Bool("all", false, "cut: from everything but the loopback, the node (the pod's default gateway) and --keep")
	keepList := fs.String("keep", "", "cut --all: addresses left reachable (the node's), comma-separated")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	mode := fs.Arg(0)
	if mode == "kill" || mode == "freeze" || mode == "thaw" {
		if len(*id) < 12 || strings.ContainsAny(*id, "/ .") {
			return fmt.Errorf("--container-id %q: want the container's runtime id", *id)
		}
	}
	if mode == "cut" || mode == "uncut" {
		if len(*podUID) < 8 || strings.ContainsAny(*podUID, "/ .") {
			return fmt.Errorf("--pod-uid %q: want the pod's uid (metadata.uid)", *podUID)
		}
	}
	probes, err := parseProbes(splitList(*probeList))
	if err != nil {
		return err
	}
	switch mode {
	case "cut":
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil || !t.After(time.Now()) {
			return fmt.Errorf("--until %q: want a time to come, RFC 3339 (e.g. %s)", *until, time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
		}
		spec := cutSpec{All: *all, Probes: probes}
		for flag, list := range map[string]*[]netip.Addr{"--addr": &spec.Addrs, "--keep": &spec.Keep} {
			val := *addrList
			if flag == "--keep" {
				val = *keepList
			}
			for _, a := range splitList(val) {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					return fmt.Errorf("%s %q: want an IP address", flag, a)
				}
				*list = append(*list, ip)
			}
		}
		if *all == (len(spec.Addrs) > 0) {
			return errors.New("cut: give either --addr (the peers) or --all (everything but the node)")
		}
		return agentCut(ctx, io.Stdout, hostAgentNet(), *proc, *state, *podUID, spec, t)
	case "uncut":
		if *probeList == "" {
			probes = nil // the record's
		}
		return agentUncut(ctx, io.Stdout, hostAgentNet(), *proc, *state, *podUID, probes)
	case "serve":
		serveAgent(ctx, io.Stdout, *proc, *cgroupRoot, *state)
		return nil
	case "freeze":
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil || !t.After(time.Now()) {
			return fmt.Errorf("--until %q: want a time to come, RFC 3339 (e.g. %s)", *until, time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
		}
		return agentFreeze(io.Stdout, *proc, *cgroupRoot, *state, *id, t)
	case "thaw":
		return agentThaw(io.Stdout, *proc, *cgroupRoot, *state, *id)
	case "kill":
		pids, err := containerPIDs(*proc, *id)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return &ExitCodeError{Code: ExitUnhealthy, Err: fmt.Errorf("no process of container %.12s on this node", *id)}
		}
		var killed []string
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("SIGKILL pid %d of container %.12s: %w", pid, *id, err)
			}
			killed = append(killed, strconv.Itoa(pid))
		}
		_, err = fmt.Fprintf(io.Stdout, "SIGKILL sent to pid %s of container %.12s\n", strings.Join(killed, ", "), *id)
		return err
	case "":
		return errors.New("missing mode: serve, kill, freeze, thaw, cut or uncut (see --help)")
	}
	return fmt.Errorf("unknown mode %q: serve, kill, freeze, thaw, cut or uncut", fs.Arg(0))
}

// containerPIDs are the host pids whose cgroup path names the container id, in order.
func containerPIDs(proc, id string) ([]int, error) {
	return pidsByCgroup(proc, func(cgroup string) bool {
		for _, line := range strings.Split(cgroup, "\n") {
			// hierarchy-ID:controllers:path; the path's last element is the container
			// (cgroupfs: .../pod<uid>/<id>; systemd: .../cri-containerd-<id>.scope).
			if i := strings.LastIndexByte(line, ':'); i >= 0 {
				last := filepath.Base(line[i+1:])
				if last == id || strings.Contains(last, "-"+id+".scope") {
					return true
				}
			}
		}
		return false
	})
}

// pidsByCgroup are the host pids (the agent's own left out) whose /proc/PID/cgroup
// match says is theirs, in order; a process gone meanwhile is skipped.
func pidsByCgroup(proc string, match func(cgroup string) bool) ([]int, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", proc, err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "cgroup"))
		if err != nil {
			continue // gone meanwhile
		}
		if match(string(b)) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}
