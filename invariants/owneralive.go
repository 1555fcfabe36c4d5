package invariants

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
)

// OwnerAlive: no in-progress run is left without a live owner longer than
// OwnerGrace (HeartbeatTTL + DetectInterval + Slack): neither owned by a pod that has
// been down that long, nor owned by nobody (run_owner_pod NULL, as mesh's graceful
// stop leaves the runs it gives up) that long.
//
// A pod is down from a confirmed kill, stop, pause or partition from NATS (or all),
// or a Docker die/pause, until the heal, a Docker start/unpause, or a ready reading.
// Each thread reading of an in-progress run whose owner is down, or that names no
// owner, opens an episode (one per run) if none is open:
//   - owner down: the episode starts when the pod went down, or at the run's start
//     when the run started later (a heal chaosd could not confirm keeps a pod down
//     that may well serve: no run is left ownerless before it exists). It is a case when it
//     resolves while the pod is still down: Postgres names another owner or a
//     terminal status (the recovery worked: pass), or a violation. An episode whose
//     pod came back first is no case (no takeover was due yet).
//   - no owner: the episode starts when the run last had a live owner: when its down
//     owner went down (a down-owner episode that turns ownerless goes on), else at the
//     last reading that named an owner (the release came after it, by at most one
//     reading interval, which the Slack absorbs), else at the first reading without
//     one. A reading that names another owner or a terminal status resolves it, a
//     case that passed; one that names the down pod that lost it again goes on as that pod's
//     episode. A run never seen with an owner (ownerless from its first reading: an
//     owner model that fills the owner late) is judged the same way, but its first
//     owner is a claim, not a takeover: no case. (mesh's claimRunStart sets the
//     status and the owner together, so its runs are ownerless only once released.)
//
// Past the grace still in the same state is a violation (once per episode).
// Cases: the episodes judged: resolved while the owner was still down (pass), a
// violation, or undecided (unknown). An episode whose owner came back first, or
// whose first owner was a claim, is no case. Under fault: a chaosd fault was on the
// (last) owner when it went down or lost the run.
// Unknown: a thread reading that failed when a violation was possible (the run's last
// reading showed it owned by a pod down past the grace, or ownerless past the grace);
// an episode still open at the end of the history, or when the run was forgotten.
// Not exercised, the note says what was missing in numbers: the longest window in
// which a run's owner was down while the run was in progress (World.ownerDowns, as
// Postgres named the owner before, or as chaosd's owner fault targeted the run), how
// long, what the run's readings said in it (named the down owner, failed, named no
// owner, another pod or a terminal status), and the hold that would have exposed a
// missing takeover (Params.TakeoverHold); or how often pods went down while owning no
// run in progress.
type OwnerAlive struct {
	w        *World
	p        Params
	t        tally
	episodes map[string]*episode // by run

	windows map[string]*window // owner-down windows still open, by run
	missed  int                // windows closed with no case judged in them
	longest window             // the longest of them
	claims  int                // ownerless-from-the-start episodes closed by a first owner
	handed  map[string]bool    // fault id/run: a graceful owner fault's run seen taken over at once (handedOver)
}

var _ Checker = (*OwnerAlive)(nil)
var _ dropper = (*OwnerAlive)(nil)

type episode struct {
	pod     string    // the down owner; when ownerless, the last owner ("" unknown)
	since   time.Time // when the run last had a live owner (as far as is known)
	why     string    // why pod went down or lost the run, "" unknown
	decided bool      // violation or unknown reported

	ownerless bool      // the run was last read with no owner
	seen      time.Time // the reading that opened the episode (or turned it ownerless)
	sinceWhat string    // what happened at since, for messages (ownerless)
	claimOnly bool      // ownerless from the first reading: its first owner is no takeover
}

// window is a stretch in which a run's owner was down while the run was in progress
// (World.ownerDowns), with what the run's thread readings said in it: what the
// not-exercised note is made of.
type window struct {
	run    string
	iv     *interval
	down   time.Duration // how long the owner was down (to the end of the history when it never came back)
	judged bool          // a case of the run was judged while it lasted

	reads      int // thread readings of the run while its owner was down
	afterGrace int // of them, taken past the grace
	owned      int // that named the down owner
	failed     int // that could not be taken
	ownerless  int // that named no owner
	other      int // that named another pod
	ended      int // that gave a terminal status
}

func newOwnerAlive(w *World, p Params) *OwnerAlive {
	return &OwnerAlive{w: w, p: p, t: newTally(w, NameOwnerAlive, p.MaxEvidence), episodes: map[string]*episode{}, windows: map[string]*window{}}
}

