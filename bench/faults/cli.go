package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/chaosd/chaosd/faults"
)

// dockerCLI does the same faults with the docker CLI (and nsenter + nft).
type dockerCLI struct {
	dc      *client.Client
	name    string   // container name
	network string   // its network
	aliases []string // its aliases there, restored on connect as compose set them
	peer    string   // nats's address, for the filter
	nft     bool     // nsenter and nft are installed
}

func newDockerCLI(ctx context.Context, dc *client.Client, o options) (*dockerCLI, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("the docker CLI is needed for the comparison: %w", err)
	}
	c := &dockerCLI{dc: dc}
	target, err := service(ctx, dc, o.project, o.target)
	if err != nil {
		return nil, err
	}
	c.name = strings.TrimPrefix(target.Name, "/")
	for n, ep := range target.NetworkSettings.Networks {
		c.network = n
		for _, a := range ep.Aliases {
			if !strings.HasPrefix(target.ID, a) {
				c.aliases = append(c.aliases, a)
			}
		}
	}
	nats, err := service(ctx, dc, o.project, "nats")
	if err != nil {
		return nil, err
	}
	c.peer = nats.NetworkSettings.Networks[c.network].IPAddress
	_, e1 := exec.LookPath("nsenter")
	_, e2 := exec.LookPath("nft")
	c.nft = e1 == nil && e2 == nil
	return c, nil
}

func service(ctx context.Context, dc *client.Client, project, name string) (container.InspectResponse, error) {
	cs, err := dc.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", faults.LabelProject+"="+project), filters.Arg("label", faults.LabelService+"="+name))})
	if err != nil {
		return container.InspectResponse{}, err
	}
	if len(cs) != 1 {
		return container.InspectResponse{}, fmt.Errorf("%d running containers of service %s in project %s, want 1 (boot the bundled cluster)", len(cs), name, project)
	}
	return dc.ContainerInspect(ctx, cs[0].ID)
}

func (c *dockerCLI) note(kind string) string {
	switch kind {
	case "kill":
		return "docker kill / docker start"
	case "pause":
		return "docker pause / docker unpause"
	case "partition (all)":
		return "docker network disconnect / connect --alias"
	}
	if !c.nft {
		return "n/a (nsenter or nft missing)"
	}
	return "docker inspect + nsenter nft add / delete table"
}

// timed runs a command and returns how long it took.
func timed(ctx context.Context, name string, args ...string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return time.Since(start), nil
}

// pair runs the fault command, holds nothing, runs the heal command.
func pair(ctx context.Context, in, heal []string) (time.Duration, time.Duration, error) {
	a, err := timed(ctx, in[0], in[1:]...)
	if err != nil {
		return 0, 0, err
	}
	b, err := timed(ctx, heal[0], heal[1:]...)
	return a, b, err
}

func (c *dockerCLI) kill(ctx context.Context) (time.Duration, time.Duration, error) {
	return pair(ctx, []string{"docker", "kill", c.name}, []string{"docker", "start", c.name})
}

func (c *dockerCLI) pause(ctx context.Context) (time.Duration, time.Duration, error) {
	return pair(ctx, []string{"docker", "pause", c.name}, []string{"docker", "unpause", c.name})
}

func (c *dockerCLI) disconnect(ctx context.Context) (time.Duration, time.Duration, error) {
	connect := []string{"docker", "network", "connect"}
	for _, a := range c.aliases {
		connect = append(connect, "--alias", a)
	}
	return pair(ctx, []string{"docker", "network", "disconnect", c.network, c.name}, append(connect, c.network, c.name))
}

// filter drops nats's address both ways with nft in the container's namespace, as an
// operator would: find the pid, then nsenter.
func (c *dockerCLI) filter(ctx context.Context) (time.Duration, time.Duration, error) {
	if !c.nft {
		return 0, 0, nil
	}
	rules := fmt.Sprintf("table inet chaosd-cli {\n chain input { type filter hook input priority 0; ip saddr %s drop; }\n chain output { type filter hook output priority 0; ip daddr %[1]s drop; }\n}\n", c.peer)
	f, err := os.CreateTemp("", "faults-bench-*.nft")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(rules); err != nil {
		return 0, 0, err
	}
	_ = f.Close()
	nsenter := func(args ...string) (time.Duration, error) {
		start := time.Now()
		out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Pid}}", c.name).Output()
		if err != nil {
			return 0, fmt.Errorf("docker inspect: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			return 0, err
		}
		if _, err := timed(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "nft"}, args...)...); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	a, err := nsenter("-f", f.Name())
	if err != nil {
		return 0, 0, err
	}
	b, err := nsenter("delete", "table", "inet", "chaosd-cli")
	return a, b, err
}

// settle waits until the target runs again, unpaused, on its network (between rounds,
// not timed): a pod killed by the CLI boots in its own time.
func (c *dockerCLI) settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci, err := c.dc.ContainerInspect(ctx, c.name)
		if err == nil && ci.State.Running && !ci.State.Paused && ci.NetworkSettings.Networks[c.network] != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not settle: %v", c.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
