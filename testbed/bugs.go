package testbed

import (
	"fmt"
	"sort"
	"strings"
)

// Bug names one mesh defect that the testbed can bring back on purpose, so that each
// chaosd invariant can be shown to catch the defect it exists for. The numbers refer to
// the contract's "defects found at #3392" (shared/mesh-contract.md). Some defects exist
// only in one mesh (bugMesh): a pod refuses, at boot and on POST /testbed/bugs, a
// switch that does not apply to its TESTBED_MESH.
type Bug string

const (
	// BugDeliverNew makes every attach use JetStream deliver policy "new", so an attach
	// opened after a run started never replays the buffered prefix. Mesh before PR #3387
	// (contract defect 5). Symptom: a late attacher misses chunks 1..k.
	BugDeliverNew Bug = "deliver-new"

	// BugNoHeartbeatBucket makes the creation of the POD_HEARTBEATS bucket fail with the
	// error swallowed: no bucket, no heartbeats, and so no pod death is ever noticed
	// and no orphan is reclaimed (contract defect 2). Symptom: the bucket is absent and
	// a run whose owner is killed never completes.
	BugNoHeartbeatBucket Bug = "no-heartbeat-bucket"

	// BugStrictClaim makes recovery claim with claimRunStart's strict compare-and-set
	// instead of claimOrphanedRun's; it fails while the dead pod still owns the row, so
	// a run whose owner died never completes (contract defect 1: the replayed step
	// claims without isResume). Symptom: the run stays in_progress, owned by the dead pod.
	BugStrictClaim Bug = "strict-claim"

	// BugPurgeOnResume makes a resume purge the run's JetStream subject before it goes
	// on, wiping the buffer that late attachers replay (contract defect 3; mesh PRs
	// #4749, #6431: "StreamGapError: missing seq 1"; today's dispatch-run.ts purges only
	// when !isResume). Symptom: after a takeover the buffer lacks the prefix and a late
	// attach misses chunks 1..k; in today's mesh it lacks the dead attempt's log, so a
	// watcher replaying from the start sees the resumed attempt alone.
	BugPurgeOnResume Bug = "purge-on-resume"

	// BugDuplicateOnResume makes a resume ignore what the buffer holds and republish the
	// reply from its first chunk (contract defect 3: re-executed steps duplicate the
	// reply). Symptom: a watcher that saw the prefix sees chunk-1 a second time.
	BugDuplicateOnResume Bug = "duplicate-on-resume"

	// BugHandoverLosesRun makes a graceful stop's drain mark its thread-gate workflows
	// CANCELLED instead of putting them back on the queue (today's index.ts
	// handOffInFlightThreadGates: resumeWorkflows, PENDING -> ENQUEUED), so no pod picks
	// the run up. Symptom: after a SIGTERM of the owner the run stays in_progress, its
	// gate CANCELLED, until the reaper fails it.
	BugHandoverLosesRun Bug = "handover-loses-run"

	// BugPersistTwice makes a resumed run persist the assistant reply twice: the
	// attempt that ends writes the reply's thread_message_parts under the run's message
	// id and again under an id minted for the attempt (mesh keys its projection writes
	// by run, message and fence, synthesizedErrorMessageId(runId, fence) with ON
	// CONFLICT DO NOTHING, so that retries collapse; no mesh PR for this regression was
	// found). Symptom: two assistant messages with the same text for one run.
	BugPersistTwice Bug = "persist-twice"

	// BugRestartNoRecover makes a pod that boots skip the recovery of its own PENDING
	// workflows (DBOS recovers the workflows of its executor id at launch; executor id =
	// POD_NAME without a Conductor, index.ts). Symptom: a run whose owner is killed and
	// restarted under its name never resumes; it stays in_progress until the reaper
	// fails it. It acts at boot: a set posted at run time is kept in Postgres for the
	// pod's next boot.
	BugRestartNoRecover Bug = "restart-no-recover"

	// BugZombieOwner makes an owner ignore its fence after a freeze. A publish refused
	// by the optimistic concurrency check (someone else wrote on the subject since this
	// pod last looked) is taken for a stale cached sequence: the pod adopts the
	// subject's new last sequence and publishes its chunk again, without asking
	// Postgres whether it still owns the run (and it never asks while NATS is away
	// either). A correct pod re-checks run_owner_pod at the first conflict and stops
	// without another write; mesh's fence tokens (PR #3917) are that check. The final
	// status update stays conditional on the owner, so the row is right. Symptom: an
	// owner paused (SIGSTOP) or cut off from NATS until a survivor has taken the run
	// over and finished it comes back and appends the rest of its own reply after the
	// survivor's end sentinel: more text-deltas, a second finish, a second done
	// sentinel, as soon as it wakes (split brain). May only: in today's mesh nothing
	// takes a frozen attempt's run over (no heartbeats; the reaper waits 10 min).
	BugZombieOwner Bug = "zombie-owner"

	// BugReplayLosesStart makes an attach that replays the buffer (deliver policy all:
	// an attach opened while the run is in progress, the contract's late cross-pod
	// attach) drop the first start chunk it replays, the one that carries the assistant
	// message id, as a replay that counts the start as already sent would (an
	// off-by-one where the replay begins). Every other chunk, text-deltas included,
	// arrives once and in order, and an attach opened before the run started (deliver
	// policy new) is untouched. Symptom: a late watcher's run begins at start-step, with
	// no start and no message id, while its text is complete; only a check of the whole
	// chunk grammar (one start with a message id first) sees it.
	BugReplayLosesStart Bug = "replay-loses-start"

	// BugReadyButFailing makes the pod's attach path die with its first NATS
	// disconnect and never come back: the disconnect tears down the stream subscriber
	// and nothing rebuilds it on reconnect. From then on every attach (/attach and
	// /stream) answers 500 {"error":"internal error"}, even after the partition heals,
	// while the NATS connection itself reconnects, so /health/ready answers 200
	// {"status":"ok"} with NATS up (degraded only while the partition lasts); starts,
	// the owner's publishes and heartbeats go on. A correct pod answers 503 (today's
	// mesh: 204) while NATS is away and serves attaches again once it reconnects.
	// Symptom: a pod that says ready fails every attach for good after a NATS
	// partition (or a NATS restart).
	BugReadyButFailing Bug = "ready-but-failing"
)

