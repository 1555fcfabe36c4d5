//go:build integration

package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/chaosd/chaosd/internal/testam"
)

// amNotification is the body of Alertmanager's webhook notification (version 4).
type amNotification struct {
	Version  string `json:"version"`
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	Alerts   []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
	arrived time.Time
}

// gettableAlert is an element of GET /api/v2/alerts.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// TestIntegrationAlertmanager sends chaosd's alert through a real Alertmanager and
// checks that Alertmanager stores it and notifies its own webhook receiver, firing
// and then resolved.
func TestIntegrationAlertmanager(t *testing.T) {
	bin := testam.Bin(t)
	notes := make(chan amNotification, 100)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n amNotification
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("receiver: bad body %v: %s", err, b)
		}
		n.arrived = time.Now()
		notes <- n
	}))
	defer recv.Close()
	base := testam.Start(t, bin, recv.URL+"/am-hook")

	soak := fmt.Sprintf("it-%d", os.Getpid())
	sink := mustSink(t, NewAlertmanager, base, 5*time.Second)
	n := New(Config{Renotify: time.Minute, Labels: map[string]string{"soak": soak}, GeneratorURL: "http://chaosd.test/report"},
		[]Sink{sink}, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)

	v := violation("late attach missed the prefix", time.Time{})
	start := time.Now()
	n.Violation(v)

	// 1. Alertmanager holds it, with our labels.
	stored := waitStored(t, base, soak)
	wantLabels := map[string]string{
		"alertname": "ChaosdInvariantViolation", "invariant": "prefix-replay", "cause": CauseID(v.Cause),
		"severity": "critical", "source": "chaosd", "soak": soak,
	}
	for k, want := range wantLabels {
		if stored.Labels[k] != want {
			t.Fatalf("stored label %s=%q, want %q (labels %v)", k, stored.Labels[k], want, stored.Labels)
		}
	}
	if stored.Status.State != "active" || stored.Annotations["summary"] != v.Summary || stored.Annotations["count"] != "1" ||
		stored.EndsAt.Before(time.Now().Add(3*time.Minute)) {
		t.Fatalf("stored alert %+v", stored)
	}

	// 2. Alertmanager's own notification reaches the receiver, firing.
	fired := waitNotification(t, notes, "firing", soak)
	t.Logf("violation -> Alertmanager notification at the receiver: %v", fired.arrived.Sub(start).Round(time.Millisecond))
	a := fired.Alerts[0]
	if fired.Version != "4" || a.Labels["invariant"] != "prefix-replay" || a.Labels["cause"] != CauseID(v.Cause) ||
		a.Annotations["description"] != strings.Join(v.Details, "\n") || a.Annotations["run"] != "run-7" ||
		a.GeneratorURL != "http://chaosd.test/report" {
		t.Fatalf("firing notification %+v", fired)
	}

	// 3. After ResolveAll the receiver is told it resolved.
	resolveStart := time.Now()
	n.ResolveAll(time.Now())
	resolved := waitNotification(t, notes, "resolved", soak)
	t.Logf("ResolveAll -> resolved notification at the receiver: %v", resolved.arrived.Sub(resolveStart).Round(time.Millisecond))
	if r := resolved.Alerts[0]; r.Status != "resolved" || r.EndsAt.Before(r.StartsAt) || r.EndsAt.After(time.Now()) {
		t.Fatalf("resolved notification %+v", resolved)
	}

	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	if err := n.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if st := n.Stats(); st.Sent != 2 || st.Failed != 0 || st.Dropped != 0 || st.Fired != 1 || st.Resolved != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// waitStored polls GET /api/v2/alerts until our alert (label soak) shows up.
func waitStored(t *testing.T, base, soak string) gettableAlert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/v2/alerts")
		if err == nil {
			var alerts []gettableAlert
			err = json.NewDecoder(resp.Body).Decode(&alerts)
			resp.Body.Close()
			for _, a := range alerts {
				if err == nil && a.Labels["soak"] == soak {
					return a
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("GET /api/v2/alerts never showed chaosd's alert")
	return gettableAlert{}
}

// waitNotification waits for a notification with status whose alert carries soak.
func waitNotification(t *testing.T, notes chan amNotification, status, soak string) amNotification {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case n := <-notes:
			if n.Status == status && len(n.Alerts) == 1 && n.Alerts[0].Labels["soak"] == soak {
				return n
			}
			t.Logf("skipping notification %s with %d alerts", n.Status, len(n.Alerts))
		case <-timeout:
			t.Fatalf("no %s notification from alertmanager within 15s", status)
		}
	}
}
