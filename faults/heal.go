package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Who healed a fault, as written in the ledger.
const (
	ByChaosd   = "chaosd"   // the process that injected it, at the deadline
	BySignal   = "signal"   // the process that injected it, on SIGINT/SIGTERM
	ByRecover  = "recover"  // chaosd recover, or chaosd's start-up recovery
	ByWatchdog = "watchdog" // the detached watchdog
	ByAbort    = "abort"    // the injection failed; undone at once
)

// Healer heals the faults of a ledger, one heal at a time across processes (the
// ledger lock), each on a context that outlives its caller's cancellation.
type Healer struct {
	ledger  *Ledger
	faults  map[string]Fault
	timeout time.Duration
	settle  time.Duration
	log     *zap.Logger
}

// NewHealer heals the faults of l with the kinds built on d, each heal bounded by
// timeout.
func NewHealer(l *Ledger, d Deps, timeout time.Duration) *Healer {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Healer{ledger: l, faults: newFaults(d), timeout: timeout, settle: d.Timing.withDefaults().Settle, log: d.logger().Named("heal")}
}

// lingerer is an optional ability of a Fault whose injection goes on by itself for a
// while once its signal is sent: a container sent SIGTERM has its grace to exit (stop,
// rollout). linger reads that time from the undo.
type lingerer interface {
	linger(undo json.RawMessage) time.Duration
}

// HealReport is what a heal did, or found already done.
type HealReport struct {
	Entry   *Entry
	Healing Healing
	Started time.Time
	By      string
	Already bool // closed earlier, by By
}

// Heal heals fault id unless it is closed already. A failed heal is written down and
// returned as an error; the fault stays open for a later attempt.
func (h *Healer) Heal(ctx context.Context, id, by string) (HealReport, error) {
	base := context.WithoutCancel(ctx)
	// Waiting for the lock has a budget of its own: another process (a watchdog, or
	// chaosd recover) may hold it for a whole heal; this one then still gets its own.
	lctx, lcancel := context.WithTimeout(base, h.timeout)
	defer lcancel()
	if err := h.settleInFlight(lctx, id); err != nil {
		return HealReport{}, err
	}
	unlock, err := h.ledger.Lock(lctx)
	if err != nil {
		return HealReport{}, err
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(base, h.timeout)
	defer cancel()
	st, err := h.ledger.Read()
	if err != nil {
		return HealReport{}, err
	}
	e := st.Get(id)
	if e == nil {
		return HealReport{}, fmt.Errorf("heal: no fault %s in %s", id, h.ledger.Path())
	}
	if !e.Open() {
		return HealReport{Entry: e, Healing: healingOf(e.Heal), By: e.Heal.By, Already: true}, nil
	}
	return h.heal(ctx, e, by)
}

// settleInFlight waits, for a fault whose injection was never confirmed, until the
// injection's Engine API call can no longer be in flight (Timing.Settle after the
// inject record), and for a kind that lingers (stop, rollout) whose chaosd died, until
// a container it may just have sent SIGTERM has had its grace: healing before either
// lands would let it undo the heal. It waits outside the ledger lock.
func (h *Healer) settleInFlight(ctx context.Context, id string) error {
	st, err := h.ledger.Read()
	if err != nil {
		return err
	}
	e := st.Get(id)
	if e == nil || !e.Open() || e.Confirmed != nil {
		return nil
	}
	wait := time.Until(e.Inject.At.Add(h.settle))
	if l, ok := h.faults[e.Inject.Kind].(lingerer); ok && (e.Inject.Owner == nil || !e.Inject.Owner.Alive()) {
		// The chaosd that injected it died, maybe just after a SIGTERM: the container
		// may still be on its way out, and a heal that found it running would take it
		// for healed. Its last signal was sent before now, and before the deadline.
		wait = max(wait, min(l.linger(e.Inject.Undo), time.Until(e.Deadline)))
	}
	if wait <= 0 {
		return nil
	}
	h.log.Info("injection never confirmed: letting a call still in flight land first", zap.String(LogKeyFault, id), zap.Duration("wait", wait))
	return sleep(ctx, wait)
}

func (h *Healer) heal(ctx context.Context, e *Entry, by string) (HealReport, error) {
	f, ok := h.faults[e.Inject.Kind]
	if !ok {
		return HealReport{Entry: e}, fmt.Errorf("heal %s: unknown fault kind %q", e.ID(), e.Inject.Kind)
	}
	rep := HealReport{Entry: e, Started: time.Now(), By: by}
	rep.Healing = f.Heal(ctx, e.Inject.Undo)
	rec := Record{Fault: e.ID(), By: by, Started: rep.Started, Applied: rep.Healing.Applied, Confirmed: rep.Healing.Confirmed, Evidence: rep.Healing.Evidence}
	if rep.Healing.Err != nil {
		rec.Op, rec.Error = OpHealFailed, rep.Healing.Err.Error()
	} else {
		rec.Op, rec.Outcome = OpHeal, rep.Healing.Outcome
	}
	appendErr := h.ledger.Append(rec)
	h.log.Info("heal", zap.String(LogKeyFault, e.ID()), zap.String(LogKeyKind, e.Inject.Kind), zap.String(LogKeyTarget, e.Target().Pod),
		zap.String("by", by), zap.String("outcome", string(rec.Outcome)), zap.String("evidence", rec.Evidence), zap.String("error", rec.Error))
	if err := errors.Join(rep.Healing.Err, appendErr); err != nil {
		return rep, fmt.Errorf("heal %s: %w", e.ID(), err)
	}
	return rep, nil
}

func healingOf(r *Record) Healing {
	return Healing{Outcome: r.Outcome, Applied: r.Applied, Confirmed: r.Confirmed, Evidence: r.Evidence}
}

// Ledger is the healer's ledger.
func (h *Healer) Ledger() *Ledger { return h.ledger }
