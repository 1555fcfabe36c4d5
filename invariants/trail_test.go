package invariants

import (
	"strings"
	"testing"
)

// TestTrailKeepsTheFirstAndTheLastFew: consecutive equal readings merge; past
// trailKeep the first stays (with its merged count) and the gap says how many
// readings it leaves out, no more.
func TestTrailKeepsTheFirstAndTheLastFew(t *testing.T) {
	var tr trail[string]
	if !tr.empty() || tr.String(asIs) != "no readings" {
		t.Fatalf("a new trail: empty %v, %q", tr.empty(), tr.String(asIs))
	}
	tr.add(sec(1), "a")
	tr.add(sec(2), "a")
	for i, r := range []string{"b", "c", "d", "e"} {
		tr.add(sec(float64(3+i)), r)
	}
	want := "a ×2 12:00:01.000–12:00:02.000; b at 12:00:03.000; c at 12:00:04.000; d at 12:00:05.000; e at 12:00:06.000"
	if got := tr.String(asIs); got != want {
		t.Fatalf("five readings:\n got %s\nwant %s", got, want)
	}
	tr.add(sec(7), "f") // a leaves the last few: it stays as the first, nothing left out
	want = "a ×2 12:00:01.000–12:00:02.000; b at 12:00:03.000; c at 12:00:04.000; d at 12:00:05.000; e at 12:00:06.000; f at 12:00:07.000"
	if got := tr.String(asIs); got != want {
		t.Fatalf("six readings:\n got %s\nwant %s", got, want)
	}
	tr.add(sec(8), "g")
	tr.add(sec(9), "h") // b and c left out
	got := tr.String(asIs)
	if want := "a ×2 12:00:01.000–12:00:02.000; … (2 more); d at 12:00:05.000"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "h at 12:00:09.000") {
		t.Fatalf("eight readings:\n got %s\nwant %s …; h at 12:00:09.000", got, want)
	}
	// Round the ring more than once: the last few stay in order, a merge lands on
	// the newest.
	for i := range 12 {
		tr.add(sec(float64(10+i)), string(rune('i'+i)))
	}
	tr.add(sec(22), "t")
	want = "a ×2 12:00:01.000–12:00:02.000; … (14 more); p at 12:00:17.000; q at 12:00:18.000; r at 12:00:19.000; s at 12:00:20.000; t ×2 12:00:21.000–12:00:22.000"
	if got := tr.String(asIs); got != want {
		t.Fatalf("twenty-one readings, twenty distinct:\n got %s\nwant %s", got, want)
	}
}
