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
