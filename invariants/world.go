package invariants

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// World is what every checker needs to know besides its own state: the event clock,
// the faults in effect, which pods are down or ready, and a short dossier per run for
// diagnoses. The Engine updates it with each event before the checkers see it.
type World struct {
	p     Params
	now   time.Time
	ended bool // the history's end line was seen
	pods  map[string]*pod
	open  map[string]*fault // faults from intent until healed, heal-unknown or failed
	runs  map[string]*Run
	drops dropHeap
	// lastRun is the dossier Run found last (nil once it is dropped).
	lastRun *Run
	seen    int                  // events observed
	order   orderMemo            // the arrival order analyzed last (Order)
	hb      string               // the last heartbeat reading, for diagnoses
	keyAt   map[string]time.Time // pod -> when its heartbeat key was last written, as read
	onDrop  func(run string)

	downCount int // pod down intervals opened so far (for notes)
	// opened are the owner-down episodes the event being observed opened: runs in
	// progress whose owner went down with it (ownerDowns).
	opened []ownerDown

	outages   []*outage     // dependency outages, oldest first (outage.go)
	maxExpect time.Duration // the longest streaming time of a run seen
	tallies   []*tallyState // every checker's counts (Engine.Counts)
	onFinding func(string, Status, Finding)
}

func newWorld(p Params) *World {
	return &World{p: p, pods: map[string]*pod{}, open: map[string]*fault{}, runs: map[string]*Run{}}
}

// Now is the event clock: the latest event time seen.
func (w *World) Now() time.Time { return w.now }

// Ended reports whether the history's end line was seen.
func (w *World) Ended() bool { return w.ended }

func (w *World) observe(e *history.Event) {
	if e.Time.After(w.now) {
		w.now = e.Time
	}
	w.opened = w.opened[:0]
	w.seen++
	switch e.Type {
	case history.TypeMeta:
		if e.Meta.Phase == history.MetaEnd {
			w.ended = true
		}
	case history.TypeOp:
		w.observeOp(e)
	case history.TypeWatch:
		w.observeWatch(e)
	case history.TypeFault:
		w.observeFault(e.Fault)
	case history.TypeDocker:
		w.observeDocker(e.Docker)
	case history.TypeProbe:
		w.observeProbe(e)
	}
}

// expire drops runs whose dossiers are no longer needed.
func (w *World) expire() {
	for len(w.drops) > 0 && w.drops[0].at.Before(w.now) {
		d := w.drops.pop()
		if r := w.runs[d.run]; r != nil && r.dropAt.Equal(d.at) {
			if later := w.keepUntil(r); later.After(w.now) {
				r.dropAt = later
				w.drops.push(dropAt{at: later, run: r.ID})
				continue
			}
			delete(w.runs, d.run)
			if w.lastRun == r {
				w.lastRun = nil
			}
			if w.onDrop != nil {
				w.onDrop(d.run)
			}
		}
	}
}

// ---- faults and pods ----

// fault is one fault's life so far.
type fault struct {
	history.Fault
	intentAt, injectedAt, endAt time.Time
	endPhase                    string    // healed, heal-unknown, inject-failed; "" while open
	stepAt                      time.Time // a rollout: the last start of one of its pods (the next pod's stop comes after it)
}

// stopBegan is the earliest the graceful stop of a pod that died at died can have
// begun: a stop's decision, or for a rollout the later of its decision and the last
// start of one of its pods before died (a rollout stops its pods one after another).
func (f *fault) stopBegan(died time.Time) time.Time {
	if f.Kind == history.KindRollout && f.stepAt.After(f.intentAt) && !f.stepAt.After(died) {
		return f.stepAt
	}
	return f.intentAt
}

// String diagnoses the fault: what chaosd did and when.
func (f *fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaosd %s", f.verb())
	if f.Pod != "" && f.Kind != history.KindRollout { // a rollout's pod is "all"
		b.WriteString(" " + f.Pod)
	}
	fmt.Fprintf(&b, " (fault %s", f.ID)
	if f.Run != "" {
		fmt.Fprintf(&b, ", owner of run %s", f.Run)
	}
	b.WriteString(")")
	if f.Replaced {
		b.WriteString(", removed for good (replaced under a new name),")
	}
	if f.injectedAt.IsZero() {
		fmt.Fprintf(&b, " decided %s", clock(f.intentAt))
	} else {
		fmt.Fprintf(&b, " confirmed %s", clock(f.injectedAt))
	}
	switch f.endPhase {
	case history.FaultHealed:
		fmt.Fprintf(&b, ", healed %s", clock(f.endAt))
	case history.FaultHealUnknown:
		fmt.Fprintf(&b, ", heal unconfirmed at %s", clock(f.endAt))
	case history.FaultInjectFailed:
		fmt.Fprintf(&b, ", injection failed at %s", clock(f.endAt))
	default:
		b.WriteString(", not healed")
	}
	return b.String()
}

