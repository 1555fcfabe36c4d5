package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
)

// Pause freezes a container with the cgroup freezer (docker pause) and unpauses it.
type Pause struct {
	c interface {
		inspector
		pauser
	}
	t Timing
}

var (
	_ Fault    = (*Pause)(nil)
	_ Expecter = (*Pause)(nil)
)

func newPause(d Deps) Fault { return &Pause{c: d.Docker, t: d.Timing.withDefaults()} }

type pauseUndo struct {
	Container string `json:"container"`
	Name      string `json:"name"`
}

// Name implements Fault.
func (*Pause) Name() string { return "pause" }

// ExpectedEvents implements Expecter.
func (*Pause) ExpectedEvents() []string { return []string{"pause"} }

// Plan implements Fault.
//
// The plan's Takes is the longest the pause may wait for a health probe to end
// (betweenProbes) and then be confirmed: the inject record's deadline, at which the
// watchdog heals, must not come while the pause is still to be sent.
func (p *Pause) Plan(ctx context.Context, m Member, s Spec) (Plan, error) {
	raw, err := marshalUndo(pauseUndo{Container: m.ID, Name: m.Name})
	if err != nil {
		return Plan{}, err
	}
	var takes time.Duration
	if ci, err := inspect(ctx, p.c, m.ID); err == nil {
		if interval := healthInterval(ci); interval > 0 {
			takes = probeWaitMax(interval) + p.t.Confirm
		}
	}
	return Plan{Kind: p.Name(), Target: m.Target, Spec: s, Undo: raw, member: m, Takes: takes,
		Does: fmt.Sprintf("pause %s for %s", m.Name, s.Hold), Undoes: "unpause it"}, nil
}

// healthInterval is the container's Docker health-check interval, or 0 when it has
// no health check.
func healthInterval(ci container.InspectResponse) time.Duration {
	if ci.Config == nil || ci.Config.Healthcheck == nil {
		return 0
	}
	hc := ci.Config.Healthcheck
	if len(hc.Test) > 0 && hc.Test[0] == "NONE" {
		return 0
	}
	if hc.Interval <= 0 {
		return 30 * time.Second // Docker's default
	}
	return hc.Interval
}

// probeWaitMax is the longest betweenProbes waits, for a health check every
// interval: two intervals and a second.
func probeWaitMax(interval time.Duration) time.Duration { return 2*interval + time.Second }

// Inject implements Fault.
func (p *Pause) Inject(ctx context.Context, pl Plan) (Effect, error) {
	p.betweenProbes(ctx, pl.Target.ID)
	if err := p.c.ContainerPause(ctx, pl.Target.ID); err != nil {
		return Effect{}, fmt.Errorf("pause %s: %w", pl.Target.Name, err)
	}
	e := Effect{Applied: time.Now()}
	var err error
	e.Confirmed, e.Evidence, err = confirm(ctx, p.t, func(ctx context.Context) (bool, string, error) {
		ci, err := inspect(ctx, p.c, pl.Target.ID)
		if err != nil {
			return false, "", err
		}
		return ci.State.Paused, "state " + ci.State.Status, nil
	})
	return e, err
}

// betweenProbes waits, for a container with a Docker health check, until a probe has
// just ended, so that the pause does not freeze a probe's exec half way. Docker then
// waits for that exec, which cannot end while the container is frozen, and every later
// call on the container (inspect, unpause, kill) hangs: the pause can be neither
// confirmed nor undone (seen with the stand-in's 2 s health checks on a loaded host;
// thawing the cgroup by hand released Docker). A probe that ended less than half an
// interval ago leaves about half an interval before the next. It waits at most two
// intervals and a second; without a health check, or when Docker's answer does not
// say, it returns at once.
func (p *Pause) betweenProbes(ctx context.Context, id string) {
	ci, err := inspect(ctx, p.c, id)
	interval := healthInterval(ci)
	if err != nil || interval == 0 || ci.State == nil || ci.State.Health == nil {
		return
	}
	deadline := time.Now().Add(probeWaitMax(interval))
	for {
		if end := lastProbeEnd(ci); !end.IsZero() && time.Since(end) < interval/2 {
			return
		}
		if !time.Now().Before(deadline) || sleep(ctx, 50*time.Millisecond) != nil {
			return
		}
		if ci, err = inspect(ctx, p.c, id); err != nil || ci.State == nil || ci.State.Health == nil {
			return
		}
	}
}

// lastProbeEnd is when the container's last health probe ended (zero: none yet).
func lastProbeEnd(ci container.InspectResponse) time.Time {
	var last time.Time
	for _, r := range ci.State.Health.Log {
		if r != nil && r.End.After(last) {
			last = r.End
		}
	}
	return last
}

// Heal implements Fault: unpause a paused container; a running one needs nothing; a
// stopped or vanished one cannot be confirmed healthy, so it is Unknown.
func (p *Pause) Heal(ctx context.Context, raw json.RawMessage) Healing {
	var u pauseUndo
	if err := unmarshalUndo(raw, &u); err != nil {
		return Healing{Err: err}
	}
	ci, err := inspect(ctx, p.c, u.Container)
	switch {
	case err != nil:
		return vanishedOr(err)
	case !ci.State.Running:
		return Healing{Outcome: Unknown, Evidence: "target is " + ci.State.Status + ", not running: cannot confirm it would serve again"}
	case !ci.State.Paused:
		return Healing{Outcome: Healed, Confirmed: time.Now(), Evidence: "not paused (nothing to undo)"}
	}
	if err := p.c.ContainerUnpause(ctx, u.Container); err != nil {
		return vanishedOr(fmt.Errorf("unpause %s: %w", u.Name, notFound(err)))
	}
	h := Healing{Applied: time.Now()}
	h.Confirmed, h.Evidence, err = confirm(ctx, p.t, func(ctx context.Context) (bool, string, error) {
		ci, err := inspect(ctx, p.c, u.Container)
		if err != nil {
			return false, "", err
		}
		return running(ci), "state " + ci.State.Status, nil
	})
	return settle(h, err)
}
