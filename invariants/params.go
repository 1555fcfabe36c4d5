package invariants

import (
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/promise"
)

// Params are the deadlines and graces of the checkers. A zero field is filled from
// the history's begin line (the cluster's heartbeat settings), then from the
// defaults, which are derived from mesh's heartbeat TTL and intervals.
type Params struct {
	HeartbeatTTL      time.Duration // mesh: 45 s
	HeartbeatInterval time.Duration // pods refresh their key this often; mesh: 10 s
	DetectInterval    time.Duration // pods look for dead peers this often; mesh: 10 s
	Slack             time.Duration // added to every grace for scheduling and resume work; 10 s
	// BootTime: how long a pod takes from its start to ready (mesh: about 30 s). 0
	// (unknown, e.g. an older history) keeps the old RecoverDeadline default.
	BootTime time.Duration

	// OwnerGrace: how long a down pod may still own an in-progress run.
	// Default HeartbeatTTL + DetectInterval + Slack.
	OwnerGrace time.Duration
	// RunDeadline: a fixed deadline for every run. Default per run: the time mockai
	// takes to stream it (the start op's Expect, else RunBase) + OwnerGrace + 2 Slack,
	// so that a run whose owner dies at the worst moment still has time to be
	// reclaimed and finished.
	RunDeadline time.Duration
	RunBase     time.Duration // a run's streaming time when the history does not say; 1 m
	// RecoverDeadline: a healed pod must be ready again within this. Default
	// BootTime + HeartbeatInterval + Slack when BootTime is known (the pod boots,
	// then a readiness reading has to catch it), else 2 HeartbeatTTL.
	RecoverDeadline time.Duration
	// KeyGrace: a pod must have been ready this long before its heartbeat key is
	// required (it writes one on start, then every HeartbeatInterval). Default
	// HeartbeatInterval + Slack.
	KeyGrace time.Duration
	// ReadyStale: a readiness reading older than this no longer says the pod is
	// ready. Default 3 HeartbeatInterval.
	ReadyStale time.Duration
	// PurgeConfirm: a buffer that shrank is a purge while running only if Postgres
	// still says in_progress at least this long after (a run's own end purges its
	// buffer too). Default 1 s.
	PurgeConfirm time.Duration
	// Skew: events written out of time order by up to this much are still judged
	// fairly; deadlines are judged this long after they pass. Default 2 s.
	Skew time.Duration

	// RestartGrace (restart-recovers): a run whose owner died while it ran must be
	// completed this long after the owner is up again. 0: per run, BootTime +
	// DetectInterval + 2 Slack + the run's streaming time (the start op's Expect,
	// else RunBase): the pod boots, DBOS finds its pending workflow, and the run
	// streams again from its start. With BootTime unknown, RecoverDeadline stands in
	// for it. See RestartGraceFor.
	RestartGrace time.Duration
	// HandoverGrace (handover-completes): a run whose owner was stopped gracefully
	// must be completed on another pod this long after the stop. 0: per run,
	// DetectInterval + 2 Slack + the run's streaming time: the stopped pod put the
	// gate back on the queue, another pod picks it up and streams the run again. See
	// HandoverGraceFor.
	HandoverGrace time.Duration

	// Promises are what the mesh under test promises (package promise's names): an
	// invariant whose promise is not made is not checked, and the rules of some
	// (run-completes, stream-integrity) follow them. nil: the history's begin line's,
	// else promise.Default (the May 2026 mesh's: older histories judge as before).
	// HeartbeatCheck false takes heartbeat-bucket out. Resolve leaves them set.
	Promises []string
	// Untested are promises the mesh makes that the history's faults cannot put to
	// the test (one --fault of a kind that never exercises them): left out of
	// Promises, and the report says why. nil: the history's begin line's.
	Untested []string
	// HeartbeatCheck turns the heartbeat-bucket invariant on or off (later mesh has
	// no bucket). nil: on unless the history's begin line says off. Off takes the
	// heartbeat-bucket promise out of Promises; Resolve sets it to whether that
	// promise is made.
	HeartbeatCheck *bool
	// IgnoreContainers are pod or container names (path.Match patterns) whose deaths
	// are expected, e.g. the one-shot migrate service. Default ["migrate", "*-migrate-*"].
	IgnoreContainers []string
	// Dependencies are the service's own dependencies by pod (compose service) name:
	// a Docker death of one is an outage (outage.go), not a pod's death. Default
	// ["postgres", "nats"].
	Dependencies []string
	// OutageGrace: findings this long after a dependency outage ends are unknown, not
	// violations. Default: the longest run deadline seen plus HeartbeatTTL.
	OutageGrace time.Duration
	// FlowBound (runs-flow): the longest stretch, counting only the time no fault is
	// in effect, with no run started and completed. Default the larger of 1 m and 10
	// times the longest streaming time of a run seen.
	FlowBound time.Duration
	// UserChecks are the names of the declared user checks (one verdict each).
	UserChecks []string
	// MaxEvidence caps the findings kept per verdict. Default 20.
	MaxEvidence int
}