func (f *fault) verb() string {
	switch f.Kind {
	case history.KindDelete:
		return "deleted (SIGKILL)"
	case history.KindKill:
		return "killed"
	case history.KindPause:
		return "paused"
	case history.KindStop:
		return "stopped"
	case history.KindPartition:
		if len(f.Peers) == 0 {
			return "partitioned (from all)"
		}
		return "partitioned (from " + strings.Join(f.Peers, ",") + ")"
	case history.KindRollout:
		if f.Signal != "" {
			return "rolled out (SIG" + f.Signal + ", then a restart, every pod in turn)"
		}
		return "rolled out (every pod in turn)"
	}
	return f.Kind + "ed"
}

// graceful reports whether the fault stops its pods gracefully (SIGTERM: mesh drains
// and hands its runs over): a stop or a rollout, unless it says KILL (a rollout's
// signal defaults to TERM, faults.ParseSignal).
func (f *fault) graceful() bool {
	switch f.Kind {
	case history.KindStop, history.KindRollout:
		return f.Signal != history.SignalKill
	}
	return false
}

// downs reports whether the fault takes its pod down as mesh sees it: no process,
// frozen, or cut off from NATS (its heartbeat stops). A rollout takes each pod down
// in turn: the Docker events of its pods say when.
func (f *fault) downs() bool {
	switch f.Kind {
	case history.KindKill, history.KindStop, history.KindPause, history.KindRestart, history.KindDelete:
		return true
	case history.KindPartition:
		return len(f.Peers) == 0 || slices.Contains(f.Peers, history.PeerAll) || slices.Contains(f.Peers, history.PeerNATS)
	}
	return false
}

// active reports whether the fault may be in effect at t.
func (f *fault) active(t time.Time) bool {
	return !t.Before(f.intentAt) && (f.endPhase == "" || t.Before(f.endAt))
}

// interval is a span of time a pod was down; to is zero while it lasts.
type interval struct {
	pod      string
	from, to time.Time
	why      func() string // evaluated when diagnosing, so that a later heal shows
	cause    *fault        // chaosd's fault that took the pod down, nil when none is known
	exit     *int          // the exit code of the Docker die that opened it, if one did
}

// graceful reports whether the pod was stopped gracefully (a stop, or a rollout by
// SIGTERM): it handed its runs over rather than died with them. A rollout that
// recorded no signal and whose pod died of SIGKILL (exit 137) was not graceful.
func (iv *interval) graceful() bool {
	if iv.cause == nil || !iv.cause.graceful() {
		return false
	}
	return iv.cause.Kind != history.KindRollout || iv.cause.Signal != "" || iv.exit == nil || *iv.exit != 137
}

// what says what took the pod down: chaosd's fault when known (a rollout's with the
// pod's own Docker event), else why.
func (iv *interval) what() string {
	if iv.cause != nil && iv.cause.Kind != history.KindRollout {
		return iv.cause.String()
	}
	return iv.why()
}

// ownerDown is an interval in which a run's owner was down while the run was in
// progress.
type ownerDown struct {
	run *Run
	iv  *interval
}

type pod struct {
	name       string
	down       *interval   // the current down interval, nil when up
	downs      []*interval // the last few, newest last
	faults     []*fault    // the last few faults on this pod, newest last
	ready      bool
	readyAt    time.Time // the last readiness reading
	readySince time.Time // first ready reading of the current ready streak
	startedAt  time.Time // its container's last start (a running snapshot or a start event); zero: unknown
	// unreadySinceStart: a readiness reading since startedAt said not ready (or was
	// not answered): the current ready streak is not the one the pod booted into.
	unreadySinceStart bool
	firstSeen         time.Time // when the history first named it: a replacement is first seen after its fault's decision
	readyNote         string    // the last reading, for diagnoses
}

const podRing = 8

func (w *World) pod(name string) *pod {
	p := w.pods[name]
	if p == nil {
		p = &pod{name: name, firstSeen: w.now}
		w.pods[name] = p
	}
	return p
}

