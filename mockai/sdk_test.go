package mockai

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The official OpenAI Go SDK is the real client these tests use.
func sdkClient(url string) openai.Client {
	return openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("test"), option.WithMaxRetries(0))
}

func joined(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "chunk-%d ", i)
	}
	return b.String()
}

func TestSDKStreaming(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{DisableHijack: m.disable})
			c := sdkClient(ts.URL)
			for _, tt := range []struct {
				msg          openai.ChatCompletionMessageParamUnion
				n            int
				includeUsage bool
			}{
				{openai.UserMessage("slow:12x1"), 12, false},
				{openai.UserMessage("many:0"), 1, true},
				{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{openai.TextContentPart("x"), openai.TextContentPart("slow:3x0")}), 3, true},
			} {
				params := openai.ChatCompletionNewParams{Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{tt.msg}}
				if tt.includeUsage {
					params.StreamOptions.IncludeUsage = openai.Bool(true)
				}
				stream := c.Chat.Completions.NewStreaming(t.Context(), params)
				var acc openai.ChatCompletionAccumulator
				var text strings.Builder
				for stream.Next() {
					chunk := stream.Current()
					acc.AddChunk(chunk)
					if len(chunk.Choices) > 0 {
						text.WriteString(chunk.Choices[0].Delta.Content)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("stream: %v", err)
				}
				if text.String() != joined(tt.n) {
					t.Errorf("text %q, want %q", text.String(), joined(tt.n))
				}
				if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != joined(tt.n) || acc.Choices[0].FinishReason != "stop" {
					t.Errorf("accumulated %+v", acc.Choices)
				}
				if got := acc.Usage.CompletionTokens; tt.includeUsage && got != int64(tt.n) {
					t.Errorf("usage completion tokens %d, want %d", got, tt.n)
				}
				if !tt.includeUsage && acc.Usage.TotalTokens != 0 {
					t.Errorf("usage without include_usage: %+v", acc.Usage)
				}
			}
		})
	}
}

func TestSDKNonStreamed(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{})
	c := sdkClient(ts.URL)
	res, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "mock-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("slow:1x1"), openai.UserMessage("many:4")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 1 || res.Choices[0].Message.Content != joined(4) || res.Choices[0].FinishReason != "stop" ||
		res.Object != "chat.completion" || res.Model != "mock-model" || !strings.HasPrefix(res.ID, "chatcmpl-") {
		t.Errorf("completion %+v", res)
	}
	if res.Usage.CompletionTokens != 4 || res.Usage.TotalTokens != res.Usage.PromptTokens+4 || res.Usage.PromptTokens < 1 {
		t.Errorf("usage %+v", res.Usage)
	}
}

func TestSDKFaults(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{})
	c := sdkClient(ts.URL)
	_, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fail:429")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type != "rate_limit_error" || apiErr.Code != "rate_limit_exceeded" {
		t.Errorf("fail:429: %v", err)
	}
	stream := c.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("many:5 cut:3")},
	})
	var text strings.Builder
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if stream.Err() == nil || text.String() != joined(3) {
		t.Errorf("cut:3: text %q, err %v; want %q and an error", text.String(), stream.Err(), joined(3))
	}
}
