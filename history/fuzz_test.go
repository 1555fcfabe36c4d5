package history

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary lines to the decoder: it must never panic, and every
// line it accepts must survive an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	for _, e := range sample() {
		e.V, e.Seq, e.Time = SchemaVersion, 1, t0
		line, err := Encode(&e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	f.Add([]byte(`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"watch","watch":{"order":"1-5,1-20,7"}}`))
	f.Add([]byte(`{"v":1,"seq":9,"time":"2026-05-01T12:00:00Z","type":"meta","meta":{"phase":"end","heartbeatTTL":45000000000}}`))
	f.Add([]byte(`{"v":1,"seq":1,`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid event: %v", err)
		}
		again, err := Encode(&e)
		if err != nil {
			t.Fatalf("encode a decoded event: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("decode %s: %v", again, err)
		}
		third, err := Encode(&back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(third, again) {
			t.Fatalf("round trip changed the event:\n%s\n%s", again, third)
		}
	})
}

func TestFuzzSeedsAreValid(t *testing.T) {
	for _, s := range []string{`{"v":1,"seq":1,"time":"2026-05-01T12:00:00Z","type":"watch","watch":{"order":"1-5,1-20,7"}}`} {
		e, err := Decode([]byte(s))
		if err != nil || !strings.Contains(e.Watch.Order.String(), "1-20") {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