func (w *World) observeFault(h *history.Fault) {
	f := w.open[h.ID]
	if f == nil {
		f = &fault{Fault: *h, intentAt: h.At}
		if f.intentAt.IsZero() {
			f.intentAt = w.now
		}
		w.open[h.ID] = f
		if h.Kind != history.KindRollout { // a rollout's pods join it as they go down (podDown)
			p := w.pod(h.Pod)
			p.faults = appendRing(p.faults, f)
		}
	}
	at := h.At
	if at.IsZero() {
		at = w.now
	}
	switch h.Phase {
	case history.FaultInjected:
		f.injectedAt = at
		if f.Run == "" {
			f.Run = h.Run
		}
		w.faultInjected(f, at)
	case history.FaultHealed, history.FaultHealUnknown, history.FaultInjectFailed:
		f.endAt, f.endPhase = at, h.Phase
		delete(w.open, h.ID)
		if h.Phase == history.FaultHealed && f.downs() && !f.Replaced { // a replaced pod never comes back
			w.podUp(h.Pod, at)
		}
	}
}

// faultInjected marks the pod down and the runs it owned as hit.
func (w *World) faultInjected(f *fault, at time.Time) {
	if f.downs() {
		w.podDown(f.Pod, at, f.String, f, nil)
	}
	for _, r := range w.runs {
		if r.ID == f.Run || (f.Pod != "" && f.Kind != history.KindRollout && r.Owner == f.Pod && r.inProgress()) {
			r.hit(f)
		}
	}
}

// hit records that the fault hit the run's owner (once).
func (r *Run) hit(f *fault) {
	if !slices.Contains(r.hits, f) {
		r.hits = appendRing(r.hits, f)
	}
}

// podDown opens a down interval of the pod (unless one is open: a fault's cause and
// a die's exit code are then added to it, e.g. a Docker die seen before the fault's
// confirmation), and records it on the runs in progress that the pod owned
// (ownerDowns).
func (w *World) podDown(name string, at time.Time, why func() string, cause *fault, exit *int) {
	p := w.pod(name)
	p.ready = false
	if p.down != nil {
		if p.down.cause == nil {
			p.down.cause = cause
		}
		if p.down.exit == nil {
			p.down.exit = exit
		}
		return
	}
	p.down = &interval{pod: name, from: at, why: why, cause: cause, exit: exit}
	p.downs = appendRing(p.downs, p.down)
	w.downCount++
	if cause != nil && cause.Pod != name && !slices.Contains(p.faults, cause) {
		p.faults = appendRing(p.faults, cause) // a rollout: this pod is now one of its targets
	}
	w.ownerDowns(p.down, cause)
}

// ownerDowns records the interval on every run in progress whose owner (as Postgres
// last named it at the interval's start) is the pod, or that the fault targeted.
func (w *World) ownerDowns(iv *interval, cause *fault) {
	for _, r := range w.runs {
		if r.decided() {
			continue
		}
		owner := r.OwnerAt(iv.from)
		if owner == "" {
			owner = r.Owner
		}
		if owner != iv.pod && cause != nil && cause.graceful() && r.ownedBy(iv.pod, cause.stopBegan(iv.from), iv.from) {
			// A graceful stop hands the runs over before the pod exits: between the
			// SIGTERM and the exit the run turned ownerless, or was already claimed by
			// another pod (a slow drain, a quick claim). The pod owned it when its
			// stop began, so the stop hit the run.
			owner = iv.pod
		}
		// The fault names the run whose owner it hit: the run counts when it was read
		// in progress, or not read yet (owner faults are chosen mid-stream).
		targeted := cause != nil && cause.Run == r.ID && (r.inProgress() || r.Status == "")
		if (owner == iv.pod && r.inProgress()) || targeted {
			r.downs = appendRing(r.downs, iv)
			w.opened = append(w.opened, ownerDown{run: r, iv: iv})
			if cause != nil {
				r.hit(cause)
			}
		}
	}
}

// ownerDownsNow are the owner-down episodes that the event being observed opened.
func (w *World) ownerDownsNow() []ownerDown { return w.opened }

func (w *World) podUp(name string, at time.Time) {
	p := w.pods[name]
	if p == nil || p.down == nil {
		return
	}
	p.down.to = at
	p.down = nil
}

