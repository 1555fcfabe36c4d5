//go:build integration

package testbed

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// An API pod (TESTBED_ROLE=api, mesh's API pods) serves the routes and runs nothing:
// a run posted to it is run by a worker, found by the worker's orphan scan (2026-05:
// released, run_owner_pod NULL) or its queue poll (current: the gate ENQUEUED on no
// executor), and a watcher attached on the API pod sees the whole run from the
// buffer. The API pod keeps no heartbeat key.
func TestIntegrationAPIPodLeavesRunsToTheWorkers(t *testing.T) {
	for _, mesh := range []string{MeshMay, MeshCurrent} {
		t.Run(mesh, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 1, func(cfg *Config) { cfg.Mesh, cfg.QueuePoll = mesh, 100*time.Millisecond })
			c.start("api-1", func(cfg *Config) { cfg.Role = RoleAPI })
			api := c.url("api-1")
			tn := c.tenant("api-1")
			id := tn.newThread(t, api)
			var w *watcher
			if mesh == MeshCurrent {
				w = tn.streamWatch(t, api, id)
				gate := tn.startToday(t, api, id, "slow:10x60")
				wantRun(t, "watcher on the API pod", w.waitFinishes(t, 1, 15*time.Second), 10)
				c.waitCompleted(id, 5*time.Second)
				c.wantWF(gate, WorkflowSuccess, "pod-1")
				if c.owner(id) != "" {
					t.Error("run_owner_pod was written")
				}
				return
			}
			w = tn.attach(t, api, id)
			tn.startRun(t, api, id, "slow:10x200")
			eventually(t, 5*time.Second, "the worker pod-1 owning the run", func() bool { return c.owner(id) == "pod-1" })
			wantRun(t, "watcher on the API pod", w.waitFinishes(t, 1, 15*time.Second), 10)
			c.waitCompleted(id, 5*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			kv, err := c.js().KeyValue(ctx, HeartbeatBucket)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Get(ctx, "api-1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Errorf("the API pod's heartbeat key: %v, want none", err)
			}
		})
	}
}
