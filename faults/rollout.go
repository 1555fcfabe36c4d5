package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"go.uber.org/zap"
)

// Rollout restarts every pod of the selector in turn, as a deploy's rolling update
// does, never more than one down at a time. For each pod, sorted by name: the blast
// radius is checked as for a fault of its own (every other open fault counts, and
// blast_radius.min_ready other pods must be ready); the pod is stopped as stop does
// (SIGTERM, its grace, then SIGKILL) or SIGKILLed at once; it is started again and
// waited for until it is ready, as the blast radius reads readiness (pods.ready); then,
// after the pause (the hold), the next one. A pod that cannot be stopped or started,
// or is not ready within Spec.ReadyWithin, stops the rollout there: the pods after it
// are left alone and the Injector heals at once. The undo lists every pod; the heal,
// from the undo alone (chaosd recover and the watchdog too), starts each one that
// does not run.
type Rollout struct {
	c interface {
		lister
		killer
		startInspector
	}
	sel Selector
	t   Timing
}

var (
	_ Fault    = (*Rollout)(nil)
	_ Expecter = (*Rollout)(nil)
	_ lingerer = (*Rollout)(nil)
)

func newRollout(d Deps) Fault {
	return &Rollout{c: d.Docker, sel: d.Selector, t: d.Timing.withDefaults()}
}

// Rollout defaults.
const (
	// DefaultRolloutPause is a rollout's hold when none is asked for (auto): the pause
	// after each pod is ready again, long enough for the workload's monitor and the
	// other pods' heartbeat scans to see it back before the next one goes.
	DefaultRolloutPause = 5 * time.Second
	// DefaultReadyWithin bounds a pod's way from its start to ready in a rollout when
	// Spec.ReadyWithin does not.
	DefaultReadyWithin = 2 * time.Minute
)

// readyPoll is how often a restarted pod's readiness is read.
const readyPoll = 100 * time.Millisecond

// A rollout's stop signals (Spec.Signal).
const (
	SignalTerm = "TERM" // SIGTERM, then SIGKILL past the pod's grace
	SignalKill = "KILL" // SIGKILL at once
)

// ParseSignal reads a rollout's stop signal: TERM or KILL, in any case, with or
// without SIG; "" is TERM.
func ParseSignal(s string) (string, error) {
	switch strings.TrimPrefix(strings.ToUpper(s), "SIG") {
	case "", SignalTerm:
		return SignalTerm, nil
	case SignalKill:
		return SignalKill, nil
	}
	return "", fmt.Errorf("%q: want %s or %s", s, SignalTerm, SignalKill)
}

type rolloutUndo struct {
	Pods []rolledPod `json:"pods"` // every pod, in the rollout's order
}

// rolledPod is one pod of a rollout.
type rolledPod struct {
	Container string `json:"container"`
	Name      string `json:"name"`
	Pod       string `json:"pod"`
	GraceMS   int64  `json:"grace_ms"` // how long it has to exit once sent SIGTERM; 0 with SIGKILL
}

func (p rolledPod) grace() time.Duration { return time.Duration(p.GraceMS) * time.Millisecond }

// Name implements Fault.
func (*Rollout) Name() string { return "rollout" }

// ExpectedEvents implements Expecter: each pod's kills and death, expected on a pod
// only while it is being stopped.
func (*Rollout) ExpectedEvents() []string { return []string{"kill", "die"} }

