//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/chaosd/chaosd/probes"
)

// cluster is the bundled cluster as the tests see it from the host.
type cluster struct {
	pods     []string // base URLs; pods[i] is the pod named names[i]
	names    []string // POD_NAME of each pod, also its compose service
	provider string   // mockai's base URL as the pods reach it
	project  string   // compose project
	ttl      time.Duration
	interval time.Duration

	drv *probes.Driver
	pg  *probes.Postgres
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func durationEnv(t *testing.T, key string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, v, err)
	}
	return d
}

// newCluster reads the cluster's addresses from the environment and waits (briefly)
// until every pod is ready, failing with a hint when the cluster is not up.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{
		pods:     splitList(getenv("CHAOSD_PODS", "http://127.0.0.1:13001,http://127.0.0.1:13002,http://127.0.0.1:13003")),
		names:    splitList(getenv("CHAOSD_POD_NAMES", "mesh-1,mesh-2,mesh-3")),
		provider: getenv("CHAOSD_PROVIDER_URL", "http://mockai:9000/v1"),
		project:  getenv("CHAOSD_COMPOSE_PROJECT", "chaosd"),
		ttl:      durationEnv(t, "CHAOSD_HEARTBEAT_TTL", 6*time.Second),
		interval: durationEnv(t, "CHAOSD_HEARTBEAT_INTERVAL", 2*time.Second),
	}
	if len(c.pods) != 3 || len(c.names) != len(c.pods) {
		t.Fatalf("want 3 pods with a name each, got CHAOSD_PODS=%q CHAOSD_POD_NAMES=%q", c.pods, c.names)
	}
	var err error
	if c.drv, err = probes.NewDriver(probes.DefaultDriverConfig()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if readings, err := c.drv.WaitReady(ctx, c.pods, 500*time.Millisecond); err != nil {
		t.Fatalf("the bundled cluster is not ready (%v): %+v\nboot it with deploy/cluster.sh up, or run scripts/e2e.sh", err, readings)
	}
	dsn := getenv("CHAOSD_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:15432/postgres?sslmode=disable")
	if c.pg, err = probes.NewPostgres(ctx, probes.PostgresConfig{DSN: dsn}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.pg.Close)
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimRight(strings.TrimSpace(p), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// podURL returns the base URL of the pod named name.
func (c *cluster) podURL(t *testing.T, name string) string {
	t.Helper()
	for i, n := range c.names {
		if n == name {
			return c.pods[i]
		}
	}
	t.Fatalf("Postgres names owner %q, which is none of the pods %v", name, c.names)
	return ""
}

// tenant bootstraps a fresh tenant on pod (mesh-contract "Bootstrapping a tenant").
func (c *cluster) tenant(ctx context.Context, t *testing.T, pod string) *probes.Tenant {
	t.Helper()
	name := fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.TrimPrefix(t.Name(), "TestE2E")), time.Now().UnixMilli()%1e8)
	ten, err := c.drv.Bootstrap(ctx, pod, probes.BootstrapOptions{ProviderBaseURL: c.provider, Name: name})
	if err != nil {
		t.Fatalf("bootstrap a tenant on %s: %v", pod, err)
	}
	return ten
}

// thread creates a thread up front, so that attaches do not 404 before the run.
func (c *cluster) thread(ctx context.Context, t *testing.T, pod string, ten *probes.Tenant) string {
	t.Helper()
	id := probes.NewThreadID("e2e")
	if err := c.drv.CreateThread(ctx, pod, ten, id); err != nil {
		t.Fatalf("create thread on %s: %v", pod, err)
	}
	return id
}

