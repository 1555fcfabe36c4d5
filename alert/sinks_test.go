package alert

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWebhookPayload(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	start := clk.Now()
	n := newTest(t, Config{Now: clk.Now, Labels: map[string]string{"soak": "nightly"}, GeneratorURL: "http://chaosd.local/report"},
		mustSink(t, NewWebhook, srv.srv.URL+"/hook/s3cret", time.Second))

	n.Violation(violation("late attach missed the prefix", start))
	var got map[string]any
	r := srv.nextJSON(t, &got)
	if r.Method != http.MethodPost || r.Path != "/hook/s3cret" || r.ContentType != "application/json" {
		t.Fatalf("request %s %s %q", r.Method, r.Path, r.ContentType)
	}
	want := map[string]any{
		"version": "1", "source": "chaosd", "status": "firing",
		"alerts": []any{map[string]any{
			"key":          KeyOf("prefix-replay", "late attach missed the prefix"),
			"status":       "firing",
			"invariant":    "prefix-replay",
			"cause":        "late attach missed the prefix",
			"summary":      "run run-7: attach on mesh-2 started at chunk 4, expected 1",
			"details":      []any{"attach mesh-2 opened 05:47:03.100 after 3 chunks confirmed", "first chunk seen: 4"},
			"run":          "run-7",
			"pods":         []any{"mesh-1", "mesh-2"},
			"startsAt":     "2026-11-27T05:47:03Z",
			"lastAt":       "2026-11-27T05:47:03Z",
			"count":        float64(1),
			"labels":       map[string]any{"soak": "nightly"},
			"generatorURL": "http://chaosd.local/report",
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("firing payload\n got %#v\nwant %#v", got, want)
	}

	n.Violation(violation("late attach missed the prefix", start.Add(2*time.Second)))
	end := start.Add(time.Minute)
	n.ResolveAll(end)
	srv.nextJSON(t, &got)
	a := got["alerts"].([]any)[0].(map[string]any)
	if got["status"] != "resolved" || a["status"] != "resolved" || a["endsAt"] != "2026-11-27T05:48:03Z" ||
		a["lastAt"] != "2026-11-27T05:47:05Z" || a["count"] != float64(2) || a["startsAt"] != "2026-11-27T05:47:03Z" {
		t.Fatalf("resolved payload: %#v", got)
	}
}

func TestWebhookPayloadOmitsEmpty(t *testing.T) {
	m := newWebhookMessage([]Alert{{Key: "k/1", Status: StatusFiring, Invariant: "k", Cause: "c", Summary: "s"}})
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"1","source":"chaosd","status":"firing","alerts":[{"key":"k/1","status":"firing","invariant":"k","cause":"c","summary":"s","details":[],"startsAt":"0001-01-01T00:00:00Z","lastAt":"0001-01-01T00:00:00Z","count":0}]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestSlackPayload(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	n := newTest(t, Config{Now: clk.Now, Labels: map[string]string{"soak": "nightly"}},
		mustSink(t, NewSlack, srv.srv.URL+"/services/T000/B000/XXXXsecret", time.Second))

	v := violation("late attach missed the prefix", clk.Now())
	v.Summary = "run <run-7> & friends"
	n.Violation(v)
	var got slackMessage
	srv.nextJSON(t, &got)
	if got.Text != "[FIRING] prefix-replay: run &lt;run-7&gt; &amp; friends" {
		t.Fatalf("text %q", got.Text)
	}
	if len(got.Attachments) != 1 {
		t.Fatalf("attachments %+v", got.Attachments)
	}
	at := got.Attachments[0]
	if at.Color != "#d40e0d" || at.Title != got.Text || at.Fallback != got.Text ||
		at.Text != "```attach mesh-2 opened 05:47:03.100 after 3 chunks confirmed\nfirst chunk seen: 4```" ||
		at.Timestamp != clk.Now().Unix() || at.Footer != "chaosd "+KeyOf("prefix-replay", "late attach missed the prefix") {
		t.Fatalf("firing attachment %+v", at)
	}
	wantFields := []slackField{
		{"Cause", "late attach missed the prefix", false},
		{"Run", "run-7", true},
		{"Pods", "mesh-1, mesh-2", true},
		{"Count", "1", true},
		{"First", "2026-11-27T05:47:03Z", true},
		{"Last", "2026-11-27T05:47:03Z", true},
		{"soak", "nightly", true},
	}
	if !reflect.DeepEqual(at.Fields, wantFields) {
		t.Fatalf("fields\n got %+v\nwant %+v", at.Fields, wantFields)
	}

	n.ResolveAll(clk.Add(time.Minute))
	srv.nextJSON(t, &got)
	at = got.Attachments[0]
	if !strings.HasPrefix(got.Text, "[RESOLVED] prefix-replay: ") || at.Color != "#2eb886" ||
		at.Timestamp != clk.Now().Unix() || at.Fields[len(at.Fields)-2] != (slackField{"Resolved", "2026-11-27T05:48:03Z", true}) {
		t.Fatalf("resolved message %+v", got)
	}
}

func TestSlackBatchText(t *testing.T) {
	var alerts []Alert
	for i := range 25 {
		st := StatusFiring
		if i%5 == 0 {
			st = StatusResolved
		}
		alerts = append(alerts, Alert{Key: "k", Status: st, Invariant: "i", Summary: "s"})
	}
	m := newSlackMessage(alerts)
	if m.Text != "chaosd: 25 alerts (20 firing, 5 resolved) (5 more not shown)" || len(m.Attachments) != 20 {
		t.Fatalf("text %q, %d attachments", m.Text, len(m.Attachments))
	}
}

func TestAlertmanagerPayload(t *testing.T) {
	srv := newCapture(t, nil)
	clk := newClock()
	sink := mustSink(t, NewAlertmanager, srv.srv.URL+"/am/", time.Second)
	n := newTest(t, Config{Now: clk.Now, Renotify: 30 * time.Minute, GeneratorURL: "http://chaosd.local/",
		Labels: map[string]string{"soak": "nightly", "severity": "warning", "alertname": "nope", "bad-name": "x"}}, sink)

	before := time.Now()
	n.Violation(violation("late attach missed the prefix", clk.Now()))
	var got []postableAlert
	r := srv.nextJSON(t, &got)
	if r.Path != "/am/api/v2/alerts" || len(got) != 1 {
		t.Fatalf("%s: %+v", r.Path, got)
	}
	a := got[0]
	wantLabels := map[string]string{
		"alertname": "ChaosdInvariantViolation", "invariant": "prefix-replay",
		"cause": CauseID("late attach missed the prefix"), "severity": "warning", "source": "chaosd",
		"soak": "nightly", "bad_name": "x",
	}
	if !reflect.DeepEqual(a.Labels, wantLabels) {
		t.Fatalf("labels\n got %v\nwant %v", a.Labels, wantLabels)
	}
	wantAnn := map[string]string{
		"summary":     "run run-7: attach on mesh-2 started at chunk 4, expected 1",
		"description": "attach mesh-2 opened 05:47:03.100 after 3 chunks confirmed\nfirst chunk seen: 4",
		"cause":       "late attach missed the prefix", "run": "run-7", "pods": "mesh-1,mesh-2", "count": "1",
		"key": KeyOf("prefix-replay", "late attach missed the prefix"),
	}
	if !reflect.DeepEqual(a.Annotations, wantAnn) {
		t.Fatalf("annotations\n got %v\nwant %v", a.Annotations, wantAnn)
	}
	// While firing, endsAt is the send time + 4 × Renotify (real time: Alertmanager's clock).
	lo, hi := before.Add(2*time.Hour), time.Now().Add(2*time.Hour)
	if !a.StartsAt.Equal(clk.Now()) || a.EndsAt.Before(lo.Add(-time.Second)) || a.EndsAt.After(hi.Add(time.Second)) ||
		a.GeneratorURL != "http://chaosd.local/" {
		t.Fatalf("firing times: startsAt %v endsAt %v (want about %v) generatorURL %q", a.StartsAt, a.EndsAt, lo, a.GeneratorURL)
	}

	n.ResolveAll(clk.Add(time.Minute))
	srv.nextJSON(t, &got)
	if !got[0].EndsAt.Equal(clk.Now()) || got[0].Labels["cause"] != wantLabels["cause"] {
		t.Fatalf("resolved: %+v", got[0])
	}
}

func TestConstructorsRejectBadURLWithoutEchoingIt(t *testing.T) {
	for _, raw := range []string{"ftp://host/s3cret", "hooks.slack.com/s3cret", "http://[::1/s3cret", "http:///s3cret"} {
		for name, mk := range map[string]func(string, time.Duration) (Sink, error){
			"webhook": NewWebhook, "slack": NewSlack, "alertmanager": NewAlertmanager,
		} {
			_, err := mk(raw, 0)
			if err == nil {
				t.Fatalf("%s accepted %q", name, raw)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("%s error leaks the URL: %v", name, err)
			}
		}
	}
}

func TestSinkNamesAreRedacted(t *testing.T) {
	w := mustSink(t, NewWebhook, "https://user:pw@hooks.example.com:8443/T/B/s3cret?token=s3cret", 0)
	s := mustSink(t, NewSlack, "https://hooks.slack.com/services/T/B/s3cret", 0)
	am := mustSink(t, NewAlertmanager, "http://admin:s3cret@am.example.com:9093/prefix", 0)
	got := []string{w.Name(), s.Name(), am.Name()}
	want := []string{"webhook https://hooks.example.com:8443", "slack webhook", "alertmanager http://am.example.com:9093"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("names %q, want %q", got, want)
	}
}

// A server that echoes the request URL in its error body must not make the secret
// show up in the error either, and a 4xx is not retried.
func TestPermanentErrorRedactsEchoedURL(t *testing.T) {
	var calls atomic.Int32
	srv := newCapture(t, nil)
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no such hook: "+r.URL.String(), http.StatusNotFound)
	})
	for _, s := range []Sink{
		mustSink(t, NewWebhook, srv.srv.URL+"/hook/s3cret-token", time.Second),
		mustSink(t, NewSlack, srv.srv.URL+"/services/T/B/s3cret-token", time.Second),
	} {
		err := s.Send(context.Background(), []Alert{{Key: "k", Status: StatusFiring}})
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "HTTP 404") {
			t.Fatalf("%s: error %v", s.Name(), err)
		}
		if !strings.HasPrefix(err.Error(), s.Name()+": HTTP 404: no such hook: "+s.Name()) {
			t.Fatalf("%s: error %q", s.Name(), err)
		}
		if !errors.Is(err, ErrPermanent) {
			t.Fatalf("%s: 404 not permanent: %v", s.Name(), err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("%d calls, want 2", calls.Load())
	}
}
