package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Kill SIGKILLs a container through the Engine API and starts it again after the hold
// (docker kill turns off the restart policy, so nothing else will), or never.
type Kill struct {
	c interface {
		killer
		startInspector
	}
	t Timing
}

var (
	_ Fault    = (*Kill)(nil)
	_ Expecter = (*Kill)(nil)
)

func newKill(d Deps) Fault { return &Kill{c: d.Docker, t: d.Timing.withDefaults()} }

type killUndo struct {
	Container string `json:"container"`
	Name      string `json:"name"`
	Start     bool   `json:"start"` // false: left down on request
}

// Name implements Fault.
func (*Kill) Name() string { return "kill" }

// ExpectedEvents implements Expecter.
func (*Kill) ExpectedEvents() []string { return []string{"kill", "die"} }

// Plan implements Fault.
func (k *Kill) Plan(_ context.Context, m Member, s Spec) (Plan, error) {
	u := killUndo{Container: m.ID, Name: m.Name, Start: !s.Never}
	raw, err := marshalUndo(u)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Kind: k.Name(), Target: m.Target, Spec: s, Undo: raw, member: m,
		Does: fmt.Sprintf("SIGKILL %s, keep it down for %s", m.Name, s.Hold), Undoes: "start it again"}
	if s.Never {
		p.Does, p.Undoes = fmt.Sprintf("SIGKILL %s and leave it down", m.Name), "nothing (left down on request)"
	}
	return p, nil
}

// Inject implements Fault.
func (k *Kill) Inject(ctx context.Context, p Plan) (Effect, error) {
	if err := k.c.ContainerKill(ctx, p.Target.ID, "SIGKILL"); err != nil {
		return Effect{}, fmt.Errorf("kill %s: %w", p.Target.Name, err)
	}
	e := Effect{Applied: time.Now()}
	var err error
	e.Confirmed, e.Evidence, err = confirm(ctx, k.t, exited(k.c, p.Target.ID, nil))
	return e, err
}

// exited is a confirm check: the container does not run; the evidence is its state
// and exit code, also kept in code unless it is nil.
func exited(c inspector, id string, code *int) func(ctx context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		ci, err := inspect(ctx, c, id)
		if err != nil {
			return false, "", err
		}
		if code != nil {
			*code = ci.State.ExitCode
		}
		return !ci.State.Running, fmt.Sprintf("state %s, exit code %d", ci.State.Status, ci.State.ExitCode), nil
	}
}

// Heal implements Fault: start the container unless it runs already.
func (k *Kill) Heal(ctx context.Context, raw json.RawMessage) Healing {
	var u killUndo
	if err := unmarshalUndo(raw, &u); err != nil {
		return Healing{Err: err}
	}
	return u.heal(ctx, k.c, k.t)
}

// heal starts the container again, unless it was left down on request.
func (u killUndo) heal(ctx context.Context, c startInspector, t Timing) Healing {
	if !u.Start {
		return Healing{Outcome: Left, Evidence: "left down on request (down_for never)"}
	}
	return startAgain(ctx, c, t, u.Container, u.Name)
}

// startInspector is what starting a container again takes.
type startInspector interface {
	inspector
	starter
}

// startAgain starts a container taken down (kill, stop, rollout) unless it runs
// already, and confirms that it runs.
func startAgain(ctx context.Context, c startInspector, t Timing, id, name string) Healing {
	ci, err := inspect(ctx, c, id)
	if err != nil {
		return vanishedOr(err)
	}
	if ci.State.Running {
		return Healing{Outcome: Healed, Confirmed: time.Now(), Evidence: "already running (nothing to undo)"}
	}
	if err := c.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return vanishedOr(fmt.Errorf("start %s: %w", name, notFound(err)))
	}
	h := Healing{Applied: time.Now()}
	h.Confirmed, h.Evidence, err = confirm(ctx, t, func(ctx context.Context) (bool, string, error) {
		ci, err := inspect(ctx, c, id)
		if err != nil {
			return false, "", err
		}
		return ci.State.Running, "state " + ci.State.Status, nil
	})
	return settle(h, err)
}

// vanishedOr turns a vanished target into an Unknown outcome and anything else into
// a failed heal (the fault stays open).
func vanishedOr(err error) Healing {
	if errors.Is(err, errVanished) {
		return Healing{Outcome: Unknown, Evidence: err.Error()}
	}
	return Healing{Err: err}
}

// settle finishes a heal whose undo was applied: confirmed is Healed; a vanished
// target or an unconfirmed effect is Unknown, never Healed.
func settle(h Healing, err error) Healing {
	switch {
	case err == nil:
		h.Outcome = Healed
	case errors.Is(err, errVanished):
		h.Outcome, h.Evidence = Unknown, err.Error()
	default:
		h.Outcome, h.Evidence = Unknown, "heal applied but not confirmed: "+err.Error()
	}
	return h
}
