package invariants

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCauseOf: a cause is short, valid UTF-8, free of ASCII digits (ids, times and
// counts are taken out) and stable (the cause of a cause is itself), so that alerts
// deduplicate.
func FuzzCauseOf(f *testing.F) {
	for _, s := range []string{
		"run run-12: watcher on mesh-3 (late, opened 12:00:03.500 with 5 chunks buffered) missed chunk-1..5",
		"the heartbeat bucket is missing", "", "ünïcødé 12 ☃ 3", strings.Repeat("é", 200),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		c := causeOf(msg)
		if len(c) > maxCause || !utf8.ValidString(c) {
			t.Fatalf("cause %q: %d bytes, valid %v", c, len(c), utf8.ValidString(c))
		}
		if strings.ContainsAny(c, "0123456789") {
			t.Fatalf("cause %q keeps a digit", c)
		}
		if again := causeOf(c); again != c {
			t.Fatalf("not stable: %q then %q", c, again)
		}
	})
}