// Name implements Checker.
func (c *OwnerAlive) Name() string { return NameOwnerAlive }

// Observe implements Checker.
func (c *OwnerAlive) Observe(e *history.Event) {
	for _, od := range c.w.ownerDownsNow() {
		if old := c.windows[od.run.ID]; old != nil {
			c.closeWindow(old, od.iv.from)
		}
		c.windows[od.run.ID] = &window{run: od.run.ID, iv: od.iv}
	}
	if e.Type != history.TypeProbe || e.Probe.Kind != history.ProbeThread || e.Probe.Run == "" {
		return
	}
	c.observeWindow(e)
	p := e.Probe
	if p.Err != "" || p.ThreadState == nil {
		c.unreadable(e)
		return
	}
	ep := c.episodes[p.Run]
	st := p.ThreadState
	if ep == nil {
		c.handedOver(e, st)
	}
	since, why, down := c.w.DownSince(st.Owner)
	switch {
	case st.Status == history.StatusInProgress && st.Owner != "" && down:
		if r := c.w.Run(p.Run); r != nil && r.Started.After(since) {
			// A run started after its owner went down (as chaosd knows it: a heal not
			// yet confirmed keeps the pod down) was left by nobody before it existed:
			// it is judged from its start.
			downWhy := why
			since, why = r.Started, func() string {
				return fmt.Sprintf("%s; the run started after that, at %s, and is judged from its start", downWhy(), clock(r.Started))
			}
		}
		c.ownedByDown(e, st.Owner, since, why)
	case st.Status == history.StatusInProgress && st.Owner == "":
		c.ownerless(e)
	case ep != nil:
		c.resolve(p.Run, ep)
	}
}

// handedOver judges the run a graceful owner fault (a stop, a SIGTERM rollout) hit
// when it is first read owned by another pod after the fault's decision and before its
// confirmation: the stopping owner released it and a survivor took it over, both
// between two readings, before the owner counted as down (no reading saw it ownerless or owned by a down pod, so
// no episode opened). That is the takeover the promise asks for, done at once: a
// case that passed, counted once per fault, with a note.
func (c *OwnerAlive) handedOver(e *history.Event, st *history.ThreadState) {
	if st.Owner == "" {
		return
	}
	for _, f := range c.w.open {
		if !f.graceful() || f.Run != e.Probe.Run || f.Pod == "" || f.Pod == st.Owner || e.Time.Before(f.intentAt) ||
			(!f.injectedAt.IsZero() && !e.Time.Before(f.injectedAt)) { // once the owner counts as down, episodes judge
			continue
		}
		key := f.ID + "/" + f.Run
		if c.handed[key] {
			return
		}
		if c.handed == nil {
			c.handed = map[string]bool{}
		}
		c.handed[key] = true
		if win := c.windows[f.Run]; win != nil {
			win.judged = true
		}
		c.t.pass(true)
		c.t.note("run %s was taken over by %s at %s, %s after its owner's graceful stop began, before the stop was confirmed: released by its stopping owner and claimed between two readings (%s)",
			f.Run, st.Owner, clock(e.Time), e.Time.Sub(f.intentAt).Round(time.Millisecond), f)
		return
	}
}

// observeWindow counts a thread reading in its run's owner-down window, or closes the
// window when the owner is back.
func (c *OwnerAlive) observeWindow(e *history.Event) {
	p := e.Probe
	win := c.windows[p.Run]
	if win == nil {
		return
	}
	if !win.iv.to.IsZero() && !e.Time.Before(win.iv.to) {
		c.closeWindow(win, e.Time)
		return
	}
	win.reads++
	if e.Time.Sub(win.iv.from) > c.p.OwnerGrace {
		win.afterGrace++
	}
	switch {
	case p.Err != "" || p.ThreadState == nil:
		win.failed++
	case p.ThreadState.Status != history.StatusInProgress:
		win.ended++
	case p.ThreadState.Owner == "":
		win.ownerless++
	case p.ThreadState.Owner == win.iv.pod:
		win.owned++
	default:
		win.other++
	}
}

// closeWindow ends an owner-down window at the owner's return (or at, when it is not
// known): one with no case judged in it is kept for the not-exercised note.
func (c *OwnerAlive) closeWindow(win *window, at time.Time) {
	delete(c.windows, win.run)
	if win.judged {
		return
	}
	up := win.iv.to
	if up.IsZero() || up.After(at) {
		up = at
	}
	win.down = max(up.Sub(win.iv.from), 0)
	c.missed++
	if win.down > c.longest.down || c.missed == 1 {
		c.longest = *win
	}
}