func (w *World) observeDocker(d *history.Docker) {
	name := d.Pod
	if name == "" || w.p.ignored(d.Pod, d.Container) {
		return
	}
	at := d.At
	if at.IsZero() {
		at = w.now
	}
	if w.observeDependencyContainer(d, at) {
		return
	}
	switch d.Action {
	case history.DockerDie, history.DockerPause:
		cause := w.faultOf(d)
		why := func() string { return dockerWhy(d) }
		if cause != nil && cause.Kind == history.KindRollout {
			why = func() string { return dockerWhy(d) + ", in " + cause.String() }
		}
		var exit *int
		if d.Action == history.DockerDie {
			exit = d.ExitCode
		}
		w.podDown(name, at, why, cause, exit)
	case history.DockerRunning:
		w.pod(name).started(at)
	case history.DockerStart, history.DockerUnpause:
		if d.Action == history.DockerStart {
			w.pod(name).started(at)
		}
		if f := w.faultOf(d); f != nil && f.Kind == history.KindRollout && d.Action == history.DockerStart {
			f.stepAt = at
		}
		if w.openPartition(name) == nil {
			w.podUp(name, at)
		}
	}
}

// faultOf returns chaosd's fault that a Docker event of a pod belongs to: the one
// it names, else an open fault on the pod that takes it down, else an open rollout
// (which takes every pod down in turn); nil when none.
func (w *World) faultOf(d *history.Docker) *fault {
	if f := w.open[d.Fault]; d.Fault != "" && f != nil {
		return f
	}
	var best *fault
	for _, f := range w.open {
		if (f.Pod == d.Pod && f.downs()) || f.Kind == history.KindRollout {
			if best == nil || f.intentAt.After(best.intentAt) || (f.intentAt.Equal(best.intentAt) && f.ID > best.ID) {
				best = f
			}
		}
	}
	return best
}

func dockerWhy(d *history.Docker) string {
	s := "container " + d.Action
	if d.ExitCode != nil {
		s += fmt.Sprintf(" (exit %d)", *d.ExitCode)
	}
	if d.ByChaosd {
		return s + " by chaosd"
	}
	return s + ", not caused by chaosd"
}

// openPartition returns an open partition fault on the pod.
func (w *World) openPartition(name string) *fault {
	for _, f := range w.open {
		if f.Pod == name && f.Kind == history.KindPartition {
			return f
		}
	}
	return nil
}

// DownSince returns when the pod went down and why, or false when it is up. why is
// told when called (a checker that only needs to know whether the pod is down does
// not describe its fault for every reading).
func (w *World) DownSince(name string) (since time.Time, why func() string, down bool) {
	p := w.pods[name]
	if p == nil || p.down == nil {
		return time.Time{}, noWhy, false
	}
	return p.down.from, p.down.why, true
}

func noWhy() string { return "" }

// WasDown reports whether the pod was down at t (as far as the recent past goes),
// and why.
func (w *World) WasDown(name string, t time.Time) (string, bool) {
	if iv := w.downAt(name, t); iv != nil {
		return iv.why(), true
	}
	return "", false
}

// downAt is the pod's down interval that holds t, or nil.
func (w *World) downAt(name string, t time.Time) *interval {
	p := w.pods[name]
	if p == nil {
		return nil
	}
	for _, iv := range p.downs {
		if !t.Before(iv.from) && (iv.to.IsZero() || t.Before(iv.to)) {
			return iv
		}
	}
	return nil
}

// FaultOn returns a fault on the pod that was in effect at some time in [from, to].
func (w *World) FaultOn(name string, from, to time.Time) *fault {
	p := w.pods[name]
	if p == nil {
		return nil
	}
	// A rollout that replaces the pods (Kubernetes) stops them under their
	// controller's strategy, which says nothing of which pod when: while it is open,
	// any pod may be draining (its key deleted, not yet read unready).
	for _, f := range w.open {
		if f.Kind == history.KindRollout && f.Replaced && !f.intentAt.After(to) {
			return f
		}
	}
	for _, f := range slices.Backward(p.faults) {
		if !f.intentAt.After(to) && (f.endPhase == "" || !f.endAt.Before(from)) && f.endPhase != history.FaultInjectFailed {
			return f
		}
	}
	return nil
}

// Reconnecting reports whether pod, healed from a chaosd fault at h, may still be
// reconnecting to NATS at t (its 503s are then its honest word, not a failure): t is
// within the heartbeat TTL + slack of the heal, or no heartbeat key the pod wrote
// since the heal has been read (where keys are read at all). See RequestsAnswered;
// pod-recovers' serve check applies the same rule.
func (w *World) Reconnecting(pod string, h, t time.Time) bool {
	switch {
	case h.After(t):
		return false
	case t.Sub(h) <= w.p.reconnectWindow():
		return true
	}
	return len(w.keyAt) > 0 && w.keyAt[pod].Before(h)
}