// waitCompleted polls Postgres until the thread is completed with no owner, reading at
// least once even when the time is already up.
func (c *cluster) waitCompleted(ctx context.Context, thread string, within time.Duration) (probes.ThreadState, error) {
	deadline := time.Now().Add(within)
	for {
		st, err := c.pg.Thread(ctx, thread)
		if err == nil && st.Status == "completed" && st.Owner == "" {
			return st, nil
		}
		if err != nil || time.Now().After(deadline) {
			return st, fmt.Errorf("thread %s not completed and ownerless in time: status %q owner %q (error %v)", thread, st.Status, st.Owner, err)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watcher is one attach stream read to the run's finish in the background.
type watcher struct {
	pod    string
	deltas atomic.Int64
	done   chan struct{}
	tally  *probes.Tally
	err    error
}

func (c *cluster) watch(ctx context.Context, t *testing.T, pod string, ten *probes.Tenant, thread string) *watcher {
	t.Helper()
	a, err := c.drv.Attach(ctx, pod, ten, thread)
	if err != nil {
		t.Fatalf("attach on %s: %v", pod, err)
	}
	w := &watcher{pod: pod, done: make(chan struct{})}
	if i := slices.Index(c.pods, pod); i >= 0 {
		w.pod = c.names[i] + " (" + pod + ")"
	}
	go func() {
		defer close(w.done)
		w.tally, w.err = a.Collect(func(ch probes.Chunk) {
			if ch.Type == probes.ChunkTextDelta {
				w.deltas.Add(1)
			}
		})
	}()
	t.Cleanup(func() {
		_ = a.Close()
		<-w.done
	})
	return w
}

// waitDeltas waits until the watcher has seen n text deltas.
func (w *watcher) waitDeltas(ctx context.Context, n int64) error {
	for w.deltas.Load() < n {
		select {
		case <-w.done:
			return fmt.Errorf("watcher on %s ended after %d text deltas, before %d: %v", w.pod, w.deltas.Load(), n, w.err)
		case <-ctx.Done():
			return fmt.Errorf("watcher on %s saw %d text deltas, not %d: %w", w.pod, w.deltas.Load(), n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// check waits for the watcher's finish (until deadline) and reports what it missed.
func (w *watcher) check(t *testing.T, deadline time.Time, chunks int) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(time.Until(deadline)):
		t.Errorf("watcher on %s: no finish chunk by the deadline (%d text deltas so far)", w.pod, w.deltas.Load())
		return
	}
	if w.err != nil {
		t.Errorf("watcher on %s: %v", w.pod, w.err)
	}
	if problems := w.tally.Check(chunks); len(problems) > 0 {
		t.Errorf("watcher on %s: %s (order seen %v)", w.pod, strings.Join(problems, "; "), w.tally.Order)
	} else {
		t.Logf("watcher on %s: chunk-1..chunk-%d exactly once, in order, and the finish", w.pod, chunks)
	}
}

// docker returns a Docker Engine API client (DOCKER_HOST etc. from the environment).
func docker(t *testing.T) *client.Client {
	t.Helper()
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { _ = dc.Close() })
	return dc
}

var errNoContainer = errors.New("no container")

// podContainer finds the container of the pod named name: its compose service.
func (c *cluster) podContainer(ctx context.Context, dc *client.Client, name string) (string, error) {
	f := filters.NewArgs(
		filters.Arg("label", "com.docker.compose.project="+c.project),
		filters.Arg("label", "com.docker.compose.service="+name),
	)
	cs, err := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return "", fmt.Errorf("list containers: %w", err)
	}
	if len(cs) != 1 {
		return "", fmt.Errorf("%w: %d containers of service %q in compose project %q, want 1", errNoContainer, len(cs), name, c.project)
	}
	return cs[0].ID, nil
}

// waitReady polls pod's /health/ready until it is ready.
func (c *cluster) waitReady(ctx context.Context, pod string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	r, err := c.drv.WaitReady(ctx, []string{pod}, 250*time.Millisecond)
	if err != nil {
		return fmt.Errorf("%s not ready within %s: %w (last reading %+v)", pod, within, err, r)
	}
	return nil
}
