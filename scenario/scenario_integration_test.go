//go:build integration

package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/internal/testrig"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/probes"
)

// playKillOwner runs kill-owner against an in-process cluster with bugs switched on.
func playKillOwner(t *testing.T, bugs string, downFor time.Duration) *Result {
	t.Helper()
	r := testrig.Start(t, bugs)
	wcfg := r.WorkloadConfig()
	wcfg.MaxInFlight = 10
	live := invariants.NewLive(r.History, r.Params)
	if err := Begin(live, r.Meta("no-orphans", "buffers")); err != nil {
		t.Fatal(err)
	}
	wl := r.Workload(t, wcfg, live,
		probes.UserCheck{Name: "no-orphans", SQL: "SELECT id FROM threads WHERE status = 'in_progress' AND run_config IS NULL"},
		probes.UserCheck{Name: "buffers", Stream: probes.StreamBuffers})
	res, err := Run(context.Background(), Config{Runs: 3, OwnerWait: 20 * time.Second, RecoverWait: 20 * time.Second, MonitorTick: 250 * time.Millisecond, Heartbeats: true},
		Deps{Workload: wl, Live: live, Faulter: &testrig.KillFaulter{Cluster: r.Cluster, DownFor: downFor}, Log: r.Log})
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	var b strings.Builder
	invariants.WriteTable(&b, res.Report)
	t.Logf("bugs %q, owner %s killed for %s:\n%s", bugs, res.Owner, downFor, b.String())
	return res
}

var verdicts = testrig.Verdicts

func TestIntegrationKillOwnerCleanPasses(t *testing.T) {
	t.Parallel()
	res := playKillOwner(t, "", 3*time.Second)
	vs := verdicts(res.Report)
	for _, name := range []string{"run-completes", "prefix-replay", "stream-integrity", "chunk-grammar", "heartbeat-bucket", "owner-alive", "pod-recovers", "user:no-orphans", "user:buffers"} {
		v := vs[name]
		if v.Status != invariants.Pass || v.Exercised == 0 {
			t.Errorf("%s: %s, exercised %d, first finding: %s", name, v.Status, v.Exercised, v.Message())
		}
	}
	if v := vs["prefix-replay"]; v.UnderFault == 0 {
		t.Errorf("prefix-replay never exercised under the fault: %+v", v)
	}
	if v := vs["run-completes"]; v.UnderFault == 0 {
		t.Errorf("run-completes: the killed owner's run was not judged under the fault: %+v", v)
	}
	// In-process there is no Docker: nothing to say about container deaths.
	if v := vs["no-unexpected-death"]; v.Status != invariants.NotExercised {
		t.Errorf("no-unexpected-death without Docker: %s", v.Status)
	}
	if res.Stats.Completed != 3 {
		t.Errorf("runs: %+v", res.Stats)
	}
}

func TestIntegrationDefectsAreCaught(t *testing.T) {
	cases := []struct {
		bug     string
		downFor time.Duration
		fail    []string
		symptom string // in the first finding of the first failing invariant
	}{
		{"deliver-new", 3 * time.Second, []string{"prefix-replay"}, "missed chunk-1"},
		{"duplicate-on-resume", 3 * time.Second, []string{"stream-integrity"}, "twice"},
		{"replay-loses-start", 3 * time.Second, []string{"chunk-grammar", "prefix-replay"}, "the start chunk (with the message id) is missing"},
		{"strict-claim", 20 * time.Second, []string{"owner-alive", "run-completes"}, "mesh-1"},
		{"no-heartbeat-bucket", 20 * time.Second, []string{"heartbeat-bucket", "owner-alive", "run-completes"}, "bucket"},
	}
	t.Run("purge-on-resume", func(t *testing.T) {
		t.Parallel()
		vs := verdicts(playKillOwner(t, "purge-on-resume", 3*time.Second).Report)
		if vs["prefix-replay"].Status != invariants.Fail && vs["stream-integrity"].Status != invariants.Fail {
			t.Errorf("neither prefix-replay (%s) nor stream-integrity (%s) caught the purged buffer",
				vs["prefix-replay"].Status, vs["stream-integrity"].Status)
		}
	})
	for _, tc := range cases {
		t.Run(tc.bug, func(t *testing.T) {
			t.Parallel()
			vs := verdicts(playKillOwner(t, tc.bug, tc.downFor).Report)
			for _, name := range tc.fail {
				if vs[name].Status != invariants.Fail {
					t.Errorf("%s: %s, want fail", name, vs[name].Status)
				}
			}
			if msg := vs[tc.fail[0]].Message(); !strings.Contains(msg, tc.symptom) {
				t.Errorf("%s diagnosis %q does not name the symptom %q", tc.fail[0], msg, tc.symptom)
			}
		})
	}
}

