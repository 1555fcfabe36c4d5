package mockai

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, body string
		want       Request // PromptTokens is not compared
	}{
		{"string content", `{"model":"m","messages":[{"role":"user","content":"slow:2x5"}]}`,
			Request{Model: "m", HintText: "slow:2x5"}},
		{"parts joined with spaces", `{"messages":[{"role":"user","content":[{"type":"text","text":"slow:2x5"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"many:3"}]}]}`,
			Request{HintText: "slow:2x5 many:3"}},
		{"only the last user message counts", `{"messages":[{"role":"user","content":"many:9"},{"role":"assistant","content":"slow:1x1"},{"role":"user","content":"hi"},{"role":"tool","content":"cut:1"}]}`,
			Request{HintText: "hi"}},
		{"no user message", `{"messages":[{"role":"system","content":"slow:1x1"}]}`,
			Request{}},
		{"null content", `{"messages":[{"role":"user","content":null}]}`,
			Request{}},
		{"assistant content of any shape is ignored", `{"messages":[{"role":"assistant","content":7},{"role":"user","content":"x"}]}`,
			Request{HintText: "x"}},
		{"stream and include_usage", `{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`,
			Request{Stream: true, IncludeUsage: true, HintText: "x"}},
		{"stream false", `{"stream":false,"messages":[{"role":"user","content":"x"}]}`,
			Request{HintText: "x"}},
		{"unknown fields ignored", `{"temperature":0.2,"tools":[],"messages":[{"role":"user","content":"x","name":"n"}]}`,
			Request{HintText: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got.PromptTokens != max(len(tt.body)/4, 1) {
				t.Errorf("prompt tokens %d, want %d", got.PromptTokens, len(tt.body)/4)
			}
			got.PromptTokens = 0
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param, msg string
	}{
		{"malformed", `{"messages":[`, "", "malformed JSON in the request body: unexpected end of JSON input"},
		{"not an object", `[1,2]`, "", "request body: want a JSON object, got array"},
		{"no messages", `{"model":"m"}`, "messages", "messages: want a non-empty array of messages"},
		{"empty messages", `{"messages":[]}`, "messages", "messages: want a non-empty array of messages"},
		{"null body", `null`, "messages", "messages: want a non-empty array of messages"},
		{"messages not an array", `{"messages":"hi"}`, "messages", "messages: want an array, got string"},
		{"stream not a bool", `{"stream":"yes","messages":[{"role":"user","content":"x"}]}`, "stream", "stream: want a boolean, got string"},
		{"message not an object", `{"messages":[1]}`, "messages[0]", "messages[0]: want an object with a role and content"},
		{"user content a number", `{"messages":[{"role":"user","content":5}]}`, "messages[0].content", "messages[0].content: want a string or an array of content parts"},
		{"user parts not objects", `{"messages":[{"role":"user","content":[1]}]}`, "messages[0].content", "messages[0].content: want an array of content parts, each an object with a type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want *APIError, got %T %v", err, err)
			}
			if ae.Status != http.StatusBadRequest || ae.Type != "invalid_request_error" || ae.Param != tt.param || ae.Message != tt.msg {
				t.Errorf("got %+v\nwant param %q message %q", *ae, tt.param, tt.msg)
			}
		})
	}
}

func TestAPIErrorBody(t *testing.T) {
	e := &APIError{Status: 429, Type: "rate_limit_error", Code: "rate_limit_exceeded", Message: `say "hi"`}
	want := `{"error":{"message":"say \"hi\"","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`
	if got := string(e.Body()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	e = &APIError{Status: 400, Type: "invalid_request_error", Param: "messages", Message: "m"}
	want = `{"error":{"message":"m","type":"invalid_request_error","param":"messages","code":null}}`
	if got := string(e.Body()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// FuzzDecodeRequest checks that any body decodes or fails with a 400 *APIError whose
// body is valid JSON, that decoding never panics, and that the hint text comes from
// a user message.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"mock-model","stream":true,"messages":[{"role":"user","content":"slow:2x5"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"many:3"},{"type":"text","text":"cut:1"}]}]}`,
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":null}],"stream_options":{"include_usage":true}}`,
		`{"messages":[]}`, `{"messages":[`, `null`, `[]`, `{"messages":[{"role":"user","content":{}}]}`,
		`{"stream":1,"messages":[{"role":"user"}]}`, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error is not an *APIError: %T %v", err, err)
			}
			if ae.Status != http.StatusBadRequest || ae.Message == "" {
				t.Fatalf("bad error: %+v", *ae)
			}
			if !json.Valid(ae.Body()) {
				t.Fatalf("error body is not JSON: %s", ae.Body())
			}
			return
		}
		if req.PromptTokens < 1 {
			t.Fatalf("prompt tokens %d", req.PromptTokens)
		}
		if req.HintText != "" && !strings.Contains(string(body), `"user"`) && !strings.Contains(string(body), `\u`) {
			t.Fatalf("hint text %q without a user message", req.HintText)
		}
		if _, err := ParseHints(req.HintText, Limits{}); err != nil && !errors.Is(err, ErrHintBound) {
			t.Fatalf("hint error not typed: %v", err)
		}
	})
}
