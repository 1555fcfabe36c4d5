package cli

import (
	"slices"
	"testing"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/promise"
)

// One --fault judges only the promises its kind can put to the test: a kill never
// stops a pod gracefully, a graceful stop leaves no run to its owner's restart.
func TestPutToTest(t *testing.T) {
	cur := invariants.Params{Promises: promise.Current}
	for _, tc := range []struct {
		req     faults.Request
		dropped string
	}{
		{faults.Request{Kind: "kill"}, promise.SigtermHandover},
		{faults.Request{Kind: "pause"}, promise.SigtermHandover},
		{faults.Request{Kind: "stop"}, promise.RestartRecovery},
		{faults.Request{Kind: "rollout"}, promise.RestartRecovery},
		{faults.Request{Kind: "rollout", Spec: faults.Spec{Signal: faults.SignalKill}}, promise.SigtermHandover},
	} {
		p, untested := putToTest(cur, tc.req, config.RuntimeDocker)
		if slices.Contains(p.Promises, tc.dropped) || !slices.Equal(p.Untested, []string{tc.dropped}) || len(untested) != 1 {
			t.Errorf("%s %q: promises %v, untested %v; want %s left out", tc.req.Kind, tc.req.Spec.Signal, p.Promises, p.Untested, tc.dropped)
		}
		if len(p.Promises) != len(promise.Current)-1 {
			t.Errorf("%s: %d promises left, want %d", tc.req.Kind, len(p.Promises), len(promise.Current)-1)
		}
	}
	// A Kubernetes delete SIGKILLs and removes the pod: neither a hand-over nor its
	// restart is put to the test.
	p, untested := putToTest(cur, faults.Request{Kind: "delete"}, config.RuntimeKubernetes)
	if slices.Contains(p.Promises, promise.SigtermHandover) || slices.Contains(p.Promises, promise.RestartRecovery) ||
		!slices.Equal(p.Untested, []string{promise.SigtermHandover, promise.RestartRecovery}) || len(untested) != 2 || len(p.Promises) != len(promise.Current)-2 {
		t.Errorf("delete: promises %v, untested %v; want sigterm-handover and restart-recovery left out", p.Promises, p.Untested)
	}
	// A Kubernetes kill restarts the pod in place at once: no survivor takes over.
	p, _ = putToTest(invariants.Params{Promises: []string{promise.SurvivorTakeover, promise.SigtermHandover, promise.RunCompletes}},
		faults.Request{Kind: "kill"}, config.RuntimeKubernetes)
	if !slices.Equal(p.Untested, []string{promise.SigtermHandover, promise.SurvivorTakeover}) {
		t.Errorf("kill on Kubernetes: untested %v, want sigterm-handover and survivor-takeover", p.Untested)
	}
	// May's mesh makes neither promise: nothing is left out.
	if p, untested := putToTest(invariants.Params{}, faults.Request{Kind: "kill"}, config.RuntimeDocker); p.Promises != nil || untested != nil {
		t.Errorf("default promises: %v, %v", p.Promises, untested)
	}
}
