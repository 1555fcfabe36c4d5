package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Fault is one kind of fault. Plan touches nothing; Inject returns once the effect is
// confirmed; Heal works from the undo alone (written to the ledger before Inject), so
// that a later process can heal what an earlier one injected.
type Fault interface {
	Name() string
	Plan(ctx context.Context, t Member, s Spec) (Plan, error)
	Inject(ctx context.Context, p Plan) (Effect, error)
	Heal(ctx context.Context, undo json.RawMessage) Healing
}

// Expecter is an optional ability of a Fault: the Docker container events its
// injection causes, which the events watcher must not count as unexpected.
type Expecter interface {
	ExpectedEvents() []string
}

// Spec is what a fault is asked to do beyond its target.
type Spec struct {
	// Hold is how long the fault is held: kill and stop, how long the pod stays down;
	// rollout, the pause after each pod is ready again, before the next one is stopped
	// (and after the last one, before the fault ends).
	Hold  time.Duration
	Never bool     // kill and stop: never start the container again
	Peers []string // partition only: peer groups to cut off; empty = everything
	// Grace (stop, rollout) is how long a pod sent SIGTERM may take to exit before it
	// is SIGKILLed; 0: the container's own stop timeout (compose's stop_grace_period),
	// else DefaultGrace, Docker's.
	Grace time.Duration
	// Signal (rollout) is how each pod is stopped: SignalTerm ("" too) or SignalKill.
	Signal string
	// ReadyWithin (rollout) bounds each pod's way from its start to ready; the rollout
	// stops at a pod that takes longer. 0: DefaultReadyWithin.
	ReadyWithin time.Duration
}

// Plan is a fault decided but not yet injected.
type Plan struct {
	Kind   string          `json:"kind"`
	Target Target          `json:"target"`
	Spec   Spec            `json:"-"`
	Undo   json.RawMessage `json:"undo"`
	Does   string          `json:"does"`   // what Inject will do, for people
	Undoes string          `json:"undoes"` // what Heal will do
	// Takes bounds how long Inject may take to confirm its effect when that is more
	// than a confirmation (stop: the pod's grace; rollout: every pod in turn). The
	// inject record's deadline, at which the watchdog heals, counts it.
	Takes  time.Duration `json:"-"`
	member Member
	gate   *podGate // rollout: the Injector's blast radius, readiness and events, pod by pod
}

// Effect is a confirmed injection.
type Effect struct {
	Applied   time.Time // the action returned
	Confirmed time.Time // the effect was observed
	Evidence  string
}

// Outcome is how a fault ended.
type Outcome string

// Outcomes. Only Healed means the undo was applied and its effect observed.
const (
	Healed  Outcome = "healed"  // undone and confirmed
	Unknown Outcome = "unknown" // the heal could not be confirmed, or the target vanished
	Left    Outcome = "left"    // left in place on request (kill with down_for never)
)

// Healing is the result of a heal. Err means the heal could not be done (the ledger
// keeps the fault open, to be retried); otherwise Outcome says what was observed.
type Healing struct {
	Outcome   Outcome
	Applied   time.Time
	Confirmed time.Time
	Evidence  string
	Err       error
}

// KindInfo describes one kind in the list of kinds.
type KindInfo struct {
	Name     string
	Summary  string
	Hold     string // the name of its hold parameter: "duration", or "down_for" for kill and stop
	Peers    bool   // takes a peer set (partition)
	CanLeave bool   // its hold may be "never" (kill, stop)
	Grace    bool   // takes a stop grace, Spec.Grace (stop, rollout)
	Signal   bool   // takes a stop signal, Spec.Signal (rollout)
	AllPods  bool   // hits every pod in turn (rollout): asked for PickAll, never one pod
	// Runtimes offer the kind: nil is Docker alone. A Runtime other than Docker builds
	// its own Fault for each kind it offers (Runtime.Fault); New is Docker's.
	Runtimes []string
	New      func(Deps) Fault
}

// Runtime names.
const (
	RuntimeDocker     = "docker"
	RuntimeKubernetes = "kubernetes"
)

// OfferedBy reports whether runtime offers the kind.
func (k KindInfo) OfferedBy(runtime string) bool {
	if len(k.Runtimes) == 0 {
		return runtime == RuntimeDocker || runtime == ""
	}
	return slices.Contains(k.Runtimes, runtime)
}

