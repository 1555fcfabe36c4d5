package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/config"
	"github.com/chaosd/chaosd/faults"
)

func TestStopAndRolloutFlagsAreChecked(t *testing.T) {
	cases := map[string][]string{
		"--fault=rollout-owner: rollout restarts every pod in turn: use --fault=rollout, without -owner": {"--fault=rollout-owner"},
		"--fault=rollout-random: rollout restarts every pod in turn":                                     {"--fault=rollout-random"},
		"--pod: rollout restarts every pod in turn; it takes no --pod":                                   {"--fault=rollout", "--pod=mesh-1"},
		"--grace: kill takes no grace (kinds that do: stop, rollout)":                                    {"--fault=kill-random", "--grace=5s"},
		`--grace: "soon" is not a duration (e.g. 10s, 1m)`:                                               {"--fault=stop-random", "--grace=soon"},
		"--grace: 0s must be positive":                                                                   {"--fault=stop-random", "--grace=0s"},
		"--signal: stop takes no signal (kinds that do: rollout)":                                        {"--fault=stop-owner", "--signal=KILL"},
		`--signal: "HUP": want TERM or KILL`:                                                             {"--fault=rollout", "--signal=HUP"},
		"--grace: rollout with --signal=KILL SIGKILLs each pod at once: it has no grace":                 {"--fault=rollout", "--signal=kill", "--grace=5s"},
		"--duration: stop does not take it (use --down-for)":                                             {"--fault=stop-owner", "--duration=5s"},
		"--down-for: rollout does not take it (use --duration)":                                          {"--fault=rollout", "--down-for=5s"},
		"--duration: rollout cannot be held forever":                                                     {"--fault=rollout", "--duration=never"},
		"--duration: -1s must be positive":                                                               {"--fault=rollout", "--duration=-1s"},
	}
	for want, args := range cases {
		code, _, errOut := run(t, args...)
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, %q; want %q", args, code, errOut, want)
		}
	}
}

func TestStopAndRolloutRequests(t *testing.T) {
	cfg, err := config.ForTarget("bundled")
	if err != nil {
		t.Fatal(err)
	}
	req, err := (&faultFlags{fault: "rollout"}).request(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := req.Spec
	if req.Target.Mode != faults.PickAll || s.Hold != faults.DefaultRolloutPause || s.Signal != faults.SignalTerm || s.Grace != 0 || s.ReadyWithin < faults.DefaultReadyWithin {
		t.Errorf("--fault=rollout: %+v", req)
	}
	req, err = (&faultFlags{fault: "rollout", duration: "0s", signal: "SIGKILL"}).request(cfg)
	if err != nil || req.Spec.Hold != 0 || req.Spec.Signal != faults.SignalKill {
		t.Errorf("--fault=rollout --duration=0s --signal=SIGKILL: %+v, %v", req, err)
	}
	req, err = (&faultFlags{fault: "stop", pod: "mesh-2", downFor: "never", grace: "30s"}).request(cfg)
	if err != nil || req.Target.Mode != faults.PickNamed || !req.Spec.Never || req.Spec.Grace != 30*time.Second || req.Spec.Signal != "" {
		t.Errorf("--fault=stop --pod=mesh-2 --down-for=never --grace=30s: %+v, %v", req, err)
	}
	req, err = (&faultFlags{fault: "stop-owner"}).request(cfg)
	if err != nil || req.Target.Mode != faults.PickOwner || req.Spec.Hold != autoHold(cfg) {
		t.Errorf("--fault=stop-owner: %+v, %v", req, err)
	}
}

func TestSoakSchedulesStopAndRollout(t *testing.T) {
	cfg, err := config.ForTarget("bundled")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Soak.Faults = []config.SoakFault{{Kind: "stop", Schedule: "@every 10m", Target: "random"}, {Kind: "rollout", Schedule: "@every 1h", Target: "all"}}
	fs, err := soakFaulters(cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	roll := fs["rollout"].(*dockerFaulter).req
	if roll.Target.Mode != faults.PickAll || roll.Spec.Hold != faults.DefaultRolloutPause || roll.Spec.Signal != faults.SignalTerm {
		t.Errorf("rollout: %+v", roll)
	}
	if stop := fs["stop"].(*dockerFaulter).req; stop.Target.Mode != faults.PickRandom || stop.Spec.Hold != autoHold(cfg) {
		t.Errorf("stop: %+v", stop)
	}
}
