package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Injector runs one fault from decision to confirmed heal:
//
//	pick the target -> check the blast radius -> plan (the exact undo) ->
//	arm the watchdog -> ledger: inject record (fsync) -> inject, confirm ->
//	ledger: confirmed, deadline -> hold until the deadline or a signal ->
//	heal (on a context that outlives the signal), confirm -> ledger: heal record
type Injector struct {
	Deps      Deps
	Ledger    *Ledger // nil for a dry run
	Path      string  // the ledger's path (read in a dry run)
	Scope     string  // the target's key, written on each inject record: recovery heals only its own
	Healer    *Healer
	Watchdog  Watchdog
	Owners    OwnerSource
	Readiness Readiness
	Blast     BlastRadius
	Events    *Events // optional
	Log       *zap.Logger
	Rand      func(n int) int // default math/rand/v2
	// OnStep, when set, is told each step of the fault's life as it happens: StepRecorded
	// (the inject record is synced), StepInjected (confirmed in effect), StepInjectFailed,
	// StepHealed or StepHealUnknown. chaosd's history takes its fault events from it.
	OnStep func(step string, r *Report)
}

// Steps reported to Injector.OnStep.
const (
	StepRecorded     = "recorded"
	StepInjected     = "injected"
	StepInjectFailed = "inject-failed"
	StepHealed       = "healed"
	StepHealUnknown  = "heal-unknown"
)

func (in *Injector) step(step string, r *Report) {
	if in.OnStep != nil {
		in.OnStep(step, r)
	}
}

// Request is one fault to inject.
type Request struct {
	Kind   string
	Target TargetSpec
	Spec   Spec
	DryRun bool
}

// Report is what happened, step by step, with the confirmed times.
type Report struct {
	Fault       string
	Kind        string
	DryRun      bool
	Picked      string // how the target was chosen
	Admission   Admission
	Plan        Plan
	Started     time.Time // Run was called
	Decided     time.Time // target and plan settled; the ledger write follows
	Recorded    time.Time // watchdog armed, inject record synced; injection follows
	Watchdog    string
	Effect      Effect
	Deadline    time.Time
	Interrupted bool // a signal ended the hold early
	Heal        HealReport
}

// Run injects one fault, holds it, heals it. On an error after injection started, the
// fault has been healed (or left open in the ledger for recover and the watchdog).
func (in *Injector) Run(ctx context.Context, req Request) (*Report, error) {
	r := &Report{Kind: req.Kind, DryRun: req.DryRun, Started: time.Now()}
	info, err := LookupKind(req.Kind)
	if err != nil {
		return r, err
	}
	if err := scope(info, req.Target); err != nil {
		return r, err
	}
	fault, ok := in.Healer.faults[req.Kind]
	if !ok {
		return r, fmt.Errorf("fault kind %s: the %s runtime does not offer it (it offers %s)", req.Kind, in.Deps.runtimeName(), strings.Join(KindNamesFor(in.Deps.runtimeName()), ", "))
	}
	st, err := ReadLedger(in.Path)
	if err != nil {
		return r, err
	}
	if err := in.decide(ctx, req, fault, st, r); err != nil || req.DryRun {
		return r, err
	}
	if err := in.record(ctx, r); err != nil {
		return r, err
	}
	in.step(StepRecorded, r)
	if err := in.inject(ctx, fault, r); err != nil {
		in.step(StepInjectFailed, r)
		return r, err
	}
	in.step(StepInjected, r)
	if req.Spec.Never {
		return r, in.leave(r)
	}
	r.Interrupted = !hold(ctx, r.Deadline)
	by := ByChaosd
	if r.Interrupted {
		by = BySignal
	}
	return r, in.heal(ctx, r, by)
}

// decide picks the target, checks the blast radius and plans the fault.
func (in *Injector) decide(ctx context.Context, req Request, f Fault, st *State, r *Report) error {
	members, err := in.Deps.list(ctx)
	if err != nil {
		return err
	}
	faulted := map[string]bool{}
	for _, t := range st.faulted() {
		faulted[t.ID] = true
	}
	p := picker{members: members, faulted: faulted, owners: in.Owners, rand: in.Rand}
	if p.rand == nil {
		p.rand = randIntN
	}
	target, picked, err := p.pick(ctx, req.Target)
	if err != nil {
		return err
	}
	r.Picked = picked
	admit := in.Blast.admit
	if req.Target.Mode == PickAll {
		admit = in.Blast.admitAll
	}
	if r.Admission, err = admit(ctx, target, members, st.faulted(), in.Readiness); err != nil {
		return err
	}
	if r.Plan, err = f.Plan(ctx, target, req.Spec); err != nil {
		return err
	}
	r.Decided = time.Now()
	return nil
}

