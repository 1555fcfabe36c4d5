package invariants

import (
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// running records the running snapshot of pod: its container started at s.
func (h *hist) running(pod string, s float64) *hist {
	return h.add(history.DockerEvent(history.Docker{Action: history.DockerRunning, Pod: pod, Container: "c0ffee" + pod, At: sec(s)}))
}

// keylessFromStart: mesh-3 never writes a key. With the running snapshot, a pod
// whose container started long before chaosd watched is judged at the first
// heartbeat reading, not KeyGrace after chaosd first saw it ready (issue 15: a
// keyless pod passed a 13 s one-shot).
func TestHeartbeatKeyJudgedFromContainerStart(t *testing.T) {
	p := Params{BootTime: 5 * time.Second, Slack: 2 * time.Second} // KeyGrace: 10 s interval + 2 s
	keys := map[string]float64{"mesh-1": 1, "mesh-2": 1}
	build := func(startedAt float64, snapshot bool) *hist {
		h := &hist{}
		h.at(100).begin()
		if snapshot {
			for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
				h.running(pod, startedAt)
			}
		}
		for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
			h.ready(pod, true)
		}
		return h.at(101).heartbeats(true, keys)
	}

	t.Run("started long before: judged at the first reading", func(t *testing.T) {
		r := build(0, true).at(103).end().report(p)
		v := expect(t, r, NameHeartbeatBucket, Fail, "ready pod mesh-3", "has no heartbeat key", "container started 12:00:00.000", "boot time 5s + slack 2s")
		if got := v.Evidence[0].At; !got.Equal(sec(101)) {
			t.Errorf("finding at %s, want the first reading at %s", got, sec(101))
		}
		if len(v.Evidence[0].Pods) != 1 || v.Evidence[0].Pods[0] != "mesh-3" {
			t.Errorf("finding names %v, want mesh-3 alone", v.Evidence[0].Pods)
		}
	})
	t.Run("no snapshot (an older history): KeyGrace after the first ready reading", func(t *testing.T) {
		h := build(0, false)
		r := h.at(103).end().report(p)
		expect(t, r, NameHeartbeatBucket, Pass)
		h = build(0, false)
		for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
			h.at(112).ready(pod, true)
		}
		r = h.at(113).heartbeats(true, keys).end().report(p)
		expect(t, r, NameHeartbeatBucket, Fail, "ready pod mesh-3 (ready since 12:01:40.000) has no heartbeat key")
	})
	t.Run("started just now: its ready streak counts", func(t *testing.T) {
		r := build(99, true).at(103).end().report(p)
		expect(t, r, NameHeartbeatBucket, Pass)
	})
	t.Run("boot time unknown: its ready streak counts", func(t *testing.T) {
		r := build(0, true).at(103).end().report(Params{Slack: 2 * time.Second})
		expect(t, r, NameHeartbeatBucket, Pass)
	})
	t.Run("a restart after the snapshot: judged from the new start", func(t *testing.T) {
		h := build(0, true)
		// mesh-3 has a key until chaosd sees it restart (not chaosd's doing) at 102.
		h.evs = h.evs[:len(h.evs)-1]
		h.at(101).heartbeats(true, map[string]float64{"mesh-1": 1, "mesh-2": 1, "mesh-3": 1})
		h.at(102).docker(history.DockerDie, "mesh-3", false, 137).docker(history.DockerStart, "mesh-3", false, 0)
		h.at(102.5).ready("mesh-3", false).at(103).ready("mesh-3", true).at(104).heartbeats(true, keys)
		r := h.at(105).end().report(p)
		if v := verdict(t, r, NameHeartbeatBucket); v.Status == Fail {
			t.Fatalf("a pod started 2 s ago judged for its key:\n%s", dump(v))
		}
		// Its new start counts, not the snapshot's: KeyGrace after it is ready again.
		h.evs = h.evs[:len(h.evs)-1]
		h.at(114).ready("mesh-1", true).ready("mesh-2", true).ready("mesh-3", true).at(115.5).heartbeats(true, keys)
		expect(t, h.at(116).end().report(p), NameHeartbeatBucket, Fail, "ready pod mesh-3 (ready since 12:01:43.000) has no heartbeat key")
	})
}

