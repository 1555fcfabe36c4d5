package workload

import (
	"testing"
	"time"
)

// TestScheduleOwesEveryStartOfALateWakeUp: starts are due at i/rate from the start, so
// a loop that wakes late gets every start it missed (a ticker would have dropped
// them), up to a second's worth; older ones are counted late, never fired in a burst.
func TestScheduleOwesEveryStartOfALateWakeUp(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := newSchedule(t0, 10) // one every 100 ms
	steps := []struct {
		now       time.Duration
		due, late int
		next      time.Duration // when the next start is due, after t0
	}{
		{0, 1, 0, 100 * time.Millisecond},                     // the first at once
		{50 * time.Millisecond, 0, 0, 100 * time.Millisecond}, // woke early: nothing
		{100 * time.Millisecond, 1, 0, 200 * time.Millisecond},
		{450 * time.Millisecond, 3, 0, 500 * time.Millisecond}, // 200, 300, 400 ms: caught up
		{2500 * time.Millisecond, 10, 11, 2600 * time.Millisecond},
		{2600 * time.Millisecond, 1, 0, 2700 * time.Millisecond},
	}
	total := 0
	for _, st := range steps {
		due, late := s.due(at(st.now))
		if due != st.due || late != st.late {
			t.Fatalf("at %s: %d due, %d late; want %d and %d", st.now, due, late, st.due, st.late)
		}
		if next := s.next(); !next.Equal(at(st.next)) {
			t.Fatalf("at %s: next start at %s, want %s", st.now, next.Sub(t0), st.next)
		}
		total += due + late
	}
	// Every start up to 2.6 s is accounted for, started or late: 27 of them.
	if total != 27 {
		t.Fatalf("%d starts accounted for by 2.6 s, want 27", total)
	}
}

// TestScheduleSlowRate: below one run a second, a late wake-up still starts the one it
// owes.
func TestScheduleSlowRate(t *testing.T) {
	t0 := time.Now()
	s := newSchedule(t0, 0.5)
	if due, late := s.due(t0); due != 1 || late != 0 {
		t.Fatalf("at the start: %d due, %d late", due, late)
	}
	if due, _ := s.due(t0.Add(1900 * time.Millisecond)); due != 0 {
		t.Fatalf("%d due before the second start's time", due)
	}
	if due, late := s.due(t0.Add(2100 * time.Millisecond)); due != 1 || late != 0 {
		t.Fatalf("at 2.1 s: %d due, %d late; want 1 and 0", due, late)
	}
	if due, late := s.due(t0.Add(9 * time.Second)); due != 1 || late != 2 {
		t.Fatalf("after a 7 s stall: %d due, %d late; want 1 (the catch-up) and 2", due, late)
	}
}
