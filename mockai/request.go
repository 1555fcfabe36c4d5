package mockai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Request is what mockai reads from a chat completion request.
type Request struct {
	Model        string // as sent; the answer names the server's model
	Stream       bool   // "stream": true
	IncludeUsage bool   // "stream_options": {"include_usage": true}
	HintText     string // the text of the last message whose role is "user"
	PromptTokens int    // estimate: body bytes / 4, at least 1
}

type wireRequest struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        *bool             `json:"stream"`
	StreamOptions *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type wirePart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// DecodeRequest decodes a chat completion request body. Fields mockai does not use
// are ignored, as real clients send many; the ones it uses must have the right type.
// Every error is an *APIError with status 400.
func DecodeRequest(body []byte) (*Request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(err)
	}
	if len(w.Messages) == 0 {
		return nil, badRequest("messages", "missing_messages", "messages: want a non-empty array of messages")
	}
	req := &Request{Model: w.Model, PromptTokens: max(len(body)/4, 1)}
	req.Stream = w.Stream != nil && *w.Stream
	if w.StreamOptions != nil && w.StreamOptions.IncludeUsage != nil {
		req.IncludeUsage = *w.StreamOptions.IncludeUsage
	}
	for i := len(w.Messages) - 1; i >= 0; i-- {
		var m wireMessage
		if err := json.Unmarshal(w.Messages[i], &m); err != nil {
			return nil, badRequest(fmt.Sprintf("messages[%d]", i), "invalid_type", "messages[%d]: want an object with a role and content", i)
		}
		if m.Role != "user" {
			continue
		}
		text, err := contentText(m.Content)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("messages[%d].content", i), "invalid_type", "messages[%d].content: %v", i, err)
		}
		req.HintText = text
		break
	}
	return req, nil
}

// contentText is a message's text: a string content, or the text parts of a parts
// array joined with spaces. Null or missing content has no text.
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errors.New("want a string or an array of content parts")
		}
		return s, nil
	case '[':
		var parts []wirePart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", errors.New("want an array of content parts, each an object with a type")
		}
		texts := make([]string, 0, len(parts))
		for _, p := range parts {
			if p.Type == "text" {
				texts = append(texts, p.Text)
			}
		}
		return strings.Join(texts, " "), nil
	}
	return "", errors.New("want a string or an array of content parts")
}

func jsonError(err error) *APIError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return badRequest("", "invalid_json", "request body: want a JSON object, got %s", te.Value)
		}
		return badRequest(field, "invalid_type", "%s: want %s, got %s", field, jsonType(te.Type), te.Value)
	}
	return badRequest("", "invalid_json", "malformed JSON in the request body: %v", err)
}

// jsonType names the JSON type that decodes into t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "a number"
	}
}
