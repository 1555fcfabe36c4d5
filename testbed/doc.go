// Package testbed is a stand-in for one pod of mesh's multi-pod run pipeline, on
// exactly mesh's contract (shared/mesh-contract.md): the same routes, bodies, SSE
// chunks, tables, NATS stream, subjects and heartbeat bucket. chaosd is tested against
// it; pointed at a real mesh, chaosd works unchanged. Defect switches (Bugs) bring back
// each known mesh defect so that every chaosd invariant can be shown to catch its own.
//
// TESTBED_MESH picks which mesh: "2026-05" (the default) is mesh at #3392, as the
// sections up to "Today's mesh" describe; "current" is today's mesh, described from
// that section on.
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
//	workflows.go today's mesh in Postgres: gate and child workflows, fence, parts, reaper
//	queue.go     today's mesh: recovery at boot, the queue poll, the reaper, the drain
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
// it re-reads the buffer and recomputes what is missing (zombie-owner skips that
// question and writes on after a freeze). Every writer appends the next chunk
// computed from the exact buffer it saw, so each chunk is in the buffer once, and
// every watcher, replaying with an ordered consumer, sees it once.
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
//
// # Today's mesh (TESTBED_MESH=current)
//
// Modelled on facts read from decocms/studio's newest source (apps/api 4.363.0, late
// 2026; file @ commit as the research report gives them); where the testbed departs
// from them it says so. The May machinery (run_owner_pod claims, heartbeats, the
// watcher, provider hand-over) does not run in this mode, and its tables and columns
// (migrate.go currentSchema) exist only where a pod or `chaosd testbed migrate` of
// this mode applied them.
//
// Bootstrap. ORGANIZATION_SETTINGS_UPDATE checks simple_mode.tiers: web_search and
// deep_research are required, each tier given is null or {keyId, modelId}, and a
// failure is the tool's JSON-RPC error -32602 "Invalid arguments for tool
// ORGANIZATION_SETTINGS_UPDATE: simple_mode.tiers.web_search: required ...", naming
// every field at fault; so the May body (fast, smart, thinking, image, web_research:
// tests/multi-pod/lib/setup.ts @ 0c019050) is refused. routes.ts @ 6b2e7262 resolves
// the tiers smart, image, web_search and deep_research; the zod schema itself
// (SimpleModeTier, @decocms/shared) was not read, so the required set is the
// contract's reading, and unknown keys are kept and unchecked (zod drops them).
//
// Routes (routes.ts @ 6b2e7262, 00a159a3). The start is still POST
// .../threads/<id>/messages; it answers 202 {taskId: <thread id>}, refuses a body
// thread_id other than the route's with 400, and ignores the body's agent. A missing
// thread row is created, as routes.ts tolerates it (the harness creates the thread
// first only so that /stream does not 404). The watch is GET .../threads/<id>/stream
// only (/attach is gone) and answers 204 when the buffer is unreachable. A start while
// the pod drains answers 503, and so does /health/ready ({"status":"stopping"}).
//
// Owners are DBOS workflows (queue-names.ts @ 15d0dc4e; thread-gate-workflow.ts and
// hosted-harness-workflow.ts @ 022ccd94; index.ts @ 33bd7946). threads.run_owner_pod is
// never written (PR #3917; rollout-churn.test.ts @ 0840d468: "not populated in this
// architecture"). A run is a gate workflow thread-run:<thread>:<messageId> (name
// threadGateWorkflow, queue thread-gate, queue_partition_key = thread id) and each
// attempt a child decopilot-hosted:<thread>:<fence> (hostedHarnessWorkflow, queue
// decopilot-hosted-harness, partition key NULL); executor_id is Config.Executor()
// (POD_NAME, as without a DBOS Conductor; a Conductor would write a random UUID).
// Both are PENDING while the run goes on, SUCCESS at the end (ERROR when the run
// failed), and the thread ends completed or failed. The fence is
// threads.run_fence_token (migration 099-run-fence; here a bigint): the thread's last
// + 1 at a start and at every resume, so the first attempt of a thread's first run is
// 1. A resume CANCELLs the previous attempt's child. An attempt checks its fence in
// Postgres whenever a publish conflicts, and its final statement (status, workflows,
// reply) only writes while it holds the current fence.
//
// Recovery. There is no heartbeat bucket (PR #3909) and no scan. A pod that boots
// resumes the gates PENDING on its executor id (DBOS recovers its own workflows at
// launch): a new attempt, fence + 1, a new child (runs_resumed_total{how="restart"}).
// With one executor id on every pod (TESTBED_EXECUTOR_ID=local) that takes every pod's
// runs, as DBOS would. Every pod polls thread-gate every TESTBED_QUEUE_POLL (1s) and
// takes the oldest ENQUEUED gate with a compare-and-set (ENQUEUED -> PENDING,
// executor_id = its own), in the transaction that starts the new attempt
// (how="handover"). A pod killed and never restarted is recovered by nobody: mesh
// promises nothing without a Conductor. The reaper fails it: every pod, every
// TESTBED_REAPER_AFTER/2, fails each in-progress thread whose last_progress_at (moved
// at most every second while an attempt publishes) is older than TESTBED_REAPER_AFTER
// (10m: run-registry.ts @ 1aeea965 RUN_IDLE_TIMEOUT_MS, swept every 5 min): status
// failed, failure_kind stall, failure_reason "Run stalled — no progress within the
// idle timeout window" (run-reactor.ts @ 18986631), its gate ERROR, its child
// CANCELLED, the buffer untouched. Mesh's reaper sweeps only its own pod's registry;
// the testbed's sweeps every thread, so that no run stays in_progress forever.
//
// Graceful stop (index.ts @ 33bd7946 gracefulShutdown). From the signal, readiness is
// 503 and starts are refused; the pod's runs stop; then every thread-gate workflow
// PENDING on its executor id goes back on the queue (ENQUEUED, executor_id NULL;
// handOffInFlightThreadGates' resumeWorkflows) and the child of its current attempt
// is CANCELLED; then the pod exits. TESTBED_DRAIN_TIMEOUT (10s) bounds it all, the
// compose harness's Docker stop grace being 10 s. Mesh first sleeps drainMs (0 for a
// worker, 0.6 × the force-exit time otherwise) and leaves the children to DBOS
// recovery; the testbed stops its runs at once. A provider this pod cannot reach
// fails the run instead of handing it over (runHostedHarness is not retried;
// publishHostedHarnessFailure publishes an error chunk and a fenced done).
//
// Persisted parts (storage/types.ts @ a818d8d5). thread_message_parts(id
// "<run_id>:<message_id>:<seq>", seq, org_id, thread_id, run_id = the thread id,
// message_id, role, kind = the part's type, payload = the part, payload_ref, metadata,
// created_at). The start writes the user message's parts; the attempt that ends the
// run writes the reply once, under the run's message id, in the statement that ends
// it: [{"type":"text","text":"chunk-1 chunk-2 ... "}, {"type":"finish"}], or the text
// so far and {"type":"error","errorText":...} when it failed (mesh's projector writes
// them; whether it flushes per chunk was not read). Ids are deterministic and inserts
// ON CONFLICT DO NOTHING, as mesh's synthesized rows are, so a retried write
// collapses.
//
// # The buffer after a resume (today's mesh)
//
// A resume never purges the subject (dispatch-run.ts @ 19b33c43 purges at dispatch
// start only when !isResume: purging beheaded the log, "StreamGapError: missing seq 1",
// PRs #4749, #6431). The resumed attempt appends after whatever the subject holds: a
// fresh start chunk with the run's messageId, then the whole reply again from chunk-1
// (the provider call is re-run; mockai is deterministic), finish, and its done
// sentinel. A watcher replaying from seq 1 therefore sees the dead attempt's partial
// log (start, chunk-1..chunk-k, no finish), then the resumed attempt's complete reply;
// the second start chunk is the only boundary (mesh has no reset marker; its /stream
// is a pass-through and swallows the done sentinel). Every buffer message carries its
// attempt's fence ({"p":chunk,"fence":2}, {"done":true,"fence":2}; mesh keys its events
// by run and fence, the field name is the testbed's), and an attempt reads its progress
// only from messages of its own fence, so it never mistakes the dead attempt's log for
// its own. Mesh may differ when DBOS recovers a run: the gate replays from its journal,
// and a recovered in-process attempt restarts at seq 0 with the same fence
// (dispatch-run.ts @ 19b33c43), so JetStream's duplicate window (msgID = fence and seq,
// 2 min) drops its low seqs and splices the two attempts (the hazard
// hosted-harness-workflow.ts describes). The testbed mints a new fence and a new child
// at every resume, as the contract's decopilot-hosted:<thread>:<fence> suggests, so
// nothing collides and no msgID is set.
//
// Defects of today's mesh (bugs.go): purge-on-resume purges the subject before the
// resume (the log of the dead attempt is gone; mesh's projector would then fail the
// run with "missing seq 1", which the testbed does not model); handover-loses-run,
// persist-twice, restart-no-recover. deliver-new, replay-loses-start and
// ready-but-failing apply to both meshes; the other May defects (zombie-owner among
// them) are refused in this mode, as today's are in May's. Runtime switches posted
// to a pod of this mode are kept in Postgres (testbed_switches) and restored when it
// boots again under its name, so that restart-no-recover can act at the restart.
//
// Not modelled: the thread-gate queue's waiting second run (a start on an in-progress
// thread answers 409), the start being dequeued by any pod (the pod that takes the
// POST runs it), the user prompt mirrored onto the subject (publishUserMessage), the
// projector's fence and seq checks, the stream's 24 h max age (it stays 5 min), the
// sandboxed harness queue, /watch, cancel and queue routes.
package testbed
