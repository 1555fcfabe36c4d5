package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/chaosd/chaosd/probes"
)

// BlastRadius bounds the damage: at most MaxFaulted pods faulted at once, and at least
// MinReady other pods ready when one more is hurt (never the last ready pod).
type BlastRadius struct {
	MaxFaulted int
	MinReady   int
}

// ErrBlastRadius means a fault was refused to keep the blast radius.
var ErrBlastRadius = errors.New("blast radius")

// Admission is what the blast radius check saw.
type Admission struct {
	Faulted    []string // pods with an open fault
	ReadyPods  []string // other pods ready
	NotReady   []string // other pods not ready, with why
	MaxFaulted int
}

// Readiness tells whether a pod is ready to serve.
type Readiness interface {
	Ready(ctx context.Context, m Member) (bool, string)
}

// admit checks the blast radius for hurting target. faulted are the targets of open
// faults. Infrastructure (named postgres, nats...) is not counted as a pod.
func (b BlastRadius) admit(ctx context.Context, target Member, members []Member, faulted []Target, r Readiness) (Admission, error) {
	a := Admission{MaxFaulted: b.MaxFaulted}
	busy := map[string]bool{}
	for _, t := range faulted {
		busy[t.ID] = true
		if !t.Infra {
			a.Faulted = append(a.Faulted, t.Pod)
		}
	}
	if target.Infra {
		return a, nil
	}
	if len(a.Faulted)+1 > b.MaxFaulted {
		return a, fmt.Errorf("%w: %d pod(s) already faulted (%s), at most %d at once", ErrBlastRadius, len(a.Faulted), strings.Join(a.Faulted, ", "), b.MaxFaulted)
	}
	b.readiness(ctx, target, members, busy, r, &a)
	if len(a.ReadyPods) < b.MinReady {
		return a, fmt.Errorf("%w: hurting %s would leave %d ready pod(s), want at least %d (not ready: %s)", ErrBlastRadius, target.Pod, len(a.ReadyPods), b.MinReady, orDash(strings.Join(a.NotReady, ", ")))
	}
	return a, nil
}

// admitAll checks the blast radius for a fault that takes every pod down in turn, one
// at a time (scope is its target, EveryPod): it counts as one more faulted pod, and
// whichever pod is down, at least MinReady others must be ready. (Each pod's turn is
// checked again as it comes.)
func (b BlastRadius) admitAll(ctx context.Context, scope Member, members []Member, faulted []Target, r Readiness) (Admission, error) {
	a, err := b.admit(ctx, scope, members, faulted, r)
	if left := max(len(a.ReadyPods)-1, 0); err == nil && left < b.MinReady {
		err = fmt.Errorf("%w: a rollout takes each of the %d ready pod(s) down in turn, leaving %d ready, want at least %d (not ready: %s)",
			ErrBlastRadius, len(a.ReadyPods), left, b.MinReady, orDash(strings.Join(a.NotReady, ", ")))
	}
	return a, err
}

func (b BlastRadius) readiness(ctx context.Context, target Member, members []Member, busy map[string]bool, r Readiness, a *Admission) {
	for _, m := range members {
		if m.ID == target.ID || m.Infra || m.Skipped {
			continue
		}
		if busy[m.ID] {
			a.NotReady = append(a.NotReady, m.Pod+": faulted")
			continue
		}
		if ok, why := r.Ready(ctx, m); !ok {
			a.NotReady = append(a.NotReady, m.Pod+": "+why)
			continue
		}
		a.ReadyPods = append(a.ReadyPods, m.Pod)
	}
}

// RunningReadiness counts a pod ready when its container runs (and is not paused).
type RunningReadiness struct{}

// Ready implements Readiness.
func (RunningReadiness) Ready(_ context.Context, m Member) (bool, string) {
	return m.Running(), m.State
}

// HTTPReadiness asks a pod's /health/ready (probes.Driver.Ready) on its published Port,
// or on its container address when the port is not published.
type HTTPReadiness struct {
	Driver *probes.Driver
	Port   uint16
	// URLs are pods' base URLs by pod name, as chaosd reaches them (the workload's);
	// a pod not named here is reached through its published port, else its address.
	// Inside a container on the cluster's network the published ports are the host's,
	// so the soak service names every pod.
	URLs map[string]string
}

// Ready implements Readiness.
func (h HTTPReadiness) Ready(ctx context.Context, m Member) (bool, string) {
	if !m.Running() {
		return false, m.State
	}
	url, ok := h.URLs[m.Pod]
	if !ok {
		url, ok = podURL(m, h.Port)
	}
	if !ok {
		return false, fmt.Sprintf("no address for port %d", h.Port)
	}
	r := h.Driver.Ready(ctx, url)
	if r.Ready {
		return true, "ready"
	}
	return false, fmt.Sprintf("%s: %s%s", url, orDash(r.Status), r.Err)
}

// podURL is the base URL of a pod: its published port on the host, else its address on
// one of its networks.
func podURL(m Member, port uint16) (string, bool) {
	for _, p := range m.Ports {
		if p.PrivatePort == port && p.Type == "tcp" && p.PublicPort != 0 {
			ip, err := netip.ParseAddr(p.IP)
			if err != nil || ip.IsUnspecified() {
				ip = netip.MustParseAddr("127.0.0.1")
				if p.IP == "::" {
					ip = netip.IPv6Loopback()
				}
			}
			return "http://" + netip.AddrPortFrom(ip, p.PublicPort).String(), true
		}
	}
	for _, ip := range m.IPs {
		return "http://" + netip.AddrPortFrom(ip, port).String(), true
	}
	return "", false
}
