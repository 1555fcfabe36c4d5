//go:build integration

package testbed

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Each defect switch brings back one mesh defect; each test shows its symptom, the
// thing the matching chaosd invariant must catch.

// deliver-new: an attach opened after k chunks misses the prefix (prefix-replay).
func TestIntegrationDefectDeliverNew(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugDeliverNew: true} })
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	early := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:15x40")
	early.waitDeltas(t, 5, 10*time.Second)
	late := tn.attach(t, c.url("pod-2"), id)
	wantRun(t, "early watcher", early.waitFinishes(t, 1, 10*time.Second), 15)
	got := deltas(late.waitFinishes(t, 1, 10*time.Second))
	if len(got) == 0 || got[0] == "chunk-1 " || len(got) >= 15 {
		t.Fatalf("late watcher saw %q: want the prefix missing", got)
	}
	c.waitCompleted(id, 5*time.Second)
}

// no-heartbeat-bucket: the bucket never exists, and a run whose owner is killed stays
// in progress with the dead owner (heartbeat-bucket, run-completes, owner-alive).
func TestIntegrationDefectNoHeartbeatBucket(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugNoHeartbeatBucket: true} })
	if _, err := c.js().KeyValue(t.Context(), HeartbeatBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("heartbeat bucket: %v, want not found", err)
	}
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	tn.startRun(t, c.url("pod-1"), id, "slow:20x50")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	// No signal can show that recovery did not happen: wait past the point where a
	// correct pod recovers (TTL + a few scan intervals, see TestIntegrationOwnerKilled).
	time.Sleep(c.base.HeartbeatTTL + 4*c.base.HeartbeatInterval)
	if r := c.thread(id); r.Status != StatusInProgress || c.owner(id) != "pod-1" {
		t.Fatalf("thread %+v owner %q: want stuck in progress with the dead pod-1", r, c.owner(id))
	}
}

// strict-claim: recovery's strict claim fails while the dead pod owns the row, so the
// run stays stuck (run-completes, owner-alive).
func TestIntegrationDefectStrictClaim(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugStrictClaim: true} })
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	tn.startRun(t, c.url("pod-1"), id, "slow:20x50")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	survivor := c.pod("pod-2")
	eventually(t, c.base.HeartbeatTTL+5*time.Second, "pod-2 tried to recover the run twice", func() bool {
		return counterValue(survivor.metrics.claimsRefused) >= 2
	})
	if r := c.thread(id); r.Status != StatusInProgress || c.owner(id) != "pod-1" {
		t.Fatalf("thread %+v owner %q: want stuck in progress with the dead pod-1", r, c.owner(id))
	}
	if n := counterValue(survivor.metrics.runsResumed.WithLabelValues(foundOrphan)); n != 0 {
		t.Fatalf("pod-2 resumed %v runs", n)
	}
}

// purge-on-resume: the resumer wipes the buffer, so an attach after the takeover
// misses the prefix (prefix-replay, stream-integrity), though the run completes.
func TestIntegrationDefectPurgeOnResume(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugPurgeOnResume: true} })
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	tn.startRun(t, c.url("pod-1"), id, "slow:30x60")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 5 })
	c.kill("pod-1")
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "pod-2 owns the run", func() bool { return c.owner(id) == "pod-2" })
	eventually(t, 5*time.Second, "the resumer purged the buffer", func() bool {
		d := deltas(c.bufferChunks(id))
		return len(d) == 0 || d[0] != "chunk-1 "
	})
	late := tn.attach(t, c.url("pod-2"), id)
	got := deltas(late.waitFinishes(t, 1, 15*time.Second))
	if len(got) == 0 || got[0] == "chunk-1 " {
		t.Fatalf("late watcher saw %q: want the prefix missing", got)
	}
	if buf := deltas(c.bufferChunks(id)); len(buf) >= 30 {
		t.Fatalf("buffer holds %d deltas: want the prefix purged", len(buf))
	}
	c.waitCompleted(id, 5*time.Second)
}

// duplicate-on-resume: the resumer republishes from chunk 1, so a watcher sees
// chunk-1 twice (stream-integrity).
func TestIntegrationDefectDuplicateOnResume(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.Bugs = Bugs{BugDuplicateOnResume: true} })
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	w := tn.attach(t, c.url("pod-2"), id)
	tn.startRun(t, c.url("pod-1"), id, "slow:20x60")
	w.waitDeltas(t, 4, 10*time.Second)
	c.kill("pod-1")
	cs := w.waitFinishes(t, 1, c.base.HeartbeatTTL+15*time.Second)
	ones := 0
	for _, d := range deltas(cs) {
		if d == "chunk-1 " {
			ones++
		}
	}
	if ones != 2 || countType(cs, ChunkStart) != 2 {
		t.Fatalf("watcher saw chunk-1 %d times and %d starts: want both twice; deltas %q", ones, countType(cs, ChunkStart), deltas(cs))
	}
	c.waitCompleted(id, 5*time.Second)
}

// Runtime switches: one boot serves two defect rows. strict-claim switched on over
// POST /testbed/bugs keeps a killed owner's run stuck; switched off, the survivor's
// next scan claims it and the run completes.
func TestIntegrationRuntimeSwitchStrictClaim(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *Config) { cfg.RuntimeSwitches = true })
	setBugs := func(pod, body string) {
		t.Helper()
		resp, err := http.Post(c.url(pod)+"/testbed/bugs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /testbed/bugs %s on %s: %d %s", body, pod, resp.StatusCode, b)
		}
	}
	for _, pod := range []string{"pod-1", "pod-2"} {
		setBugs(pod, `{"bugs":["strict-claim"]}`)
	}
	tn := bootstrap(t, c.url("pod-2"), c.provider)
	id := tn.newThread(t, c.url("pod-2"))
	tn.startRun(t, c.url("pod-1"), id, "slow:20x50")
	eventually(t, 5*time.Second, "a few chunks", func() bool { return len(deltas(c.bufferChunks(id))) >= 3 })
	c.kill("pod-1")
	survivor := c.pod("pod-2")
	eventually(t, c.base.HeartbeatTTL+5*time.Second, "pod-2 refused twice", func() bool {
		return counterValue(survivor.metrics.claimsRefused) >= 2
	})
	if c.owner(id) != "pod-1" {
		t.Fatalf("owner %q with strict-claim on, want the dead pod-1", c.owner(id))
	}
	setBugs("pod-2", `{"bugs":[]}`)
	c.waitCompleted(id, 10*time.Second)
	if n := counterValue(survivor.metrics.runsResumed.WithLabelValues(foundOrphan)); n != 1 {
		t.Fatalf("pod-2 resumed %v orphans after the switch went off, want 1", n)
	}
	wantRun(t, "buffer", c.bufferChunks(id), 20)
}
