package faults

import (
	"context"
	"fmt"
	"os"
	"time"
)

// RecoverOptions tune Recover.
type RecoverOptions struct {
	DryRun bool   // say what would be healed; touch nothing
	Force  bool   // heal also the faults a live chaosd still holds
	By     string // who heals, for the ledger (default ByRecover)
	// Scope, when set, is the target's key: only the faults recorded with it (or with
	// none, as before scopes were written) are healed; the others are left to a chaosd
	// of their own target.
	Scope string
	// Ledger is the ledger's path, where the instance locks lie (default: the healer's).
	Ledger string
}

// Recovery is what Recover did with one open fault.
type Recovery struct {
	Entry   *Entry
	Skipped string // why it was left alone, or "" when healed (or would be, in a dry run)
	Report  HealReport
	Err     error
}

// Recover heals every fault of o.Scope the ledger says is open, except those a live
// chaosd still holds (unless Force): its instance lock is held by another process, or
// the process that injected it lives and the deadline has not passed. Errors are per
// fault.
func Recover(ctx context.Context, h *Healer, o RecoverOptions) ([]Recovery, error) {
	st, err := h.ledger.Read()
	if err != nil {
		return nil, err
	}
	return RecoverState(ctx, st, h, o), nil
}

// RecoverState is Recover on a ledger state already read (for a dry run, h may have no
// open ledger and is not used).
func RecoverState(ctx context.Context, st *State, h *Healer, o RecoverOptions) []Recovery {
	if o.By == "" {
		o.By = ByRecover
	}
	if o.Ledger == "" && h != nil && h.ledger != nil {
		o.Ledger = h.ledger.Path()
	}
	var out []Recovery
	for _, e := range st.Open() {
		r := Recovery{Entry: e}
		holder, isHeld := "", false
		if !o.Force {
			holder, isHeld = heldBy(e, o.Ledger, time.Now())
		}
		switch {
		case o.Scope != "" && e.Inject.Scope != "" && e.Inject.Scope != o.Scope:
			r.Skipped = fmt.Sprintf("a fault of target %s, not of this one (%s): left to a chaosd of its own target (chaosd recover --compose-project %[1]s)", e.Inject.Scope, o.Scope)
		case isHeld:
			r.Skipped = holder
		case o.DryRun:
		default:
			r.Report, r.Err = h.Heal(ctx, e.ID(), o.By)
		}
		out = append(out, r)
	}
	return out
}

// heldBy says whether a live chaosd other than this process still holds e, and who:
// the instance lock of e's target held by another process (whatever the deadline: its
// holder, or its watchdog, heals it), or the process that injected it alive and the
// deadline not passed.
func heldBy(e *Entry, ledger string, now time.Time) (string, bool) {
	self := os.Getpid()
	if ledger != "" && e.Inject.Scope != "" {
		path := InstanceLockPath(ledger, e.Inject.Scope)
		if h, ok, err := LockHolder(path); err == nil && ok && h.PID != self {
			return fmt.Sprintf("held by a live chaosd of target %s: %s (its lock %s)", e.Inject.Scope, h, path), true
		}
	}
	o := e.Inject.Owner
	if o != nil && o.Alive() && o.PID != self && now.Before(e.Deadline) {
		return fmt.Sprintf("held by a live chaosd (%s) until %s", o, e.Deadline.Format(time.RFC3339)), true
	}
	return "", false
}
