package schedule

import (
	"errors"
	"testing"
	"time"
)

func mustCompile(t *testing.T, cfg Config) *compiled {
	t.Helper()
	c, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestQuietWindowAcrossMidnightUTC(t *testing.T) {
	c := mustCompile(t, Config{Quiet: []Quiet{{Spec: "30 23 * * *", For: time.Hour}}})
	q := c.quiet[0]
	open := day.Add(23*time.Hour + 30*time.Minute) // 2025-03-14 23:30
	for _, tc := range []struct {
		t     time.Time
		quiet bool
	}{
		{open.Add(-time.Nanosecond), false},
		{open, true}, // a window holds its first instant
		{open.Add(29 * time.Minute), true},
		{open.Add(30 * time.Minute), true}, // midnight
		{open.Add(45 * time.Minute), true}, // 00:15 the next day, after the date changed
		{open.Add(time.Hour - time.Nanosecond), true},
		{open.Add(time.Hour), false}, // and not its last
		{open.Add(2 * time.Hour), false},
		{open.Add(-time.Hour), false},
	} {
		from, until, ok := q.window(tc.t)
		if ok != tc.quiet {
			t.Errorf("window(%s) quiet = %v, want %v", tc.t.Format(time.RFC3339Nano), ok, tc.quiet)
			continue
		}
		if ok && (!from.Equal(open) || !until.Equal(open.Add(time.Hour))) {
			t.Errorf("window(%s) = [%s, %s), want [%s, %s)", tc.t, from, until, open, open.Add(time.Hour))
		}
	}
}

func TestQuietWindowTakesUTCWhateverTheZone(t *testing.T) {
	c := mustCompile(t, Config{Quiet: []Quiet{{Spec: "0 2 * * *", For: 30 * time.Minute}}})
	tokyo := time.FixedZone("JST", 9*3600)
	in := at("02:10:00").In(tokyo) // 11:10 in Tokyo
	if _, _, ok := c.quiet[0].window(in); !ok {
		t.Errorf("02:10 UTC (%s) should be quiet", in)
	}
	if _, _, ok := c.quiet[0].window(time.Date(2025, 3, 14, 2, 10, 0, 0, tokyo)); ok {
		t.Errorf("02:10 in Tokyo is 17:10 UTC; should not be quiet")
	}
}

func TestQuietWindowIsTheLatestFiring(t *testing.T) {
	c := mustCompile(t, Config{Quiet: []Quiet{{Spec: "0,1 * * * *", For: 50 * time.Second}}})
	if from, until, ok := c.quiet[0].window(at("00:01:50")); ok {
		t.Errorf("00:01:50 is the end of the 00:01 window; got [%s, %s)", from, until)
	}
	from, until, ok := c.quiet[0].window(at("00:01:10"))
	if !ok || !from.Equal(at("00:01:00")) || !until.Equal(at("00:01:50")) {
		t.Errorf("window(00:01:10) = [%s, %s) %v, want the window of the 00:01 firing", from, until, ok)
	}
	// Validate refuses a For as long as the gap, but windows of irregular specs may
	// still overlap: then t is in the window of the latest firing, which ends last.
	q := c.quiet[0]
	q.For = 90 * time.Second
	from, until, ok = q.window(at("00:01:20"))
	if !ok || !from.Equal(at("00:01:00")) || !until.Equal(at("00:02:30")) {
		t.Errorf("overlapping windows: window(00:01:20) = [%s, %s) %v, want [00:01:00, 00:02:30)", from, until, ok)
	}
}

func TestClosedAtOrder(t *testing.T) {
	c := mustCompile(t, Config{
		Start: day, End: day.Add(24 * time.Hour), Warmup: time.Hour, Cooldown: 2 * time.Hour,
		Quiet: []Quiet{{Spec: "0 2 * * *", For: 30 * time.Minute}, {Spec: "0 0 * * *", For: 3 * time.Hour}},
	})
	for _, tc := range []struct {
		t    time.Time
		want Reason
		what string
	}{
		{day, ReasonWarmup, "warmup"}, // warmup wins over the midnight quiet window
		{day.Add(59 * time.Minute), ReasonWarmup, "warmup"},
		{day.Add(time.Hour), ReasonQuiet, `quiet "0 0 * * *" from 2025-03-14T00:00:00Z`},
		{day.Add(2*time.Hour + 10*time.Minute), ReasonQuiet, `quiet "0 2 * * *" from 2025-03-14T02:00:00Z`},
		{day.Add(3 * time.Hour), "", ""},
		{day.Add(21*time.Hour + 59*time.Minute), "", ""},
		{day.Add(22 * time.Hour), ReasonCooldown, "cooldown"},
		{day.Add(24 * time.Hour), ReasonEnded, "ended"}, // ended wins over the midnight window
		{day.Add(30 * time.Hour), ReasonEnded, "ended"},
	} {
		g, closed := c.closedAt(tc.t)
		if closed != (tc.want != "") || g.Reason != tc.want || g.What != tc.what {
			t.Errorf("closedAt(%s) = %+v, %v; want %q %q", tc.t.Format(time.RFC3339), g, closed, tc.want, tc.what)
		}
	}
}

func TestConfigNext(t *testing.T) {
	cfg := Config{
		Entries: []Entry{{Kind: "kill", Spec: "0 * * * *"}, {Kind: "pause", Spec: "@every 7m"}},
		Quiet:   []Quiet{{Spec: "30 23 * * *", For: time.Hour}},
		Start:   day, End: day.Add(48 * time.Hour), Warmup: 90 * time.Minute, Cooldown: 30 * time.Minute,
	}
	d2 := day.Add(24 * time.Hour)
	for _, tc := range []struct {
		kind  string
		after time.Time
		want  time.Time
	}{
		{"kill", day, day.Add(2 * time.Hour)},                                   // 01:00 is in the warmup
		{"kill", day.Add(5*time.Hour + 10*time.Minute), day.Add(6 * time.Hour)}, // plain
		{"kill", day.Add(23 * time.Hour), d2.Add(time.Hour)},                    // 00:00 is in the 23:30 window
		{"kill", d2.Add(22 * time.Hour), d2.Add(23 * time.Hour)},
		{"kill", d2.Add(23 * time.Hour), time.Time{}}, // the next is in the cooldown: none left
		// @every counts from after, and keeps its phase across the warmup: 0, 7, ..., 91m.
		{"pause", day, day.Add(91 * time.Minute)},
		// ... and across the quiet window: 23:32 is quiet until 00:30; 23:32 + 9*7m = 00:35.
		{"pause", day.Add(23*time.Hour + 25*time.Minute), d2.Add(35 * time.Minute)},
	} {
		got, err := cfg.Next(tc.kind, tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tc.want) {
			t.Errorf("Next(%s, %s) = %s, want %s", tc.kind, tc.after.Format(time.RFC3339), got, tc.want)
		}
	}
	if _, err := cfg.Next("stop", day); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Next of an unknown kind: err = %v, want ErrUnknownKind", err)
	}
	bad := cfg
	bad.Warmup = -1
	if _, err := bad.Next("kill", day); err == nil {
		t.Errorf("Next of an invalid config: err = nil")
	}
}

