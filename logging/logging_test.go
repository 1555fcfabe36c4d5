package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewJSONWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Options{Level: "debug", Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hello", zapString("k", "v"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("want one JSON line, got %q: %v", buf.String(), err)
	}
	if m["msg"] != "hello" || m["k"] != "v" || m["level"] != "debug" {
		t.Fatalf("unexpected fields: %v", m)
	}
}

func TestLevelFilters(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(Options{Level: "warn", Format: FormatConsole, Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Fatalf("level filter wrong: %q", buf.String())
	}
}

func TestBadLevelAndFormatNamed(t *testing.T) {
	if _, err := New(Options{Level: "loud"}); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Fatalf("bad level: %v", err)
	}
	if _, err := New(Options{Format: "xml"}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("bad format: %v", err)
	}
}
