// Package history is chaosd's record of a run of the workload: every operation
// (written before it is sent and again when it completes), what each watcher saw,
// the faults chaosd injected and healed, Docker events and probe readings. It is an
// append-only JSONL file, one Event per line, that the invariant checkers read live
// or offline (chaosd analyze).
//
// Conventions that every writer of events must keep:
//   - Pod is always the pod's name (mesh's POD_NAME, the compose service, e.g. mesh-2),
//     never its URL, so that heartbeat keys, owners, faults and Docker events agree.
//   - Run is the workload's id of one run (one POST of a user message); Thread is
//     mesh's thread id. Every run-scoped event carries both.
//   - Times are wall-clock, RFC3339Nano in JSON. Event.Time is when the event was
//     written (for a probe reading: when it was taken); Fault.At and Docker.At carry the
//     confirmed time of what they describe.
package history

import (
	"time"
)

// SchemaVersion is the version written in every line's "v" field. Readers accept
// lines of this version and older.
const SchemaVersion = 1

// Type says which payload an Event carries.
type Type string

// Event types; exactly the payload named by the type is set.
const (
	TypeMeta   Type = "meta"   // Meta: begin and end of a history, cluster settings
	TypeOp     Type = "op"     // Op: an operation of the workload, invoke and completion
	TypeWatch  Type = "watch"  // Watch: what one watcher saw of one run
	TypeFault  Type = "fault"  // Fault: a fault from the ledger
	TypeDocker Type = "docker" // Docker: a container event
	TypeProbe  Type = "probe"  // Probe: one reading of an observer
)

// Event is one line of a history.
type Event struct {
	V    int       `json:"v"`    // SchemaVersion
	Seq  uint64    `json:"seq"`  // 1, 2, 3, ... in file order; set by the Writer
	Time time.Time `json:"time"` // when written (or when the reading was taken)
	Type Type      `json:"type"`

	Meta   *Meta   `json:"meta,omitempty"`
	Op     *Op     `json:"op,omitempty"`
	Watch  *Watch  `json:"watch,omitempty"`
	Fault  *Fault  `json:"fault,omitempty"`
	Docker *Docker `json:"docker,omitempty"`
	Probe  *Probe  `json:"probe,omitempty"`
}

// Meta phases.
const (
	MetaBegin = "begin" // first line: the cluster's settings
	MetaEnd   = "end"   // last line of a clean exit
)

