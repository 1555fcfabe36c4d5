package cli

import (
	"context"
	"errors"
	"fmt"
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

kill prints the pids it signalled and exits 0, or exits 1 when no process of the
container is found (it is not running on this node). freeze and thaw print the
cgroup's state once it says FROZEN or THAWED, and fail otherwise.`

func runAgent(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "agent", "serve | kill --container-id ID | freeze --container-id ID --until TIME | thaw --container-id ID", agentDescription)
	id := fs.String("container-id", "", "the container's runtime id (the part after containerd:// in the pod's status)")
	proc := fs.String("proc", "/proc", "the host's /proc (the agent runs with hostPID)")
	cgroupRoot := fs.String("cgroup-root", "/host/sys/fs/cgroup", "the host's /sys/fs/cgroup, mounted writable (freeze, thaw)")
	state := fs.String("state", "/var/lib/chaosd-agent", "the agent's records of its freezes (a hostPath: it outlives the agent pod)")
	until := fs.String("until", "", "freeze: when the agent thaws the container itself (RFC 3339)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	mode := fs.Arg(0)
	if mode == "kill" || mode == "freeze" || mode == "thaw" {
		if len(*id) < 12 || strings.ContainsAny(*id, "/ .") {
			return fmt.Errorf("--container-id %q: want the container's runtime id", *id)
		}
	}
	switch mode {
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
		return errors.New("missing mode: serve, kill, freeze or thaw (see --help)")
	}
	return fmt.Errorf("unknown mode %q: serve, kill, freeze or thaw", fs.Arg(0))
}

// containerPIDs are the host pids whose cgroup path names the container id, in order.
func containerPIDs(proc, id string) ([]int, error) {
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
		for _, line := range strings.Split(string(b), "\n") {
			// hierarchy-ID:controllers:path; the path's last element is the container
			// (cgroupfs: .../pod<uid>/<id>; systemd: .../cri-containerd-<id>.scope).
			if i := strings.LastIndexByte(line, ':'); i >= 0 {
				last := filepath.Base(line[i+1:])
				if last == id || strings.Contains(last, "-"+id+".scope") {
					pids = append(pids, pid)
					break
				}
			}
		}
	}
	sort.Ints(pids)
	return pids, nil
}