// record arms the watchdog and writes the inject record, under the ledger lock and
// after checking that no other chaosd opened a fault on the target (or beyond the blast
// radius) meanwhile.
func (in *Injector) record(ctx context.Context, r *Report) error {
	unlock, err := in.Ledger.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := in.Ledger.Read()
	if err != nil {
		return err
	}
	if err := in.stillFree(st, r.Plan.Target); err != nil {
		return err
	}
	r.Fault = newFaultID(r.Decided)
	r.Deadline = time.Now().Add(r.Plan.Takes + r.Plan.Spec.Hold)
	if !r.Plan.Spec.Never {
		// Armed before the record: a crash right after the record still has its
		// watchdog; one that finds no record (a crash before it) has nothing to heal.
		w, err := in.Watchdog.Arm(ctx, r.Fault)
		if err != nil {
			return fmt.Errorf("not injected: %w", err)
		}
		r.Watchdog = w
	}
	self := Self()
	err = in.Ledger.Append(Record{Op: OpInject, Fault: r.Fault, Kind: r.Kind, Target: &r.Plan.Target, Undo: r.Plan.Undo,
		Does: r.Plan.Does, Undoes: r.Plan.Undoes, Deadline: r.Deadline, Owner: &self, Scope: in.Scope})
	r.Recorded = time.Now()
	return err
}

func (in *Injector) stillFree(st *State, t Target) error {
	pods := 0
	for _, o := range st.faulted() {
		if o.ID == t.ID {
			return fmt.Errorf("target: %s got an open fault meanwhile", t.Pod)
		}
		if !o.Infra {
			pods++
		}
	}
	if !t.Infra && pods+1 > in.Blast.MaxFaulted {
		return fmt.Errorf("%w: %d pod(s) faulted meanwhile, at most %d at once", ErrBlastRadius, pods, in.Blast.MaxFaulted)
	}
	return nil
}

// inject injects and confirms; on failure it heals at once.
func (in *Injector) inject(ctx context.Context, f Fault, r *Report) error {
	log := in.log().With(zap.String(LogKeyFault, r.Fault), zap.String(LogKeyKind, r.Kind), zap.String(LogKeyTarget, r.Plan.Target.Pod))
	var events []string
	if x, ok := f.(Expecter); ok {
		events = x.ExpectedEvents()
	}
	switch {
	case r.Plan.Target.ID == EveryPod && in.Deps.Runtime != nil:
		// Kubernetes: the pods' controller replaces them all, under its own strategy;
		// each death of a pod under test while the fault is injected is the fault's.
		defer in.expect(ctx, EveryPod, r.Fault, events)()
	case r.Plan.Target.ID == EveryPod:
		r.Plan.gate = &podGate{in: in, fault: r.Fault, events: events, log: log}
	default:
		defer in.expect(ctx, r.Plan.Target.ID, r.Fault, events)()
	}
	eff, err := f.Inject(ctx, r.Plan)
	r.Effect = eff
	if by := in.closedMeanwhile(r.Fault); by != "" {
		// Another process (the watchdog at the deadline, chaosd recover) healed the
		// fault while its injection was still under way: that heal may have found
		// nothing to undo, and the injection may have landed after it. Undo it again.
		return in.undoAgain(ctx, r, by, err)
	}
	if err != nil {
		log.Error("injection failed or not confirmed; healing at once", zap.Error(err))
		return errors.Join(fmt.Errorf("inject: %w", err), in.heal(ctx, r, ByAbort))
	}
	r.Deadline = eff.Confirmed.Add(r.Plan.Spec.Hold)
	log.Info("injected", zap.Time("confirmed", eff.Confirmed), zap.Time("deadline", r.Deadline), zap.String("evidence", eff.Evidence))
	return in.Ledger.Append(Record{Op: OpConfirmed, Fault: r.Fault, Applied: eff.Applied, Confirmed: eff.Confirmed, Evidence: eff.Evidence, Deadline: r.Deadline})
}

// closedMeanwhile is who closed the fault's ledger entry ("" while it is open, or
// when the ledger cannot be read: the usual path then heals it as usual).
func (in *Injector) closedMeanwhile(id string) string {
	st, err := in.Ledger.Read()
	if err != nil {
		return ""
	}
	if e := st.Get(id); e != nil && !e.Open() {
		return e.Heal.By
	}
	return ""
}

