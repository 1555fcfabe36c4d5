package soak

import (
	"context"
	"slices"
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

// fakeRun is a run in flight as pickVictim sees it.
type fakeRun struct {
	name           string
	done, buffered chan struct{}
	owner          string
	chunks         int
	ended          bool
}

func newFakeRun(name, owner string, chunks int, buffered, done, ended bool) *fakeRun {
	r := &fakeRun{name: name, done: make(chan struct{}), buffered: make(chan struct{}), owner: owner, chunks: chunks, ended: ended}
	if buffered {
		close(r.buffered)
	}
	if done {
		close(r.done)
	}
	return r
}

func (r *fakeRun) Done() <-chan struct{}     { return r.done }
func (r *fakeRun) Buffered() <-chan struct{} { return r.buffered }
func (r *fakeRun) Owner() string             { return r.owner }
func (r *fakeRun) Streamed() (int, bool)     { return r.chunks, r.ended }

// TestPickVictimTakesTheRunWithMostLeft: of the runs with k chunks buffered and a
// known owner, the fault goes to the one least far along, so that it lands mid-run.
func TestPickVictimTakesTheRunWithMostLeft(t *testing.T) {
	for _, tc := range []struct {
		name string
		runs []*fakeRun
		want []string // any of these; none for no victim
	}{
		{"the youngest buffered run", []*fakeRun{
			newFakeRun("late", "mesh-1", 18, true, false, false),
			newFakeRun("mid", "mesh-2", 7, true, false, false),
			newFakeRun("early", "mesh-3", 4, true, false, false),
		}, []string{"early"}},
		{"not before k chunks", []*fakeRun{
			newFakeRun("unbuffered", "mesh-1", 2, false, false, false),
			newFakeRun("mid", "mesh-2", 9, true, false, false),
		}, []string{"mid"}},
		{"not a decided run, one whose stream has ended, or one without an owner", []*fakeRun{
			newFakeRun("decided", "mesh-1", 3, true, true, false),
			newFakeRun("ended", "mesh-1", 3, true, false, true),
			newFakeRun("ownerless", "", 3, true, false, false),
			newFakeRun("ok", "mesh-2", 12, true, false, false),
		}, []string{"ok"}},
		{"ties at random", []*fakeRun{
			newFakeRun("a", "mesh-1", 5, true, false, false),
			newFakeRun("b", "mesh-2", 5, true, false, false),
			newFakeRun("c", "mesh-3", 9, true, false, false),
		}, []string{"a", "b"}},
		{"none", []*fakeRun{
			newFakeRun("unbuffered", "mesh-1", 0, false, false, false),
			newFakeRun("ended", "mesh-2", 20, true, false, true),
		}, nil},
		{"no runs", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				got := pickVictim(tc.runs)
				if got == nil {
					if tc.want != nil {
						t.Fatalf("no victim, want one of %v", tc.want)
					}
					continue
				}
				if tc.want == nil {
					t.Fatalf("victim %s, want none", got.name)
				}
				seen[got.name] = true
			}
			for name := range seen {
				if !slices.Contains(tc.want, name) {
					t.Errorf("victim %s, want one of %v", name, tc.want)
				}
			}
			if tc.want != nil && len(seen) != len(tc.want) {
				t.Errorf("over 200 picks the victims were %v, want each of %v", seen, tc.want)
			}
		})
	}
}
