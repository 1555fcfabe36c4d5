//go:build integration

package scenario

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/internal/testcluster"
	"github.com/chaosd/chaosd/invariants"
	"github.com/chaosd/chaosd/probes"
	"github.com/chaosd/chaosd/testbed"
	"github.com/chaosd/chaosd/workload"
)

// killFaulter kills a pod in-process (as SIGKILL would) and starts it again after
// downFor, recording the fault's steps like the ledger does.
type killFaulter struct {
	c       *testcluster.Cluster
	downFor time.Duration
}

func (k killFaulter) Fault(ctx context.Context, pod, run string, rec workload.Recorder, onInjected func(string)) error {
	f := history.Fault{ID: "f1", Kind: history.KindKill, Pod: pod, Target: "owner", Run: run, DownFor: history.Duration(k.downFor)}
	f.Phase, f.At = history.FaultIntent, time.Now()
	rec.Append(history.FaultEvent(f))
	k.c.Kill(pod)
	f.Phase, f.At = history.FaultInjected, time.Now()
	rec.Append(history.FaultEvent(f))
	onInjected(pod)
	select {
	case <-ctx.Done():
	case <-time.After(k.downFor):
	}
	k.c.Restart(pod)
	f.Phase, f.At = history.FaultHealed, time.Now()
	rec.Append(history.FaultEvent(f))
	return nil
}

// playKillOwner runs kill-owner against an in-process cluster with bugs switched on.
func playKillOwner(t *testing.T, bugs string, downFor time.Duration) *Result {
	t.Helper()
	c := testcluster.Start(t, 3, func(cfg *testbed.Config) {
		b, err := testbed.ParseBugs(bugs)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Bugs = b
	})
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	d, err := probes.NewDriver(probes.DriverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pg, err := probes.NewPostgres(ctx, probes.PostgresConfig{DSN: c.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	nc, err := probes.NewNATS(probes.NATSConfig{URL: c.NATSURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	hw, err := history.Create(filepath.Join(t.TempDir(), "history.jsonl"), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	var pods []workload.Pod
	for _, n := range c.Names() {
		pods = append(pods, workload.Pod{Name: n, URL: c.URL(n)})
	}
	wcfg := workload.DefaultConfig()
	wcfg.Pods, wcfg.ProviderURL, wcfg.Hint, wcfg.LateAfter = pods, c.Provider, "slow:16x150", 3
	wcfg.ProbeEvery, wcfg.Grace, wcfg.MaxInFlight = 100*time.Millisecond, 40*time.Second, 10
	params := invariants.Params{HeartbeatTTL: 2 * time.Second, HeartbeatInterval: 250 * time.Millisecond,
		DetectInterval: 250 * time.Millisecond, Slack: 3 * time.Second}
	live := invariants.NewLive(hw, params)
	if err := Begin(live, history.Meta{Pods: c.Names(), UserChecks: []string{"no-orphans", "buffers"}, HeartbeatTTL: history.Duration(params.HeartbeatTTL),
		HeartbeatInterval: history.Duration(params.HeartbeatInterval), DetectInterval: history.Duration(params.DetectInterval)}); err != nil {
		t.Fatal(err)
	}
	checks := []probes.UserCheck{
		{Name: "no-orphans", SQL: "SELECT id FROM threads WHERE status = 'in_progress' AND run_config IS NULL"},
		{Name: "buffers", Stream: probes.StreamBuffers},
	}
	wl, err := workload.New(wcfg, workload.Deps{Driver: d, Postgres: pg, NATS: nc, Recorder: live, Log: log, UserChecks: checks})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, Config{Runs: 3, OwnerWait: 20 * time.Second, RecoverWait: 20 * time.Second, MonitorTick: 250 * time.Millisecond, Heartbeats: true},
		Deps{Workload: wl, Live: live, Faulter: killFaulter{c: c, downFor: downFor}, Log: log})
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	var b strings.Builder
	invariants.WriteTable(&b, res.Report)
	t.Logf("bugs %q, owner %s killed for %s:\n%s", bugs, res.Owner, downFor, b.String())
	return res
}

func verdicts(r invariants.Report) map[string]invariants.Verdict {
	out := map[string]invariants.Verdict{}
	for _, v := range r.Verdicts {
		out[v.Name] = v
	}
	return out
}

func TestIntegrationKillOwnerCleanPasses(t *testing.T) {
	t.Parallel()
	res := playKillOwner(t, "", 3*time.Second)
	vs := verdicts(res.Report)
	for _, name := range []string{"run-completes", "prefix-replay", "stream-integrity", "heartbeat-bucket", "owner-alive", "pod-recovers", "user:no-orphans", "user:buffers"} {
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