// undoAgain undoes a fault that another process closed while its injection was under
// way. The undo goes through the ledger like any heal: a new entry (the fault's id
// with "-again") for the same target and undo is recorded open, then healed, so that a
// failed undo stays open for chaosd recover and the next start-up. The error says
// that the fault was not held as asked.
func (in *Injector) undoAgain(ctx context.Context, r *Report, by string, injectErr error) error {
	log := in.log().With(zap.String(LogKeyFault, r.Fault), zap.String(LogKeyKind, r.Kind), zap.String(LogKeyTarget, r.Plan.Target.Pod))
	log.Error("the fault was healed by "+by+" before its injection ended; undoing it again", zap.NamedError("inject_error", injectErr))
	again := r.Fault + "-again"
	self := Self()
	base := context.WithoutCancel(ctx)
	err := func() error {
		lctx, cancel := context.WithTimeout(base, in.Healer.timeout)
		defer cancel()
		unlock, err := in.Ledger.Lock(lctx)
		if err != nil {
			return err
		}
		defer unlock()
		return in.Ledger.Append(Record{Op: OpInject, Fault: again, Kind: r.Kind, Target: &r.Plan.Target, Undo: r.Plan.Undo,
			Does: r.Plan.Does + " (fault " + r.Fault + ", landed after " + by + " healed it)", Undoes: r.Plan.Undoes,
			Deadline: time.Now(), Owner: &self, Scope: in.Scope})
	}()
	if err != nil {
		return errors.Join(fmt.Errorf("inject: the fault was healed by %s before its injection ended, and could not be undone again: %w (run chaosd recover)", by, err), injectErr)
	}
	rep, err := in.Healer.Heal(ctx, again, ByAbort)
	r.Heal = rep
	if err == nil && rep.Healing.Outcome != Healed {
		err = fmt.Errorf("%w: %s: %s", ErrNotHealed, rep.Healing.Outcome, rep.Healing.Evidence)
	}
	if err != nil {
		err = fmt.Errorf("undone again as %s: %w", again, err)
	}
	return errors.Join(fmt.Errorf("inject: the fault was healed by %s before its injection ended (the hold was not kept; undone again as %s)", by, again), injectErr, err)
}

// expect counts actions on container id as fault's until the returned function is
// called, and a second more: the events on their way.
func (in *Injector) expect(ctx context.Context, id, fault string, actions []string) (release func()) {
	done := in.Events.Expect(id, fault, actions)
	return func() { go func() { _ = sleep(context.WithoutCancel(ctx), time.Second); done() }() }
}

// scope checks that a kind that hits every pod is asked for every pod, and only such
// a kind.
func scope(info KindInfo, ts TargetSpec) error {
	switch {
	case info.AllPods && ts.Mode != PickAll:
		return fmt.Errorf("target: %s hits every pod in turn: it takes no %s target", info.Name, ts.Mode)
	case !info.AllPods && ts.Mode == PickAll:
		return fmt.Errorf("target: %s hits one pod, not %s", info.Name, PickAll)
	}
	return nil
}

// leave closes a fault left in place on request (kill or stop, down_for never).
func (in *Injector) leave(r *Report) error {
	r.Heal = HealReport{By: ByChaosd, Healing: Healing{Outcome: Left, Evidence: "left down on request (down_for never)"}}
	return in.Ledger.Append(Record{Op: OpHeal, Fault: r.Fault, By: ByChaosd, Outcome: Left, Evidence: r.Heal.Healing.Evidence})
}

// hold waits until the deadline; false when ctx ended first.
func hold(ctx context.Context, deadline time.Time) bool {
	return sleep(ctx, time.Until(deadline)) == nil
}

// heal heals the fault through the healer; a heal that is not confirmed is an error.
func (in *Injector) heal(ctx context.Context, r *Report, by string) error {
	rep, err := in.Healer.Heal(ctx, r.Fault, by)
	r.Heal = rep
	if err == nil && rep.Healing.Outcome != Healed && rep.Healing.Outcome != Left {
		err = fmt.Errorf("%w: %s: %s", ErrNotHealed, rep.Healing.Outcome, rep.Healing.Evidence)
	}
	if by != ByAbort {
		if err != nil {
			in.step(StepHealUnknown, r)
		} else {
			in.step(StepHealed, r)
		}
	}
	return err
}

// ErrNotHealed means a heal could not be confirmed (outcome unknown).
var ErrNotHealed = errors.New("heal not confirmed")

func (in *Injector) log() *zap.Logger {
	if in.Log == nil {
		return zap.NewNop()
	}
	return in.Log
}