// Plan implements Fault. m is the scope the Injector picked (PickAll); the pods are
// the selector's, neither infrastructure nor skip-labelled, listed afresh.
func (r *Rollout) Plan(ctx context.Context, m Member, s Spec) (Plan, error) {
	sig, err := ParseSignal(s.Signal)
	if err != nil {
		return Plan{}, fmt.Errorf("rollout: signal %w", err)
	}
	members, err := r.sel.List(ctx, r.c)
	if err != nil {
		return Plan{}, err
	}
	ready := readyWithin(s)
	var u rolloutUndo
	var names []string
	var takes time.Duration
	for _, pm := range members {
		if pm.Infra || pm.Skipped {
			continue
		}
		var grace time.Duration
		if sig == SignalTerm {
			if grace, err = graceOf(ctx, r.c, pm.ID, s.Grace); err != nil {
				return Plan{}, err
			}
		}
		u.Pods = append(u.Pods, rolledPod{Container: pm.ID, Name: pm.Name, Pod: pm.Pod, GraceMS: grace.Milliseconds()})
		names = append(names, pm.Pod)
		// The blast radius, the stop, the start, the wait until ready, the pause.
		takes += r.t.Confirm + stopTakes(grace, r.t) + r.t.Confirm + ready + s.Hold
	}
	if len(u.Pods) == 0 {
		return Plan{}, fmt.Errorf("rollout: %w: no pod in the selector", ErrNoTarget)
	}
	raw, err := marshalUndo(u)
	if err != nil {
		return Plan{}, err
	}
	stop := "SIGTERM it (SIGKILL past its grace)"
	if sig == SignalKill {
		stop = "SIGKILL it"
	}
	return Plan{Kind: r.Name(), Target: m.Target, Spec: s, Undo: raw, member: m, Takes: takes,
		Does:   fmt.Sprintf("restart %s in turn: %s, start it, wait until it is ready (at most %s), pause %s", strings.Join(names, ", "), stop, ready, s.Hold),
		Undoes: "start every pod that does not run"}, nil
}

func readyWithin(s Spec) time.Duration {
	if s.ReadyWithin > 0 {
		return s.ReadyWithin
	}
	return DefaultReadyWithin
}

// Inject implements Fault: every pod in turn; the effect is confirmed once the last
// one is ready again, and its evidence is each pod's stop, exit code and time to
// ready. A pod that could not be stopped, started or made ready stops the rollout
// there, with an error naming it.
func (r *Rollout) Inject(ctx context.Context, p Plan) (Effect, error) {
	if p.gate == nil {
		return Effect{}, errors.New("rollout: not planned by an Injector: no blast radius to keep")
	}
	var u rolloutUndo
	if err := unmarshalUndo(p.Undo, &u); err != nil {
		return Effect{}, err
	}
	sig, err := ParseSignal(p.Spec.Signal)
	if err != nil {
		return Effect{}, fmt.Errorf("rollout: signal %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.Takes)
	defer cancel()
	var e Effect
	var lines []string
	for i, pod := range u.Pods {
		if i > 0 {
			if err := sleep(ctx, p.Spec.Hold); err != nil {
				e.Evidence = strings.Join(lines, "; ")
				return e, fmt.Errorf("rollout stopped before %s (%d of %d pods restarted; the rest left alone): pause: %w", pod.Pod, i, len(u.Pods), err)
			}
		}
		applied, line, err := r.roll(ctx, p.gate, pod, sig, readyWithin(p.Spec))
		if e.Applied.IsZero() {
			e.Applied = applied
		}
		lines = append(lines, line)
		if err != nil {
			e.Evidence = strings.Join(lines, "; ")
			return e, fmt.Errorf("rollout stopped at %s (%d of %d pods restarted; the rest left alone): %w", pod.Pod, i, len(u.Pods), err)
		}
	}
	e.Confirmed, e.Evidence = time.Now(), strings.Join(lines, "; ")
	return e, nil
}

// roll restarts one pod: the blast radius, the stop, the start, the wait until it is
// ready. line is its evidence so far; applied is when its stop signal was sent.
func (r *Rollout) roll(ctx context.Context, g *podGate, pod rolledPod, sig string, within time.Duration) (applied time.Time, line string, err error) {
	log := g.log.With(zap.String("pod", pod.Pod))
	if err := g.admit(ctx, pod.Container); err != nil {
		return applied, pod.Pod + ": left alone", fmt.Errorf("not stopped: %w", err)
	}
	signal := sigTerm
	if sig == SignalKill {
		signal = sigKill
	}
	release := g.expect(ctx, pod.Container)
	st, err := stopPod(ctx, r.c, r.t, pod.Container, pod.Name, signal, pod.grace())
	release()
	line = pod.Pod + ": " + st.Evidence
	if err != nil {
		return st.Applied, line, fmt.Errorf("stop: %w", err)
	}
	log.Info("rollout: pod stopped", zap.String("evidence", st.Evidence), zap.Duration("took", st.Confirmed.Sub(st.Applied)))
	if err := r.c.ContainerStart(ctx, pod.Container, container.StartOptions{}); err != nil {
		return st.Applied, line, fmt.Errorf("start: %w", notFound(err))
	}
	started := time.Now()
	log.Info("rollout: pod started")
	err = g.awaitReady(ctx, pod.Container, within)
	after := time.Since(started).Round(time.Millisecond)
	if err != nil {
		return st.Applied, fmt.Sprintf("%s; started; not ready after %s", line, after), err
	}
	log.Info("rollout: pod ready", zap.Duration("after", after))
	return st.Applied, fmt.Sprintf("%s; started; ready after %s", line, after), nil
}

// Heal implements Fault: start every pod of the undo that does not run, and confirm
// each one runs. A pod that vanished makes the outcome unknown; one that cannot be
// started fails the heal (the fault stays open, and a later heal starts what is
// still down).
func (r *Rollout) Heal(ctx context.Context, raw json.RawMessage) Healing {
	var u rolloutUndo
	if err := unmarshalUndo(raw, &u); err != nil {
		return Healing{Err: err}
	}
	out := Healing{Outcome: Healed}
	var lines []string
	var errs []error
	for _, p := range u.Pods {
		h := startAgain(ctx, r.c, r.t, p.Container, p.Name)
		if h.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Pod, h.Err))
			continue
		}
		if h.Outcome != Healed {
			out.Outcome = Unknown
		}
		lines = append(lines, p.Pod+": "+h.Evidence)
		out.Applied, out.Confirmed = later(out.Applied, h.Applied), later(out.Confirmed, h.Confirmed)
	}
	if len(errs) > 0 {
		return Healing{Err: errors.Join(errs...)}
	}
	out.Evidence = strings.Join(lines, "; ")
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// linger implements lingerer: the longest grace of its pods.
func (*Rollout) linger(raw json.RawMessage) time.Duration {
	var u rolloutUndo
	if unmarshalUndo(raw, &u) != nil {
		return 0
	}
	var g time.Duration
	for _, p := range u.Pods {
		g = max(g, p.grace())
	}
	return g
}

