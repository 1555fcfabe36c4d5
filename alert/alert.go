package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Statuses of an Alert.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Violation is one finding from an invariant checker.
type Violation struct {
	Invariant string // e.g. "prefix-replay"
	// Cause is a stable short key for the kind of failure, already normalized by the
	// caller (e.g. "late attach missed the prefix"); it is part of the dedupe key.
	Cause   string
	Summary string   // one line, human
	Details []string // evidence lines
	Run     string   // optional
	Pods    []string // optional
	At      time.Time
}

// Alert is what sinks receive: the deduplicated state of one invariant+cause.
type Alert struct {
	Key       string // Invariant + "/" + CauseID(Cause)
	Status    string // StatusFiring or StatusResolved
	Invariant string
	Cause     string
	Summary   string // of the latest occurrence
	Details   []string
	Run       string
	Pods      []string
	StartsAt  time.Time // first occurrence
	// EndsAt is zero while firing (an Alertmanager sink sets its own expiry) and the
	// resolve time once resolved.
	EndsAt       time.Time
	LastAt       time.Time         // latest occurrence
	Count        int               // occurrences deduplicated into this alert so far
	Labels       map[string]string // Config.Labels; shared, read-only
	GeneratorURL string            // Config.GeneratorURL
}

// Firing reports whether the alert is firing (not resolved).
func (a Alert) Firing() bool { return a.Status != StatusResolved }

// Sink delivers alerts somewhere. Send gets one batch (at least one alert) and must
// honour ctx; an error makes the notifier retry the whole batch. A sink whose error
// wraps ErrPermanent is not retried.
type Sink interface {
	Name() string
	Send(ctx context.Context, alerts []Alert) error
}

// CauseID is the short stable id of a cause: the first 12 hex digits of its SHA-256.
func CauseID(cause string) string {
	sum := sha256.Sum256([]byte(cause))
	return hex.EncodeToString(sum[:6])
}

// KeyOf is the dedupe key of an invariant and cause.
func KeyOf(invariant, cause string) string { return invariant + "/" + CauseID(cause) }

// clone copies the slices of a so that a sink's copy is not touched by later
// violations of the same key.
func (a Alert) clone() Alert {
	a.Details = slices.Clone(a.Details)
	a.Pods = slices.Clone(a.Pods)
	return a
}

// batchStatus is "firing" if any alert of the batch fires, else "resolved".
func batchStatus(alerts []Alert) string {
	for _, a := range alerts {
		if a.Firing() {
			return StatusFiring
		}
	}
	return StatusResolved
}