// judge counts the episode of run as a case of the outcome: pass, fail (f) or
// undecided (f, with what would have decided it).
func (c *OwnerAlive) judge(run string, ep *episode, outcome Status, f Finding, remedy string) {
	if win := c.windows[run]; win != nil {
		win.judged = true
	}
	uf := c.byFault(ep)
	switch outcome {
	case Pass:
		c.t.pass(uf)
	case Fail:
		c.t.fail(uf, f)
	default:
		c.t.undecided(uf, &f, remedy)
	}
}

// resolve closes the run's episode on a reading that names a live owner or a
// terminal status.
func (c *OwnerAlive) resolve(run string, ep *episode) {
	if ep.ownerless {
		c.closeEpisode(run, ep, !ep.claimOnly)
		return
	}
	_, _, stillDown := c.w.DownSince(ep.pod)
	c.closeEpisode(run, ep, stillDown)
}

func (c *OwnerAlive) ownedByDown(e *history.Event, owner string, since time.Time, whyDown func() string) {
	run := e.Probe.Run
	ep := c.episodes[run]
	switch {
	case ep != nil && ep.ownerless && ep.pod == owner:
		// Named again by the down pod that lost it: no takeover, the pod's episode goes on.
		ep.ownerless, ep.since, ep.why, ep.seen = false, since, whyDown(), since
	case ep != nil && (ep.ownerless || ep.pod != owner):
		c.resolve(run, ep)
		ep = nil
	}
	if ep == nil {
		ep = &episode{pod: owner, since: since, why: whyDown(), seen: since}
		c.episodes[run] = ep
	}
	if ep.decided || e.Time.Sub(since) <= c.p.OwnerGrace {
		return
	}
	why := whyDown() // once a run: its finding
	ep.decided = true
	r := c.w.Run(run)
	f := Finding{At: e.Time, Run: run, Pods: []string{owner}, Message: fmt.Sprintf(
		"run %s is still in_progress and owned by %s at %s, %s after %s went down (%s); grace %s. %s",
		run, owner, clock(e.Time), e.Time.Sub(since).Round(time.Millisecond), owner, why, c.p.OwnerGrace, c.w.Heartbeat())}
	f.Details = c.w.Details(r)
	c.judge(run, ep, Fail, f, "")
}

// ownerless judges a reading of the run in progress with no owner.
func (c *OwnerAlive) ownerless(e *history.Event) {
	run := e.Probe.Run
	ep := c.episodes[run]
	switch {
	case ep == nil:
		ep = c.openOwnerless(e.Time, c.w.Run(run))
		c.episodes[run] = ep
	case !ep.ownerless: // its down owner lost it: still no live owner since it went down
		ep.ownerless, ep.seen = true, e.Time
		ep.sinceWhat = fmt.Sprintf("its owner %s went down", ep.pod)
	}
	if ep.decided || e.Time.Sub(ep.since) <= c.p.OwnerGrace {
		return
	}
	ep.decided = true
	c.judge(run, ep, Fail, Finding{At: e.Time, Run: run, Pods: podsOfEpisode(ep), Message: fmt.Sprintf(
		"run %s is still in_progress with no owner at %s, %s after %s; %s; grace %s. %s",
		run, clock(e.Time), e.Time.Sub(ep.since).Round(time.Millisecond), sinceText(ep), lossText(ep),
		c.p.OwnerGrace, c.w.Heartbeat()), Details: c.w.Details(c.w.Run(run))}, "")
}

// openOwnerless opens the episode of a run first read in progress with no owner at.
func (c *OwnerAlive) openOwnerless(at time.Time, r *Run) *episode {
	ep := &episode{ownerless: true, since: at, seen: at}
	if r == nil || r.LastOwner == "" {
		ep.claimOnly = true
		ep.sinceWhat = "the first reading that showed it so"
		return ep
	}
	ep.pod, ep.since = r.LastOwner, r.LastOwnedAt
	ep.sinceWhat = ep.pod + " was last seen owning it"
	if downAt, why, down := c.w.DownSince(ep.pod); down {
		ep.why = fmt.Sprintf("down since %s (%s)", clock(downAt), why())
	} else if f := c.w.FaultOn(ep.pod, ep.since, at); f != nil {
		ep.why = f.String()
	}
	return ep
}