// podGate is the Injector's side of a fault that takes every pod down in turn: before
// each pod, the blast radius as for a fault of its own; after its start, its
// readiness as the blast radius reads it; and its container's events counted as the
// fault's while it is being stopped.
type podGate struct {
	in     *Injector
	fault  string
	events []string
	log    *zap.Logger
}

// admit checks that pod id may go down now: it runs, no other fault is open on it,
// and the blast radius holds, every other open fault counted.
func (g *podGate) admit(ctx context.Context, id string) error {
	st, err := g.in.Ledger.Read()
	if err != nil {
		return err
	}
	var others []Target
	faulted := map[string]bool{}
	for _, e := range st.Open() {
		if e.ID() != g.fault {
			others = append(others, e.Target())
			faulted[e.Target().ID] = true
		}
	}
	members, m, err := g.member(ctx, id)
	if err != nil {
		return err
	}
	if err := (picker{faulted: faulted}).touchable(m); err != nil {
		return err
	}
	_, err = g.in.Blast.admit(ctx, m, members, others, g.in.Readiness)
	return err
}

// awaitReady waits until pod id is ready, within; the error says what the last
// reading saw.
func (g *podGate) awaitReady(ctx context.Context, id string, within time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		_, m, err := g.member(wctx, id)
		if err != nil {
			return err
		}
		ok, why := g.in.Readiness.Ready(wctx, m)
		if ok {
			return nil
		}
		if err := sleep(wctx, readyPoll); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w (last reading: %s)", ctx.Err(), why)
			}
			return fmt.Errorf("not ready within %s of its start (last reading: %s)", within, why)
		}
	}
}

// member lists the selector's containers afresh (a restarted pod may have a new
// address) and finds id among them.
func (g *podGate) member(ctx context.Context, id string) ([]Member, Member, error) {
	members, err := g.in.Deps.list(ctx)
	if err != nil {
		return nil, Member{}, err
	}
	for _, m := range members {
		if m.ID == id {
			return members, m, nil
		}
	}
	return nil, Member{}, fmt.Errorf("container %.12s: %w", id, errVanished)
}

// expect counts the events of container id as the fault's until release (and a
// second more, for the events on their way).
func (g *podGate) expect(ctx context.Context, id string) (release func()) {
	return g.in.expect(ctx, id, g.fault, g.events)
}
