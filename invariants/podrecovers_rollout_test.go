package invariants

import (
	"testing"

	"github.com/chaosd/chaosd/history"
)

// rolled records a pod's death by rollout f1, as the event watch sees it.
func (h *hist) rolled(pod string) *hist {
	exit := 143
	return h.add(history.DockerEvent(history.Docker{Action: history.DockerDie, Pod: pod, Container: "c0ffee" + pod, ExitCode: &exit, ByChaosd: true, Fault: "f1", At: h.now}))
}

// A rollout's pods must each be ready again within the deadline of their restart, as
// a killed pod of its heal; its heal, on every pod, opens no wait of its own.
func TestPodRecoversAfterEachPodOfARollout(t *testing.T) {
	base := func() *hist {
		h := &hist{}
		h.at(0).begin().ready("mesh-1", true).ready("mesh-2", true)
		h.at(1).fault("f1", history.FaultIntent, history.KindRollout, "all", "")
		h.at(2).rolled("mesh-1").at(2.5).ready("mesh-1", false).at(4).ready("mesh-1", true)
		h.at(5).rolled("mesh-2")
		return h
	}
	h := base()
	h.at(7).ready("mesh-2", true)
	h.at(8).fault("f1", history.FaultInjected, history.KindRollout, "all", "")
	h.at(9).fault("f1", history.FaultHealed, history.KindRollout, "all", "")
	v := expect(t, h.at(10).end().report(Params{}), NamePodRecovers, Pass)
	if v.Checks != 2 {
		t.Errorf("%d checks, want one per pod rolled\n%s", v.Checks, dump(v))
	}

	h = base()
	for s := 20.0; s <= 120; s += 20 {
		h.at(s).ready("mesh-2", false)
	}
	h.fault("f1", history.FaultHealUnknown, history.KindRollout, "all", "")
	expect(t, h.end().report(Params{}), NamePodRecovers, Fail, "mesh-2 was not ready", "after its restart by the rollout")
}
