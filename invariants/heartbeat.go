package invariants

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// HeartbeatBucket: the heartbeat KV bucket exists whenever the cluster is up, and
// each ready pod's key is fresher than the TTL.
//
// The cluster is up when some pod's last readiness reading (not older than
// ReadyStale) said ready. On each heartbeat reading taken while it is up: the bucket
// must exist; each pod ready for at least KeyGrace (it writes its key on start and
// every HeartbeatInterval; for the streak it booted into, ready since its
// container's start + BootTime + Slack when that is earlier than chaosd's first
// ready reading: keyDue), and not under a fault lately (afterFault: a pod cut off
// from NATS stays ready but cannot refresh its key, and once healed it may still be
// reconnecting, as requests-answered allows), must have a key younger than
// HeartbeatTTL. A finding names, for each pod, when its key was last written, its
// last fault and its last readiness reading. A streak of
// bad readings is one violation (per pod for keys: a reading that starts the streak
// of several pods is one violation naming them all).
// Cases: the heartbeat readings taken while some pod was ready; under fault: a fault
// was in effect. Unknown: a reading that could not be taken while the cluster was up
// (one window per streak).
type HeartbeatBucket struct {
	w           *World
	p           Params
	t           tally
	missing     bool            // in a streak of "bucket missing"
	unreadable  bool            // in a streak of failed readings
	staleStreak map[string]bool // pod -> in a streak of missing or stale key
	readings    int             // heartbeat readings (for the note)
	readyReads  int             // readiness readings that said ready (for the note)
}

var _ Checker = (*HeartbeatBucket)(nil)

func newHeartbeatBucket(w *World, p Params) *HeartbeatBucket {
	return &HeartbeatBucket{w: w, p: p, t: newTally(w, NameHeartbeatBucket, p.MaxEvidence), staleStreak: map[string]bool{}}
}

// Name implements Checker.
func (c *HeartbeatBucket) Name() string { return NameHeartbeatBucket }

// Observe implements Checker.
func (c *HeartbeatBucket) Observe(e *history.Event) {
	if e.Type != history.TypeProbe {
		return
	}
	if e.Probe.Kind == history.ProbeReady && e.Probe.Ready != nil && e.Probe.Ready.Ready {
		c.readyReads++
	}
	if e.Probe.Kind != history.ProbeHeartbeats {
		return
	}
	c.readings++
	ready := c.w.ReadyPods()
	if len(ready) == 0 {
		return
	}
	p := e.Probe
	uf := c.w.AnyFault()
	if p.Err != "" || p.Heartbeats == nil {
		var f *Finding
		if !c.unreadable {
			f = &Finding{At: e.Time, Message: fmt.Sprintf("the heartbeat bucket could not be read while %s were ready: %s", strings.Join(ready, ", "), p.Err)}
		}
		c.unreadable = true
		c.t.undecided(uf, f, "chaosd must read the heartbeat bucket while a pod is ready (1 reading per heartbeat interval "+c.p.HeartbeatInterval.String()+"): check its reach to NATS (chaosd doctor, --nats-url)")
		return
	}
	c.unreadable = false
	if !p.Heartbeats.Bucket {
		c.bucketMissing(e.Time, ready, uf)
		return
	}
	c.missing = false
	c.judgeKeys(e.Time, ready, p.Heartbeats.Keys, uf)
}

func (c *HeartbeatBucket) bucketMissing(at time.Time, ready []string, uf bool) {
	if c.missing {
		c.t.pass(uf) // the streak's violation is recorded
		return
	}
	c.missing = true
	c.t.fail(uf, Finding{At: at, Pods: ready, Message: fmt.Sprintf(
		"the heartbeat bucket is missing from JetStream while %s were ready: no pod death can be noticed, so orphaned runs are never reclaimed",
		strings.Join(ready, ", "))})
}

