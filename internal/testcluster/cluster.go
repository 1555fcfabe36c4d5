// Package testcluster runs a mesh-like cluster in-process for integration tests:
// testbed pods sharing a fresh PostgreSQL database, an embedded NATS JetStream
// server and an in-process mockai, with an abrupt kill and a restart per pod, a
// pause (a freeze of the pod's publishes, heartbeats and scans), and a partition from
// NATS (each pod reaches NATS through a link of its own, which can be cut).
package testcluster

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/chaosd/chaosd/internal/testenv"
	"github.com/chaosd/chaosd/mockai"
	"github.com/chaosd/chaosd/testbed"
)

// Cluster is a set of in-process testbed pods.
type Cluster struct {
	t        testing.TB
	DSN      string
	NATSURL  string
	Provider string // mockai's base URL, .../v1
	Base     testbed.Config

	mu    sync.Mutex
	pods  map[string]*proc
	urls  map[string]string
	links map[string]*testenv.Link // pod -> its link to NATS
}

type proc struct {
	pod    *testbed.Pod
	cancel context.CancelFunc
	done   chan error
}

// Start boots n pods named mesh-1..mesh-n with short heartbeat timings (TTL 2 s,
// refresh 250 ms); mutate adjusts the shared pod config (e.g. defect switches).
func Start(t testing.TB, n int, mutate ...func(*testbed.Config)) *Cluster {
	t.Helper()
	mock := httptest.NewServer(mockai.New(mockai.Options{Logger: zap.NewNop()}))
	t.Cleanup(mock.Close)
	c := &Cluster{t: t, DSN: testenv.Database(t), NATSURL: testenv.NATS(t), Provider: mock.URL + "/v1",
		pods: map[string]*proc{}, urls: map[string]string{}, links: map[string]*testenv.Link{}}
	c.Base = testbed.DefaultConfig()
	c.Base.DatabaseURL, c.Base.NATSURL, c.Base.Addr = c.DSN, c.NATSURL, "127.0.0.1:0"
	c.Base.HeartbeatTTL, c.Base.HeartbeatInterval = 2*time.Second, 250*time.Millisecond
	c.Base.KeepAlive, c.Base.PurgeGrace, c.Base.BcryptCost = time.Second, 5*time.Second, bcrypt.MinCost
	c.Base.ProviderIdleTimeout = 5 * time.Second
	for _, m := range mutate {
		m(&c.Base)
	}
	t.Cleanup(c.stopAll)
	for i := 1; i <= n; i++ {
		c.start(fmt.Sprintf("mesh-%d", i), "127.0.0.1:0")
	}
	return c
}

// Names lists the pods in order.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.urls))
	for i := 1; i <= len(c.urls); i++ {
		out = append(out, fmt.Sprintf("mesh-%d", i))
	}
	return out
}

// URL is the pod's base URL; it stays the same across a restart.
func (c *Cluster) URL(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[name]
}

func (c *Cluster) start(name, addr string) {
	c.t.Helper()
	cfg := c.Base
	cfg.PodName, cfg.Addr = name, addr
	c.mu.Lock()
	l := c.links[name]
	if l == nil {
		_, l = testenv.Via(c.t, c.Base.NATSURL)
		c.links[name] = l
	}
	c.mu.Unlock()
	cfg.NATSURL = l.URL
	pod, err := testbed.New(cfg, zap.NewNop())
	if err != nil {
		c.t.Fatalf("testcluster: start %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{pod: pod, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- pod.Run(ctx) }()
	c.mu.Lock()
	c.pods[name], c.urls[name] = p, pod.URL()
	c.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for !pod.Ready() {
		if time.Now().After(deadline) {
			c.t.Fatalf("testcluster: %s not ready after 20s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops a pod abruptly, as SIGKILL would: no key delete, no release.
func (c *Cluster) Kill(name string) {
	c.mu.Lock()
	p := c.pods[name]
	delete(c.pods, name)
	c.mu.Unlock()
	if p == nil {
		return
	}
	p.pod.Kill()
	<-p.done
	p.cancel()
}

// Pause freezes a pod as docker pause would (testbed.Pod.Freeze: its publishes,
// heartbeats and scans stop; its HTTP routes still answer); Unpause thaws it.
func (c *Cluster) Pause(name string) {
	if p := c.proc(name); p != nil {
		p.pod.Freeze()
	}
}

// Unpause thaws a paused pod.
func (c *Cluster) Unpause(name string) {
	if p := c.proc(name); p != nil {
		p.pod.Thaw()
	}
}

// Partition cuts the pod off from NATS (its open connections reset, new ones
// refused): it stays up and ready to HTTP, as a pod whose network to NATS is cut.
// Heal restores the link.
func (c *Cluster) Partition(name string) { c.link(name).SetCut(true) }

// Heal ends a Partition.
func (c *Cluster) Heal(name string) { c.link(name).SetCut(false) }

func (c *Cluster) link(name string) *testenv.Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.links[name]
}

func (c *Cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[name]
}

// Restart starts a killed pod again on its old address.
func (c *Cluster) Restart(name string) {
	c.start(name, c.URL(name)[len("http://"):])
}

func (c *Cluster) stopAll() {
	c.mu.Lock()
	names := make([]string, 0, len(c.pods))
	for n := range c.pods {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		c.Kill(n)
	}
}
