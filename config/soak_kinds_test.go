package config

import "testing"

func TestSoakSchedulesStopAndRollout(t *testing.T) {
	c, err := resolve(t, nil, "--schedule", "stop=@every 10m; rollout=@every 1h~5m")
	if err != nil {
		t.Fatal(err)
	}
	f := c.Soak.Faults
	if len(f) != 2 || f[0].Kind != "stop" || f[0].Target != "owner" || f[1].Kind != "rollout" || f[1].Target != "all" || f[1].Jitter.Std() == 0 {
		t.Fatalf("faults %+v: a rollout scheduled by flag targets all, a stop the owner", f)
	}
	d := Default()
	d.Soak.Faults = append(d.Soak.Faults, SoakFault{Kind: "rollout", Schedule: "@every 1h", Target: "all"}, SoakFault{Kind: "stop", Schedule: "@every 30m", Target: "mesh-2"})
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := Default().Soak.Faults; len(got) != 3 || got[0].Kind != "kill" || got[1].Kind != "pause" || got[2].Kind != "partition" {
		t.Errorf("the default schedule changed: %+v", got)
	}
}
