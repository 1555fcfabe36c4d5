package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/errdefs"
)

// Stop stops a container as a deploy does (docker stop, a rolling update): SIGTERM,
// its grace to exit, then SIGKILL; and starts it again after the hold, or never. The
// grace is the one asked for, else the container's own stop timeout (compose's
// stop_grace_period), else Docker's 10 s. A pod that needed the SIGKILL is no error:
// the evidence says so, for the verdict.
type Stop struct {
	c interface {
		killer
		startInspector
	}
	t Timing
}

var (
	_ Fault    = (*Stop)(nil)
	_ Expecter = (*Stop)(nil)
	_ lingerer = (*Stop)(nil)
)

func newStop(d Deps) Fault { return &Stop{c: d.Docker, t: d.Timing.withDefaults()} }

// DefaultGrace is how long a pod sent SIGTERM has to exit when neither the request nor
// its container says: Docker's default stop timeout.
const DefaultGrace = 10 * time.Second

// The signals a stop sends, as the Engine API names them, and the exit code of a
// container the SIGKILL ended (128 + 9).
const (
	sigTerm     = "SIGTERM"
	sigKill     = "SIGKILL"
	sigKillExit = 137
)

type stopUndo struct {
	killUndo
	GraceMS int64 `json:"grace_ms"` // how long it has to exit once sent SIGTERM
}

func (u stopUndo) grace() time.Duration { return time.Duration(u.GraceMS) * time.Millisecond }

// Name implements Fault.
func (*Stop) Name() string { return "stop" }

// ExpectedEvents implements Expecter: a kill for each signal sent, and the death.
// (Docker emits a stop event only for its own stop call; chaosd sends the signals
// itself, to tell a pod that needed the SIGKILL.)
func (*Stop) ExpectedEvents() []string { return []string{"kill", "die"} }

// Plan implements Fault.
func (st *Stop) Plan(ctx context.Context, m Member, s Spec) (Plan, error) {
	grace, err := graceOf(ctx, st.c, m.ID, s.Grace)
	if err != nil {
		return Plan{}, err
	}
	raw, err := marshalUndo(stopUndo{killUndo: killUndo{Container: m.ID, Name: m.Name, Start: !s.Never}, GraceMS: grace.Milliseconds()})
	if err != nil {
		return Plan{}, err
	}
	stop := fmt.Sprintf("SIGTERM %s (SIGKILL past its %s grace)", m.Name, grace)
	p := Plan{Kind: st.Name(), Target: m.Target, Spec: s, Undo: raw, member: m, Takes: stopTakes(grace, st.t),
		Does: fmt.Sprintf("%s, keep it down for %s", stop, s.Hold), Undoes: "start it again"}
	if s.Never {
		p.Does, p.Undoes = stop+" and leave it down", "nothing (left down on request)"
	}
	return p, nil
}

// Inject implements Fault.
func (st *Stop) Inject(ctx context.Context, p Plan) (Effect, error) {
	var u stopUndo
	if err := unmarshalUndo(p.Undo, &u); err != nil {
		return Effect{}, err
	}
	return stopPod(ctx, st.c, st.t, p.Target.ID, p.Target.Name, sigTerm, u.grace())
}

// Heal implements Fault: start the container unless it runs already.
func (st *Stop) Heal(ctx context.Context, raw json.RawMessage) Healing {
	var u stopUndo
	if err := unmarshalUndo(raw, &u); err != nil {
		return Healing{Err: err}
	}
	return u.heal(ctx, st.c, st.t)
}

// linger implements lingerer: the container's grace.
func (*Stop) linger(raw json.RawMessage) time.Duration {
	var u stopUndo
	if unmarshalUndo(raw, &u) != nil {
		return 0
	}
	return u.grace()
}

// graceOf is how long container id has to exit once sent SIGTERM: given, else its own
// stop timeout (compose's stop_grace_period), else DefaultGrace.
func graceOf(ctx context.Context, c inspector, id string, given time.Duration) (time.Duration, error) {
	if given > 0 {
		return given, nil
	}
	ci, err := inspect(ctx, c, id)
	if err != nil {
		return 0, err
	}
	if ci.Config != nil && ci.Config.StopTimeout != nil && *ci.Config.StopTimeout >= 0 {
		return time.Duration(*ci.Config.StopTimeout) * time.Second, nil
	}
	return DefaultGrace, nil
}

// stopTakes bounds stopPod: the grace, the SIGKILL's confirmation, and as long again
// for the Engine API's calls.
func stopTakes(grace time.Duration, t Timing) time.Duration { return grace + 2*t.Confirm }

type stopper interface {
	inspector
	killer
}

// stopPod takes a container down as a deploy does: sig, up to grace for it to exit,
// then SIGKILL (sig SIGKILL: at once, no grace). It returns once the container is
// confirmed not running, with its exit code in the evidence, and whether it needed
// the SIGKILL. A signal once sent is seen through whatever ctx says (for stopTakes at
// most): a heal that found the container still on its way out would take it for
// healed, and leave it to die.
func stopPod(ctx context.Context, c stopper, t Timing, id, name, sig string, grace time.Duration) (Effect, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTakes(grace, t))
	defer cancel()
	if err := c.ContainerKill(ctx, id, sig); err != nil {
		return Effect{}, fmt.Errorf("%s %s: %w", sig, name, notFound(err))
	}
	e := Effect{Applied: time.Now()}
	how := "SIGKILLed"
	var err error
	if sig == sigKill {
		e.Confirmed, e.Evidence, err = confirm(ctx, t, exited(c, id, nil))
	} else {
		how, e.Confirmed, e.Evidence, err = graceful(ctx, c, t, id, name, grace)
	}
	if err != nil {
		return e, err
	}
	e.Evidence = how + "; " + e.Evidence
	return e, nil
}

// graceful waits up to grace for a container sent SIGTERM to exit, then SIGKILLs it
// and confirms it exited; how says which it took.
func graceful(ctx context.Context, c stopper, t Timing, id, name string, grace time.Duration) (how string, confirmed time.Time, evidence string, err error) {
	check := exited(c, id, nil)
	deadline := time.Now().Add(grace)
	for {
		// Each look has all of ctx: a grace shorter than a look must not cut it short.
		gone, ev, err := check(ctx)
		switch {
		case err != nil:
			return "", time.Time{}, ev, err
		case gone:
			return fmt.Sprintf("exited within its %s grace", grace), time.Now(), ev, nil
		}
		evidence = ev
		if !time.Now().Before(deadline) {
			break
		}
		if err := sleep(ctx, min(t.Poll, time.Until(deadline))); err != nil {
			return "", time.Time{}, evidence, err
		}
	}
	killErr := c.ContainerKill(ctx, id, sigKill)
	if errdefs.IsConflict(killErr) { // not running: it exited meanwhile
		killErr = nil
	}
	code := 0
	confirmed, evidence, err = confirm(ctx, t, exited(c, id, &code))
	switch {
	case err != nil && killErr != nil:
		return "", time.Time{}, evidence, fmt.Errorf("SIGKILL %s past its grace: %w", name, notFound(killErr))
	case err != nil:
		return "", time.Time{}, evidence, err
	case code != sigKillExit: // the SIGKILL found it on its way out
		return fmt.Sprintf("exited as its %s grace ran out (before the SIGKILL took)", grace), confirmed, evidence, nil
	}
	return fmt.Sprintf("did not exit within its %s grace: SIGKILLed", grace), confirmed, evidence, nil
}