// Defaults are mesh's settings at #3392.
func Defaults() Params {
	return Params{HeartbeatTTL: 45 * time.Second, HeartbeatInterval: 10 * time.Second,
		DetectInterval: 10 * time.Second, Slack: 10 * time.Second}
}

// Resolve fills zero fields from the history's begin line (m may be nil), then from
// the defaults, and derives the graces; it resolves the promises (resolvePromises).
// RunDeadline, RestartGrace and HandoverGrace stay 0 unless given: their defaults
// depend on each run's streaming time (runDeadline, RestartGraceFor,
// HandoverGraceFor), from the fields resolved here.
func (p Params) Resolve(m *history.Meta) Params {
	if m != nil {
		p.HeartbeatTTL = or(p.HeartbeatTTL, m.HeartbeatTTL.D())
		p.HeartbeatInterval = or(p.HeartbeatInterval, m.HeartbeatInterval.D())
		p.DetectInterval = or(p.DetectInterval, m.DetectInterval.D())
		p.BootTime = or(p.BootTime, m.BootTime.D())
		if p.HeartbeatCheck == nil {
			p.HeartbeatCheck = m.HeartbeatCheck
		}
		if p.Promises == nil {
			p.Promises = slices.Clone(m.Promises)
		}
		if p.Untested == nil {
			p.Untested = slices.Clone(m.Untested)
		}
		p.UserChecks = append(p.UserChecks, m.UserChecks...)
	}
	p = p.resolvePromises()
	d := Defaults()
	p.HeartbeatTTL = or(p.HeartbeatTTL, d.HeartbeatTTL)
	p.HeartbeatInterval = or(p.HeartbeatInterval, d.HeartbeatInterval)
	p.DetectInterval = or(p.DetectInterval, d.DetectInterval)
	p.Slack = or(p.Slack, d.Slack)
	p.OwnerGrace = or(p.OwnerGrace, p.HeartbeatTTL+p.DetectInterval+p.Slack)
	p.RunBase = or(p.RunBase, time.Minute)
	p.RecoverDeadline = or(p.RecoverDeadline, p.recoverDefault())
	p.KeyGrace = or(p.KeyGrace, p.HeartbeatInterval+p.Slack)
	p.ReadyStale = or(p.ReadyStale, 3*p.HeartbeatInterval)
	p.PurgeConfirm = or(p.PurgeConfirm, time.Second)
	p.Skew = or(p.Skew, 2*time.Second)
	if p.IgnoreContainers == nil {
		p.IgnoreContainers = []string{"migrate", "*-migrate-*"}
	}
	if p.Dependencies == nil {
		p.Dependencies = []string{history.DepPostgres, history.DepNATS}
	}
	if p.MaxEvidence <= 0 {
		p.MaxEvidence = 20
	}
	return p
}

// resolvePromises fills Promises from promise.Default when unset, takes
// heartbeat-bucket out when HeartbeatCheck is off, and sets HeartbeatCheck to
// whether heartbeat-bucket is promised.
func (p Params) resolvePromises() Params {
	if p.Promises == nil {
		p.Promises = slices.Clone(promise.Default)
	}
	if p.HeartbeatCheck != nil && !*p.HeartbeatCheck {
		p.Promises = slices.DeleteFunc(slices.Clone(p.Promises), func(n string) bool { return n == promise.HeartbeatBucket })
	}
	on := p.Promised(promise.HeartbeatBucket)
	p.HeartbeatCheck = &on
	return p
}

// Promised reports whether the mesh promises the named promise.
func (p Params) Promised(name string) bool { return slices.Contains(p.Promises, name) }

// restartOnly reports whether the mesh recovers a dead owner's runs only on its
// restart: restart-recovery promised, survivor-takeover not. Then a run cannot
// progress while its owner is down, and run-completes does not count that time.
func (p Params) restartOnly() bool {
	return p.Promised(promise.RestartRecovery) && !p.Promised(promise.SurvivorTakeover)
}

// keptLog reports whether stream-integrity judges by the kept-log rule: stream-kept-log
// promised and stream-exactly-once not (the stricter rule wins when both are).
func (p Params) keptLog() bool {
	return p.Promised(promise.StreamKeptLog) && !p.Promised(promise.StreamExactlyOnce)
}

// RestartGraceFor is restart-recovers' grace for a run that mockai streams in expect
// (0: unknown): RestartGrace when set, else BootTime (or RecoverDeadline when the
// boot time is unknown) + DetectInterval + 2 Slack + the streaming time (expect,
// else RunBase). p must be Resolve()d.
func (p Params) RestartGraceFor(expect time.Duration) time.Duration {
	if p.RestartGrace > 0 {
		return p.RestartGrace
	}
	return or(p.BootTime, p.RecoverDeadline) + p.DetectInterval + 2*p.Slack + or(expect, p.RunBase)
}