// PodNote describes what the history says of the pod's heartbeat as of at: when its
// key was last written (as read), its last fault, and its last readiness reading,
// for a finding about its key.
func (w *World) PodNote(name string, at time.Time) string {
	b := []string{name + ":"}
	if k, ok := w.keyAt[name]; ok {
		b = append(b, fmt.Sprintf("key last written %s (%s before);", clock(k), at.Sub(k).Round(time.Millisecond)))
	} else {
		b = append(b, "no key of it read yet;")
	}
	p := w.pods[name]
	if p == nil {
		return strings.Join(b, " ")
	}
	if n := len(p.faults); n > 0 {
		b = append(b, "last fault: "+p.faults[n-1].String()+";")
	} else {
		b = append(b, "no fault on it;")
	}
	return strings.Join(append(b, "last readiness: "+orDash(p.readyNote)), " ")
}

// AnyFault reports whether some fault is in effect now.
func (w *World) AnyFault() bool { return len(w.open) > 0 }

// Ready reports whether the pod's last readiness reading, not older than ReadyStale,
// said ready.
func (w *World) Ready(name string) bool {
	p := w.pods[name]
	return p != nil && p.ready && w.now.Sub(p.readyAt) <= w.p.ReadyStale
}

// ReadyPods lists the pods that are Ready, sorted.
func (w *World) ReadyPods() []string {
	var out []string
	for name := range w.pods {
		if w.Ready(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// started records its container's start: every ready streak from then on is new.
func (p *pod) started(at time.Time) {
	p.startedAt, p.unreadySinceStart = at, false
}

func (w *World) observeReady(at time.Time, name string, r *history.Ready) {
	p := w.pod(name)
	if r.Ready && !p.ready {
		p.readySince = at
	}
	if !r.Ready && !p.startedAt.IsZero() && !at.Before(p.startedAt) {
		p.unreadySinceStart = true
	}
	p.ready, p.readyAt = r.Ready, at
	p.readyNote = readyNote(r) + " at " + clock(at)
	if r.Ready && w.openPartition(name) == nil {
		w.podUp(name, at)
	}
}

func readyNote(r *history.Ready) string {
	switch {
	case r.Ready && (r.Status != "" && r.Status != "ok" || r.NATS != "" && r.NATS != "up"):
		return fmt.Sprintf("ready (status %q, nats %q)", r.Status, r.NATS) // e.g. degraded: off NATS
	case r.Ready:
		return "ready"
	case r.Err != "":
		return "not answering (" + r.Err + ")"
	}
	return fmt.Sprintf("not ready (status %q, postgres %q, nats %q)", r.Status, r.Postgres, r.NATS)
}

// ---- runs ----

// Run is the dossier of one run: enough to diagnose it, bounded in size.
type Run struct {
	ID, Thread  string
	Started     time.Time
	StartPod    string
	Hint        string
	Chunks      int // expected chunks, 0 when unknown
	Expect      time.Duration
	StartPhase  string
	Deadline    time.Time
	settle      time.Duration // its settle window, from its start op (0: none or not recorded)
	Status      string        // last status Postgres gave, "" before any
	Owner       string
	ownerTrail  []ownerAt
	downs       []*interval // its owner's down intervals while it ran, newest last
	decidedAt   time.Time   // the first reading of a terminal status after its start
	postgres    trail[threadReading]
	nats        trail[bufferReading]
	replies     trail[string] // messages readings
	watchers    []watchSeen
	hits        []*fault
	dropAt      time.Time
	lastReadErr bool // the last thread reading could not be taken
	seenRunning bool // read in progress at least once

	// LastOwner is the owner of the latest reading that named one while the run was
	// in progress, LastOwnedAt that reading's time; a reading of another status
	// clears both.
	LastOwner   string
	LastOwnedAt time.Time

	// Checkers' own state for the run (their runIndex slots): the same values as
	// in their maps, found here without a lookup of their own.
	bufState *bufState // stream-integrity
	endRun   *endRun   // no-write-after-end
	rcRun    *rcRun    // run-completes
}

type ownerAt struct {
	pod string
	at  time.Time
}

func (r *Run) inProgress() bool { return r.Status == history.StatusInProgress }

// decided reports whether Postgres gave the run a terminal status after it was seen
// in progress (or after its start was answered).
func (r *Run) decided() bool { return !r.decidedAt.IsZero() }

// Hit reports whether a chaosd fault hit the run's owner while it ran.
func (r *Run) Hit() bool { return len(r.hits) > 0 }

// OwnerAt returns the owner Postgres last named at or before t.
func (r *Run) OwnerAt(t time.Time) string {
	owner := ""
	for _, o := range r.ownerTrail {
		if o.at.After(t) {
			break
		}
		owner = o.pod
	}
	return owner
}

// lastOwner is the owner the last thread reading named ("" none) and since when.
func (r *Run) lastOwner() (string, time.Time) {
	if len(r.ownerTrail) == 0 {
		return "", time.Time{}
	}
	o := r.ownerTrail[len(r.ownerTrail)-1]
	return o.pod, o.at
}

// ownedBy reports whether the run's owner was pod at from or at a reading in
// (from, to].
func (r *Run) ownedBy(pod string, from, to time.Time) bool {
	if r.OwnerAt(from) == pod {
		return true
	}
	for _, o := range r.ownerTrail {
		if o.at.After(from) && !o.at.After(to) && o.pod == pod {
			return true
		}
	}
	return false
}

// run returns the dossier of id, creating it when the history mentions a run it has
// not seen started.
func (w *World) run(id, thread string) *Run {
	r := w.Run(id)
	if r == nil {
		r = &Run{ID: id, Thread: thread, Started: w.now}
		w.runs[id] = r
		w.setDeadline(r)
		w.lastRun = r
	}
	if r.Thread == "" {
		r.Thread = thread
	}
	return r
}

// Run returns the dossier of id, or nil. The checkers ask for the run of the event
// at hand one after another: the last one found is kept and answers first.
func (w *World) Run(id string) *Run {
	if w.lastRun != nil && w.lastRun.ID == id {
		return w.lastRun
	}
	r := w.runs[id]
	if r != nil {
		w.lastRun = r
	}
	return r
}

func (w *World) setDeadline(r *Run) {
	r.Deadline = r.Started.Add(w.p.runDeadline(r.Expect))
	r.dropAt = r.Deadline.Add(w.p.OwnerGrace + w.p.RecoverDeadline + w.p.Skew)
	w.drops.push(dropAt{at: r.dropAt, run: r.ID})
}

func (w *World) observeOp(e *history.Event) {
	o := e.Op
	if o.Name != history.OpStartRun || o.Run == "" {
		return
	}
	r := w.run(o.Run, o.Thread)
	r.StartPhase = o.Phase
	if o.Phase != history.PhaseInvoke {
		return
	}
	r.Started, r.StartPod, r.Hint, r.Chunks, r.Expect = e.Time, o.Pod, o.Hint, o.Chunks, o.Expect.D()
	if o.Settle != nil {
		r.settle = o.Settle.D()
	}
	w.maxExpect = max(w.maxExpect, r.Expect)
	w.setDeadline(r)
}

func (w *World) observeWatch(e *history.Event) {
	wt := e.Watch
	r := w.run(wt.Run, wt.Thread)
	if len(r.watchers) < 8 {
		r.watchers = append(r.watchers, watchSeen{wt, r.Chunks})
	}
}

// watchSeen is one watcher's report of a run (as decoded: events are not changed
// once observed), described (describeWatch) only when a diagnosis shows it.
type watchSeen struct {
	w      *history.Watch
	chunks int // the chunks the run asked for when the report came
}

func (w *World) observeProbe(e *history.Event) {
	p := e.Probe
	switch p.Kind {
	case history.ProbeReady:
		if p.Ready != nil && p.Pod != "" {
			w.observeReady(e.Time, p.Pod, p.Ready)
		}
	case history.ProbeHeartbeats:
		w.hb = describeHeartbeats(p) + " at " + clock(e.Time)
		if p.Heartbeats != nil {
			for _, k := range p.Heartbeats.Keys {
				if at := e.Time.Add(-k.Age.D()); at.After(w.keyAt[k.Pod]) {
					if w.keyAt == nil {
						w.keyAt = map[string]time.Time{}
					}
					w.keyAt[k.Pod] = at
				}
			}
		}
	case history.ProbeThread:
		if p.Run != "" {
			w.observeThread(e.Time, w.run(p.Run, p.Thread), p)
		}
	case history.ProbeBuffer:
		if p.Run != "" {
			w.run(p.Run, p.Thread).nats.add(e.Time, bufferReadingOf(p))
		}
	case history.ProbeDependency:
		if p.Dependency != nil {
			w.observeDependency(e.Time, p.Dependency)
		}
	case history.ProbeMessages:
		if p.Run != "" {
			w.run(p.Run, p.Thread).replies.add(e.Time, describeMessages(p))
		}
	}
}

func (w *World) observeThread(at time.Time, r *Run, p *history.Probe) {
	if p.Err != "" || p.ThreadState == nil {
		r.lastReadErr = true
		r.postgres.add(at, threadReading{unread: true, err: p.Err})
		return
	}
	r.lastReadErr = false
	st := p.ThreadState
	r.postgres.add(at, threadReading{status: st.Status, owner: st.Owner})
	r.Status = st.Status
	if st.Owner != r.Owner || len(r.ownerTrail) == 0 {
		r.ownerTrail = appendRing(r.ownerTrail, ownerAt{st.Owner, at})
	}
	r.Owner = st.Owner
	if st.Status == history.StatusInProgress {
		r.seenRunning = true
	} else if r.seenRunning && r.decidedAt.IsZero() {
		r.decidedAt = at
	}
	switch {
	case st.Status != history.StatusInProgress:
		r.LastOwner, r.LastOwnedAt = "", time.Time{}
	case st.Owner != "":
		r.LastOwner, r.LastOwnedAt = st.Owner, at
	}
}

// Details is the run's dossier as lines of evidence.
func (w *World) Details(r *Run) []string {
	if r == nil {
		return nil
	}
	out := []string{fmt.Sprintf("run %s on thread %s: started on %s at %s (hint %q, %d chunks, deadline %s)",
		r.ID, r.Thread, orDash(r.StartPod), clock(r.Started), r.Hint, r.Chunks, clock(r.Deadline))}
	for _, f := range r.hits {
		out = append(out, f.String())
	}
	out = append(out, "Postgres said: "+r.postgres.String(threadReading.String))
	if !r.nats.empty() {
		out = append(out, "NATS buffer: "+r.nats.String(bufferReading.String))
	}
	if !r.replies.empty() {
		out = append(out, "reply in Postgres: "+r.replies.String(asIs))
	}
	for _, ws := range r.watchers {
		out = append(out, "watcher "+describeWatch(ws.w, ws.chunks))
	}
	return out
}

// ownerDowntime is how long the run's owner was down, by a fault other than a
// graceful stop, while the run was in progress up to until: the union of the run's
// owner-down intervals clipped to [its start, until]. open is the interval still
// open, if any (the owner is still down).
func (w *World) ownerDowntime(r *Run, until time.Time) (total time.Duration, open *interval) {
	type span struct{ from, to time.Time }
	var spans []span
	for _, iv := range r.downs {
		if iv.graceful() {
			continue
		}
		to := iv.to
		if to.IsZero() {
			open, to = iv, until
		}
		from := later(iv.from, r.Started)
		if to.After(until) {
			to = until
		}
		if to.After(from) {
			spans = append(spans, span{from, to})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	var end time.Time
	for _, s := range spans {
		if s.from.Before(end) {
			s.from = end
		}
		if s.to.After(s.from) {
			total += s.to.Sub(s.from)
			end = s.to
		}
	}
	return total, open
}

// keepUntil is when a run's dossier may be dropped at the earliest, beyond its
// normal drop time, or zero. A decided run with a settle window is kept until the
// window's last reading (and a slack) has been judged (no-write-after-end). On a mesh
// that recovers runs only on the owner's restart (Params.restartOnly) the run's
// deadline does not count its owner's downtime, so the dossier is kept while the
// owner is down and for the extended deadline after.
func (w *World) keepUntil(r *Run) time.Time {
	var settled time.Time
	if r.decided() && r.settle > 0 {
		settled = r.decidedAt.Add(r.settle + w.p.Slack + w.p.Skew)
	}
	return later(settled, w.keepForRestart(r))
}

// keepForRestart is keepUntil's time on a mesh that recovers runs only on the
// owner's restart, or zero.
func (w *World) keepForRestart(r *Run) time.Time {
	if !w.p.restartOnly() || len(r.downs) == 0 {
		return time.Time{}
	}
	until := w.now
	if r.decided() {
		until = r.decidedAt
	}
	margin := w.p.OwnerGrace + w.p.RecoverDeadline + w.p.Skew
	down, open := w.ownerDowntime(r, until)
	if open != nil && !r.decided() {
		return w.now.Add(margin)
	}
	keep := r.Deadline.Add(down + margin)
	if iv := r.downs[len(r.downs)-1]; !iv.to.IsZero() {
		keep = later(keep, iv.to.Add(w.p.RestartGraceFor(r.Expect)+margin))
	}
	return keep
}

// Heartbeat is the last heartbeat reading, described.
func (w *World) Heartbeat() string { return orDash(w.hb) }

// ---- helpers ----

// trail keeps a compact history of readings: consecutive equal readings merge, and
// only the first and the last few are kept. A reading is kept as an R, equal to
// another exactly when their descriptions are, and described only when the trail
// is printed. The first reading is kept (merged readings and all) once it leaves
// the last few; dropped counts the readings between it and them. The last few are
// a ring inside the trail: a run's readings (one a second from each store) cost no
// allocation and no copying of the others.
type trail[R comparable] struct {
	first   trailEntry[R] // the first reading, once it has left the last few (n 0 until then)
	last    [trailKeep]trailEntry[R]
	head, n int // the oldest of the last few is last[head]; n of them are kept
	dropped int // readings between first and last not kept
}

type trailEntry[R comparable] struct {
	reading  R
	from, to time.Time
	n        int
}

const trailKeep = 5

func (t *trail[R]) add(at time.Time, reading R) {
	if t.n > 0 {
		if newest := &t.last[(t.head+t.n-1)%trailKeep]; newest.reading == reading {
			newest.to, newest.n = at, newest.n+1
			return
		}
	}
	if t.n == trailKeep { // the oldest leaves the last few
		if t.first.n == 0 {
			t.first = t.last[t.head] // the very first: keep it
		} else {
			t.dropped++
		}
		t.head, t.n = (t.head+1)%trailKeep, t.n-1
	}
	t.last[(t.head+t.n)%trailKeep] = trailEntry[R]{reading: reading, from: at, to: at, n: 1}
	t.n++
}

func (t *trail[R]) empty() bool { return t.n == 0 }

// String describes the trail, each reading by describe.
func (t *trail[R]) String(describe func(R) string) string {
	if t.empty() {
		return "no readings"
	}
	var parts []string
	if t.first.n > 0 {
		parts = append(parts, t.first.String(describe))
	}
	if t.dropped > 0 {
		parts = append(parts, fmt.Sprintf("… (%d more)", t.dropped))
	}
	for i := range t.n {
		parts = append(parts, t.last[(t.head+i)%trailKeep].String(describe))
	}
	return strings.Join(parts, "; ")
}

func (e trailEntry[R]) String(describe func(R) string) string {
	text := describe(e.reading)
	if e.n == 1 {
		return text + " at " + clock(e.from)
	}
	return fmt.Sprintf("%s ×%d %s–%s", text, e.n, clock(e.from), clock(e.to))
}

// asIs describes a reading kept as its description.
func asIs(s string) string { return s }

func appendRing[T any](s []T, v T) []T {
	if len(s) == podRing {
		s = append(s[:0], s[1:]...)
	}
	return append(s, v)
}

type dropAt struct {
	at  time.Time
	run string
}

// dropHeap is a min-heap of dropAt by time. push and pop are typed: container/heap
// would box every dropAt in an interface (an allocation per run, twice).
type dropHeap []dropAt

func (h *dropHeap) push(d dropAt) {
	*h = append(*h, d)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].at.Before(s[parent].at) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *dropHeap) pop() dropAt {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = dropAt{} // let the run's id go
	s = s[:n]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && s[l].at.Before(s[least].at) {
			least = l
		}
		if r < n && s[r].at.Before(s[least].at) {
			least = r
		}
		if least == i {
			break
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
	*h = s
	return top
}

// clock formats a time for diagnoses.
func clock(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("15:04:05.000")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orderMemo is one analyzed arrival order: of the watch report of the seen-th event,
// with n chunks expected.
type orderMemo struct {
	seen, n int
	wt      *history.Watch
	c       chunks
}

// Order analyzes a watch report's arrival order against n expected chunks. Several
// checkers judge each report: the analysis of the event at hand is made once (its
// counts are only read).
func (w *World) Order(wt *history.Watch, n int) chunks {
	if m := &w.order; m.wt == wt && m.seen == w.seen && m.n == n {
		return m.c
	}
	w.order = orderMemo{seen: w.seen, n: n, wt: wt, c: analyzeOrder(wt.Order, n)}
	return w.order.c
}
