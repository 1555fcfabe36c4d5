// Package schedule decides when the overnight soak fires faults.
//
// Each fault kind has one cron schedule (github.com/robfig/cron/v3, in UTC): a standard
// five-field spec, a six-field spec with seconds first, or a descriptor such as
// "@hourly" or "@every 45s". A firing may be delayed by a uniform random jitter.
//
// A firing is skipped, and counted per kind and reason, when:
//   - the same kind is still running (its jitter delay or its fire): runs never stack;
//   - another kind is running: only one fault at a time, whatever the kind (busy);
//   - it lands before Start+Warmup, at or after End-Cooldown, or at or after End;
//   - it lands in a quiet window (a Quiet spec's firing opens one, lasting For).
//
// The gates are checked at the scheduled time and again after the jitter delay.
// The context handed to Fire ends when the next quiet period (a quiet window or the
// cooldown) begins, so a fault that is still held then heals before it. Run returns
// when its context ends or End passes, and only once a fire in progress has returned,
// so a fault is never abandoned.
//
// Skips are logged at info when faults collide (still running, busy) and at debug
// for the gates, which skip firings by design; fires are logged at info.
package schedule
