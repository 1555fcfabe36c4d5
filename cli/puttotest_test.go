package cli

import (
	"slices"
	"testing"

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
		p, untested := putToTest(cur, tc.req)
		if slices.Contains(p.Promises, tc.dropped) || !slices.Equal(p.Untested, []string{tc.dropped}) || len(untested) != 1 {
			t.Errorf("%s %q: promises %v, untested %v; want %s left out", tc.req.Kind, tc.req.Spec.Signal, p.Promises, p.Untested, tc.dropped)
		}
		if len(p.Promises) != len(promise.Current)-1 {
			t.Errorf("%s: %d promises left, want %d", tc.req.Kind, len(p.Promises), len(promise.Current)-1)
		}
	}
	// May's mesh makes neither promise: nothing is left out.
	if p, untested := putToTest(invariants.Params{}, faults.Request{Kind: "kill"}); p.Promises != nil || untested != nil {
		t.Errorf("default promises: %v, %v", p.Promises, untested)
	}
}
