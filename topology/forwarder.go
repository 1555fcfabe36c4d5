package topology

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"go.uber.org/zap"
)

// Defaults of ForwarderOptions.
const (
	DefaultReadyTimeout = 15 * time.Second
	// firstPort is the container port of the first target; the others follow.
	firstPort = 10001
	// removeTimeout bounds Close, which runs even when the caller's context is done.
	removeTimeout = 30 * time.Second
	// logTail is how many lines of the container's log an error quotes.
	logTail = "40"
)

// ForwarderOptions says what a forwarder forwards and how it is run.
type ForwarderOptions struct {
	Project string // compose project: the forwarder's label, name and network
	// Network to join; "" = the project's (Topology.JoinNetwork).
	Network string
	// Targets are host:port as seen inside the network, e.g. postgres:5432.
	Targets []string
	// Binary is the path of a static chaosd executable; "" = this process's own.
	Binary string
	// ReadyTimeout bounds the wait until every forwarded port answers from the host;
	// 0 = DefaultReadyTimeout.
	ReadyTimeout time.Duration
	Log          *zap.Logger
}

// Forwarder is a running forwarder container. Close removes it.
type Forwarder struct {
	api   Docker
	id    string
	name  string
	addrs map[string]string // target -> 127.0.0.1:hostport
	log   *zap.Logger
	once  sync.Once
	err   error
}

// Addr returns the host address ("127.0.0.1:PORT") that forwards to target.
func (f *Forwarder) Addr(target string) (string, bool) {
	if f == nil {
		return "", false
	}
	a, ok := f.addrs[target]
	return a, ok
}

// Name returns the forwarder's container name.
func (f *Forwarder) Name() string { return f.name }

// ID returns the forwarder's container id.
func (f *Forwarder) ID() string { return f.id }

// Close removes the forwarder's container, forcibly, even after ctx is done. A nil
// Forwarder closes as nothing; later calls return the first one's result.
func (f *Forwarder) Close(ctx context.Context) error {
	if f == nil {
		return nil
	}
	f.once.Do(func() {
		f.err = remove(ctx, f.api, f.id, f.name)
		if f.err == nil {
			f.log.Info("forwarder removed")
		}
	})
	return f.err
}

// remove force-removes a container on a context that outlives ctx's cancellation; a
// container already gone is no error.
func remove(ctx context.Context, api interface {
	ContainerRemove(context.Context, string, container.RemoveOptions) error
}, id, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	err := api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove forwarder %s: %w", name, err)
	}
	return nil
}

// StartForwarder starts a forwarder container for o.Targets on the project's network
// and waits until each target's host port accepts connections. On error nothing is
// left running.
func StartForwarder(ctx context.Context, api Docker, o ForwarderOptions) (*Forwarder, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	targets, err := checkTargets(o.Targets)
	if err != nil {
		return nil, err
	}
	if o.Project == "" {
		return nil, errors.New("forwarder: no compose project given")
	}
	if o.Network == "" {
		t, err := Discover(ctx, api, o.Project)
		if err != nil {
			return nil, err
		}
		if o.Network, err = t.JoinNetwork(); err != nil {
			return nil, err
		}
	}
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("forwarder: find chaosd's own executable: %w", err)
		}
	}
	img, err := ensureImage(ctx, api, o.Binary, o.Log)
	if err != nil {
		return nil, err
	}
	f, err := create(ctx, api, o, img, targets)
	if err != nil {
		return nil, err
	}
	if err := f.start(ctx, targets, o.ReadyTimeout); err != nil {
		return nil, errors.Join(err, f.Close(ctx))
	}
	f.log.Info("forwarder started", zap.Any("ports", f.addrs))
	return f, nil
}

