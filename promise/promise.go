// Package promise names what mesh promises about its run pipeline. Mesh changed its
// promises over time (../shared/mesh-contract.md): the May 2026 mesh (#3392) had
// survivors take over a dead pod's runs through a heartbeat bucket; today's mesh
// recovers a dead pod's runs only when a pod of the same name restarts (or a DBOS
// Conductor re-homes them), hands runs over on a graceful stop, and keeps the dead
// attempt's log in the stream buffer on a resume. A target profile lists the promises
// of its mesh; each invariant checks one of them, and a promise the profile lacks
// is "not promised", never a pass and never a fail.
//
// This is the one list of promises: config validates a profile's promises: against
// it, the invariants name the promise each checks, and the CLI prints it.
package promise

import (
	"fmt"
	"slices"
	"strings"
)

// Promise names.
const (
	SurvivorTakeover   = "survivor-takeover"
	RestartRecovery    = "restart-recovery"
	SigtermHandover    = "sigterm-handover"
	HeartbeatBucket    = "heartbeat-bucket"
	PrefixReplay       = "prefix-replay"
	StreamExactlyOnce  = "stream-exactly-once"
	StreamKeptLog      = "stream-kept-log"
	ReplyPersistedOnce = "reply-persisted-once"
	RunCompletes       = "run-completes"
)

// Promise is one promise: its name and what it says, in one line.
type Promise struct {
	Name      string
	Statement string
}

// All lists every promise, in the order the CLI prints them.
var All = []Promise{
	{SurvivorTakeover, "a survivor takes over a dead owner's run"},
	{RestartRecovery, "a run whose owner dies and restarts under the same name completes"},
	{SigtermHandover, "a run whose owner is stopped gracefully (SIGTERM) completes on another pod"},
	{HeartbeatBucket, "every live pod keeps a fresh key in the heartbeat bucket"},
	{PrefixReplay, "an attach on any pod replays the run's buffered prefix"},
	{StreamExactlyOnce, "every watcher sees each chunk once, in order"},
	{StreamKeptLog, "after a resume the buffer keeps the dead attempt's log, then the new attempt from its start; each attempt in order, gap-free, the last complete"},
	{ReplyPersistedOnce, "the reply is persisted exactly once: the whole text, no missing chunk, no repeat, not blank"},
	{RunCompletes, "every run completes"},
}

// May2026 are the promises of mesh around #3392 (May 2026): a survivor takes over a
// dead pod's runs, noticed through the heartbeat bucket.
var May2026 = []string{SurvivorTakeover, HeartbeatBucket, PrefixReplay, StreamExactlyOnce, RunCompletes}

// Current are the promises of today's mesh (decocms/studio, late 2026): recovery on a
// same-name restart (PRs #3909, #3917), hand-over on SIGTERM, the kept log of PR
// #6431, the reply persisted once.
var Current = []string{RestartRecovery, SigtermHandover, PrefixReplay, StreamKeptLog, ReplyPersistedOnce, RunCompletes}

// Default is what a history that records no promises is judged by: May2026, the mesh
// chaosd was first written against, so that older histories judge as before.
var Default = May2026

// conflicts are pairs of promises no mesh can make together.
var conflicts = [][2]string{
	{StreamExactlyOnce, StreamKeptLog}, // a kept log shows the dead attempt's chunks again
}

// Lookup returns the promise named name.
func Lookup(name string) (Promise, bool) {
	i := slices.IndexFunc(All, func(p Promise) bool { return p.Name == name })
	if i < 0 {
		return Promise{}, false
	}
	return All[i], true
}

// Statement is the promise's one-line statement, or "" for an unknown name.
func Statement(name string) string {
	p, _ := Lookup(name)
	return p.Statement
}

// Names lists every promise's name, in All's order.
func Names() []string {
	out := make([]string, len(All))
	for i, p := range All {
		out[i] = p.Name
	}
	return out
}

// Parse validates a list of promise names and returns it without duplicates, in
// the order given. An unknown name is an error that names it and the valid ones;
// two promises that contradict each other (stream-exactly-once and stream-kept-log)
// are an error too.
func Parse(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			return nil, fmt.Errorf("unknown promise %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, c := range conflicts {
		if slices.Contains(out, c[0]) && slices.Contains(out, c[1]) {
			return nil, fmt.Errorf("promises %s and %s contradict each other: a mesh makes one or the other", c[0], c[1])
		}
	}
	return out, nil
}

// Validate is Parse that only reports the error.
func Validate(names []string) error {
	_, err := Parse(names)
	return err
}
