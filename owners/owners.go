// Package owners is chaosd's one lookup of a run's owner pod: the fault's pick
// (--fault=KIND-owner), the probes' thread readings that the invariants judge, and the
// preflight all read owners through it, so that they can never disagree on who owns a
// run.
//
// Where mesh records the owner changed over time (../shared/mesh-contract.md):
//   - threads (mesh of May 2026, #3392): threads.run_owner_pod, set by the claim while
//     the run is in progress;
//   - dbos (mesh today, PR #3917 stopped writing run_owner_pod): the run is a DBOS
//     thread-gate workflow (queue thread-gate, partition key = thread id) that starts
//     the agent loop as a child workflow decopilot-hosted:<thread>:<fence> on queue
//     decopilot-hosted-harness. The pod running the loop is the child's executor, not
//     the gate's: the owner is the executor of the newest PENDING child, else (the
//     gate runs but has not started its child yet) the gate's executor. A gate put
//     back on its queue (ENQUEUED, on a SIGTERM hand-over) has no owner until a pod
//     dequeues it;
//   - query: SQL of the user's own, returning (owner pod, run id), newest first.
//
// An executor id is a pod's name only when mesh's DBOS executor id is POD_NAME (no
// Conductor). Executor classifies the others: "local" (every pod at #3392) and a DBOS
// Conductor's UUIDs name no pod, and chaosd says so rather than guess.
package owners

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Sources.
const (
	SourceThreads = "threads"
	SourceDBOS    = "dbos"
	SourceQuery   = "query"
)

// DBOS names of today's mesh (apps/api: the run queues module).
const (
	GateQueue   = "thread-gate"              // THREAD_GATE_QUEUE: partition key = thread id
	LoopQueue   = "decopilot-hosted-harness" // HOSTED_HARNESS_QUEUE: unpartitioned
	LoopIDStart = "decopilot-hosted:"        // child workflow id: decopilot-hosted:<thread>:<fence>
)

// Builtin reports whether name is a built-in source (threads or dbos).
func Builtin(name string) bool { return name == SourceThreads || name == SourceDBOS }

// Sources lists the valid values of owner.source.
func Sources() []string { return []string{SourceThreads, SourceDBOS, SourceQuery} }

const (
	allThreads = `SELECT run_owner_pod, id FROM threads
WHERE status = 'in_progress' AND COALESCE(run_owner_pod, '') <> ''
ORDER BY run_started_at DESC NULLS LAST, updated_at DESC`

	threadThreads = `SELECT status, COALESCE(run_owner_pod, '') FROM threads WHERE id = $1`

	// dbosLoop is the newest PENDING child loop workflow of thread %s (an SQL
	// expression of type text).
	dbosLoop = `(SELECT c.executor_id FROM dbos.workflow_status c
   WHERE c.queue_name = '` + LoopQueue + `' AND c.status = 'PENDING'
     AND starts_with(c.workflow_uuid, '` + LoopIDStart + `' || %[1]s || ':')
   ORDER BY c.created_at DESC LIMIT 1)`
	// dbosGate is the executor of thread %s's PENDING gate workflow.
	dbosGate = `(SELECT g.executor_id FROM dbos.workflow_status g
   WHERE g.queue_name = '` + GateQueue + `' AND g.queue_partition_key = %[1]s AND g.status = 'PENDING'
   ORDER BY g.created_at DESC LIMIT 1)`
)

var (
	allDBOS = `SELECT o.owner, o.id FROM (
  SELECT t.id, t.updated_at, COALESCE(NULLIF(` + fmt.Sprintf(dbosLoop, "t.id") + `, ''),
                             NULLIF(` + fmt.Sprintf(dbosGate, "t.id") + `, ''), '') AS owner
  FROM threads t WHERE t.status = 'in_progress') o
WHERE o.owner <> ''
ORDER BY o.updated_at DESC`

	threadDBOS = `SELECT t.status, COALESCE(NULLIF(` + fmt.Sprintf(dbosLoop, "$1::text") + `, ''),
                NULLIF(` + fmt.Sprintf(dbosGate, "$1::text") + `, ''), '')
FROM threads t WHERE t.id = $1::text`
)

