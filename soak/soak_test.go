package soak

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/scenario"
	"github.com/chaosd/chaosd/workload"
)

func TestValidateNamesTheProblem(t *testing.T) {
	good := Config{Duration: time.Minute, Warmup: 10 * time.Second, Cooldown: 20 * time.Second, OwnerWait: time.Second,
		RecoverWait: time.Second, MonitorTick: time.Second, DependencyTick: time.Second,
		Faults: []Fault{{Kind: "kill", Spec: "@every 10s", Target: TargetOwner}}}
	deps := Deps{Workload: &workload.Workload{}, Live: &invariants.Live{}, Faulters: map[string]scenario.Faulter{"kill": noFaulter{}}}
	if err := good.Validate(deps); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for _, tc := range []struct {
		change func(*Config, *Deps)
		want   string
	}{
		{func(c *Config, _ *Deps) { c.Duration = 0 }, "soak duration 0s: must be positive"},
		{func(c *Config, _ *Deps) { c.Cooldown = 50 * time.Second }, "must leave time for faults in 1m0s"},
		{func(c *Config, _ *Deps) { c.OwnerWait = 0 }, "owner wait"},
		{func(_ *Config, d *Deps) { d.Live = nil }, "needs a workload and a live checker"},
		{func(_ *Config, d *Deps) { d.Faulters = nil }, `soak fault "kill": no faulter for this kind`},
	} {
		c, d := good, deps
		tc.change(&c, &d)
		if err := c.Validate(d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

type noFaulter struct{}

func (noFaulter) Fault(context.Context, string, string, workload.Recorder, func(string)) error {
	return nil
}
