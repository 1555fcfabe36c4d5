package mockai

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseHints(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		text string
		want Plan
	}{
		{"", Plan{Chunks: 5, Delay: 50 * ms}},
		{"hello there", Plan{Chunks: 5, Delay: 50 * ms}},
		{"slow:20x500", Plan{Chunks: 20, Delay: 500 * ms}},
		{"please go slow:3x10 now", Plan{Chunks: 3, Delay: 10 * ms}},
		{"slow:0x10", Plan{Chunks: 1, Delay: 10 * ms}},                        // at least 1 chunk
		{"slow:4x0", Plan{Chunks: 4, Delay: 0}},                               // zero delay
		{"many:7", Plan{Chunks: 7, Delay: 50 * ms}},                           // 50 ms apart
		{"many:0", Plan{Chunks: 1, Delay: 50 * ms}},                           // many:0 gives 1 chunk
		{"many:9 slow:2x5", Plan{Chunks: 2, Delay: 5 * ms}},                   // slow is checked first
		{"slow:2x5 many:9", Plan{Chunks: 2, Delay: 5 * ms}},                   // wherever it is
		{"slow:3x many:4", Plan{Chunks: 4, Delay: 50 * ms}},                   // slow without MS is no slow hint
		{"slow:ax1 slow:6x7", Plan{Chunks: 6, Delay: 7 * ms}},                 // the first that matches counts
		{"slow:2x3 slow:8x9", Plan{Chunks: 2, Delay: 3 * ms}},                 // first match wins
		{"SLOW:2x3", Plan{Chunks: 5, Delay: 50 * ms}},                         // case matters, as in the seed
		{"many:-3", Plan{Chunks: 5, Delay: 50 * ms}},                          // no digits, no hint
		{"slow:007x010", Plan{Chunks: 7, Delay: 10 * ms}},                     // leading zeros
		{"slow:100000x600000", Plan{Chunks: 100000, Delay: 10 * time.Minute}}, // at the bounds
		{"fail:429", Plan{Chunks: 5, Delay: 50 * ms, Fault: Fault{Kind: FaultFail, Status: 429}}},
		{"slow:3x1 cut:2", Plan{Chunks: 3, Delay: ms, Fault: Fault{Kind: FaultCut, After: 2}}},
		{"cut:0", Plan{Chunks: 5, Delay: 50 * ms, Fault: Fault{Kind: FaultCut, After: 0}}},
		{"many:3 cut:9", Plan{Chunks: 3, Delay: 50 * ms, Fault: Fault{Kind: FaultCut, After: 3}}}, // at most N
		{"stall:1", Plan{Chunks: 5, Delay: 50 * ms, Fault: Fault{Kind: FaultStall, After: 1}}},
		{"stall:2x1500", Plan{Chunks: 5, Delay: 50 * ms, Fault: Fault{Kind: FaultStall, After: 2, Hold: 1500 * ms}}},
		{"stall:2 cut:1 fail:503", Plan{Chunks: 5, Delay: 50 * ms, Fault: Fault{Kind: FaultFail, Status: 503}}}, // fail > cut > stall
		{"stall:2 cut:1", Plan{Chunks: 5, Delay: 50 * ms, Fault: Fault{Kind: FaultCut, After: 1}}},
	}
	for _, tt := range tests {
		got, err := ParseHints(tt.text, Limits{})
		if err != nil {
			t.Errorf("ParseHints(%q): %v", tt.text, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseHints(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseHintsBounds(t *testing.T) {
	tests := []struct {
		text, wantMsg string
	}{
		{"slow:100001x5", `hint "slow:100001x5": chunk count 100001 is out of bounds (at most 100000)`},
		{"slow:5x600001", `hint "slow:5x600001": delay in ms 600001 is out of bounds (at most 600000 ms (10m0s))`},
		{"many:999999999999999999999999", `hint "many:999999999999999999999999": chunk count 999999999999999999999999 is out of bounds (at most 100000)`},
		{"fail:42 many:2", `hint "fail:42": status 42 is out of bounds (400-599)`},
		{"fail:200", `hint "fail:200": status 200 is out of bounds (400-599)`},
		{"fail:600", `hint "fail:600": status 600 is out of bounds (400-599)`},
		{"cut:100001", `hint "cut:100001": chunk count 100001 is out of bounds (at most 100000)`},
		{"stall:1x600001", `hint "stall:1x600001": hold in ms 600001 is out of bounds (at most 600000 ms (10m0s))`},
	}
	for _, tt := range tests {
		_, err := ParseHints(tt.text, Limits{})
		var he *HintError
		if !errors.As(err, &he) || !errors.Is(err, ErrHintBound) {
			t.Errorf("ParseHints(%q): want a *HintError wrapping ErrHintBound, got %v", tt.text, err)
			continue
		}
		if err.Error() != tt.wantMsg {
			t.Errorf("ParseHints(%q):\n got %s\nwant %s", tt.text, err, tt.wantMsg)
		}
	}
	// A hint that does not apply is not checked: slow wins, so many's value is moot.
	if _, err := ParseHints("slow:1x1 many:999999", Limits{}); err != nil {
		t.Errorf("an overridden many: hint was checked: %v", err)
	}
	// Limits are configurable.
	if p, err := ParseHints("slow:200000x0", Limits{MaxChunks: 200000}); err != nil || p.Chunks != 200000 {
		t.Errorf("raised MaxChunks: %+v, %v", p, err)
	}
	if _, err := ParseHints("slow:2x1001", Limits{MaxDelay: time.Second}); err == nil {
		t.Error("MaxDelay of 1s let 1001 ms through")
	}
	// Long values are shortened in the message.
	_, err := ParseHints("many:"+strings.Repeat("9", 200), Limits{})
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("long value: %v", err)
	}
}

// FuzzParseHints checks that any text parses to a plan within the bounds, or to a
// *HintError, and never panics.
func FuzzParseHints(f *testing.F) {
	for _, s := range []string{"", "slow:20x500", "many:0", "many:9 slow:2x5", "fail:429", "cut:3", "stall:2x100",
		"slow:100001x5", "slow:1x", "slow:x1", "stall:", "fail:9999999999999999999999", "cut:1 stall:1 fail:500", "slow:3x5slow:4x6"} {
		f.Add(s, 0, int64(0))
	}
	f.Add("slow:7x9", 7, int64(9*time.Millisecond))
	f.Fuzz(func(t *testing.T, text string, maxChunks int, maxDelay int64) {
		lim := Limits{MaxChunks: maxChunks % 1000000, MaxDelay: time.Duration(maxDelay % int64(time.Hour))}
		p, err := ParseHints(text, lim)
		eff := lim.withDefaults()
		if err != nil {
			var he *HintError
			if !errors.As(err, &he) || !errors.Is(err, ErrHintBound) {
				t.Fatalf("error is not a *HintError: %T %v", err, err)
			}
			if he.Hint == "" || !strings.Contains(text, strings.TrimSuffix(he.Hint, "...")) {
				t.Fatalf("error names hint %q, not in the text", he.Hint)
			}
			return
		}
		if p.Chunks < 1 || p.Chunks > max(eff.MaxChunks, DefaultChunks) {
			t.Fatalf("chunks %d out of [1, %d]", p.Chunks, eff.MaxChunks)
		}
		if p.Delay < 0 || p.Delay > max(eff.MaxDelay, DefaultDelay) {
			t.Fatalf("delay %s out of [0, %s]", p.Delay, eff.MaxDelay)
		}
		switch p.Fault.Kind {
		case FaultNone:
			if p.Fault != (Fault{}) {
				t.Fatalf("no fault but fields set: %+v", p.Fault)
			}
		case FaultFail:
			if p.Fault.Status < 400 || p.Fault.Status > 599 {
				t.Fatalf("fail status %d", p.Fault.Status)
			}
		case FaultCut, FaultStall:
			if p.Fault.After < 0 || p.Fault.After > p.Chunks {
				t.Fatalf("fault after %d of %d chunks", p.Fault.After, p.Chunks)
			}
			if p.Fault.Hold < 0 || p.Fault.Hold > eff.MaxDelay {
				t.Fatalf("hold %s", p.Fault.Hold)
			}
		default:
			t.Fatalf("unknown fault kind %d", p.Fault.Kind)
		}
		if p.Last() > p.Chunks {
			t.Fatalf("last %d > chunks %d", p.Last(), p.Chunks)
		}
	})
}
