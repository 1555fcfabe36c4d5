package topology

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/errdefs"
	"github.com/docker/go-connections/nat"
)

// Container is one container of a compose project.
type Container struct {
	ID       string
	Name     string // container name, without the leading slash
	Service  string // compose service
	State    string // running, paused, exited, created, restarting, dead
	ExitCode int
	Health   string            // starting, healthy, unhealthy; "" without a health check
	Labels   map[string]string //
	// Networks maps each network the container is attached to to its IPv4 address
	// there; the address is invalid (zero) while the container is stopped.
	Networks map[string]netip.Addr
	// Aliases are the names the container answers to on its networks besides its
	// service and container name (compose `aliases:`), without the short id.
	Aliases []string
	// Ports maps each published container port ("5432/tcp") to the host address it is
	// published on ("127.0.0.1:15432"); a port published on every interface is given
	// as 127.0.0.1.
	Ports map[string]string
}

// Running reports whether the container runs and is not paused.
func (c Container) Running() bool { return c.State == "running" }

// Answers reports whether the container answers to host on its networks: its
// service, its name or one of its aliases.
func (c Container) Answers(host string) bool {
	return host != "" && (host == c.Service || host == c.Name || slices.Contains(c.Aliases, host))
}

// Topology is what Discover found: the containers of one compose project, sorted by
// service and name.
type Topology struct {
	Project    string
	Containers []Container
}

// Service returns the containers of the compose service name.
func (t Topology) Service(name string) []Container {
	var out []Container
	for _, c := range t.Containers {
		if c.Service == name {
			out = append(out, c)
		}
	}
	return out
}

// Services returns the project's compose services, sorted.
func (t Topology) Services() []string {
	var out []string
	for _, c := range t.Containers {
		if c.Service != "" && !slices.Contains(out, c.Service) {
			out = append(out, c.Service)
		}
	}
	slices.Sort(out)
	return out
}

// Networks returns the networks the project's containers are attached to, sorted.
func (t Topology) Networks() []string {
	var out []string
	for _, c := range t.Containers {
		for n := range c.Networks {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// JoinNetwork returns the network a helper container should join to reach the
// project's services by name: <project>_default when the project has it, else the
// one most of its containers share (ties broken by name).
func (t Topology) JoinNetwork() (string, error) {
	count := map[string]int{}
	for _, c := range t.Containers {
		for n := range c.Networks {
			count[n]++
		}
	}
	if def := t.Project + "_default"; count[def] > 0 {
		return def, nil
	}
	best := ""
	for _, n := range t.Networks() {
		if n == "host" || n == "none" {
			continue
		}
		if best == "" || count[n] > count[best] {
			best = n
		}
	}
	if best == "" {
		return "", fmt.Errorf("compose project %q: no container is attached to a network that can be joined", t.Project)
	}
	return best, nil
}

// Lookup returns the containers that answer to host (service, container name or
// alias).
func (t Topology) Lookup(host string) []Container {
	var out []Container
	for _, c := range t.Containers {
		if c.Answers(host) {
			out = append(out, c)
		}
	}
	return out
}

// owns reports whether ip is the address of one of the project's containers.
func (t Topology) owns(ip netip.Addr) bool {
	for _, c := range t.Containers {
		for _, a := range c.Networks {
			if a.IsValid() && a == ip.Unmap() {
				return true
			}
		}
	}
	return false
}

// Discover lists every container, running or not, of the compose project (label
// com.docker.compose.project=project). A project without containers is an error that
// names the projects that do exist.
func Discover(ctx context.Context, api Reader, project string) (Topology, error) {
	if project == "" {
		return Topology{}, fmt.Errorf("docker: no compose project given")
	}
	f := filters.NewArgs(filters.Arg("label", LabelProject+"="+project))
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return Topology{}, fmt.Errorf("docker: list containers of compose project %q: %w", project, err)
	}
	t := Topology{Project: project}
	for _, s := range cs {
		ci, err := api.ContainerInspect(ctx, s.ID)
		if errdefs.IsNotFound(err) {
			continue // removed since the list
		}
		if err != nil {
			return Topology{}, fmt.Errorf("docker: inspect %.12s: %w", s.ID, err)
		}
		t.Containers = append(t.Containers, fromInspect(ci))
	}
	if len(t.Containers) == 0 {
		return t, noProject(ctx, api, project)
	}
	slices.SortFunc(t.Containers, func(a, b Container) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Name, b.Name))
	})
	return t, nil
}

// noProject is the error for a project without containers, listing the projects
// that have some: most likely the user mistyped one of them.
func noProject(ctx context.Context, api Reader, project string) error {
	f := filters.NewArgs(filters.Arg("label", LabelProject))
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("docker: no containers of compose project %q (label %s); listing the others failed: %w", project, LabelProject, err)
	}
	var names []string
	for _, c := range cs {
		if p := c.Labels[LabelProject]; p != "" && !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	running := "none"
	if len(names) > 0 {
		running = strings.Join(names, ", ")
	}
	return fmt.Errorf("docker: no containers of compose project %q (label %s); running projects: %s", project, LabelProject, running)
}

func fromInspect(ci container.InspectResponse) Container {
	c := Container{
		Name:     strings.TrimPrefix(ci.Name, "/"),
		Networks: map[string]netip.Addr{},
		Ports:    map[string]string{},
	}
	if ci.ContainerJSONBase != nil {
		c.ID = ci.ID
		if st := ci.State; st != nil {
			c.State, c.ExitCode = st.Status, st.ExitCode
			if st.Health != nil {
				c.Health = st.Health.Status
			}
		}
	}
	if ci.Config != nil {
		c.Labels = ci.Config.Labels
		c.Service = ci.Config.Labels[LabelService]
	}
	if ns := ci.NetworkSettings; ns != nil {
		for name, ep := range ns.Networks {
			a, _ := netip.ParseAddr(ep.IPAddress)
			c.Networks[name] = a
			for _, al := range ep.Aliases {
				if al != c.Service && al != c.Name && !isShortID(al, c.ID) && !slices.Contains(c.Aliases, al) {
					c.Aliases = append(c.Aliases, al)
				}
			}
		}
		for p, bs := range ns.Ports {
			if addr, ok := hostAddr(bs); ok {
				c.Ports[string(p)] = addr
			}
		}
	}
	return c
}

func isShortID(alias, id string) bool { return len(alias) >= 12 && strings.HasPrefix(id, alias) }

// hostAddr picks the host address a port is published on, IPv4 first; a binding on
// every interface is reachable on loopback.
func hostAddr(bs []nat.PortBinding) (string, bool) {
	best := ""
	for _, b := range bs {
		if b.HostPort == "" {
			continue
		}
		ip := b.HostIP
		switch ip {
		case "", "0.0.0.0":
			return net.JoinHostPort("127.0.0.1", b.HostPort), true
		case "::":
			ip = "::1"
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		if a.Is4() {
			return net.JoinHostPort(ip, b.HostPort), true
		}
		if best == "" {
			best = net.JoinHostPort(ip, b.HostPort)
		}
	}
	return best, best != ""
}