// checkTargets validates and deduplicates the targets, keeping their order.
func checkTargets(ts []string) ([]string, error) {
	if len(ts) == 0 {
		return nil, errors.New("forwarder: no targets")
	}
	var out []string
	for _, t := range ts {
		if err := checkHostPort(t, false); err != nil {
			return nil, fmt.Errorf("forwarder: target: %w (want host:port as seen inside the network, e.g. postgres:5432)", err)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// containerPort is the forwarder's container port for the i-th target.
func containerPort(i int) nat.Port { return nat.Port(strconv.Itoa(firstPort+i) + "/tcp") }

// create creates (not starts) the forwarder container.
func create(ctx context.Context, api Docker, o ForwarderOptions, img string, targets []string) (*Forwarder, error) {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("chaosd-forward-%s-%s", o.Project, hex.EncodeToString(suffix))
	cfg := &container.Config{
		Image:        img,
		Cmd:          []string{"--log-format=json"},
		Labels:       map[string]string{LabelForwarder: o.Project, LabelSkip: "true"},
		ExposedPorts: nat.PortSet{},
		User:         "65534:65534",
	}
	host := &container.HostConfig{
		PortBindings:   nat.PortMap{},
		AutoRemove:     false, // its logs must outlive a failure; Close removes it
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
	}
	for i, t := range targets {
		p := containerPort(i)
		cfg.Cmd = append(cfg.Cmd, Mapping{Listen: "0.0.0.0:" + p.Port(), Target: t}.String())
		cfg.ExposedPorts[p] = struct{}{}
		host.PortBindings[p] = []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: ""}}
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{o.Network: {}}}
	resp, err := api.ContainerCreate(ctx, cfg, host, netCfg, nil, name)
	if err != nil {
		return nil, fmt.Errorf("docker: create forwarder %s on network %s: %w", name, o.Network, err)
	}
	log := o.Log.With(zap.String("forwarder", name), zap.String("network", o.Network))
	return &Forwarder{api: api, id: resp.ID, name: name, addrs: map[string]string{}, log: log}, nil
}

// start starts the container and waits until it is ready: the proxy inside has
// bound every port (its ReadyMessage is in the log) and each published port accepts
// a TCP connection from the host.
func (f *Forwarder) start(ctx context.Context, targets []string, timeout time.Duration) error {
	if err := f.api.ContainerStart(ctx, f.id, container.StartOptions{}); err != nil {
		return fmt.Errorf("docker: start forwarder %s: %w%s", f.name, err, f.logs(ctx))
	}
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	seen := false // the ReadyMessage was in the log
	for {
		pending, fatal := f.ready(wctx, targets, &seen)
		if fatal != nil {
			return fmt.Errorf("forwarder %s: %w%s", f.name, fatal, f.logs(ctx))
		}
		if pending == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("forwarder %s: %w", f.name, err)
			}
			return fmt.Errorf("forwarder %s: not ready within %s: %w%s", f.name, timeout, pending, f.logs(ctx))
		case <-tick.C:
		}
	}
}

// ready checks the forwarder once. fatal is what waiting cannot mend (the container
// stopped); pending is what it still waits for.
func (f *Forwarder) ready(ctx context.Context, targets []string, seen *bool) (pending, fatal error) {
	ci, err := f.api.ContainerInspect(ctx, f.id)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err(), nil
		}
		return nil, fmt.Errorf("docker: inspect: %w", err)
	}
	if ci.ContainerJSONBase == nil || ci.State == nil || !ci.State.Running {
		st, code := "unknown", 0
		if ci.ContainerJSONBase != nil && ci.State != nil {
			st, code = ci.State.Status, ci.State.ExitCode
		}
		return nil, fmt.Errorf("the container is %s (exit code %d)", st, code)
	}
	for i, t := range targets {
		var bs []nat.PortBinding
		if ci.NetworkSettings != nil {
			bs = ci.NetworkSettings.Ports[containerPort(i)]
		}
		addr, ok := hostAddr(bs)
		if !ok {
			return fmt.Errorf("port %s (for %s) is not published yet", containerPort(i), t), nil
		}
		f.addrs[t] = addr
	}
	if !*seen {
		if !strings.Contains(f.readLogs(ctx), ReadyMessage) {
			return fmt.Errorf("the proxy inside has not logged %q yet", ReadyMessage), nil
		}
		*seen = true
	}
	for _, t := range targets {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", f.addrs[t])
		if err != nil {
			return fmt.Errorf("%s (for %s) does not accept connections: %w", f.addrs[t], t, err), nil
		}
		_ = c.Close()
	}
	return nil, nil
}

// readLogs returns the last lines of the container's output, "" when unavailable.
func (f *Forwarder) readLogs(ctx context.Context) string {
	rc, err := f.api.ContainerLogs(ctx, f.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: logTail})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var b bytes.Buffer
	_, _ = stdcopy.StdCopy(&b, &b, rc)
	return b.String()
}

// logs renders the container's log for an error message, on a context that survives
// the caller's.
func (f *Forwarder) logs(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s := strings.TrimSpace(f.readLogs(ctx))
	if s == "" {
		return "; the container logged nothing"
	}
	return "; its log:\n" + s
}

// RemoveForwarders removes every forwarder container of project (label
// chaosd.forwarder=project), running or not: the leftovers of a chaosd that died
// before closing its forwarder. It returns the names of those removed.
func RemoveForwarders(ctx context.Context, api Remover, project string) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelForwarder+"="+project))
	cs, err := api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list forwarders of compose project %q: %w", project, err)
	}
	var removed []string
	var errs []error
	for _, c := range cs {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		if err := remove(ctx, api, c.ID, name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}
