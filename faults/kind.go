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
	Hold  time.Duration // how long the fault is held (kill: how long the pod stays down)
	Never bool          // kill only: never start the container again
	Peers []string      // partition only: peer groups to cut off; empty = everything
}

// Plan is a fault decided but not yet injected.
type Plan struct {
	Kind   string          `json:"kind"`
	Target Target          `json:"target"`
	Spec   Spec            `json:"-"`
	Undo   json.RawMessage `json:"undo"`
	Does   string          `json:"does"`   // what Inject will do, for people
	Undoes string          `json:"undoes"` // what Heal will do
	member Member
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
	Hold     string // the name of its hold parameter: "duration", or "down_for" for kill
	Peers    bool   // takes a peer set (partition)
	CanLeave bool   // its hold may be "never" (kill)
	New      func(Deps) Fault
}

// kinds is the one list of fault kinds: the CLI, config validation and recovery all
// look names up here.
var kinds = []KindInfo{
	{Name: "kill", Summary: "SIGKILL the container; start it again after down_for (or never)", Hold: "down_for", CanLeave: true, New: newKill},
	{Name: "pause", Summary: "freeze the container (cgroup freezer) for duration, then unpause it", Hold: "duration", New: newPause},
	{Name: "partition", Summary: "cut the container off from everything (network disconnect) or from peer groups (nftables), then heal", Hold: "duration", Peers: true, New: newPartition},
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

// newFaults builds one Fault of every kind on deps.
func newFaults(d Deps) map[string]Fault {
	m := make(map[string]Fault, len(kinds))
	for _, k := range kinds {
		m[k.Name] = k.New(d)
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
