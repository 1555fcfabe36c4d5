package mockai

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
)

// The byte pieces of the SSE frames. Every JSON frame is
//
//	data: {"id":"chatcmpl-<uuid>","object":"chat.completion.chunk","created":<unix s>,"model":<model>,"choices":[<choice>]}\n\n
//
// and the stream ends with "data: [DONE]\n\n", as in the seed mock.
const (
	roleChoice    = `{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}` + "\n\n"
	contentHead   = `{"index":0,"delta":{"content":"chunk-`
	contentTail   = ` "},"finish_reason":null}]}` + "\n\n"
	finishChoice  = `{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	doneFrame     = "data: [DONE]\n\n"
	maxFrameExtra = 160 // a frame is at most len(prefix) + this many bytes
)

// newID returns "chatcmpl-" and a random (version 4) UUID.
func newID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return "chatcmpl-" + string(b[:])
}

// quote returns s as a JSON string.
func quote(s string) []byte {
	b, _ := json.Marshal(s) // a string: cannot fail
	return b
}

// framePrefix is the part every JSON frame of one stream shares, up to and including
// `"choices":[`.
func framePrefix(id string, created time.Time, model []byte) []byte {
	b := make([]byte, 0, 112+len(id)+len(model))
	b = append(b, `data: {"id":`...)
	b = append(b, quote(id)...)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, created.Unix(), 10)
	b = append(b, `,"model":`...)
	b = append(b, model...)
	b = append(b, `,"choices":[`...)
	return b
}

func appendRole(b, prefix []byte) []byte {
	return append(append(b, prefix...), roleChoice...)
}

func appendContent(b, prefix []byte, i int) []byte {
	b = append(append(b, prefix...), contentHead...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, contentTail...)
}

func appendFinish(b, prefix []byte) []byte {
	return append(append(b, prefix...), finishChoice...)
}

// Usage is the token count mockai reports: PromptTokens estimated from the request
// body (bytes / 4), CompletionTokens one per content chunk.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt, completion int) Usage {
	return Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// appendUsage appends the usage frame OpenAI sends before [DONE] when
// stream_options.include_usage is true: no choices, and the usage.
func appendUsage(b, prefix []byte, u Usage) []byte {
	b = append(append(b, prefix...), `],"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, "}}\n\n"...)
}

// completionText is the content of a non-streamed answer: the chunks joined.
func completionText(n int) string {
	b := make([]byte, 0, n*12)
	for i := 1; i <= n; i++ {
		b = append(b, "chunk-"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ' ')
	}
	return string(b)
}

type completionMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *struct{}         `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   Usage              `json:"usage"`
}

// completionBody is a non-streamed chat.completion with n chunks of content.
func completionBody(id string, created time.Time, model string, n int, u Usage) []byte {
	c := completion{
		ID: id, Object: "chat.completion", Created: created.Unix(), Model: model,
		Choices: []completionChoice{{Message: completionMessage{Role: "assistant", Content: completionText(n)}, FinishReason: "stop"}},
		Usage:   u,
	}
	b, _ := json.Marshal(c) // plain types: cannot fail
	return b
}
