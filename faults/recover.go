package faults

import (
	"context"
	"fmt"
	"time"
)

// RecoverOptions tune Recover.
type RecoverOptions struct {
	DryRun bool   // say what would be healed; touch nothing
	Force  bool   // heal also the faults a live chaosd still holds before their deadline
	By     string // who heals, for the ledger (default ByRecover)
}

// Recovery is what Recover did with one open fault.
type Recovery struct {
	Entry   *Entry
	Skipped string // why it was left alone, or "" when healed (or would be, in a dry run)
	Report  HealReport
	Err     error
}

// Recover heals every fault the ledger says is open, except those a live chaosd
// process still holds before their deadline (unless Force). Errors are per fault.
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
	var out []Recovery
	for _, e := range st.Open() {
		r := Recovery{Entry: e}
		switch {
		case !o.Force && held(e, time.Now()):
			r.Skipped = fmt.Sprintf("held by a live chaosd (%s) until %s", e.Inject.Owner, e.Deadline.Format(time.RFC3339))
		case o.DryRun:
		default:
			r.Report, r.Err = h.Heal(ctx, e.ID(), o.By)
		}
		out = append(out, r)
	}
	return out
}

// held reports whether a live chaosd holds e and its deadline has not passed.
func held(e *Entry, now time.Time) bool {
	o := e.Inject.Owner
	return o != nil && o.Alive() && o.PID != Self().PID && now.Before(e.Deadline)
}
