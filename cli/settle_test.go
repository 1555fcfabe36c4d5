package cli

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chaosd/chaosd/config"
)

// workload.settle auto is the heartbeat TTL (counted from a run's decision or its
// fault's heal, whichever is later) for a one-shot and a soak, one refresh interval
// on a mesh without a heartbeat bucket (no survivor takeover), none for a bench; a
// duration given is taken as it is.
func TestSettleAuto(t *testing.T) {
	log := zap.NewNop()
	for _, tc := range []struct {
		target, fault, hold string
		want                time.Duration
	}{
		{"bundled", "pause-owner", "", 6 * time.Second},
		{"bundled", "pause-owner", "10s", 6 * time.Second},
		{"bundled", "kill-owner", "never", 6 * time.Second},
		{"mesh-2026-05", "partition-owner", "", 45 * time.Second},
		{"mesh-current", "pause-owner", "", 10 * time.Second}, // no heartbeat bucket: one refresh interval
	} {
		cfg, err := config.ForTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		ff := &faultFlags{fault: tc.fault, duration: tc.hold}
		if tc.fault == "kill-owner" {
			ff = &faultFlags{fault: tc.fault, downFor: tc.hold}
		}
		req, err := ff.request(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := settleOf(cfg, log, specHold(req.Spec)); got != tc.want {
			t.Errorf("%s --fault=%s (hold %q): settle %s, want %s", tc.target, tc.fault, tc.hold, got, tc.want)
		}
	}

	cfg, err := config.ForTarget("bundled")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Soak.Faults = []config.SoakFault{{Kind: "kill", Schedule: "@every 1m", Target: "owner"}, {Kind: "rollout", Schedule: "@every 1h", Target: "all"}}
	cfg.Faults.Kinds = map[string]config.Kind{"kill": {DownFor: &config.Hold{D: 40 * time.Second}}}
	if got := settleOf(cfg, log, soakHolds(cfg)...); got != 6*time.Second {
		t.Errorf("soak with kill held 40s and a rollout: settle %s, want the TTL = 6s", got)
	}
	if got := settleOf(cfg, log); got != 0 {
		t.Errorf("no fault held (bench): settle %s, want none", got)
	}
	cfg.Workload.Settle = config.Hold{D: 90 * time.Second}
	if got := settleOf(cfg, log, time.Minute); got != 90*time.Second {
		t.Errorf("settle 90s given: %s", got)
	}
	cfg.Workload.Settle = config.Hold{}
	if got := settleOf(cfg, log, time.Minute); got != 0 {
		t.Errorf("settle 0 given: %s, want none", got)
	}
}
