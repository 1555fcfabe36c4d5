// Package alert turns invariant violations into live alerts during a soak: deduplicated
// per invariant and cause, re-sent while they keep firing, resolved when they clear,
// and delivered to any number of sinks (a generic JSON webhook, a Slack incoming
// webhook, an Alertmanager v2 API).
//
// # Life of an alert
//
// A [Violation] is keyed by its invariant and cause (Key is "invariant/" plus the first
// 12 hex digits of the SHA-256 of the cause). The first violation of a key fires an
// alert at once. Later violations of the same key only count (Count, LastAt, and the
// latest Summary, Details, Run and Pods) and send nothing, until Config.Renotify has
// passed since the last send: then the still-firing alert is sent again with its
// current count. A key that sees no violation for Config.ResolveAfter is resolved and
// a "resolved" alert is sent (EndsAt is the resolve time). [Notifier.ResolveAll]
// resolves every firing key at once, for the end of a soak whose final quiet check
// passed. A key that fires again after being resolved starts a new alert (StartsAt,
// Count start afresh).
//
// # Delivery
//
// [Notifier.Violation] never blocks and never does I/O: it updates the state under a
// mutex and puts the alert on each sink's bounded queue (Config.QueueSize). Every sink
// has its own queue and its own sender goroutine, so a slow or dead sink delays only
// itself. A full queue drops the alert for that sink: it is counted (Stats Dropped)
// and logged. A send that fails (network error, 5xx, 429) is retried Config.Retries
// times with exponential backoff from Config.RetryBackoff (at least the server's
// Retry-After, at most a minute); a 4xx other than 408 and 429 is not retried. A send that still fails is counted (Failed) and logged. Nothing is lost
// silently: every alert a sink was given ends as Sent, Failed or Dropped, and every
// Failed or Dropped one has a log line. [Notifier.Close] flushes the queues, bounded by
// its context; what it cannot deliver in time is counted and logged as well.
//
// Sink URLs are secrets (a Slack or webhook URL grants posting rights), so they never
// appear in logs or errors: a webhook is shown as "webhook scheme://host", Slack as
// "slack webhook", Alertmanager as "alertmanager scheme://host" (user info dropped).
//
// # Generic webhook format
//
// [NewWebhook] POSTs (Content-Type application/json) one object per batch:
//
//	{
//	  "version": "1",
//	  "source": "chaosd",
//	  "status": "firing",          // "firing" if any alert in the batch fires, else "resolved"
//	  "alerts": [{
//	    "key": "prefix-replay/3f2a9c1b0d4e",
//	    "status": "firing",        // or "resolved"
//	    "invariant": "prefix-replay",
//	    "cause": "late attach missed the prefix",
//	    "summary": "run run-7: attach on mesh-2 started at chunk 4, expected 1",
//	    "details": ["..."],        // evidence lines, possibly empty
//	    "run": "run-7",            // omitted when empty
//	    "pods": ["mesh-1"],        // omitted when empty
//	    "startsAt": "2026-11-27T05:47:03Z",  // first occurrence (RFC 3339, UTC)
//	    "endsAt": "2026-11-27T06:02:10Z",    // omitted while firing; resolve time once resolved
//	    "lastAt": "2026-11-27T05:51:40Z",    // latest occurrence
//	    "count": 3,                // occurrences deduplicated into this alert so far
//	    "labels": {"soak": "nightly"},       // Config.Labels, omitted when empty
//	    "generatorURL": "http://..."         // Config.GeneratorURL, omitted when empty
//	  }]
//	}
//
// Any 2xx answer is success.
//
// # Slack
//
// [NewSlack] POSTs a Slack incoming-webhook message: "text" is a one-line summary
// (also the notification text), and "attachments" holds one attachment per alert,
// red (#d40e0d) while firing and green (#2eb886) once resolved, with the summary, the
// evidence lines, the run, pods, count and first/last times. At most 20 attachments
// are sent per message; the text says how many more there were.
//
// # Alertmanager
//
// [NewAlertmanager] POSTs the batch to {url}/api/v2/alerts as postable alerts:
// labels alertname="ChaosdInvariantViolation", invariant, cause (the short stable id
// from Key, not the cause text), severity="critical" and source="chaosd", then
// Config.Labels (which may override severity and source but not the first three);
// annotations summary, description (the evidence lines), cause (the text), run, pods,
// count; startsAt; endsAt; generatorURL. While an alert fires its endsAt is the send
// time plus 4 × Config.Renotify, so Alertmanager expires it on its own if chaosd dies
// without resolving it (as Prometheus does with its resend delay); a resolved alert
// carries endsAt = the resolve time.
//
// # Stats
//
// [Notifier.Stats] reports the notifier's own events (Fired, Renotified, Resolved: one
// per alert, not per sink), the number of open alerts, and per sink how many alerts
// were Sent, Failed (gave up after retries), Dropped (queue full, or undelivered at
// Close), Retried (extra attempts) and are Pending; the top-level Sent, Failed and
// Dropped are the sums over the sinks.
package alert
