package schedule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// These tests run the real cron on whole seconds. Each starts just after a second
// boundary W, so firings of "@every 1s" land on W+1s, W+2s, ...; margins are 0.5 s.

// slack is how late a firing may start (cron wake-up, scheduling) and still count.
const slack = 150 * time.Millisecond

// call is one call of Fire.
type call struct {
	kind             string
	scheduled, start time.Time
	deadline         time.Time // of Fire's context, zero if none
}

// recorder is a Fire that records its calls and how many ran at once.
type recorder struct {
	hold func(ctx context.Context, kind string) error // what a call does; nil returns at once

	mu       sync.Mutex
	calls    []call
	inFlight map[string]int
	all, max int // calls running at once, and the most seen
	maxKind  int // calls of one kind running at once, the most seen
}

func (r *recorder) fire(ctx context.Context, kind string, scheduled time.Time) error {
	c := call{kind: kind, scheduled: scheduled, start: time.Now()}
	c.deadline, _ = ctx.Deadline()
	r.mu.Lock()
	r.calls = append(r.calls, c)
	if r.inFlight == nil {
		r.inFlight = map[string]int{}
	}
	r.inFlight[kind]++
	r.all++
	r.max, r.maxKind = max(r.max, r.all), max(r.maxKind, r.inFlight[kind])
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[kind]--
		r.all--
		r.mu.Unlock()
	}()
	if r.hold != nil {
		return r.hold(ctx, kind)
	}
	return nil
}

func (r *recorder) snapshot() ([]call, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...), r.max, r.maxKind
}

// holdFor is a fire body that holds its fault for d or until ctx ends.
func holdFor(d time.Duration) func(ctx context.Context, kind string) error {
	return func(ctx context.Context, _ string) error {
		_ = sleep(ctx, d)
		return nil
	}
}

// alignSecond waits until just after the next whole second and returns that second.
func alignSecond() time.Time {
	w := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(w.Add(20 * time.Millisecond)))
	return w
}

// startRun runs s in the background; stop cancels it and returns once Run has.
func startRun(t *testing.T, s *Scheduler) (stop func() time.Time, done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(ch)
	}()
	t.Cleanup(cancel)
	return func() time.Time {
		cancel()
		select {
		case <-ch:
			return time.Now()
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of its context ending")
			return time.Time{}
		}
	}, ch
}

