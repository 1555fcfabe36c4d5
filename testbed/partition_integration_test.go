//go:build integration

package testbed

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/internal/testenv"
	"github.com/chaosd/chaosd/mockai"
)

// TestIntegrationOwnerCutOffFromNATS: the owner's heartbeat expires, a survivor takes
// over, and when the link heals the old owner's first publish is fenced.
func TestIntegrationOwnerCutOffFromNATS(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	natsURL, nl := testenv.Via(t, c.natsURL)
	old := c.start("pod-3", func(cfg *Config) { cfg.NATSURL = natsURL })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-3"), id, "slow:30x60")
	w.waitDeltas(t, 5, 10*time.Second)
	nl.SetCut(true)
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "a survivor owns the run", func() bool {
		o := c.owner(id)
		return o == "pod-1" || o == "pod-2"
	})
	w.waitDeltas(t, 12, 10*time.Second)
	nl.SetCut(false)
	wantRun(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 30)
	c.waitCompleted(id, 5*time.Second)
	eventually(t, 15*time.Second, "the old owner fenced", func() bool { return counterValue(old.metrics.fenced) == 1 })
	wantRun(t, "buffer", c.bufferChunks(id), 30)
}

// TestIntegrationOwnerCutOffFromPostgres: the owner keeps its heartbeat and keeps
// streaming; it retries the final status update until Postgres is back.
func TestIntegrationOwnerCutOffFromPostgres(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	dsn, pl := testenv.Via(t, c.dsn)
	c.start("pod-3", func(cfg *Config) { cfg.DatabaseURL = dsn; cfg.DBTimeout = time.Second })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-3"), id, "slow:20x50")
	w.waitDeltas(t, 3, 10*time.Second)
	pl.SetCut(true)
	wantRun(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 20)
	time.Sleep(c.base.HeartbeatTTL) // the owner stays alive: nobody takes the run over
	if r := c.thread(id); r.Status != StatusInProgress || c.owner(id) != "pod-3" {
		t.Fatalf("thread %+v owner %q while pod-3 is cut off from Postgres: want in progress on pod-3", r, c.owner(id))
	}
	pl.SetCut(false)
	c.waitCompleted(id, 10*time.Second)
	wantRun(t, "buffer", c.bufferChunks(id), 20)
}

// cuttable is a provider transport that fails every request, and breaks every open
// stream, while cut.
type cuttable struct{ cut atomic.Bool }

var errCut = errors.New("test: provider unreachable from this pod")

func (c *cuttable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &cutBody{ReadCloser: resp.Body, link: c}
	}
	return resp, err
}

type cutBody struct {
	io.ReadCloser
	link *cuttable
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.link.cut.Load() {
		return 0, errCut
	}
	return b.ReadCloser.Read(p)
}

// TestIntegrationOwnerCutOffFromProvider: the owner cannot reach the provider, so
// after a few attempts it hands the run over (owner NULL) and a survivor completes it.
func TestIntegrationOwnerCutOffFromProvider(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, func(cfg *Config) { cfg.HandoverAfter = 2 })
	link := &cuttable{}
	c.start("pod-2", func(cfg *Config) { cfg.providerTransport = link })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-2"), id, "slow:20x50")
	w.waitDeltas(t, 4, 10*time.Second)
	link.cut.Store(true) // the owner's stream keeps going; the next attempt fails
	eventually(t, 10*time.Second, "pod-1 owns the run", func() bool { return c.owner(id) == "pod-1" })
	wantRun(t, "watcher", w.waitFinishes(t, 1, 15*time.Second), 20)
	c.waitCompleted(id, 5*time.Second)
}

// TestIntegrationNATSRestart restarts NATS, losing its memory stream and bucket: the
// pods re-create both, nobody takes a live pod's runs over, and an owner kill after
// the restart is still recovered.
func TestIntegrationNATSRestart(t *testing.T) {
	t.Parallel()
	nats := testenv.RestartableNATS(t)
	mock := httptest.NewServer(mockai.New(mockai.Options{Logger: zap.NewNop()}))
	t.Cleanup(mock.Close)
	c := newClusterOn(t, 3, nats.URL(), mock.URL+"/v1")
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	nats.Restart()
	for _, pod := range []string{"pod-1", "pod-2", "pod-3"} {
		eventually(t, 10*time.Second, pod+"'s heartbeat back", func() bool { return c.heartbeatSeen(pod) })
	}
	eventually(t, 10*time.Second, "stream re-created", func() bool {
		_, err := c.js().Stream(t.Context(), StreamName)
		return err == nil
	})
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:20x60")
	w.waitDeltas(t, 4, 10*time.Second)
	c.kill("pod-1")
	wantRun(t, "watcher", w.waitFinishes(t, 1, c.base.HeartbeatTTL+15*time.Second), 20)
	c.waitCompleted(id, 5*time.Second)
	for _, pod := range []string{"pod-2", "pod-3"} {
		if n := counterValue(c.pod(pod).metrics.fenced); n != 0 {
			t.Errorf("%s was fenced %v times: a live pod's run was taken", pod, n)
		}
	}
}