// Meta marks the begin and the end of a history and carries the settings that the
// checkers derive their defaults from.
type Meta struct {
	Phase  string   `json:"phase"`            // MetaBegin or MetaEnd
	Chaosd string   `json:"chaosd,omitempty"` // chaosd's version
	Pods   []string `json:"pods,omitempty"`   // the pods under test, by name
	Target string   `json:"target,omitempty"` // the target profile chaosd judged by (config/targets)
	// HeartbeatTTL and HeartbeatInterval are the heartbeat bucket's TTL and the
	// pods' refresh interval; DetectInterval is how often pods look for dead peers.
	HeartbeatTTL      Duration `json:"heartbeatTTL,omitempty"`
	HeartbeatInterval Duration `json:"heartbeatInterval,omitempty"`
	DetectInterval    Duration `json:"detectInterval,omitempty"`
	// BootTime is how long a pod takes from its start to ready (pod-recovers'
	// deadline derives from it); absent in older histories.
	BootTime Duration `json:"bootTime,omitempty"`
	// HeartbeatCheck is false for a mesh without the heartbeat bucket.
	HeartbeatCheck *bool    `json:"heartbeatCheck,omitempty"`
	UserChecks     []string `json:"userChecks,omitempty"` // names of the declared user checks
	// Promises are what the mesh under test promises (package promise's names, from
	// the target profile): the invariants judge by them. Absent in older histories,
	// which are judged by promise.Default.
	Promises []string `json:"promises,omitempty"`
	// Untested are promises of the mesh that this history's one fault cannot put to
	// the test (a kill never stops a pod gracefully): not in Promises, not judged.
	Untested []string `json:"untested,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// Operation names.
const (
	OpBootstrap    = "bootstrap"     // sign-up, org, API key, provider, agent
	OpCreateThread = "create-thread" // COLLECTION_THREADS_CREATE
	OpStartRun     = "start-run"     // POST .../threads/<id>/messages
	OpAttach       = "attach"        // GET .../attach/<id>: ok when the stream opened
	OpCancel       = "cancel"        // POST .../cancel/<id>
)

// Operation phases: every operation is written at PhaseInvoke before it is sent,
// then once more with one of the other three.
const (
	PhaseInvoke        = "invoke"
	PhaseOK            = "ok"
	PhaseFailed        = "failed"        // definitely did not happen (e.g. a 4xx answer)
	PhaseIndeterminate = "indeterminate" // may or may not have happened (timeout, cut off)
)

// Op is one operation of the workload. The completion repeats the ids of the invoke.
type Op struct {
	ID     uint64 `json:"id"`    // pairs the invoke with its completion
	Name   string `json:"name"`  // OpStartRun, OpAttach, ...
	Phase  string `json:"phase"` // PhaseInvoke, PhaseOK, ...
	Run    string `json:"run,omitempty"`
	Thread string `json:"thread,omitempty"`
	Pod    string `json:"pod,omitempty"` // the pod the request went to
	// Start-run: the mockai hint, the chunks it asks for and how long mockai takes to
	// stream them (N x delay), from which the run's deadline is derived.
	Hint   string   `json:"hint,omitempty"`
	Chunks int      `json:"chunks,omitempty"`
	Expect Duration `json:"expect,omitempty"`
	// Attach: the watcher's id, whether it opened late, and the chunks confirmed in
	// the run's buffer when it was opened (k).
	Watcher string `json:"watcher,omitempty"`
	Late    bool   `json:"late,omitempty"`
	K       int    `json:"k,omitempty"`
	// Settle (start-run) is the run's settle window: how long after the run is
	// decided the workload keeps reading its buffer, for writes after its end; 0 is
	// none. Absent in older histories: their settle is not recorded.
	Settle *Duration `json:"settle,omitempty"`
	TaskID string    `json:"taskId,omitempty"` // start-run ok: mesh's task id
	Status int       `json:"status,omitempty"` // HTTP status, when there was one
	Err    string    `json:"error,omitempty"`
}

// Watch is what one watcher (one attach) saw of one run, written once when the
// watcher is done with the run: finish seen, stream error, or given up.
type Watch struct {
	Watcher  string    `json:"watcher"`
	Run      string    `json:"run"`
	Thread   string    `json:"thread"`
	Pod      string    `json:"pod"`      // the pod serving the attach
	Late     bool      `json:"late"`     // opened after k chunks were confirmed in the buffer
	K        int       `json:"k"`        // chunks confirmed in the buffer when opened
	OpenedAt time.Time `json:"openedAt"` // when the stream opened
	// PrefixAt is when the watcher held the first K mock chunks (a late watcher's
	// replayed prefix); zero when it never did or K is 0. PrefixAt-OpenedAt is the
	// attach replay lag.
	PrefixAt time.Time `json:"prefixAt,omitzero"`
	Order    Order     `json:"order"`   // mockai chunk indexes in arrival order
	Foreign  int       `json:"foreign"` // text deltas that are not mockai's chunk-<i>
	FirstFgn string    `json:"firstForeign,omitempty"`
	Finished bool      `json:"finished"`        // the finish chunk arrived
	Err      string    `json:"error,omitempty"` // why the stream ended before the finish
	// Restarts are the places in Order where the reply started again: for each
	// `start` chunk that arrived after at least one text chunk of the run (a new
	// attempt of the same reply, as mesh's kept log shows after a resume), the number
	// of mock chunks seen before it. Ascending; absent in older histories.
	Restarts []int `json:"restarts,omitempty"`
	// Chunks is every chunk the watcher received, by type in arrival order, with the
	// start's message id and the text part ids (probes.Grammar: "S(msg_1)sT(txt-0)d20EfF").
	// Absent in older histories: their grammar is not judged.
	Chunks string `json:"chunks,omitempty"`
}

// Fault phases, as the ledger records them.
const (
	FaultIntent       = "intent"        // written (with its undo) before injecting
	FaultInjected     = "injected"      // confirmed in effect at At
	FaultInjectFailed = "inject-failed" // not in effect (Err says why)
	FaultHealed       = "healed"        // heal confirmed at At
	FaultHealUnknown  = "heal-unknown"  // the heal could not be confirmed (Err says why)
)

// Fault kinds that the checkers know. Others are recorded and count as "a fault".
const (
	KindKill      = "kill"
	KindStop      = "stop"
	KindPause     = "pause"
	KindPartition = "partition"
	KindRestart   = "restart"
	KindRollout   = "rollout" // every pod in turn: stopped (Signal) and restarted
	// KindDelete is Kubernetes' delete: the pod SIGKILLed and removed for good; its
	// controller starts a replacement under a new name (Fault.Replaced).
	KindDelete = "delete"
)

// Signals a stop or a rollout sends (Fault.Signal).
const (
	SignalTerm = "TERM" // graceful: mesh drains and hands its runs over
	SignalKill = "KILL"
)

// Partition peers. An empty Peers list means cut off from everything.
const (
	PeerAll      = "all"
	PeerNATS     = "nats"
	PeerPostgres = "postgres"
	PeerPods     = "pods"
	PeerMockAI   = "mockai"
)

// Fault is one step of one fault's life in the ledger.
type Fault struct {
	ID        string   `json:"id"` // ledger id, the same in every phase
	Phase     string   `json:"phase"`
	Kind      string   `json:"kind"`
	Pod       string   `json:"pod"`
	Container string   `json:"container,omitempty"`
	Target    string   `json:"target,omitempty"` // owner, random, named
	Run       string   `json:"run,omitempty"`    // owner target: the run whose owner was hit
	Peers     []string `json:"peers,omitempty"`  // partition: who the pod is cut off from
	DownFor   Duration `json:"downFor,omitempty"`
	// Signal is what a stop or a rollout sends its pods: SignalTerm (a graceful stop,
	// the default of a stop) or SignalKill. Absent in older histories.
	Signal string `json:"signal,omitempty"`
	// Replaced: the fault removes its pod (each pod, for a rollout) for good, and the
	// pod's controller starts a replacement under a new name, as Kubernetes does on a
	// delete, a stop or a rollout. The pod never comes back: its heal is its
	// replacement counted ready, and a replacement is a pod first seen after the
	// fault's decision. Absent (false) on Docker, where a pod comes back by name.
	Replaced bool      `json:"replaced,omitempty"`
	At       time.Time `json:"at"` // the confirmed time (injected, healed) or decision time
	Err      string    `json:"error,omitempty"`
}

// Docker actions that the checkers know.
const (
	DockerDie        = "die"
	DockerStart      = "start"
	DockerOOM        = "oom"
	DockerPause      = "pause"
	DockerUnpause    = "unpause"
	DockerRestart    = "restart"
	DockerKill       = "kill"
	DockerStop       = "stop"
	DockerWatchError = "watch-error" // the event stream broke: events may be missing
	DockerWatchStart = "watch-start" // the event stream is live from At: deaths from then on are seen
	// DockerRunning is a snapshot taken as the watch starts, one per pod that runs:
	// At is the time its container started (Docker's State.StartedAt), before chaosd
	// watched. Absent in older histories.
	DockerRunning = "running"
)

// Docker is one container event.
type Docker struct {
	Action    string    `json:"action"`
	Container string    `json:"container,omitempty"`
	Pod       string    `json:"pod,omitempty"` // compose service
	ExitCode  *int      `json:"exitCode,omitempty"`
	ByChaosd  bool      `json:"byChaosd"`        // chaosd caused it
	Fault     string    `json:"fault,omitempty"` // the ledger id, when chaosd caused it
	At        time.Time `json:"at"`              // Docker's time of the event
	Err       string    `json:"error,omitempty"` // watch-error
}

// Probe kinds.
const (
	ProbeThread     = "thread"     // Postgres: the thread's status and owner
	ProbeBuffer     = "buffer"     // NATS: the run's stream buffer
	ProbeHeartbeats = "heartbeats" // NATS: the heartbeat bucket and its keys
	ProbeReady      = "ready"      // HTTP: a pod's /health/ready
	ProbeUser       = "user"       // a user check declared in config
	ProbeDependency = "dependency" // chaosd's reach to a dependency (Postgres, NATS, Docker)
	ProbeMessages   = "messages"   // Postgres: the run's persisted assistant replies
)

// Probe is one reading. Err set means "could not observe" (the observer failed, e.g.
// Postgres unreachable): the payload is absent and the checkers that needed the
// reading give unknown for that window. A pod that does not answer its readiness
// probe is an observation (Ready.Ready false, Ready.Err set), not a Probe.Err.
type Probe struct {
	Kind   string `json:"kind"`
	Run    string `json:"run,omitempty"`
	Thread string `json:"thread,omitempty"`
	Pod    string `json:"pod,omitempty"`
	Err    string `json:"error,omitempty"`

	ThreadState *ThreadState `json:"threadState,omitempty"`
	Buffer      *Buffer      `json:"buffer,omitempty"`
	Heartbeats  *Heartbeats  `json:"heartbeats,omitempty"`
	Ready       *Ready       `json:"ready,omitempty"`
	User        *UserCheck   `json:"user,omitempty"`
	Dependency  *Dependency  `json:"dependency,omitempty"`
	Messages    *Messages    `json:"messages,omitempty"`
}

// Thread statuses (mesh's threads.status).
const (
	StatusInProgress     = "in_progress"
	StatusRequiresAction = "requires_action"
	StatusFailed         = "failed"
	StatusCompleted      = "completed"
)

// ThreadState is what Postgres says about a thread.
type ThreadState struct {
	Status string `json:"status"`
	Owner  string `json:"owner,omitempty"` // empty when no pod owns the run
}

// Messages is what Postgres holds of a run's reply, read after the run was decided:
// the text of each assistant message persisted for the run (the messages after the
// run's user message), in order. No reply is an empty list.
type Messages struct {
	Replies []string `json:"replies"`
}

// Buffer is what JetStream holds of one run's stream buffer.
type Buffer struct {
	Messages   uint64 `json:"messages"`
	FirstSeq   uint64 `json:"firstSeq"`
	LastSeq    uint64 `json:"lastSeq"`
	TextDeltas int    `json:"textDeltas"` // mockai chunks among the messages
	Done       bool   `json:"done"`       // the end sentinel is there
	// What was written after the end (no-write-after-end); each left out when zero,
	// so a clean reading is as long as before and older histories read as none.
	Sentinels int `json:"sentinels,omitempty"` // end sentinels among the messages
	AfterDone int `json:"afterDone,omitempty"` // messages after the first end sentinel, by sequence
	// FirstAfterDone is JetStream's timestamp (the server's) of the first message
	// after the first end sentinel.
	FirstAfterDone time.Time `json:"firstAfterDone,omitzero"`
	Finishes       int       `json:"finishes,omitempty"` // finish chunks among the messages
}

// Heartbeats is the heartbeat bucket: whether it exists, and its keys.
type Heartbeats struct {
	Bucket bool           `json:"bucket"` // false: the bucket is missing from JetStream
	Keys   []HeartbeatKey `json:"keys,omitempty"`
}

// HeartbeatKey is one pod's key and its age when read.
type HeartbeatKey struct {
	Pod string   `json:"pod"`
	Age Duration `json:"age"`
}

// Ready is a pod's /health/ready answer.
type Ready struct {
	Ready    bool   `json:"ready"`
	Status   string `json:"status,omitempty"`
	Postgres string `json:"postgres,omitempty"`
	NATS     string `json:"nats,omitempty"`
	Err      string `json:"error,omitempty"` // the pod did not answer
}

// User check kinds.
const (
	UserSQL  = "sql"  // must return no rows
	UserHTTP = "http" // must answer 2xx
	UserNATS = "nats" // stream or bucket must exist
)

// UserCheck is one result of a user check.
type UserCheck struct {
	Check  string `json:"check"` // its name in config
	Kind   string `json:"kind"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"` // e.g. the rows returned, the status code
}

// Dependencies that chaosd watches during a soak.
const (
	DepPostgres = "postgres"
	DepNATS     = "nats"
	DepDocker   = "docker"
	// DepKubernetes is the API server, the runtime of a Kubernetes target.
	DepKubernetes = "kubernetes"
)

// Dependency is one change in chaosd's reach to a dependency, written when it
// changes (and once when the watch starts). While a dependency is away, and for a
// grace after it returns, the checkers report what would be a violation as unknown:
// an outage of the service's own dependencies is not a defect of the service.
type Dependency struct {
	Name string `json:"name"` // DepPostgres, DepNATS, DepDocker
	Up   bool   `json:"up"`
	Err  string `json:"error,omitempty"` // why it is down
}
