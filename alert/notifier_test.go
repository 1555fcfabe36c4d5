package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"
)

// webhookAlerts decodes the next webhook body into its alerts.
func webhookAlerts(t *testing.T, srv *capture) (string, []webhookAlert) {
	t.Helper()
	var m webhookMessage
	srv.nextJSON(t, &m)
	return m.Status, m.Alerts
}

func TestDedupeOneSendPerInvariantAndCause(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	n := newTest(t, Config{Now: clk.Now}, mustSink(t, NewWebhook, srv.srv.URL, time.Second))

	for i := range 50 {
		n.Violation(violation("late attach missed the prefix", clk.Now().Add(time.Duration(i)*time.Second)))
	}
	_, got := webhookAlerts(t, srv)
	if len(got) != 1 || got[0].Count != 1 || got[0].Cause != "late attach missed the prefix" {
		t.Fatalf("first send %+v", got)
	}
	n.Violation(violation("replay out of order", clk.Now()))
	_, got = webhookAlerts(t, srv)
	if len(got) != 1 || got[0].Cause != "replay out of order" || got[0].Key == KeyOf("prefix-replay", "late attach missed the prefix") {
		t.Fatalf("second cause %+v", got)
	}
	srv.none(t, 200*time.Millisecond)
	st := n.Stats()
	if st.Fired != 2 || st.Open != 2 || st.Sent != 2 || st.Renotified != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRenotifyAfterInterval(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	start := clk.Now()
	n := newTest(t, Config{Now: clk.Now, Renotify: time.Hour, ResolveAfter: 2 * time.Hour},
		mustSink(t, NewWebhook, srv.srv.URL, time.Second))

	n.Violation(violation("late attach missed the prefix", start))
	webhookAlerts(t, srv)
	clk.Add(30 * time.Minute)
	for range 4 {
		n.Violation(violation("late attach missed the prefix", clk.Now()))
	}
	n.check(clk.Add(30*time.Minute - time.Millisecond))
	srv.none(t, 100*time.Millisecond)

	n.check(clk.Add(time.Millisecond))
	status, got := webhookAlerts(t, srv)
	if status != "firing" || len(got) != 1 || got[0].Count != 5 || !got[0].StartsAt.Equal(start) ||
		!got[0].LastAt.Equal(start.Add(30*time.Minute)) || got[0].EndsAt != nil {
		t.Fatalf("re-notification %s %+v", status, got)
	}
	n.check(clk.Add(time.Minute))
	srv.none(t, 100*time.Millisecond)
	if st := n.Stats(); st.Renotified != 1 || st.Fired != 1 || st.Sent != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestResolveAfterQuiet(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	start := clk.Now()
	n := newTest(t, Config{Now: clk.Now, ResolveAfter: 10 * time.Minute},
		mustSink(t, NewWebhook, srv.srv.URL, time.Second))

	n.Violation(violation("late attach missed the prefix", start))
	webhookAlerts(t, srv)
	clk.Add(5 * time.Minute)
	n.Violation(violation("late attach missed the prefix", clk.Now()))
	n.check(clk.Add(10*time.Minute - time.Second)) // 9m59s since the last violation
	srv.none(t, 100*time.Millisecond)

	resolvedAt := clk.Add(time.Second)
	n.check(resolvedAt)
	status, got := webhookAlerts(t, srv)
	if status != "resolved" || len(got) != 1 || got[0].Status != "resolved" || got[0].EndsAt == nil ||
		!got[0].EndsAt.Equal(resolvedAt) || got[0].Count != 2 {
		t.Fatalf("resolved %s %+v", status, got)
	}
	if st := n.Stats(); st.Resolved != 1 || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}

	// The same key violated again is a new alert.
	again := clk.Add(time.Minute)
	n.Violation(violation("late attach missed the prefix", again))
	_, got = webhookAlerts(t, srv)
	if got[0].Status != "firing" || got[0].Count != 1 || !got[0].StartsAt.Equal(again) {
		t.Fatalf("refired %+v", got)
	}
}

func TestResolveAll(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	n := newTest(t, Config{Now: clk.Now}, mustSink(t, NewWebhook, srv.srv.URL, time.Second))

	n.Violation(violation("a", clk.Now()))
	n.Violation(violation("b", clk.Now()))
	webhookAlerts(t, srv)
	seen := 0
	// The two firing alerts may arrive in one batch or two.
	if st := waitStats(t, n, func(st Stats) bool { return st.Sent == 2 }); st.Fired != 2 {
		t.Fatalf("stats %+v", st)
	}
	for len(srv.reqs) > 0 {
		<-srv.reqs
	}
	end := clk.Add(time.Hour)
	n.ResolveAll(end)
	causes := map[string]bool{}
	for seen < 2 {
		_, got := webhookAlerts(t, srv)
		for _, a := range got {
			if a.Status != "resolved" || a.EndsAt == nil || !a.EndsAt.Equal(end) {
				t.Fatalf("not resolved at %v: %+v", end, a)
			}
			causes[a.Cause] = true
			seen++
		}
	}
	if !causes["a"] || !causes["b"] {
		t.Fatalf("resolved causes %v", causes)
	}
	if st := n.Stats(); st.Resolved != 2 || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}
	n.ResolveAll(end) // nothing open: nothing sent
	srv.none(t, 100*time.Millisecond)
}