func TestNextQuietStart(t *testing.T) {
	c := mustCompile(t, Config{
		Start: day, End: day.Add(10 * time.Hour), Cooldown: time.Hour,
		Quiet: []Quiet{{Spec: "0 2 * * *", For: 30 * time.Minute}, {Spec: "0 5 * * *", For: 30 * time.Minute}},
	})
	for _, tc := range []struct{ t, want time.Time }{
		{day.Add(time.Hour), day.Add(2 * time.Hour)},
		{day.Add(2 * time.Hour), day.Add(5 * time.Hour)}, // strictly after
		{day.Add(6 * time.Hour), day.Add(9 * time.Hour)}, // the cooldown
	} {
		if got := c.nextQuietStart(tc.t); !got.Equal(tc.want) {
			t.Errorf("nextQuietStart(%s) = %s, want %s", tc.t, got, tc.want)
		}
	}
	open := mustCompile(t, Config{Start: day})
	if got := open.nextQuietStart(day); !got.IsZero() {
		t.Errorf("no quiet periods: nextQuietStart = %s, want zero", got)
	}
}

func TestInQuietAndUpcomingBeforeRun(t *testing.T) {
	s, err := New(Config{
		Entries: []Entry{{Kind: "kill", Spec: "0 */2 * * *"}, {Kind: "pause", Spec: "0 1-23/2 * * *"}},
		Quiet:   []Quiet{{Spec: "0 4 * * *", For: 90 * time.Minute}},
		Start:   day, End: day.Add(8 * time.Hour), Warmup: 30 * time.Minute, Cooldown: time.Hour,
	}, nopFire, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return day }
	if q, why := s.InQuiet(day.Add(10 * time.Minute)); !q || why != "warmup until 2025-03-14T00:30:00Z" {
		t.Errorf("InQuiet(00:10) = %v %q", q, why)
	}
	if q, why := s.InQuiet(day.Add(5 * time.Hour)); !q || why != `quiet "0 4 * * *" from 2025-03-14T04:00:00Z until 2025-03-14T05:30:00Z` {
		t.Errorf("InQuiet(05:00) = %v %q", q, why)
	}
	if q, why := s.InQuiet(day.Add(7 * time.Hour)); !q || why != "cooldown" {
		t.Errorf("InQuiet(07:00) = %v %q", q, why)
	}
	if q, why := s.InQuiet(day.Add(3 * time.Hour)); q || why != "" {
		t.Errorf("InQuiet(03:00) = %v %q", q, why)
	}
	want := []Planned{
		{"pause", day.Add(1 * time.Hour)}, {"kill", day.Add(2 * time.Hour)}, {"pause", day.Add(3 * time.Hour)},
		// 04:00 and 05:00 are quiet, 07:00 is in the cooldown.
		{"kill", day.Add(6 * time.Hour)},
	}
	got := s.Upcoming(10)
	if len(got) != len(want) {
		t.Fatalf("Upcoming = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || !got[i].At.Equal(want[i].At) {
			t.Errorf("Upcoming[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if got := s.Upcoming(2); len(got) != 2 {
		t.Errorf("Upcoming(2) has %d", len(got))
	}
}

func TestSkipToKeepsTheEveryPhase(t *testing.T) {
	c := mustCompile(t, Config{Entries: []Entry{{Kind: "k", Spec: "@every 10s"}}})
	t0 := at("00:00:03")
	if got := skipTo(c.entries[0].sched, t0, at("00:00:30")); !got.Equal(at("00:00:33")) {
		t.Errorf("skipTo = %s, want 00:00:33", got)
	}
	if got := skipTo(c.entries[0].sched, t0, at("00:00:23")); !got.Equal(at("00:00:23")) {
		t.Errorf("skipTo onto a firing = %s, want 00:00:23", got)
	}
}

func TestUniformJitterStaysInBounds(t *testing.T) {
	const limit = 400 * time.Millisecond
	var lo, hi time.Duration = limit, 0
	for range 10000 {
		d := uniform(limit)
		if d < 0 || d >= limit {
			t.Fatalf("uniform(%s) = %s, out of [0, %s)", limit, d, limit)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > limit/20 || hi < limit-limit/20 {
		t.Errorf("10000 draws spread over [%s, %s] only", lo, hi)
	}
	if d := uniform(0); d != 0 {
		t.Errorf("uniform(0) = %s", d)
	}
}