// sinceText says since when an ownerless run has had no live owner:
// "mesh-1 was last seen owning it (12:00:10.000; no owner read from 12:00:11.000 on)".
func sinceText(ep *episode) string {
	if ep.claimOnly {
		return fmt.Sprintf("%s (%s)", ep.sinceWhat, clock(ep.since))
	}
	return fmt.Sprintf("%s (%s; no owner read from %s on)", ep.sinceWhat, clock(ep.since), clock(ep.seen))
}

// lossText says who owned an ownerless run last and why it lost it.
func lossText(ep *episode) string {
	switch {
	case ep.pod == "":
		return "no owner was ever seen"
	case ep.why == "":
		return ep.pod + " gave it up, with no fault or down time of its own seen"
	}
	return ep.pod + " lost it: " + ep.why
}

// byFault reports whether a chaosd fault was on the episode's (last) owner when it
// went down or lost the run.
func (c *OwnerAlive) byFault(ep *episode) bool {
	return ep.pod != "" && c.w.FaultOn(ep.pod, ep.since, ep.seen) != nil
}

// closeEpisode ends an episode that a reading resolved: a case that passed when it
// was recovered (and not decided before). A down-owner episode whose owner came back
// first is no case: its window tells the not-exercised note.
func (c *OwnerAlive) closeEpisode(run string, ep *episode, recovered bool) {
	delete(c.episodes, run)
	switch {
	case ep.decided:
	case recovered:
		c.judge(run, ep, Pass, Finding{}, "")
	case ep.claimOnly:
		c.claims++
	}
}

// unreadable handles a failed thread reading: unknown when a violation was possible.
func (c *OwnerAlive) unreadable(e *history.Event) {
	r := c.w.Run(e.Probe.Run)
	if r == nil || !r.inProgress() {
		return
	}
	if r.Owner == "" {
		c.unreadableOwnerless(e, r)
		return
	}
	since, whyDown, down := c.w.DownSince(r.Owner)
	if !down || e.Time.Sub(since) <= c.p.OwnerGrace {
		return
	}
	why := whyDown()
	ep := c.episodes[r.ID]
	if ep == nil {
		ep = &episode{pod: r.Owner, since: since, why: why, seen: since}
		c.episodes[r.ID] = ep
	}
	if ep.decided {
		return
	}
	ep.decided = true
	c.judge(r.ID, ep, Unknown, Finding{At: e.Time, Run: r.ID, Pods: []string{r.Owner}, Message: fmt.Sprintf(
		"run %s could not be read from Postgres at %s (%s), %s after its last known owner %s went down (%s)",
		r.ID, clock(e.Time), e.Probe.Err, e.Time.Sub(since).Round(time.Millisecond), r.Owner, why), Details: c.w.Details(r)}, c.readRemedy())
}

// unreadableOwnerless: the run was last read in progress with no owner.
func (c *OwnerAlive) unreadableOwnerless(e *history.Event, r *Run) {
	ep := c.episodes[r.ID]
	if ep == nil || !ep.ownerless || ep.decided || e.Time.Sub(ep.since) <= c.p.OwnerGrace {
		return
	}
	ep.decided = true
	c.judge(r.ID, ep, Unknown, Finding{At: e.Time, Run: r.ID, Pods: podsOfEpisode(ep), Message: fmt.Sprintf(
		"run %s could not be read from Postgres at %s (%s), %s after %s; it was last read in_progress with no owner; %s",
		r.ID, clock(e.Time), e.Probe.Err, e.Time.Sub(ep.since).Round(time.Millisecond), sinceText(ep), lossText(ep)), Details: c.w.Details(r)}, c.readRemedy())
}

// readRemedy is what decides an episode whose reading failed past the grace.
func (c *OwnerAlive) readRemedy() string {
	return fmt.Sprintf("Postgres must answer the run's readings past the grace %s: check chaosd's reach to it (chaosd doctor, --database-url)", c.p.OwnerGrace)
}

func podsOfEpisode(ep *episode) []string {
	if ep.pod == "" {
		return nil
	}
	return []string{ep.pod}
}

// Drop implements dropper.
func (c *OwnerAlive) Drop(run string) {
	if ep := c.episodes[run]; ep != nil {
		c.openAtEnd(run, ep, c.w.Now())
	}
	if win := c.windows[run]; win != nil {
		c.closeWindow(win, c.w.Now())
	}
}