func newScheduler(t *testing.T, cfg Config, fire Fire) *Scheduler {
	t.Helper()
	s, err := New(cfg, fire, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantStats(t *testing.T, got Stats, kind string, want KindStats) {
	t.Helper()
	if got[kind] != want {
		t.Errorf("Stats[%s] = %+v, want %+v", kind, got[kind], want)
	}
}

func TestFiresAtCadence(t *testing.T) {
	t.Parallel()
	var r recorder
	w := alignSecond()
	s := newScheduler(t, Config{Entries: []Entry{{Kind: "kill", Spec: "@every 1s"}}}, r.fire)
	stop, _ := startRun(t, s)
	time.Sleep(100 * time.Millisecond)
	up := s.Upcoming(3)
	if len(up) != 3 {
		t.Errorf("Upcoming(3) = %v", up)
	}
	for i, p := range up {
		if want := w.Add(time.Duration(i+1) * time.Second); p.Kind != "kill" || !p.At.Equal(want) {
			t.Errorf("Upcoming[%d] = %v, want kill at %s", i, p, want)
		}
	}
	time.Sleep(time.Until(w.Add(2500 * time.Millisecond)))
	stop()

	calls, _, _ := r.snapshot()
	if len(calls) != 2 {
		t.Fatalf("%d calls in 2.5 s of @every 1s, want 2: %v", len(calls), calls)
	}
	for i, c := range calls {
		want := w.Add(time.Duration(i+1) * time.Second)
		if c.kind != "kill" || !c.scheduled.Equal(want) {
			t.Errorf("call %d: %s scheduled %s, want kill at %s", i, c.kind, c.scheduled, want)
		}
		if late := c.start.Sub(c.scheduled); late < 0 || late > slack {
			t.Errorf("call %d started %s after its time, want within [0, %s]", i, late, slack)
		}
	}
	wantStats(t, s.Stats(), "kill", KindStats{Fired: 2})
	if up := s.Upcoming(3); up != nil {
		t.Errorf("Upcoming after Run = %v, want none", up)
	}
}

func TestCronSpecsWithSecondsAndJitter(t *testing.T) {
	t.Parallel()
	const jitter = 600 * time.Millisecond
	var r recorder
	w := alignSecond()
	s := newScheduler(t, Config{Entries: []Entry{
		{Kind: "even", Spec: "*/2 * * * * *"},
		{Kind: "odd", Spec: "1-59/2 * * * * *", Jitter: jitter},
	}}, r.fire)
	var mu sync.Mutex
	drawn := map[int64]time.Duration{} // by Unix second
	s.jitter = func(max time.Duration) time.Duration {
		if max != jitter {
			t.Errorf("jitter drawn below %s, want below %s", max, jitter)
		}
		d := uniform(max)
		mu.Lock()
		drawn[time.Now().Unix()] = d
		mu.Unlock()
		return d
	}
	stop, _ := startRun(t, s)
	time.Sleep(time.Until(w.Add(3700 * time.Millisecond)))
	stop()

	calls, _, _ := r.snapshot()
	if len(calls) != 3 {
		t.Fatalf("%d calls in 3.7 s of one kind a second (jitter under 0.6 s), want 3: %v", len(calls), calls)
	}
	mu.Lock()
	defer mu.Unlock()
	odd := 0
	for i, c := range calls {
		if want := w.Add(time.Duration(i+1) * time.Second); !c.scheduled.Equal(want) {
			t.Errorf("call %d scheduled %s, want %s", i, c.scheduled, want)
		}
		late := c.start.Sub(c.scheduled)
		if c.scheduled.Second()%2 == 0 {
			if c.kind != "even" || late < 0 || late > slack {
				t.Errorf("call %d: %s at second %d started %s late", i, c.kind, c.scheduled.Second(), late)
			}
			continue
		}
		odd++
		d, ok := drawn[c.scheduled.Unix()]
		if c.kind != "odd" || !ok || late < d || late > d+slack || late >= jitter+slack {
			t.Errorf("call %d: %s at second %d started %s late; jitter drawn %s (%v), bound %s",
				i, c.kind, c.scheduled.Second(), late, d, ok, jitter)
		}
	}
	if len(drawn) != odd {
		t.Errorf("%d jitter draws for %d odd firings", len(drawn), odd)
	}
}

func TestStillRunningIsSkippedNotStacked(t *testing.T) {
	t.Parallel()
	r := recorder{hold: holdFor(1300 * time.Millisecond)}
	w := alignSecond()
	s := newScheduler(t, Config{Entries: []Entry{{Kind: "pause", Spec: "@every 1s"}}}, r.fire)
	stop, _ := startRun(t, s)
	time.Sleep(time.Until(w.Add(3500 * time.Millisecond)))
	stop()

	// W+1 fires and holds until W+2.3; W+2 is skipped; W+3 fires.
	calls, _, maxKind := r.snapshot()
	if maxKind != 1 {
		t.Errorf("%d calls of one kind ran at once, want 1", maxKind)
	}
	if len(calls) != 2 || !calls[0].scheduled.Equal(w.Add(time.Second)) || !calls[1].scheduled.Equal(w.Add(3*time.Second)) {
		t.Errorf("calls = %v, want at W+1s and W+3s (W = %s)", calls, w)
	}
	wantStats(t, s.Stats(), "pause", KindStats{Fired: 2, Skipped: Skips{StillRunning: 1}})
}

func TestOneFaultAtATimeAcrossKinds(t *testing.T) {
	t.Parallel()
	r := recorder{hold: holdFor(1500 * time.Millisecond)}
	w := alignSecond()
	s := newScheduler(t, Config{Entries: []Entry{
		{Kind: "kill", Spec: "@every 1s"},
		{Kind: "partition", Spec: "@every 1s"},
	}}, r.fire)
	stop, _ := startRun(t, s)
	time.Sleep(time.Until(w.Add(3500 * time.Millisecond)))
	stop()

	// W+1: one kind fires (until W+2.5), the other is busy. W+2: the first is still
	// running, the other busy. W+3: both free; one fires, the other is busy.
	calls, most, _ := r.snapshot()
	if most != 1 {
		t.Errorf("%d calls ran at once, want 1", most)
	}
	if len(calls) != 2 {
		t.Errorf("%d calls, want 2: %v", len(calls), calls)
	}
	total := s.Stats().Total()
	if want := (KindStats{Fired: 2, Skipped: Skips{Busy: 3, StillRunning: 1}}); total != want {
		t.Errorf("Stats().Total() = %+v, want %+v", total, want)
	}
}

func TestWarmupQuietCooldownAndEnd(t *testing.T) {
	t.Parallel()
	var r recorder
	w := alignSecond()
	start := time.Now()
	cfg := Config{
		Entries: []Entry{{Kind: "kill", Spec: "@every 1s"}},
		Quiet:   []Quiet{{Spec: "*/2 * * * * *", For: time.Second}}, // even seconds are quiet
		Start:   start, End: start.Add(4500 * time.Millisecond),
		Warmup: 1500 * time.Millisecond, Cooldown: time.Second,
	}
	s := newScheduler(t, cfg, r.fire)
	stop, done := startRun(t, s)
	select { // Run ends by itself at End
	case <-done:
	case <-time.After(time.Until(cfg.End.Add(time.Second))):
		t.Fatal("Run did not return within 1s of End")
	}
	if time.Now().Before(cfg.End) {
		t.Errorf("Run returned before End")
	}
	stop()

	// W+1 is in the warmup (until W+1.52); of W+2 and W+3 the even one is quiet and
	// the odd one fires; W+4 is in the cooldown (from W+3.52).
	calls, _, _ := r.snapshot()
	if len(calls) != 1 {
		t.Fatalf("calls = %v, want one (W = %s)", calls, w)
	}
	c := calls[0]
	if c.scheduled.Second()%2 != 1 || c.scheduled.Before(w.Add(2*time.Second)) || c.scheduled.After(w.Add(3*time.Second)) {
		t.Errorf("fired at %s, want the odd one of W+2s and W+3s (W = %s)", c.scheduled, w)
	}
	// Fire must be over by the next quiet window or the cooldown, whichever is first.
	want := c.scheduled.Add(time.Second)
	if cool := cfg.End.Add(-cfg.Cooldown); cool.Before(want) {
		want = cool
	}
	if !c.deadline.Equal(want) {
		t.Errorf("Fire's context ends %s, want %s", c.deadline, want)
	}
	wantStats(t, s.Stats(), "kill", KindStats{Fired: 1, Skipped: Skips{Warmup: 1, Quiet: 1, Cooldown: 1}})
	if q, why := s.InQuiet(cfg.End); !q || why != "ended" {
		t.Errorf("InQuiet(End) = %v %q", q, why)
	}
}

func TestRunWaitsForTheFireInProgress(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var healed time.Time
	var once sync.Once
	fire := func(ctx context.Context, kind string, _ time.Time) error {
		once.Do(func() { close(started) })
		<-ctx.Done()                       // hold the fault until told to stop
		time.Sleep(300 * time.Millisecond) // heal, as on context.WithoutCancel
		healed = time.Now()
		return errors.New("cut short")
	}
	alignSecond()
	s := newScheduler(t, Config{Entries: []Entry{{Kind: "pause", Spec: "@every 1s"}}}, fire)
	stop, _ := startRun(t, s)
	select {
	case <-started:
	case <-time.After(3 * time.Second):
		t.Fatal("no fire within 3s")
	}
	returned := stop()
	if healed.IsZero() || returned.Before(healed) {
		t.Errorf("Run returned at %s, before the fire healed at %s", returned, healed)
	}
	wantStats(t, s.Stats(), "pause", KindStats{Fired: 1, Failed: 1})
}

func TestStopDuringJitterCountsEnded(t *testing.T) {
	t.Parallel()
	var r recorder
	w := alignSecond()
	s := newScheduler(t, Config{Entries: []Entry{{Kind: "kill", Spec: "@every 1s", Jitter: 900 * time.Millisecond}}}, r.fire)
	s.jitter = func(max time.Duration) time.Duration { return max - time.Millisecond }
	stop, _ := startRun(t, s)
	time.Sleep(time.Until(w.Add(1300 * time.Millisecond)))
	before := time.Now()
	if took := stop().Sub(before); took > 200*time.Millisecond {
		t.Errorf("Run took %s to return from a jitter delay, want it cut short", took)
	}
	if calls, _, _ := r.snapshot(); len(calls) != 0 {
		t.Errorf("calls = %v, want none", calls)
	}
	wantStats(t, s.Stats(), "kill", KindStats{Skipped: Skips{Ended: 1}})
}

func TestRunRunsOnce(t *testing.T) {
	t.Parallel()
	s := newScheduler(t, Config{Entries: []Entry{{Kind: "kill", Spec: "@hourly"}}}, nopFire)
	stop, _ := startRun(t, s)
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Run(ctx) // returns at once, not after the timeout
	if ctx.Err() != nil {
		t.Errorf("a second Run waited for its context")
	}
	stop()
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Config{}, nil, nil); err == nil {
		t.Error("New with a nil fire: err = nil")
	}
	if _, err := New(Config{Entries: []Entry{{Kind: "kill", Spec: "61 * * * *"}}}, nopFire, nil); err == nil {
		t.Error("New with a bad spec: err = nil")
	}
}
