package alert

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Alertmanager labels chaosd sets on every alert.
const (
	AlertName       = "ChaosdInvariantViolation"
	defaultSeverity = "critical"
	// defaultExpiry is a firing alert's lifetime in Alertmanager before the notifier
	// has told the sink its re-notify interval (4 × the default Renotify).
	defaultExpiry = 4 * time.Hour
)

// Alertmanager posts to an Alertmanager's v2 API.
type Alertmanager struct {
	p      *poster
	expiry atomic.Int64 // time.Duration a firing alert lives without being re-sent
	now    func() time.Time
}

var _ Sink = (*Alertmanager)(nil)

// NewAlertmanager returns a sink posting to {url}/api/v2/alerts; url is the
// Alertmanager's base URL (with its --web.route-prefix, if any). User info and path
// stay out of logs and errors. A timeout of zero means DefaultTimeout.
func NewAlertmanager(url string, timeout time.Duration) (Sink, error) {
	p, err := newPoster(strings.TrimRight(url, "/")+"/api/v2/alerts", timeout, hostOnly)
	if err != nil {
		return nil, fmt.Errorf("alert: alertmanager: %w", err)
	}
	p.shown = "alertmanager " + p.shown
	am := &Alertmanager{p: p, now: time.Now}
	am.expiry.Store(int64(defaultExpiry))
	return am, nil
}

// Name is "alertmanager scheme://host".
func (am *Alertmanager) Name() string { return am.p.shown }

// setRenotify is called by New: a firing alert then expires 4 × renotify after it was
// last sent, so that Alertmanager resolves it by itself if chaosd dies.
func (am *Alertmanager) setRenotify(d time.Duration) { am.expiry.Store(int64(4 * d)) }

// Send posts the batch as postable alerts.
func (am *Alertmanager) Send(ctx context.Context, alerts []Alert) error {
	return am.p.post(ctx, am.postable(alerts, am.now()))
}

// postableAlert is an element of the body of POST /api/v2/alerts.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func (am *Alertmanager) postable(alerts []Alert, now time.Time) []postableAlert {
	out := make([]postableAlert, 0, len(alerts))
	for _, a := range alerts {
		end := a.EndsAt
		if a.Firing() {
			end = now.Add(time.Duration(am.expiry.Load()))
		}
		out = append(out, postableAlert{
			Labels: amLabels(a), Annotations: amAnnotations(a),
			StartsAt: a.StartsAt.UTC(), EndsAt: end.UTC(), GeneratorURL: a.GeneratorURL,
		})
	}
	return out
}

// amLabels: defaults, then Config.Labels, then the identity labels nobody may
// override. Names Alertmanager would reject are made valid; empty values are left
// out, as an empty label is no label.
func amLabels(a Alert) map[string]string {
	l := map[string]string{"severity": defaultSeverity, "source": "chaosd"}
	for k, v := range a.Labels {
		l[labelName(k)] = v
	}
	l["alertname"] = AlertName
	l["invariant"] = a.Invariant
	l["cause"] = CauseID(a.Cause)
	maps.DeleteFunc(l, func(_, v string) bool { return v == "" })
	return l
}

func amAnnotations(a Alert) map[string]string {
	an := map[string]string{
		"summary":     a.Summary,
		"description": strings.Join(a.Details, "\n"),
		"cause":       a.Cause,
		"run":         a.Run,
		"pods":        strings.Join(a.Pods, ","),
		"count":       strconv.Itoa(a.Count),
		"key":         a.Key,
	}
	maps.DeleteFunc(an, func(_, v string) bool { return v == "" })
	return an
}

// labelName maps a name onto [a-zA-Z_][a-zA-Z0-9_]*, the classic label name syntax.
func labelName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
