package alert

import (
	"context"
	"fmt"
	"time"
)

// Webhook posts the generic JSON format described in the package doc.
type Webhook struct{ p *poster }

var _ Sink = (*Webhook)(nil)

// NewWebhook returns a sink posting to a generic JSON webhook. The URL is treated as
// a secret: only its scheme and host appear in the sink's name, logs and errors.
// A timeout of zero means DefaultTimeout.
func NewWebhook(url string, timeout time.Duration) (Sink, error) {
	p, err := newPoster(url, timeout, hostOnly)
	if err != nil {
		return nil, fmt.Errorf("alert: webhook: %w", err)
	}
	p.shown = "webhook " + p.shown
	return &Webhook{p: p}, nil
}

// Name is "webhook scheme://host".
func (w *Webhook) Name() string { return w.p.shown }

// Send posts one message holding every alert of the batch.
func (w *Webhook) Send(ctx context.Context, alerts []Alert) error {
	return w.p.post(ctx, newWebhookMessage(alerts))
}

// webhookMessage is the generic webhook's JSON body.
type webhookMessage struct {
	Version string         `json:"version"`
	Source  string         `json:"source"`
	Status  string         `json:"status"`
	Alerts  []webhookAlert `json:"alerts"`
}

type webhookAlert struct {
	Key          string            `json:"key"`
	Status       string            `json:"status"`
	Invariant    string            `json:"invariant"`
	Cause        string            `json:"cause"`
	Summary      string            `json:"summary"`
	Details      []string          `json:"details"`
	Run          string            `json:"run,omitempty"`
	Pods         []string          `json:"pods,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	LastAt       time.Time         `json:"lastAt"`
	Count        int               `json:"count"`
	Labels       map[string]string `json:"labels,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func newWebhookMessage(alerts []Alert) webhookMessage {
	m := webhookMessage{Version: "1", Source: "chaosd", Status: batchStatus(alerts)}
	for _, a := range alerts {
		w := webhookAlert{
			Key: a.Key, Status: a.Status, Invariant: a.Invariant, Cause: a.Cause,
			Summary: a.Summary, Details: a.Details, Run: a.Run, Pods: a.Pods,
			StartsAt: a.StartsAt.UTC(), LastAt: a.LastAt.UTC(), Count: a.Count,
			Labels: a.Labels, GeneratorURL: a.GeneratorURL,
		}
		if w.Details == nil {
			w.Details = []string{}
		}
		if !a.EndsAt.IsZero() {
			end := a.EndsAt.UTC()
			w.EndsAt = &end
		}
		m.Alerts = append(m.Alerts, w)
	}
	return m
}
