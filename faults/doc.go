// Package faults hurts the containers of a cluster on purpose and always heals them
// again: SIGKILL, a graceful stop, pause, network partitions, and a rolling restart of
// every pod, through the Docker Engine API and nftables rules inside a container's
// network namespace.
//
// The pieces, one file each:
//   - kind.go: the Fault interface and the one list of kinds (kill.go, stop.go,
//     pause.go, partition.go with disconnect.go and filter.go, rollout.go);
//   - docker.go: the narrow Docker interfaces each action takes;
//   - selector.go, pick.go, owner.go, blast.go: which containers may be touched, which
//     one is hurt (named, random, or the owner of an in-progress run per Postgres), and
//     the blast radius;
//   - ledger.go: the write-ahead ledger (JSON lines, fsync'd): each fault and its exact
//     undo are written before injection, its heal after;
//   - heal.go, recover.go, watchdog.go: healing from the ledger, in process, by
//     `chaosd recover`, and by a detached watchdog that outlives chaosd;
//   - events.go: Docker events, to tell chaosd's own deaths and pauses from unexpected
//     ones;
//   - inject.go: one fault from decision to confirmed heal.
package faults

// Log field keys, shared by every component's logger.
const (
	LogKeyFault  = "fault"
	LogKeyKind   = "kind"
	LogKeyTarget = "target"
)
