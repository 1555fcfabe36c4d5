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
// every HeartbeatInterval), and not under a fault in the last KeyGrace (a pod cut
// off from NATS stays ready but cannot refresh its key), must have a key younger
// than HeartbeatTTL. A streak of
// bad readings is one violation (per pod for keys).
// Checks: every heartbeat reading. Exercised: a reading judged with the cluster up;
// under fault: a fault was in effect. Unknown: a reading that could not be taken
// while the cluster was up (one per streak).
type HeartbeatBucket struct {
	w           *World
	p           Params
	t           tally
	missing     bool            // in a streak of "bucket missing"
	unreadable  bool            // in a streak of failed readings
	staleStreak map[string]bool // pod -> in a streak of missing or stale key
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
	c.t.checks++
	ready := c.w.ReadyPods()
	if len(ready) == 0 {
		return
	}
	p := e.Probe
	if p.Err != "" || p.Heartbeats == nil {
		if !c.unreadable {
			c.t.unknown(Finding{At: e.Time, Message: fmt.Sprintf("the heartbeat bucket could not be read while %s were ready: %s", strings.Join(ready, ", "), p.Err)})
		}
		c.unreadable = true
		return
	}
	c.unreadable = false
	c.t.exercise(c.w.AnyFault())
	if !p.Heartbeats.Bucket {
		c.bucketMissing(e.Time, ready)
		return
	}
	c.missing = false
	c.judgeKeys(e.Time, ready, p.Heartbeats.Keys)
}

func (c *HeartbeatBucket) bucketMissing(at time.Time, ready []string) {
	if c.missing {
		return
	}
	c.missing = true
	c.t.violate(Finding{At: at, Pods: ready, Message: fmt.Sprintf(
		"the heartbeat bucket is missing from JetStream while %s were ready: no pod death can be noticed, so orphaned runs are never reclaimed",
		strings.Join(ready, ", "))})
}

func (c *HeartbeatBucket) judgeKeys(at time.Time, ready []string, keys []history.HeartbeatKey) {
	ages := map[string]time.Duration{}
	for _, k := range keys {
		ages[k.Pod] = k.Age.D()
	}
	for _, pod := range ready {
		since := c.w.pods[pod].readySince
		if at.Sub(since) < c.p.KeyGrace || c.w.FaultOn(pod, at.Add(-c.p.KeyGrace), at) != nil {
			continue // just started, or faulted lately (e.g. cut off from NATS, still ready)
		}
		age, ok := ages[pod]
		var problem string
		switch {
		case !ok:
			problem = fmt.Sprintf("ready pod %s (ready since %s) has no heartbeat key", pod, clock(since))
		case age >= c.p.HeartbeatTTL:
			problem = fmt.Sprintf("ready pod %s has a heartbeat key %s old, not fresher than the TTL %s", pod, age.Round(time.Millisecond), c.p.HeartbeatTTL)
		}
		if problem == "" {
			c.staleStreak[pod] = false
			continue
		}
		if !c.staleStreak[pod] {
			c.t.violate(Finding{At: at, Pods: []string{pod}, Message: problem, Details: []string{c.w.Heartbeat()}})
		}
		c.staleStreak[pod] = true
	}
}

// Finish implements Checker.
func (c *HeartbeatBucket) Finish(time.Time) []Verdict {
	if c.t.exercised == 0 {
		c.t.note("%s", c.notExercised())
	}
	return []Verdict{c.t.verdict()}
}

// notExercised says, in numbers, why no heartbeat reading was judged.
func (c *HeartbeatBucket) notExercised() string {
	n := plural(c.t.checks, "heartbeat reading")
	switch {
	case c.t.checks == 0:
		return "no heartbeat reading was taken"
	case c.t.unknowns > 0:
		return n + ", none could be read while a pod was known ready"
	case c.readyReads == 0:
		return n + ", none taken while a pod was known ready: no readiness reading said ready"
	}
	return fmt.Sprintf("%s, none taken while a pod was known ready: %s said ready, none within %s (a ready reading's validity) before a heartbeat reading",
		n, plural(c.readyReads, "readiness reading"), c.p.ReadyStale)
}