func (c *OwnerAlive) openAtEnd(run string, ep *episode, at time.Time) {
	delete(c.episodes, run)
	if ep.decided {
		return
	}
	state := fmt.Sprintf("owned by %s, down since %s (%s)", ep.pod, clock(ep.since), ep.why)
	if ep.ownerless {
		state = fmt.Sprintf("with no owner (since %s; %s)", sinceText(ep), lossText(ep))
	}
	c.judge(run, ep, Unknown, Finding{At: at, Run: run, Pods: podsOfEpisode(ep), Message: fmt.Sprintf(
		"run %s was last seen in_progress %s; nothing was observed after that to decide it (%s of the %s grace had passed at %s)",
		run, state, at.Sub(ep.since).Round(time.Millisecond), c.p.OwnerGrace, clock(at))},
		fmt.Sprintf("runs must be read past the grace %s after their owner went down: let the history go on that long "+
			"(chaosd --fault watches each run that long unless interrupted; chaosd soak: --cooldown ≥ %s)", c.p.OwnerGrace, c.p.TakeoverHold()))
}

// Finish implements Checker.
func (c *OwnerAlive) Finish(at time.Time) []Verdict {
	for _, run := range slices.Sorted(maps.Keys(c.episodes)) {
		c.openAtEnd(run, c.episodes[run], at)
	}
	for _, run := range slices.Sorted(maps.Keys(c.windows)) {
		c.closeWindow(c.windows[run], at)
	}
	c.t.notExercised("%s", c.notExercised())
	return []Verdict{c.t.verdict()}
}

// holdText is what exposes a missing takeover: a fault on a run's owner held past the
// grace.
func (c *OwnerAlive) holdText() string {
	return fmt.Sprintf("hold the fault longer (--down-for or --duration ≥ %s, or auto)", c.p.TakeoverHold())
}

// notExercised says, in numbers, what was missing for the invariant to be exercised:
// the longest window in which a run's owner was down while it was in progress, what
// the run's readings said in it, and the hold that exposes a missing takeover; or how
// often pods went down owning no run in progress.
func (c *OwnerAlive) notExercised() string {
	claims := ""
	if c.claims > 0 {
		claims = fmt.Sprintf("; %s read in progress with no owner got a first owner (a claim, not a takeover)", plural(c.claims, "run"))
	}
	if c.missed == 0 {
		s := "no run was read in progress while its owner was down"
		switch c.w.downCount {
		case 0:
			s += " (no pod went down)"
		case 1:
			s += " (a pod went down once, not while owning a run read in progress)"
		default:
			s += fmt.Sprintf(" (pods went down %d times, never while owning a run read in progress)", c.w.downCount)
		}
		return s + claims + fmt.Sprintf(": fault the owner of a run in progress (--fault=kill-owner, pause-owner or partition-owner) and hold it past the grace %s: "+
			"--down-for or --duration ≥ %s, or auto", c.p.graceText(), c.p.TakeoverHold())
	}
	m := c.longest
	s := fmt.Sprintf("owner %s of run %s was down %.1fs while the run was in progress", m.iv.pod, m.run, m.down.Seconds())
	if c.missed > 1 {
		s += fmt.Sprintf(" (the longest of %d such windows)", c.missed)
	}
	if m.owned == 0 {
		s += "; " + m.readsText()
	}
	remedy := c.holdText()
	if m.failed > 0 {
		remedy += ", with Postgres readable meanwhile (chaosd doctor, --database-url)"
	}
	switch {
	case m.down > c.p.OwnerGrace && m.owned > 0 && m.afterGrace == 0:
		s += fmt.Sprintf(", longer than the grace %s, but the run was not read between the end of the grace and the owner's return", c.p.OwnerGrace)
	case m.down > c.p.OwnerGrace:
		s += fmt.Sprintf(", longer than the grace %s, but none of the %d readings past the grace showed it owned by %s", c.p.OwnerGrace, m.afterGrace, m.iv.pod)
	case m.owned > 0:
		s += ", but a takeover is due only after the grace " + c.p.graceText()
	default:
		s += "; and a takeover is due only after the grace " + c.p.graceText()
	}
	return s + ": " + remedy + claims
}

// readsText says what the run's readings said while its owner was down, when none
// named the down owner: "no reading of it in that time named mesh-1 its owner (of 5
// readings then: 5 failed)".
func (m window) readsText() string {
	if m.reads == 0 {
		return fmt.Sprintf("it was not read at all in that time (0 thread readings while %s was down), so no reading showed %[2]s owning it", m.iv.pod, m.iv.pod)
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{m.failed, "failed (Postgres could not be read)"}, {m.ownerless, "named no owner"}, {m.other, "named another pod"}, {m.ended, "gave a terminal status"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return fmt.Sprintf("no reading of it in that time named %s its owner (of %s then: %s)", m.iv.pod, plural(m.reads, "thread reading"), strings.Join(parts, ", "))
}
