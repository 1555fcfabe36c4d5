// Package testbed is a stand-in for one pod of mesh's multi-pod run pipeline, on
// exactly mesh's contract (shared/mesh-contract.md): the same routes, bodies, SSE
// chunks, tables, NATS stream, subjects and heartbeat bucket. chaosd is tested against
// it; pointed at a real mesh, chaosd works unchanged. Defect switches (Bugs) bring back
// each known mesh defect so that every chaosd invariant can be shown to catch its own.
//
// # Files by role
//
//	config.go    Config, EnvVars (the one list of variables and flags), validation
//	bugs.go      the defect switches
//	switches.go  /testbed/bugs: the defect set replaced at run time (TESTBED_RUNTIME_SWITCHES)
//	pod.go       New, Run (graceful stop), Kill (SIGKILL), boot
//	server.go    routes, JSON errors, body limits, panic recovery
//	auth.go      Better Auth stand-in: sign-up/in, session cookie, organizations
//	mcp.go       POST /mcp/<orgId>_self: JSON-RPC tools/call for the bootstrap tools
//	runs.go      POST .../threads/<id>/messages: claimRunStart, 202 {taskId}
//	dispatch.go  the owner's loop: provider -> chunks -> fenced publishes -> status
//	provider.go  the OpenAI-compatible client (openai-go), error classes, idle timeout
//	chunks.go    UI-message chunks, run progress, what a resumer still has to publish
//	buffer.go    the DECOPILOT_STREAMS stream: read, fenced publish, purge
//	attach.go    GET .../attach/<id> and .../threads/<id>/stream: SSE
//	heartbeat.go the POD_HEARTBEATS bucket and this pod's key
//	recovery.go  the watcher: find dead owners' and released runs, claim, resume
//	store.go, threads.go, migrate.go  Postgres
//	health.go, metrics.go             /health/live, /health/ready, /metrics
//
// # Ownership, recovery and fencing
//
// A run is owned by the pod in threads.run_owner_pod. Every pod heartbeats its key in
// POD_HEARTBEATS and scans every interval (and at once when a key is deleted) for
// in-progress runs whose owner's key is gone or older than the TTL, runs released by
// a graceful stop or a handover (owner NULL), and runs it owns by name without running
// them (it was restarted). It claims such a run in Postgres first (claimOrphanedRun's
// compare-and-set, tightened to the owner it judged dead), then reads the buffer and
// re-streams the reply from the provider with the same request, publishing only what
// the buffer lacks (mockai's text is deterministic; progress is counted in chunks
// and text bytes of the run whose start chunk carries its message id).
//
// Every publish carries the subject's last sequence as this pod knows it
// (Nats-Expected-Last-Subject-Sequence). A paused, partitioned or restarted old owner
// therefore fails its first publish after anyone else published; it then asks
// Postgres: no longer the owner -> it stops without another write; still the owner ->
// it re-reads the buffer and recomputes what is missing. Every writer appends the next
// chunk computed from the exact buffer it saw, so each chunk is in the buffer once,
// and every watcher, replaying with an ordered consumer, sees it once.
//
// The final status update is conditional on still owning the run and is retried
// until Postgres answers (an owner cut off from Postgres keeps its heartbeat, so no
// one else finishes for it). A graceful stop stops the pod's dispatchers, releases
// its runs (owner NULL) and deletes its key, so survivors take over at once.
//
// Every claim also writes the run's dbos.workflow_status row, executor_id = the pod's
// name, or TESTBED_EXECUTOR_ID when set: the mesh-2026-05 cluster sets "local" on every
// pod, as mesh wrote at #3392, so that row names no owner there.
//
// # No orphan resume on attach
//
// The attach route never claims or resumes a run; only the watcher does. Mesh's
// GET /attach once had an "orphan resume" branch: a run not in this pod's registry,
// in_progress, attached by the thread's creator, was taken with claimOrphanedRun
// (run_owner_pod IS NULL OR run_owner_pod <> me: it matches a live owner too) and
// resumed (decocms/mesh f400af379, 2026-05-07, apps/mesh/src/api/routes/decopilot/
// routes.ts:438-517, claim at :486; apps/mesh/src/storage/threads.ts:632). PR #3387
// (decocms/studio, merged 2026-05-15, "drop /attach orphan-resume; collapse to pure
// tail") removed it (routes.ts:442-537 at its base) along with dispatchRun, leaving a
// tail whose deliver policy follows threads.status (as tests/multi-pod/scenarios/
// attach-cross-pod.test.ts says of #3387). #3392 (under review 2026-05-17) came after:
// its harness never met the branch, and the testbed does not model it.
//
// The buffer of a finished run is purged after PurgeGrace (mesh purges at once): an
// attach that began replaying just before the end would otherwise lose the tail,
// finish chunk included, when the messages vanish under its consumer. The purge keeps
// the done sentinel, and so does the trim of earlier runs at a fresh start: a subject
// that was written once never becomes empty again, so a stale owner can never match
// "expect an empty subject".
package testbed