// KindNamesFor returns the names of the kinds runtime offers, in list order.
func KindNamesFor(runtime string) []string {
	var names []string
	for _, k := range kinds {
		if k.OfferedBy(runtime) {
			names = append(names, k.Name)
		}
	}
	return names
}

// kinds is the one list of fault kinds: the CLI, config validation and recovery all
// look names up here.
var kinds = []KindInfo{
	{Name: "kill", Summary: "SIGKILL the container; start it again after down_for (or never); on Kubernetes, in place through chaosd's node agent, the kubelet restarting it under the same pod name", Hold: "down_for", CanLeave: true, Runtimes: []string{RuntimeDocker, RuntimeKubernetes}, New: newKill},
	{Name: "stop", Summary: "stop the container as a deploy does (SIGTERM, SIGKILL past its grace); start it again after down_for (or never); on Kubernetes, delete the pod gracefully and wait down_for and its replacement", Hold: "down_for", CanLeave: true, Grace: true, Runtimes: []string{RuntimeDocker, RuntimeKubernetes}, New: newStop},
	{Name: "pause", Summary: "freeze the container (cgroup freezer) for duration, then unpause it; on Kubernetes, through chaosd's node agent, which also thaws it by itself past the deadline should chaosd and its watchdog be gone", Hold: "duration", Runtimes: []string{RuntimeDocker, RuntimeKubernetes}, New: newPause},
	{Name: "partition", Summary: "cut the container off from everything (network disconnect) or from peer groups (nftables), then heal; on Kubernetes, a NetworkPolicy isolating the pod (everything only)", Hold: "duration", Peers: true, Runtimes: []string{RuntimeDocker, RuntimeKubernetes}, New: newPartition},
	{Name: "rollout", Summary: "restart every pod in turn as a deploy does: stop it (SIGTERM and its grace, or SIGKILL), start it, wait until it is ready, pause duration, then the next; on Kubernetes, what kubectl rollout restart does, watched to the end", Hold: "duration", Grace: true, Signal: true, AllPods: true, Runtimes: []string{RuntimeDocker, RuntimeKubernetes}, New: newRollout},
	{Name: "delete", Summary: "Kubernetes: SIGKILL the pod's containers through chaosd's node agent, then delete the pod with grace 0: it dies hard, its name goes for good and its controller starts a replacement under a new name (without an agent, the delete alone: the kubelet then stops the containers with the pod's grace, SIGTERM first); the fault ends duration later, once the replacement is ready", Hold: "duration", Runtimes: []string{RuntimeKubernetes}},
}

// Kinds returns the list of fault kinds.
func Kinds() []KindInfo { return slices.Clone(kinds) }

// KindNames returns the names of the kinds, in list order.
func KindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}

// LookupKind finds a kind by name.
func LookupKind(name string) (KindInfo, error) {
	for _, k := range kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return KindInfo{}, fmt.Errorf("unknown fault kind %q (known: %s)", name, strings.Join(KindNames(), ", "))
}

// Runtime is where the pods under test run when it is not Docker (Kubernetes): it
// lists them and builds the kinds it offers. Deps.Runtime nil is Docker.
type Runtime interface {
	// Name is the runtime's name (RuntimeKubernetes).
	Name() string
	// List returns every pod the target's selector matches, running or not, sorted by
	// pod name, skip-labelled ones marked Skipped.
	List(ctx context.Context) ([]Member, error)
	// Fault builds the runtime's Fault of kind, false when it does not offer it.
	Fault(kind string, d Deps) (Fault, bool)
}

// runtimeName is the name of the runtime the faults act through.
func (d Deps) runtimeName() string {
	if d.Runtime == nil {
		return RuntimeDocker
	}
	return d.Runtime.Name()
}

// list lists the members through the runtime.
func (d Deps) list(ctx context.Context) ([]Member, error) {
	if d.Runtime != nil {
		return d.Runtime.List(ctx)
	}
	return d.Selector.List(ctx, d.Docker)
}

// newFaults builds one Fault of every kind the runtime of deps offers.
func newFaults(d Deps) map[string]Fault {
	m := make(map[string]Fault, len(kinds))
	for _, k := range kinds {
		switch {
		case d.Runtime != nil:
			if f, ok := d.Runtime.Fault(k.Name, d); ok {
				m[k.Name] = f
			}
		case k.OfferedBy(RuntimeDocker):
			m[k.Name] = k.New(d)
		}
	}
	return m
}

func marshalUndo(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode undo: %w", err)
	}
	return b, nil
}

func unmarshalUndo(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode undo: %w", err)
	}
	return nil
}