// keyAfterPartition: the bundled timings (TTL 6 s, interval 2 s, slack 10 s: KeyGrace
// 12 s, a key excused for TTL + slack = 16 s after a fault). Every pod runs since 0
// and has its key; mesh-3 is partitioned from 110 to 118 and ready again at 118.5,
// then has no key at the reading at s. CI's stop 28: a pod healed from a partition
// may still be reconnecting to NATS when KeyGrace has passed.
func keyAfterPartition(s float64, readyAgain func(h *hist)) *hist {
	all := map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5, "mesh-3": 0.5}
	h := &hist{}
	h.at(100).begin()
	for _, pod := range []string{"mesh-1", "mesh-2", "mesh-3"} {
		h.running(pod, 0)
	}
	h.readyAll(100).at(101).heartbeats(true, all)
	h.at(110).fault("f1", history.FaultIntent, history.KindPartition, "mesh-3", "r1").fault("f1", history.FaultInjected, history.KindPartition, "mesh-3", "r1")
	h.at(111).ready("mesh-3", false)
	h.at(118).fault("f1", history.FaultHealed, history.KindPartition, "mesh-3", "r1")
	h.at(118.5)
	readyAgain(h)
	h.at(s-1).ready("mesh-1", true).ready("mesh-2", true)
	readyAgain(h)
	return h.at(s).heartbeats(true, map[string]float64{"mesh-1": 0.5, "mesh-2": 0.5})
}

func TestHeartbeatKeyAfterAFault(t *testing.T) {
	p := Params{HeartbeatTTL: 6 * time.Second, HeartbeatInterval: 2 * time.Second, Slack: 10 * time.Second, BootTime: 5 * time.Second}
	ready := func(h *hist) { h.ready("mesh-3", true) }
	t.Run("13 s after the heal: past KeyGrace, still reconnecting", func(t *testing.T) {
		expect(t, keyAfterPartition(131, ready).at(132).end().report(p), NameHeartbeatBucket, Pass)
	})
	t.Run("17 s after the heal: past the TTL + slack", func(t *testing.T) {
		v := expect(t, keyAfterPartition(135, ready).at(136).end().report(p), NameHeartbeatBucket, Fail,
			// Ready again after a spell of not ready: its new streak counts, not the
			// container's start (which said "first seen ready" of a pod seen for minutes).
			"ready pod mesh-3 (ready since 12:01:58.500) has no heartbeat key",
			"mesh-3: key last written 12:01:40.500 (34.5s before);",
			"last fault: chaosd partitioned (from all) mesh-3 (fault f1, owner of run r1) confirmed 12:01:50.000, healed 12:01:58.000;",
			"last readiness: ready at 12:02:14.000")
		if got := v.Evidence[0].At; !got.Equal(sec(135)) {
			t.Errorf("finding at %s, want the reading at %s", got, sec(135))
		}
	})
	t.Run("its readiness says it is off NATS: the finding says so", func(t *testing.T) {
		degraded := func(h *hist) { h.degraded("mesh-3") }
		expect(t, keyAfterPartition(135, degraded).at(136).end().report(p), NameHeartbeatBucket, Fail,
			`last readiness: ready (status "degraded", nats "down") at 12:02:14.000`)
	})
	t.Run("a user's longer key grace still counts after a fault", func(t *testing.T) {
		long := p
		long.KeyGrace = 20 * time.Second
		expect(t, keyAfterPartition(135, ready).at(136).end().report(long), NameHeartbeatBucket, Pass)
		expect(t, keyAfterPartition(139, ready).at(140).end().report(long), NameHeartbeatBucket, Fail, "ready pod mesh-3")
	})
}