// playPauseOwner runs pause-owner against an in-process cluster with bugs switched
// on: the victim's owner is frozen for hold (its publishes and heartbeats stop, so
// a survivor takes the run over after the 2 s TTL and completes it), then thawed.
// Every run has the settle window --settle=auto gives: the hold plus the TTL.
func playPauseOwner(t *testing.T, bugs string, hold time.Duration) *Result {
	t.Helper()
	r := testrig.Start(t, bugs)
	wcfg := r.WorkloadConfig()
	wcfg.MaxInFlight = 10
	wcfg.Settle = hold + r.Params.HeartbeatTTL
	live := invariants.NewLive(r.History, r.Params)
	if err := Begin(live, r.Meta()); err != nil {
		t.Fatal(err)
	}
	wl := r.Workload(t, wcfg, live)
	res, err := Run(context.Background(), Config{Runs: 3, OwnerWait: 20 * time.Second, RecoverWait: 20 * time.Second, MonitorTick: 250 * time.Millisecond, Heartbeats: true},
		Deps{Workload: wl, Live: live, Faulter: &testrig.PauseFaulter{Cluster: r.Cluster, Hold: hold}, Log: r.Log})
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	var b strings.Builder
	invariants.WriteTable(&b, res.Report)
	invariants.WriteDiagnoses(&b, res.Report)
	t.Logf("bugs %q, owner %s of %s paused for %s, settle %s:\n%s", bugs, res.Owner, res.Victim, hold, wcfg.Settle, b.String())
	return res
}

// zombie-owner (an owner that ignores its fence after a freeze) writes the rest of
// its reply after the survivor's end sentinel once it is thawed: no-write-after-end
// fails, naming the run and the paused owner as the likely writer. Clean, the thawed
// owner stops at its fence and the settle window finds nothing.
func TestIntegrationZombieOwnerIsCaught(t *testing.T) {
	for _, bugs := range []string{"zombie-owner", ""} {
		t.Run("bugs="+bugs, func(t *testing.T) {
			t.Parallel()
			res := playPauseOwner(t, bugs, 8*time.Second)
			vs := verdicts(res.Report)
			v := vs[invariants.NameNoWriteAfterEnd]
			if bugs == "" {
				if v.Status != invariants.Pass || v.Exercised == 0 || v.UnderFault == 0 {
					t.Errorf("clean: no-write-after-end %s, exercised %d, under fault %d: %s", v.Status, v.Exercised, v.UnderFault, v.Message())
				}
				for name, v := range vs {
					if v.Status == invariants.Fail {
						t.Errorf("clean: %s failed: %s", name, v.Message())
					}
				}
				return
			}
			if v.Status != invariants.Fail {
				t.Fatalf("zombie-owner: no-write-after-end %s, want fail: %s", v.Status, v.Message())
			}
			msg := v.Message()
			for _, want := range []string{"run " + res.Victim + ": ", "after its end sentinel", "a second end sentinel",
				"Writer: likely " + res.Owner + ", its owner until ", ", paused ", "inferred: the buffer names no writer"} {
				if !strings.Contains(msg, want) {
					t.Errorf("zombie-owner: the finding does not say %q:\n%s", want, msg)
				}
			}
		})
	}
}
