package alert

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Colours of a Slack attachment.
const (
	slackRed   = "#d40e0d"
	slackGreen = "#2eb886"
	// slackMaxAttachments bounds one message; Slack rejects very long ones.
	slackMaxAttachments = 20
	// slackMaxDetails bounds the evidence lines shown per alert.
	slackMaxDetails = 10
)

// Slack posts to a Slack incoming webhook.
type Slack struct{ p *poster }

var _ Sink = (*Slack)(nil)

// NewSlack returns a sink posting to a Slack incoming webhook. The whole URL is a
// secret: the sink's name, logs and errors only say "slack webhook". A timeout of
// zero means DefaultTimeout.
func NewSlack(url string, timeout time.Duration) (Sink, error) {
	p, err := newPoster(url, timeout, slackShown)
	if err != nil {
		return nil, fmt.Errorf("alert: slack: %w", err)
	}
	return &Slack{p: p}, nil
}

func slackShown(*url.URL) string { return "slack webhook" }

// Name is "slack webhook".
func (s *Slack) Name() string { return s.p.shown }

// Send posts one message: a summary line and one coloured attachment per alert.
func (s *Slack) Send(ctx context.Context, alerts []Alert) error {
	return s.p.post(ctx, newSlackMessage(alerts))
}

type slackMessage struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Color      string       `json:"color"`
	Fallback   string       `json:"fallback"`
	Title      string       `json:"title"`
	TitleLink  string       `json:"title_link,omitempty"`
	Text       string       `json:"text"`
	Fields     []slackField `json:"fields"`
	Footer     string       `json:"footer"`
	Timestamp  int64        `json:"ts"`
	MarkdownIn []string     `json:"mrkdwn_in"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func newSlackMessage(alerts []Alert) slackMessage {
	var m slackMessage
	firing := 0
	for _, a := range alerts {
		if a.Firing() {
			firing++
		}
	}
	switch {
	case len(alerts) == 1:
		m.Text = slackEscape(slackTitle(alerts[0]))
	default:
		m.Text = fmt.Sprintf("chaosd: %d alerts (%d firing, %d resolved)", len(alerts), firing, len(alerts)-firing)
	}
	for i, a := range alerts {
		if i == slackMaxAttachments {
			m.Text += fmt.Sprintf(" (%d more not shown)", len(alerts)-i)
			break
		}
		m.Attachments = append(m.Attachments, slackAttach(a))
	}
	return m
}

// slackTitle is "[FIRING] invariant: summary" or "[RESOLVED] ...".
func slackTitle(a Alert) string {
	return "[" + strings.ToUpper(a.Status) + "] " + a.Invariant + ": " + a.Summary
}

func slackAttach(a Alert) slackAttachment {
	at := slackAttachment{
		Color: slackRed, Title: slackEscape(slackTitle(a)), TitleLink: a.GeneratorURL,
		Fallback: slackEscape(slackTitle(a)), Footer: "chaosd " + a.Key,
		Timestamp: a.LastAt.Unix(), MarkdownIn: []string{"text"},
	}
	if !a.Firing() {
		at.Color = slackGreen
		at.Timestamp = a.EndsAt.Unix()
	}
	details := a.Details
	more := 0
	if len(details) > slackMaxDetails {
		details, more = details[:slackMaxDetails], len(details)-slackMaxDetails
	}
	if len(details) > 0 {
		at.Text = "```" + slackEscape(strings.Join(details, "\n")) + "```"
		if more > 0 {
			at.Text += fmt.Sprintf("\n(%d more lines)", more)
		}
	}
	at.Fields = append(at.Fields, slackField{Title: "Cause", Value: slackEscape(a.Cause), Short: false})
	if a.Run != "" {
		at.Fields = append(at.Fields, slackField{Title: "Run", Value: slackEscape(a.Run), Short: true})
	}
	if len(a.Pods) > 0 {
		at.Fields = append(at.Fields, slackField{Title: "Pods", Value: slackEscape(strings.Join(a.Pods, ", ")), Short: true})
	}
	at.Fields = append(at.Fields,
		slackField{Title: "Count", Value: fmt.Sprint(a.Count), Short: true},
		slackField{Title: "First", Value: a.StartsAt.UTC().Format(time.RFC3339), Short: true},
		slackField{Title: "Last", Value: a.LastAt.UTC().Format(time.RFC3339), Short: true},
	)
	if !a.Firing() {
		at.Fields = append(at.Fields, slackField{Title: "Resolved", Value: a.EndsAt.UTC().Format(time.RFC3339), Short: true})
	}
	for _, k := range sortedKeys(a.Labels) {
		at.Fields = append(at.Fields, slackField{Title: slackEscape(k), Value: slackEscape(a.Labels[k]), Short: true})
	}
	return at
}

// slackEscape escapes the three characters Slack's message format reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
