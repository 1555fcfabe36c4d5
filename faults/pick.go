package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/chaosd/chaosd/owners"
)

// How a target is chosen.
const (
	PickNamed  = "named"
	PickRandom = "random"
	PickOwner  = "owner"
	PickAll    = "all" // every pod in turn: the kinds that hit all of them (KindInfo.AllPods)
)

// TargetSpec says how to choose the target.
type TargetSpec struct {
	Mode      string        // PickNamed, PickRandom, PickOwner or PickAll
	Name      string        // PickNamed: pod, service, container name or id prefix
	OwnerWait time.Duration // PickOwner: wait this long for an in-progress run
}

// ErrNoTarget means nothing the request could hurt was found; never success.
var ErrNoTarget = errors.New("no target")

// picker chooses a target among the selector's members.
type picker struct {
	members []Member
	faulted map[string]bool // container ids with an open fault
	owners  OwnerSource
	rand    func(n int) int
}

// pick returns the target and how it was chosen.
func (p picker) pick(ctx context.Context, ts TargetSpec) (Member, string, error) {
	switch ts.Mode {
	case PickNamed:
		return p.named(ts.Name)
	case PickRandom:
		return p.random()
	case PickOwner:
		return p.owner(ctx, ts.OwnerWait)
	case PickAll:
		return p.all()
	}
	return Member{}, "", fmt.Errorf("target: unknown mode %q", ts.Mode)
}

func (p picker) named(name string) (Member, string, error) {
	ms, ok := find(p.members, name)
	switch {
	case !ok:
		return Member{}, "", fmt.Errorf("%w: no container named %q in the selector (known: %s)", ErrNoTarget, name, p.names())
	case len(ms) > 1:
		return Member{}, "", fmt.Errorf("target: %q names %d containers; name one by container name", name, len(ms))
	}
	m := ms[0]
	if err := p.touchable(m); err != nil {
		return Member{}, "", err
	}
	return m, fmt.Sprintf("named %q", name), nil
}

func (p picker) random() (Member, string, error) {
	var eligible []Member
	for _, m := range p.members {
		if !m.Infra && p.touchable(m) == nil {
			eligible = append(eligible, m)
		}
	}
	if len(eligible) == 0 {
		return Member{}, "", fmt.Errorf("%w: no running pod in the selector is free to hurt", ErrNoTarget)
	}
	return eligible[p.rand(len(eligible))], fmt.Sprintf("random among %d running pods", len(eligible)), nil
}

// all is the scope of a fault that hits every pod in turn: each pod of the selector
// (infrastructure and skip-labelled containers aside) must be free to hurt now.
func (p picker) all() (Member, string, error) {
	var pods []string
	for _, m := range p.members {
		if m.Infra || m.Skipped {
			continue
		}
		if err := p.touchable(m); err != nil {
			return Member{}, "", fmt.Errorf("every pod: %w", err)
		}
		pods = append(pods, m.Pod)
	}
	if len(pods) == 0 {
		return Member{}, "", fmt.Errorf("%w: no pod in the selector", ErrNoTarget)
	}
	return Member{Target: everyPod(pods), State: "running"}, "every pod in turn, by name", nil
}

func (p picker) owner(ctx context.Context, wait time.Duration) (Member, string, error) {
	if p.owners == nil {
		return Member{}, "", errors.New("owner: no Postgres configured")
	}
	named, err := WaitOwners(ctx, p.owners, wait, 200*time.Millisecond)
	if err != nil {
		return Member{}, "", err
	}
	var why []string
	for _, o := range named {
		ms, ok := find(p.members, o.Pod)
		if !ok || len(ms) != 1 {
			if kind := owners.Classify(o.Pod, nil); len(ms) == 0 && (kind == owners.KindShared || kind == owners.KindConductor) {
				// An executor id that names no pod: said so, never guessed.
				why = append(why, owners.Unmappable(owners.SourceDBOS, o.Pod, p.podNames()))
				continue
			}
			why = append(why, fmt.Sprintf("%q matches %d containers", o.Pod, len(ms)))
			continue
		}
		if err := p.touchable(ms[0]); err != nil {
			why = append(why, err.Error())
			continue
		}
		return ms[0], fmt.Sprintf("owner of run %s per Postgres", orDash(o.Run)), nil
	}
	return Member{}, "", fmt.Errorf("%w: owners named by Postgres cannot be hurt: %s", ErrNoTarget, strings.Join(why, "; "))
}

// podNames lists the selector's pods (infrastructure aside).
func (p picker) podNames() []string {
	var out []string
	for _, m := range p.members {
		if !m.Infra {
			out = append(out, m.Pod)
		}
	}
	return out
}

// touchable says why a member may not be hurt now, or nil.
func (p picker) touchable(m Member) error {
	switch {
	case m.Skipped:
		return fmt.Errorf("target: refusing %s: it is labelled %s=true", m.Pod, LabelSkip)
	case p.faulted[m.ID]:
		return fmt.Errorf("target: %s already has an open fault", m.Pod)
	case !m.Running():
		return fmt.Errorf("target: %s is %s, not running", m.Pod, m.State)
	}
	return nil
}

func (p picker) names() string {
	var ns []string
	for _, m := range p.members {
		ns = append(ns, m.Pod)
	}
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func randIntN(n int) int { return rand.IntN(n) }