// HandoverGraceFor is handover-completes' grace for a run that mockai streams in
// expect (0: unknown): HandoverGrace when set, else DetectInterval + 2 Slack + the
// streaming time (expect, else RunBase). p must be Resolve()d.
func (p Params) HandoverGraceFor(expect time.Duration) time.Duration {
	if p.HandoverGrace > 0 {
		return p.HandoverGrace
	}
	return p.DetectInterval + 2*p.Slack + or(expect, p.RunBase)
}

// Validate rejects negative durations and unknown or contradicting promises.
func (p Params) Validate() error {
	for name, d := range map[string]time.Duration{"heartbeat-ttl": p.HeartbeatTTL, "heartbeat-interval": p.HeartbeatInterval,
		"detect-interval": p.DetectInterval, "slack": p.Slack, "boot-time": p.BootTime, "owner-grace": p.OwnerGrace, "run-deadline": p.RunDeadline,
		"recover-deadline": p.RecoverDeadline, "key-grace": p.KeyGrace, "skew": p.Skew, "restart-grace": p.RestartGrace, "handover-grace": p.HandoverGrace} {
		if d < 0 {
			return fmt.Errorf("params: %s %s is negative", name, d)
		}
	}
	if err := promise.Validate(p.Promises); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	for _, pat := range p.IgnoreContainers {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("params: ignore pattern %q: %w", pat, err)
		}
	}
	return nil
}

// reconnectWindow is how long after a heal a pod may still be getting back on NATS
// (its client notices the dead connection, reconnects, finds its stream and bucket):
// the heartbeat TTL and a slack. Its 503s, its late writes and its missing key are
// put down to that until then (requests-answered, pod-recovers, no-write-after-end,
// heartbeat-bucket).
func (p Params) reconnectWindow() time.Duration { return p.HeartbeatTTL + p.Slack }

// recoverDefault is RecoverDeadline's default: BootTime + HeartbeatInterval + Slack
// when the boot time is known, else 2 HeartbeatTTL.
func (p Params) recoverDefault() time.Duration {
	if p.BootTime > 0 {
		return p.BootTime + p.HeartbeatInterval + p.Slack
	}
	return 2 * p.HeartbeatTTL
}

// TakeoverHold is how long a fault must hold a run's owner down to expose a
// takeover that never happens: OwnerGrace + Slack. Past OwnerGrace owner-alive
// judges the run; the extra Slack leaves a reading or two after that, so that a
// takeover that is merely late is told apart from one that is missing. With the
// derived grace it is HeartbeatTTL + DetectInterval + 2 Slack: 28 s on the bundled
// cluster (6 s + 2 s + 2×10 s), 75 s on mesh's timings (45 s + 10 s + 2×10 s). It is
// what a hold of "auto" means (--down-for, --duration). p must be Resolve()d first:
// on unresolved Params (OwnerGrace or Slack zero) the result is meaningless.
//
// A mesh that promises no survivor's takeover (today's: a dead owner's runs wait for
// its restart) has no takeover to expose: its hold is DetectInterval + Slack, long
// enough that the run is seen to stand still while its owner is down, and that a
// restart which does not recover it is told from one that is merely slow (15 s on
// mesh-current's timings), rather than a takeover grace that would only lengthen
// every run.
func (p Params) TakeoverHold() time.Duration {
	if !p.Promised(promise.SurvivorTakeover) {
		return p.DetectInterval + p.Slack
	}
	return p.OwnerGrace + p.Slack
}

// graceText is OwnerGrace with how it was derived, when it was: "18s (heartbeat TTL
// 6s + detection 2s + slack 10s)".
func (p Params) graceText() string {
	if p.OwnerGrace != p.HeartbeatTTL+p.DetectInterval+p.Slack {
		return p.OwnerGrace.String()
	}
	return fmt.Sprintf("%s (heartbeat TTL %s + detection %s + slack %s)", p.OwnerGrace, p.HeartbeatTTL, p.DetectInterval, p.Slack)
}

// runDeadline is how long a run that mockai streams in expect may take.
func (p Params) runDeadline(expect time.Duration) time.Duration {
	if p.RunDeadline > 0 {
		return p.RunDeadline
	}
	return or(expect, p.RunBase) + p.OwnerGrace + 2*p.Slack
}

// ignored reports whether deaths of this pod or container are expected.
func (p Params) ignored(names ...string) bool {
	for _, pat := range p.IgnoreContainers {
		for _, n := range names {
			if ok, _ := path.Match(pat, n); ok && n != "" {
				return true
			}
		}
	}
	return false
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
