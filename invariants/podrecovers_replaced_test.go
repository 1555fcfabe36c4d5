package invariants

import (
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// replaced records a fault step of a fault that removes its pod for good (Kubernetes).
func (h *hist) replaced(id, phase, kind, pod string) *hist {
	return h.add(history.FaultEvent(history.Fault{ID: id, Phase: phase, Kind: kind, Pod: pod, Target: "owner", Replaced: true, At: h.now}))
}

// A pod removed for good (a Kubernetes delete) never comes back under its name: its
// heal is met by a replacement, a pod first seen after the fault, read ready in time;
// a pod that was there before does not count, and neither does one replacement for
// two removed pods.
func TestPodRecoversByAReplacementOfAPodRemovedForGood(t *testing.T) {
	base := func() *hist {
		h := &hist{}
		h.at(0).begin().ready("w-a", true).ready("w-b", true).ready("w-c", true)
		h.at(1).replaced("f1", history.FaultIntent, history.KindDelete, "w-a")
		h.at(1.1).dockerOf(history.DockerDie, "w-a", "f1", 137)
		h.at(1.2).replaced("f1", history.FaultInjected, history.KindDelete, "w-a")
		h.at(6).replaced("f1", history.FaultHealed, history.KindDelete, "w-a")
		return h
	}
	h := base()
	h.at(6.5).ready("w-b", true).ready("w-new", true).ready("w-a", false)
	v := expect(t, h.at(8).end().report(Params{}), NamePodRecovers, Pass, "w-a was removed for good", "its replacement w-new was ready")
	if v.Checks != 1 {
		t.Errorf("%d checks, want 1 (the replacement)\n%s", v.Checks, dump(v))
	}

	// Only pods that were there before are read: no replacement, however long.
	h = base()
	for s := 10.0; s <= 120; s += 10 {
		h.at(s).ready("w-b", true).ready("w-c", true)
	}
	expect(t, h.end().report(Params{}), NamePodRecovers, Unknown, "a replacement of w-a")

	// A replacement read but not ready past the deadline fails, naming it.
	h = base()
	for s := 10.0; s <= 120; s += 10 {
		h.at(s).ready("w-new", false)
	}
	expect(t, h.end().report(Params{}), NamePodRecovers, Fail, "a replacement of w-a was not ready")
}

// A pod removed for good stays down: the heal (its replacement ready) does not bring
// it back, so its heartbeat key may be gone for good, and the fault says what it did.
func TestAPodRemovedForGoodStaysDown(t *testing.T) {
	h := &hist{}
	h.at(0).begin().ready("w-a", true).ready("w-b", true)
	h.at(1).replaced("f1", history.FaultIntent, history.KindDelete, "w-a")
	h.at(1.2).replaced("f1", history.FaultInjected, history.KindDelete, "w-a")
	h.at(6).replaced("f1", history.FaultHealed, history.KindDelete, "w-a")
	g := NewEngine(Params{})
	for i := range h.evs {
		g.Observe(&h.evs[i])
	}
	p := g.world.pods["w-a"]
	if p == nil || p.down == nil {
		t.Fatalf("w-a was deleted and replaced: it must stay down after the heal, got %+v", p)
	}
	if why, want := p.down.what(), "chaosd deleted (SIGKILL) w-a (fault f1), removed for good (replaced under a new name), confirmed 12:00:01.200, healed 12:00:06.000"; why != want {
		t.Errorf("diagnosis:\n got %s\nwant %s", why, want)
	}
}

// A rollout that replaces the pods (Kubernetes) drains any pod at any moment, under
// the controller's strategy: while it is open, a pod still read ready whose key is
// gone (deleted at its SIGTERM) is no heartbeat violation; once it is over, it is.
func TestAReplacingRolloutExcusesAKeyGoneWhileItIsOpen(t *testing.T) {
	p := Params{BootTime: 5 * time.Second, Slack: 2 * time.Second}
	keys := map[string]float64{"mesh-2": 1}
	h := &hist{}
	h.at(100).begin().running("mesh-1", 0).running("mesh-2", 0).ready("mesh-1", true).ready("mesh-2", true)
	h.at(101).heartbeats(true, map[string]float64{"mesh-1": 1, "mesh-2": 1})
	h.at(102).replaced("f1", history.FaultIntent, history.KindRollout, "all")
	h.at(103).heartbeats(true, keys)
	expect(t, h.at(104).end().report(p), NameHeartbeatBucket, Pass)

	h = &hist{}
	h.at(100).begin().running("mesh-1", 0).running("mesh-2", 0).ready("mesh-1", true).ready("mesh-2", true)
	h.at(103).heartbeats(true, keys)
	expect(t, h.at(104).end().report(p), NameHeartbeatBucket, Fail, "ready pod mesh-1", "has no heartbeat key")
}
