package faults

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"go.uber.org/zap"
)

// The narrow slices of the Docker Engine API that chaosd's actions use. Each action
// asks for the smallest one it needs; *client.Client satisfies them all, and tests
// use function-field fakes.
type (
	inspector interface {
		ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	}
	lister interface {
		ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	}
	killer interface {
		ContainerKill(ctx context.Context, id, signal string) error
	}
	starter interface {
		ContainerStart(ctx context.Context, id string, opts container.StartOptions) error
	}
	pauser interface {
		ContainerPause(ctx context.Context, id string) error
		ContainerUnpause(ctx context.Context, id string) error
	}
	networker interface {
		NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error
		NetworkConnect(ctx context.Context, networkID, containerID string, cfg *network.EndpointSettings) error
	}
	eventer interface {
		Events(ctx context.Context, opts events.ListOptions) (<-chan events.Message, <-chan error)
	}
)

// Docker is every slice together: what the Docker runtime offers chaosd.
type Docker interface {
	inspector
	lister
	killer
	starter
	pauser
	networker
	eventer
}

var _ Docker = (*client.Client)(nil)

// NewDocker connects to the Docker daemon at host ("" = DOCKER_HOST or the default
// socket) and checks that it answers within timeout.
func NewDocker(ctx context.Context, host string, timeout time.Duration) (*client.Client, error) {
	c, err := DockerClient(host)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("docker: cannot reach the daemon at %s (is dockerd running? set docker.host or DOCKER_HOST): %w", c.DaemonHost(), err)
	}
	return c, nil
}

// DockerClient makes a client for host without contacting the daemon (the API version
// is negotiated on first use).
func DockerClient(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: client for %q: %w", host, err)
	}
	return c, nil
}

// Deps is what the fault kinds act through.
type Deps struct {
	Docker     Docker
	Runtime    Runtime             // nil: the pods are Docker containers
	Net        Net                 // network namespace operations; NetNS{} outside tests
	Selector   Selector            // where peers and witnesses are looked up
	PeerGroups map[string][]string // partition peer groups: name -> pod or service names
	Timing     Timing
	Log        *zap.Logger
}

// Timing bounds the confirmations.
type Timing struct {
	Confirm time.Duration // how long an effect or a heal may take to be observed
	Probe   time.Duration // how long a TCP probe waits for an answer
	Poll    time.Duration // how often a state is polled while confirming
	// Settle is how long an Engine API call of an injection may still be in flight
	// after its chaosd died: dockerd carries out a kill or a pause it received even when
	// the client is gone. A fault whose injection was never confirmed is healed only
	// once this long has passed since its inject record, so the late call cannot undo
	// the heal.
	Settle time.Duration
}

// DefaultTiming is used for zero fields.
var DefaultTiming = Timing{Confirm: 10 * time.Second, Probe: 250 * time.Millisecond, Poll: 10 * time.Millisecond, Settle: 3 * time.Second}

func (t Timing) withDefaults() Timing {
	if t.Confirm <= 0 {
		t.Confirm = DefaultTiming.Confirm
	}
	if t.Probe <= 0 {
		t.Probe = DefaultTiming.Probe
	}
	if t.Poll <= 0 {
		t.Poll = DefaultTiming.Poll
	}
	if t.Settle <= 0 {
		t.Settle = DefaultTiming.Settle
	}
	return t
}

func (d Deps) logger() *zap.Logger {
	if d.Log == nil {
		return zap.NewNop()
	}
	return d.Log
}

// errVanished marks a target that no longer exists.
var errVanished = errors.New("target vanished")

// inspect inspects a container, mapping "no such container" to errVanished.
func inspect(ctx context.Context, c inspector, id string) (container.InspectResponse, error) {
	ci, err := c.ContainerInspect(ctx, id)
	if errdefs.IsNotFound(err) {
		return ci, fmt.Errorf("inspect %.12s: %w", id, errVanished)
	}
	if err != nil {
		return ci, fmt.Errorf("inspect %.12s: %w", id, err)
	}
	return ci, nil
}

// notFound marks Docker's "no such container" (or network) as a vanished target.
func notFound(err error) error {
	if err != nil && errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", errVanished, err)
	}
	return err
}

// running reports whether a container runs and is not paused.
func running(ci container.InspectResponse) bool {
	return ci.State != nil && ci.State.Running && !ci.State.Paused
}

// confirm polls check every t.Poll until it reports done or t.Confirm passes; the last
// evidence is returned either way.
func confirm(ctx context.Context, t Timing, check func(ctx context.Context) (bool, string, error)) (time.Time, string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.Confirm)
	defer cancel()
	for {
		ok, evidence, err := check(ctx)
		if err != nil {
			return time.Time{}, evidence, err
		}
		if ok {
			return time.Now(), evidence, nil
		}
		if err := sleep(ctx, t.Poll); err != nil {
			return time.Time{}, evidence, fmt.Errorf("not confirmed within %s: %s", t.Confirm, evidence)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
