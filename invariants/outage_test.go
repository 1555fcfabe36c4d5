package invariants

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

// withEvents returns src with extra events merged in by time (each extra event at
// its own Time), renumbered.
func withEvents(src *hist, extra ...history.Event) *hist {
	out := &hist{}
	i := 0
	for _, e := range src.evs {
		for i < len(extra) && !extra[i].Time.After(e.Time) {
			out.add(extra[i])
			i++
		}
		out.add(e)
	}
	for ; i < len(extra); i++ {
		out.add(extra[i])
	}
	return out
}

func depEvent(s float64, name string, err error) history.Event {
	return history.ProbeEvent(history.DependencyProbe(name, err), sec(s))
}

func TestViolationDuringOutageIsUnknown(t *testing.T) {
	h := withEvents(killOwner(defects{deliverNew: true}),
		depEvent(2, history.DepNATS, errors.New("nats: no servers available for connection")),
		depEvent(20, history.DepNATS, nil))
	r := h.report(Params{})
	v := expect(t, r, NamePrefixReplay, Unknown, "not judged: nats was unreachable from 12:00:02.000 to 12:00:20.000 (nats: no servers available",
		"would have been: run r1: watcher on mesh-3")
	if v.Violations != 0 || v.Unknowns != 2 {
		t.Errorf("violations %d unknowns %d, want 0 and 2", v.Violations, v.Unknowns)
	}
	if r.Status == Fail {
		t.Fatalf("an outage must not fail the soak: %v", names(r))
	}
}

func TestViolationAfterOutageGraceStillFails(t *testing.T) {
	h := withEvents(killOwner(defects{deliverNew: true}),
		depEvent(0.2, history.DepPostgres, errors.New("connection refused")),
		depEvent(0.4, history.DepPostgres, nil))
	r := h.report(Params{OutageGrace: time.Second})
	v := expect(t, r, NamePrefixReplay, Fail, "missed chunk-1..5")
	if v.Violations != 2 {
		t.Errorf("violations %d, want 2", v.Violations)
	}
}

func TestOutageStillOpenExcuses(t *testing.T) {
	h := withEvents(killOwner(defects{deliverNew: true}), depEvent(1, history.DepNATS, errors.New("down")))
	r := h.report(Params{})
	expect(t, r, NamePrefixReplay, Unknown, "nats has been unreachable since 12:00:01.000 (down)")
}

func TestDependencyContainerDeathIsAnOutageNotADeath(t *testing.T) {
	src := killOwner(defects{})
	code := 0
	h := withEvents(src,
		history.DockerEvent(history.Docker{Action: history.DockerDie, Pod: "postgres", Container: "c0ffee", ExitCode: &code, At: sec(30)}),
		history.DockerEvent(history.Docker{Action: history.DockerStart, Pod: "postgres", Container: "c0ffee", At: sec(40)}))
	for i := range h.evs {
		if h.evs[i].Time.IsZero() {
			h.evs[i].Time = h.evs[i].Docker.At
		}
	}
	r := h.report(Params{})
	v := expect(t, r, NameNoUnexpectedDeath, Unknown, "not judged: postgres has been unreachable since 12:00:30.000 (container die (exit 0), not caused by chaosd); would have been: postgres (container c0ffee) died")
	if v.Violations != 0 {
		t.Fatalf("violations %d", v.Violations)
	}
}

func TestOnFindingAndCounts(t *testing.T) {
	type got struct {
		name string
		st   Status
		f    Finding
	}
	var seen []got
	g := NewEngine(Params{})
	g.OnFinding = func(name string, st Status, f Finding) { seen = append(seen, got{name, st, f}) }
	h := killOwner(defects{deliverNew: true})
	if g.Counts() != nil {
		t.Fatal("counts before the first event")
	}
	for i := range h.evs {
		g.Observe(&h.evs[i])
	}
	counts := g.Counts()
	r := g.Finish()
	fails := 0
	digits := regexp.MustCompile(`[0-9]`)
	for _, s := range seen {
		if s.st == Fail && s.name == NamePrefixReplay {
			fails++
			if s.f.Cause == "" || digits.MatchString(s.f.Cause) {
				t.Errorf("cause %q: want the message without ids, times or counts", s.f.Cause)
			}
		}
	}
	if fails != 2 {
		t.Fatalf("prefix-replay findings handed on: %d, want 2 (%+v)", fails, seen)
	}
	byName := map[string]Count{}
	for _, c := range counts {
		byName[c.Name] = c
	}
	for _, v := range r.Verdicts {
		c, ok := byName[v.Name]
		if !ok {
			t.Fatalf("no count for %s", v.Name)
		}
		if c.Checks != v.Checks || c.Exercised != v.Exercised || c.Violations != v.Violations || c.Unknowns != v.Unknowns || c.UnderFault != v.UnderFault {
			t.Errorf("%s: counts %+v, verdict %+v", v.Name, c, v)
		}
	}
}

func TestCauseOf(t *testing.T) {
	a := causeOf("run run-12: watcher on mesh-3 (late, opened 12:00:03.500 with 5 chunks buffered) missed chunk-1..5")
	b := causeOf("run run-40: watcher on mesh-1 (late, opened 01:10:13.000 with 3 chunks buffered) missed chunk-1..3")
	if a != b {
		t.Fatalf("one cause expected:\n%s\n%s", a, b)
	}
	if c := causeOf("the heartbeat bucket is missing"); c != "the heartbeat bucket is missing" {
		t.Fatalf("plain message changed: %q", c)
	}
}
