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
)

const agentDescription = `
chaosd's node agent on Kubernetes, run by the DaemonSet of deploy/helm/chaosd
(agent.enabled) with the host's process namespace (hostPID). It judges nothing and
remembers nothing: chaosd writes the fault and its undo to its ledger first, then runs
one request in the agent on the target's node through pods/exec.

  chaosd agent serve                          hold the agent pod open until SIGTERM
  chaosd agent kill --container-id ID         SIGKILL every process of the container
                                              (found by its cgroup), as the kernel
                                              would on an OOM kill; the kubelet then
                                              restarts it in place, under the same pod
                                              name

kill prints the pids it signalled and exits 0, or exits 1 when no process of the
container is found (it is not running on this node).`

func runAgent(ctx context.Context, io IO, args []string) error {
	fs, _ := newFlagSet(io, "agent", "serve | kill --container-id ID", agentDescription)
	id := fs.String("container-id", "", "the container's runtime id (the part after containerd:// in the pod's status)")
	proc := fs.String("proc", "/proc", "the host's /proc (the agent runs with hostPID)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "serve":
		untilTerminated(ctx)
		return nil
	case "kill":
		if len(*id) < 12 || strings.ContainsAny(*id, "/ ") {
			return fmt.Errorf("--container-id %q: want the container's runtime id", *id)
		}
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
		return errors.New("missing mode: serve or kill (see --help)")
	}
	return fmt.Errorf("unknown mode %q: serve or kill", fs.Arg(0))
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