// Lookup is one owner source: owner.source and, for query, owner.query.
type Lookup struct {
	Source string
	Query  string // SourceQuery only: SQL returning (owner pod, run id), newest first
}

// Validate names what is wrong with the source.
func (l Lookup) Validate() error {
	switch {
	case Builtin(l.Source):
		if l.Query != "" {
			return fmt.Errorf("owner.query is set only with owner.source: query (source is %s)", l.Source)
		}
	case l.Source == SourceQuery:
		if strings.TrimSpace(l.Query) == "" {
			return fmt.Errorf("owner.source is query: give owner.query, SQL returning (owner pod, run id)")
		}
	default:
		return fmt.Errorf("owner.source %q: want %s", l.Source, strings.Join(Sources(), ", "))
	}
	return nil
}

// AllSQL returns (owner pod, run id) rows for the runs in progress, newest first:
// what --fault=KIND-owner picks from.
func (l Lookup) AllSQL() string {
	switch l.Source {
	case SourceDBOS:
		return allDBOS
	case SourceQuery:
		return l.Query
	default:
		return allThreads
	}
}

// ThreadSQL returns one row (status, owner pod; "" when none) for thread $1: what the
// probes read during a run. For a query source it is the user's query filtered on the
// run id, so that the fault and the probes read the same owner; the query must then
// return the run id as its second column.
func (l Lookup) ThreadSQL() string {
	switch l.Source {
	case SourceDBOS:
		return threadDBOS
	case SourceQuery:
		return `SELECT t.status, COALESCE((SELECT q.owner::text FROM (` + strings.TrimRight(strings.TrimSpace(l.Query), ";") + `) AS q(owner, run)
   WHERE q.run::text = $1::text LIMIT 1), '')
FROM threads t WHERE t.id = $1::text`
	default:
		return threadThreads
	}
}

// Describe says in words where the source reads owners.
func (l Lookup) Describe() string {
	switch l.Source {
	case SourceDBOS:
		return "dbos (the executor of the thread's PENDING " + LoopQueue + " child workflow, else of its " + GateQueue + " gate workflow)"
	case SourceQuery:
		return "query (owner.query)"
	default:
		return "threads (threads.run_owner_pod)"
	}
}

// Kind classifies an executor id or owner value.
type Kind string

// Kinds of owner values.
const (
	KindPod       Kind = "pod"       // a pod's name
	KindShared    Kind = "shared"    // "local": every pod's DBOS executor id at #3392
	KindConductor Kind = "conductor" // a UUID: a DBOS Conductor assigns executor ids
	KindUnknown   Kind = "unknown"   // some other name
	KindNone      Kind = "none"      // empty: nobody owns the run
)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Classify says what an owner value names, given the pods' names.
func Classify(owner string, pods []string) Kind {
	switch {
	case owner == "":
		return KindNone
	case slices.Contains(pods, owner):
		return KindPod
	case owner == "local":
		return KindShared
	case uuidRE.MatchString(owner):
		return KindConductor
	}
	return KindUnknown
}

// Unmappable explains an owner value that names no pod, with what to do; "" when
// it names one of pods (or nobody).
func Unmappable(source, owner string, pods []string) string {
	known := append([]string(nil), pods...)
	sort.Strings(known)
	switch Classify(owner, pods) {
	case KindPod, KindNone:
		return ""
	case KindShared:
		return fmt.Sprintf("owner %q names no pod: every pod shares the DBOS executor id %q (mesh at #3392), so no owner can be read from DBOS; use owner.source threads", owner, owner)
	case KindConductor:
		return fmt.Sprintf("owner %q is a UUID: a DBOS Conductor assigns executor ids, which name no pod; chaosd does not guess which pod it is. Run mesh without the Conductor (executor id = POD_NAME) or give owner.query that maps executors to pods", owner)
	}
	if source == SourceDBOS {
		return fmt.Sprintf("DBOS executor id %q is none of the pods (%s): mesh's executor id is POD_NAME only without a Conductor; set pods.name_from so that pods are named as their POD_NAME", owner, strings.Join(known, ", "))
	}
	return fmt.Sprintf("owner %q is none of the pods (%s): set pods.name_from so that containers are named as the owner source names them", owner, strings.Join(known, ", "))
}