// judgeKeys judges one reading's keys: a violation naming the pods whose streak of a
// missing or stale key it starts, else a pass.
func (c *HeartbeatBucket) judgeKeys(at time.Time, ready []string, keys []history.HeartbeatKey, uf bool) {
	ages := map[string]time.Duration{}
	for _, k := range keys {
		ages[k.Pod] = k.Age.D()
	}
	var problems, pods []string
	for _, pod := range ready {
		since, why := c.keyDue(pod)
		if at.Sub(since) < c.p.KeyGrace || c.w.FaultOn(pod, at.Add(-c.afterFault()), at) != nil {
			continue // just started, or faulted lately (e.g. cut off from NATS, still ready)
		}
		age, ok := ages[pod]
		var problem string
		switch {
		case !ok:
			problem = fmt.Sprintf("ready pod %s (%s) has no heartbeat key", pod, why)
		case age >= c.p.HeartbeatTTL:
			problem = fmt.Sprintf("ready pod %s has a heartbeat key %s old, not fresher than the TTL %s", pod, age.Round(time.Millisecond), c.p.HeartbeatTTL)
		}
		if problem == "" {
			c.staleStreak[pod] = false
			continue
		}
		if !c.staleStreak[pod] {
			problems, pods = append(problems, problem), append(pods, pod)
		}
		c.staleStreak[pod] = true
	}
	if len(problems) == 0 {
		c.t.pass(uf)
		return
	}
	details := []string{c.w.Heartbeat()}
	for _, pod := range pods {
		details = append(details, c.w.PodNote(pod, at))
	}
	c.t.fail(uf, Finding{At: at, Pods: pods, Message: strings.Join(problems, "; "), Details: details})
}

// afterFault is how long after a fault on a pod its key is not required: KeyGrace,
// or Params.reconnectWindow when longer. A pod healed from a partition may hold a
// dead NATS connection until its client notices (the testbed's pings: 10-15 s) and
// reconnects; its 503s are excused as long (World.Reconnecting).
func (c *HeartbeatBucket) afterFault() time.Duration {
	return max(c.p.KeyGrace, c.p.reconnectWindow())
}

// keyDue returns when a ready pod counts as up for its key (its key is due KeyGrace
// later), and why, for the finding. That is the first ready reading of its current
// streak, or, when earlier and the streak is the one the pod booted into (no reading
// since its container's start said not ready), its container's start plus BootTime
// and Slack: a pod that ran long before chaosd watched it must have its key at the
// first reading, not KeyGrace after chaosd first saw it ready. A pod ready again
// after a spell of not ready (a fault, a lost database) counts from its new streak.
// The container's start comes from the running snapshot taken as the Docker watch
// starts, or a later start event; with either unknown (an older history, no Docker
// watch, BootTime 0) only the ready streak counts.
func (c *HeartbeatBucket) keyDue(pod string) (time.Time, string) {
	p := c.w.pods[pod]
	since, why := p.readySince, "ready since "+clock(p.readySince)
	if p.startedAt.IsZero() || c.p.BootTime <= 0 || p.unreadySinceStart {
		return since, why
	}
	if up := p.startedAt.Add(c.p.BootTime + c.p.Slack); up.Before(since) {
		return up, fmt.Sprintf("container started %s, so expected ready by %s (boot time %s + slack %s), first seen ready %s",
			clock(p.startedAt), clock(up), c.p.BootTime, c.p.Slack, clock(p.readySince))
	}
	return since, why
}

// Finish implements Checker.
func (c *HeartbeatBucket) Finish(time.Time) []Verdict {
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// notExercised says, in numbers, why no heartbeat reading was judged, and what gets
// one judged.
func (c *HeartbeatBucket) notExercised() string {
	n := plural(c.readings, "heartbeat reading")
	switch {
	case c.readings == 0:
		return "no heartbeat reading was taken: chaosd reads the bucket with the workload when the target has a heartbeat bucket " +
			"(workload.heartbeats; a target without one: --heartbeat-check=false leaves this invariant out, 0 readings expected)"
	case c.readyReads == 0:
		return n + ", none taken while a pod was known ready: no readiness reading said ready (chaosd doctor shows why the pods are not ready; --ready-stale sets how long a ready reading counts)"
	}
	return fmt.Sprintf("%s, none taken while a pod was known ready: %s said ready, none within %s (a ready reading's validity, --ready-stale) before a heartbeat reading",
		n, plural(c.readyReads, "readiness reading"), c.p.ReadyStale)
}
