package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// providerErr is one failed provider attempt: an API error (the provider answered
// with an error status) or a transport error (it could not be reached, or its stream
// broke or went silent).
type providerErr struct {
	api       bool
	permanent bool // no retry can help (a missing or unusable key)
	msg       string
	err       error
}

func (e *providerErr) Error() string { return e.msg }
func (e *providerErr) Unwrap() error { return e.err }

var errIdle = errors.New("provider stream idle")

// newProviderHTTP is the HTTP client for provider calls: bounded connect, no overall
// timeout (a reply streams for as long as it needs; silence is caught per frame).
func newProviderHTTP(rt http.RoundTripper) *http.Client {
	if rt != nil {
		return &http.Client{Transport: rt}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       60 * time.Second,
	}}
}

// provider streams one run's reply from the org's openai-compatible provider.
type provider struct {
	client openai.Client
	model  string
	idle   time.Duration
}

func newProvider(httpc *http.Client, cred providerCredential, model string, idle time.Duration) *provider {
	c := openai.NewClient(option.WithBaseURL(cred.BaseURL), option.WithAPIKey(cred.APIKey),
		option.WithMaxRetries(0), option.WithHTTPClient(httpc))
	return &provider{client: c, model: model, idle: idle}
}

func chatMessages(msgs []uiMessage) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(msgs))
	for _, m := range msgs {
		text := userText(m)
		switch m.Role {
		case "assistant":
			out = append(out, openai.AssistantMessage(text))
		case "system":
			out = append(out, openai.SystemMessage(text))
		default:
			out = append(out, openai.UserMessage(text))
		}
	}
	return out
}

// stream calls the provider and hands each content delta to onDelta (which may block,
// e.g. while publishing; the idle clock stops meanwhile). It returns nil only when the
// provider finished the reply with a finish reason.
func (pv *provider) stream(ctx context.Context, msgs []uiMessage, onDelta func(string) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(pv.idle, func() { cancel(errIdle) })
	defer idle.Stop()
	st := pv.client.Chat.Completions.NewStreaming(actx, openai.ChatCompletionNewParams{Model: pv.model, Messages: chatMessages(msgs)})
	defer st.Close()
	finished := false
	for st.Next() {
		idle.Stop()
		for _, ch := range st.Current().Choices {
			if ch.Delta.Content != "" {
				if err := onDelta(ch.Delta.Content); err != nil {
					return err
				}
			}
			finished = finished || ch.FinishReason != ""
		}
		idle.Reset(pv.idle)
	}
	return pv.classify(ctx, actx, st.Err(), finished)
}

func (pv *provider) classify(ctx, actx context.Context, err error, finished bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var apiErr *openai.Error
	switch {
	case errors.As(err, &apiErr):
		return &providerErr{api: true, msg: fmt.Sprintf("provider error: %d %s: %s", apiErr.StatusCode,
			http.StatusText(apiErr.StatusCode), apiErr.Message), err: err}
	case err != nil:
		if cause := context.Cause(actx); errors.Is(cause, errIdle) {
			err = fmt.Errorf("no frame for %s: %w", pv.idle, cause)
		}
		return &providerErr{msg: "provider unreachable: " + err.Error(), err: err}
	case !finished:
		return &providerErr{msg: "provider stream ended without a finish reason"}
	}
	return nil
}
