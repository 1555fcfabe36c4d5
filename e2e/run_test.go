//go:build e2e

package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// The run every test drives: mockai sends chunk-1..chunk-20, 100 ms apart.
const (
	runHint   = "slow:20x100"
	runChunks = 20
	runTime   = runChunks * 100 * time.Millisecond
)

// TestE2EHappyPath: a run started on pod 1 is watched from pod 2 (attached before the
// start) and pod 3 (attached late, after 5 chunks: the buffered prefix is replayed).
// Both see chunk-1..chunk-20 exactly once and the finish; Postgres ends with the thread
// completed and no owner.
func TestE2EHappyPath(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ten := c.tenant(ctx, t, c.pods[0])
	thread := c.thread(ctx, t, c.pods[0], ten)

	early := c.watch(ctx, t, c.pods[1], ten, thread)
	start := time.Now()
	if _, err := c.drv.StartRun(ctx, c.pods[0], ten, thread, runHint); err != nil {
		t.Fatal(err)
	}
	if err := early.waitDeltas(ctx, 5); err != nil {
		t.Fatal(err)
	}
	late := c.watch(ctx, t, c.pods[2], ten, thread)
	deadline := start.Add(runTime + 20*time.Second)
	early.check(t, deadline, runChunks)
	late.check(t, deadline, runChunks)
	st, err := c.waitCompleted(ctx, thread, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("thread %s %s with no owner %.1fs after the start", thread, st.Status, st.At.Sub(start).Seconds())
}

// TestE2EOwnerKill: mid-stream, the run's owner (threads.run_owner_pod) is SIGKILLed
// through the Docker API. The watchers on the two survivors still see every chunk
// exactly once and the finish, a survivor claims the run and completes it within the
// heartbeat TTL plus slack, and the killed pod, started again, becomes ready.
func TestE2EOwnerKill(t *testing.T) {
	c := newCluster(t)
	dc := docker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ten := c.tenant(ctx, t, c.pods[0])
	thread := c.thread(ctx, t, c.pods[0], ten)

	watchers := []*watcher{c.watch(ctx, t, c.pods[1], ten, thread), c.watch(ctx, t, c.pods[2], ten, thread)}
	if _, err := c.drv.StartRun(ctx, c.pods[0], ten, thread, runHint); err != nil {
		t.Fatal(err)
	}
	if err := watchers[0].waitDeltas(ctx, 5); err != nil {
		t.Fatal(err)
	}
	st, err := c.pg.Thread(ctx, thread)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "in_progress" || st.Owner != c.names[0] {
		t.Fatalf("mid-run, Postgres says status %q owner %q; want in_progress owned by %s, the pod the run was started on", st.Status, st.Owner, c.names[0])
	}
	owner, ownerURL := st.Owner, c.podURL(t, st.Owner)
	id, err := c.podContainer(ctx, dc, owner)
	if err != nil {
		t.Fatal(err)
	}
	restart := sync.OnceValue(func() error { return c.restart(context.WithoutCancel(ctx), dc, id, ownerURL) })
	t.Cleanup(func() {
		if err := restart(); err != nil {
			t.Errorf("start %s again: %v", owner, err)
		}
	})

	if err := dc.ContainerKill(ctx, id, "SIGKILL"); err != nil {
		t.Fatalf("SIGKILL %s: %v", owner, err)
	}
	killedAt := time.Now()
	t.Logf("SIGKILLed the owner %s (container %.12s) after %d chunks", owner, id, watchers[0].deltas.Load())

	// Detection takes up to TTL + one watcher interval; the rest of the run streams
	// again from mockai after the claim.
	within := c.ttl + c.interval + runTime + 15*time.Second
	owners := c.pollOwners(ctx, thread, within)
	for _, w := range watchers {
		w.check(t, killedAt.Add(within), runChunks)
	}
	seen := <-owners
	st, err = c.waitCompleted(ctx, thread, time.Until(killedAt.Add(within)))
	if err != nil {
		t.Fatalf("%s after the kill (budget %s; owners seen after the kill: %v): %v", time.Since(killedAt).Round(time.Millisecond), within, seen, err)
	}
	t.Logf("thread %s %s with no owner %.1fs after the kill (budget %s); owners seen after the kill: %v", thread, st.Status, st.At.Sub(killedAt).Seconds(), within, seen)
	checkTakeover(t, owner, c.names, seen)

	if err := restart(); err != nil {
		t.Fatalf("start %s again: %v", owner, err)
	}
	t.Logf("%s started again and ready", owner)
}

// pollOwners records, every 100 ms until the thread completes or within passes, each
// distinct run_owner_pod Postgres shows, and then sends the list.
func (c *cluster) pollOwners(ctx context.Context, thread string, within time.Duration) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var seen []string
		ctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		defer func() { out <- seen }()
		for {
			st, err := c.pg.Thread(ctx, thread)
			if err == nil && st.Owner != "" && !slices.Contains(seen, st.Owner) {
				seen = append(seen, st.Owner)
			}
			if err == nil && st.Status == "completed" {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return out
}

// checkTakeover wants a survivor among the owners seen after the kill of killed.
func checkTakeover(t *testing.T, killed string, pods, owners []string) {
	t.Helper()
	for _, o := range owners {
		if o != killed && slices.Contains(pods, o) {
			t.Logf("the run was taken over by %s", o)
			return
		}
	}
	t.Errorf("no survivor was seen owning the run after %s was killed (owners seen: %v)", killed, owners)
}

// restart starts the killed pod's container again and waits until it is ready.
func (c *cluster) restart(ctx context.Context, dc *client.Client, id, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := dc.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return err
	}
	return c.waitReady(ctx, url, 60*time.Second)
}