// AllBugs is the one list of defect switches; parsing and help read it.
var AllBugs = []Bug{BugDeliverNew, BugNoHeartbeatBucket, BugStrictClaim, BugPurgeOnResume, BugDuplicateOnResume,
	BugHandoverLosesRun, BugPersistTwice, BugRestartNoRecover, BugZombieOwner, BugReplayLosesStart, BugReadyButFailing}

// bugMesh names the one mesh a defect exists in; the others apply to both. The May
// ones need what today's mesh removed (the bucket, the run_owner_pod claim, a resume
// that continues the dead attempt's reply, a takeover of a frozen owner's run); the
// current ones need its DBOS workflows and persisted parts.
var bugMesh = map[Bug]string{
	BugNoHeartbeatBucket: MeshMay, BugStrictClaim: MeshMay, BugDuplicateOnResume: MeshMay, BugZombieOwner: MeshMay,
	BugHandoverLosesRun: MeshCurrent, BugPersistTwice: MeshCurrent, BugRestartNoRecover: MeshCurrent,
}

// forMesh reports the switched-on defects that do not exist in mesh.
func (s Bugs) forMesh(mesh string) error {
	var wrong []string
	for _, b := range AllBugs {
		if s.Has(b) && bugMesh[b] != "" && bugMesh[b] != mesh {
			wrong = append(wrong, fmt.Sprintf("%s applies to TESTBED_MESH=%s only", b, bugMesh[b]))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%s (this pod is TESTBED_MESH=%s)", strings.Join(wrong, "; "), mesh)
	}
	return nil
}

// Bugs is a set of switched-on defects. The zero value is a correct pod.
type Bugs map[Bug]bool

// Has reports whether b is switched on.
func (s Bugs) Has(b Bug) bool { return s[b] }

// String lists the switched-on defects, sorted and comma-separated.
func (s Bugs) String() string {
	names := make([]string, 0, len(s))
	for b, on := range s {
		if on {
			names = append(names, string(b))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// ParseBugs parses a comma-separated list of defect names (spaces and empty items are
// ignored). An unknown name is an error that lists the valid ones.
func ParseBugs(list string) (Bugs, error) {
	out := Bugs{}
	for _, item := range strings.Split(list, ",") {
		name := strings.TrimSpace(item)
		if name == "" {
			continue
		}
		if !knownBug(Bug(name)) {
			return nil, fmt.Errorf("unknown defect %q: want a comma-separated list of %s", name, validBugs())
		}
		out[Bug(name)] = true
	}
	return out, nil
}

func knownBug(b Bug) bool {
	for _, k := range AllBugs {
		if k == b {
			return true
		}
	}
	return false
}

func validBugs() string {
	names := make([]string, len(AllBugs))
	for i, b := range AllBugs {
		names[i] = string(b)
	}
	return strings.Join(names, ", ")
}