func TestRetryOn500ThenSuccess(t *testing.T) {
	srv := newCapture(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	log, logs := observed()
	n := newTestLog(t, Config{Retries: 3, RetryBackoff: 10 * time.Millisecond}, log,
		mustSink(t, NewWebhook, srv.srv.URL+"/s3cret", time.Second))

	n.Violation(violation("late attach missed the prefix", time.Time{}))
	for range 3 {
		if _, got := webhookAlerts(t, srv); len(got) != 1 || got[0].Cause != "late attach missed the prefix" {
			t.Fatalf("attempt body %+v", got)
		}
	}
	st := waitStats(t, n, func(st Stats) bool { return st.Sent == 1 })
	if st.Failed != 0 || st.Sinks[0].Retried != 2 {
		t.Fatalf("stats %+v", st)
	}
	retries := logs.FilterMessage("alert send failed, will retry").All()
	if len(retries) != 2 || !strings.Contains(retries[0].ContextMap()["error"].(string), "HTTP 500") {
		t.Fatalf("retry logs %+v", retries)
	}
	srv.none(t, 100*time.Millisecond)
}

// A dead server (closed listener) ends as Failed, with one log line per failed
// attempt, and no log line or error ever shows the URL's secret path.
func TestDeadServerFailsRedacted(t *testing.T) {
	dead := newCapture(t, nil)
	base := dead.srv.URL
	dead.srv.Close()
	const secret = "T0001/B0002/s3cretT0ken"
	log, logs := observed()
	n := newTestLog(t, Config{Retries: 2, RetryBackoff: 5 * time.Millisecond}, log,
		mustSink(t, NewWebhook, base+"/hooks/"+secret+"?token=s3cretQuery", time.Second),
		mustSink(t, NewSlack, base+"/services/"+secret, time.Second),
		mustSink(t, NewAlertmanager, "http://admin:s3cretPass@"+strings.TrimPrefix(base, "http://"), time.Second))

	n.Violation(violation("late attach missed the prefix", time.Time{}))
	st := waitStats(t, n, func(st Stats) bool { return st.Failed == 3 })
	for _, s := range st.Sinks {
		if s.Failed != 1 || s.Sent != 0 || s.Retried != 2 || s.Pending != 0 {
			t.Fatalf("sink stats %+v", s)
		}
	}
	if got := len(logs.FilterMessage("alert send failed, will retry").All()); got != 6 {
		t.Fatalf("%d retry log lines, want 6", got)
	}
	giveUps := logs.FilterMessage("alert send failed, giving up").All()
	if len(giveUps) != 3 {
		t.Fatalf("%d give-up log lines, want 3", len(giveUps))
	}
	wantShown := map[string]string{
		"webhook " + base:      "webhook " + base + ": Post \"webhook " + base + "\"",
		"slack webhook":        "slack webhook: Post \"slack webhook\"",
		"alertmanager " + base: "alertmanager " + base + ": Post \"alertmanager " + base + "\"",
	}
	for _, e := range giveUps {
		sink := e.ContextMap()[LogKeySink].(string)
		errText := e.ContextMap()["error"].(string)
		if want, ok := wantShown[sink]; !ok || !strings.HasPrefix(errText, want) || !strings.Contains(errText, "connection refused") {
			t.Fatalf("sink %q error %q, want prefix %q", sink, errText, want)
		}
	}
	assertNoSecret(t, logs, "s3cret")
}

// assertNoSecret fails if any log entry, message or field, contains secret.
func assertNoSecret(t *testing.T, logs *observer.ObservedLogs, secret string) {
	t.Helper()
	if logs.Len() == 0 {
		t.Fatal("no log entries to check")
	}
	for _, e := range logs.All() {
		text := e.Message + " " + e.LoggerName + " " + fmt.Sprint(e.ContextMap())
		if strings.Contains(text, secret) {
			t.Fatalf("log entry leaks the secret: %s", text)
		}
	}
}

// Overflow of a sink's queue is counted and logged, and Violation never blocks even
// while the sink hangs.
func TestQueueOverflowDropsWithoutBlocking(t *testing.T) {
	entered := make(chan struct{}, 100)
	release := make(chan struct{})
	var sent atomic.Int32
	stuck := &funcSink{name: "stuck", send: func(ctx context.Context, alerts []Alert) error {
		entered <- struct{}{}
		select {
		case <-release:
			sent.Add(int32(len(alerts)))
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	log, logs := observed()
	n := newTestLog(t, Config{QueueSize: 2, Timeout: time.Minute}, log, stuck)

	n.Violation(violation("cause-0", time.Time{}))
	<-entered // the sender holds cause-0 in Send
	start := time.Now()
	for i := 1; i <= 10; i++ {
		n.Violation(violation(fmt.Sprintf("cause-%d", i), time.Time{}))
	}
	for range 1000 { // known keys: counted only, no queueing
		n.Violation(violation("cause-1", time.Time{}))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1010 Violation calls took %v against a hung sink", d)
	}
	st := n.Stats()
	if st.Dropped != 8 || st.Fired != 11 || st.Sinks[0].Pending != 3 {
		t.Fatalf("stats %+v", st)
	}
	if got := len(logs.FilterMessage("alert dropped: sink queue full").All()); got != 8 {
		t.Fatalf("%d drop log lines, want 8", got)
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := n.Stats(); st.Sent != 3 || st.Dropped != 8 || st.Failed != 0 || sent.Load() != 3 {
		t.Fatalf("after close: stats %+v, sink got %d", st, sent.Load())
	}
}

// One hung sink delays neither Violation nor the other sinks; Close bounded by its
// context counts what the hung sink never delivered.
func TestSlowSinkDoesNotDelayOthers(t *testing.T) {
	srv := newCapture(t, nil)
	hung := &funcSink{name: "hung", send: func(ctx context.Context, _ []Alert) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	log, logs := observed()
	n := New(Config{Timeout: time.Hour}, []Sink{hung, mustSink(t, NewWebhook, srv.srv.URL, time.Second)}, log)

	start := time.Now()
	n.Violation(violation("a", time.Time{}))
	n.Violation(violation("b", time.Time{}))
	got := 0
	for got < 2 {
		_, as := webhookAlerts(t, srv)
		got += len(as)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("webhook got its alerts after %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := n.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 alerts not delivered") {
		t.Fatalf("close: %v", err)
	}
	st := n.Stats()
	if st.Sinks[0].Dropped != 2 || st.Sinks[0].Pending != 0 || st.Sinks[1].Sent != 2 || st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
	if len(logs.FilterMessage("alert not delivered: notifier closed before the send finished").All()) == 0 {
		t.Fatal("no log line for the undelivered alerts")
	}
	n.Violation(violation("c", time.Time{})) // after close: counted, not blocking, not panicking
	if st := n.Stats(); st.Dropped != 4 {
		t.Fatalf("after-close violation: stats %+v", st)
	}
}

func TestCloseFlushesQueue(t *testing.T) {
	srv := newCapture(t, nil)
	n := New(Config{}, []Sink{mustSink(t, NewWebhook, srv.srv.URL, time.Second)}, nil)
	for i := range 100 {
		n.Violation(violation(fmt.Sprint("cause-", i), time.Time{}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := n.Stats(); st.Sent != 100 || st.Dropped != 0 || st.Open != 100 || st.Resolved != 0 {
		t.Fatalf("stats %+v", st)
	}
	causes := map[string]bool{}
	for len(srv.reqs) > 0 {
		var m webhookMessage
		srv.nextJSON(t, &m)
		for _, a := range m.Alerts {
			if a.Status != "firing" {
				t.Fatalf("close resolved %s", a.Key)
			}
			causes[a.Cause] = true
		}
	}
	if len(causes) != 100 {
		t.Fatalf("%d distinct alerts delivered, want 100", len(causes))
	}
	if err := n.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// Run drives re-notification and resolution on the real clock.
func TestRunResolvesOnRealClock(t *testing.T) {
	srv := newCapture(t, nil)
	n := newTest(t, Config{Renotify: 100 * time.Millisecond, ResolveAfter: 350 * time.Millisecond},
		mustSink(t, NewWebhook, srv.srv.URL, time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	n.Violation(violation("late attach missed the prefix", time.Time{}))
	var statuses []string
	for {
		status, _ := webhookAlerts(t, srv)
		statuses = append(statuses, status)
		if status == "resolved" {
			break
		}
	}
	elapsed := time.Since(start)
	// firing, then re-notifications about every 100ms, then resolved after ~350ms.
	if len(statuses) < 3 || statuses[0] != "firing" || statuses[1] != "firing" || elapsed < 350*time.Millisecond {
		t.Fatalf("statuses %v after %v", statuses, elapsed)
	}
	if st := n.Stats(); st.Resolved != 1 || st.Renotified < 1 || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Renotify != time.Hour || c.ResolveAfter != 10*time.Minute || c.Timeout != 10*time.Second ||
		c.Retries != 3 || c.QueueSize != 1024 || c.tick() != time.Second {
		t.Fatalf("defaults %+v", c)
	}
	if c := (Config{Retries: -1}).withDefaults(); c.Retries != 0 {
		t.Fatalf("Retries -1 gave %d", c.Retries)
	}
}

func TestBackoffDoublesHonoursRetryAfterAndIsCapped(t *testing.T) {
	s := &sender{cfg: &Config{RetryBackoff: 100 * time.Millisecond}}
	plain := errors.New("boom")
	slow := &sendError{msg: "HTTP 429", retryAfter: 5 * time.Second}
	huge := &sendError{msg: "HTTP 503", retryAfter: time.Hour}
	got := []time.Duration{s.backoff(0, plain), s.backoff(1, plain), s.backoff(3, plain), s.backoff(0, slow), s.backoff(40, plain), s.backoff(0, huge)}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 800 * time.Millisecond, 5 * time.Second, time.Minute, time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
}
