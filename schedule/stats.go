package schedule

// Stats counts, per fault kind, what became of its firings.
type Stats map[string]KindStats

// KindStats counts the firings of one kind.
type KindStats struct {
	Fired   int   // Fire was called
	Failed  int   // of those, Fire returned an error
	Skipped Skips // firings that did not call Fire, by reason
}

// Skips counts skipped firings by reason.
type Skips struct {
	StillRunning int // the same kind was still waiting out its jitter or firing
	Busy         int // another kind was firing
	Quiet        int // in a quiet window
	Warmup       int
	Cooldown     int
	Ended        int // at or after End, or stopped while waiting out the jitter
}

// Total is the number of skipped firings.
func (s Skips) Total() int {
	return s.StillRunning + s.Busy + s.Quiet + s.Warmup + s.Cooldown + s.Ended
}

func (s *Skips) add(r Reason) {
	switch r {
	case ReasonStillRunning:
		s.StillRunning++
	case ReasonBusy:
		s.Busy++
	case ReasonQuiet:
		s.Quiet++
	case ReasonWarmup:
		s.Warmup++
	case ReasonCooldown:
		s.Cooldown++
	case ReasonEnded:
		s.Ended++
	}
}

// Total sums the counts of all kinds.
func (s Stats) Total() KindStats {
	var t KindStats
	for _, k := range s {
		t.Fired += k.Fired
		t.Failed += k.Failed
		t.Skipped.StillRunning += k.Skipped.StillRunning
		t.Skipped.Busy += k.Skipped.Busy
		t.Skipped.Quiet += k.Skipped.Quiet
		t.Skipped.Warmup += k.Skipped.Warmup
		t.Skipped.Cooldown += k.Skipped.Cooldown
		t.Skipped.Ended += k.Skipped.Ended
	}
	return t
}
