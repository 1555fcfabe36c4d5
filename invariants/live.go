package invariants

import (
	"sync"

	"github.com/chaosd/chaosd/history"
)

// Appender is what writes events to a history (history.Writer is one).
type Appender interface {
	Append(history.Event) (history.Event, error)
}

// Live checks a history while it is written: Append writes each event through the
// Appender and feeds the event as written (numbered and stamped) to an Engine, in
// file order. It is safe for concurrent use and can stand wherever a
// history.Writer's Append is used.
type Live struct {
	mu      sync.Mutex
	out     Appender
	g       *Engine
	onEvent func(*history.Event)
}

// NewLive checks what goes through out with params p.
func NewLive(out Appender, p Params) *Live { return &Live{out: out, g: NewEngine(p)} }

// LiveOptions are the hooks of a Live.
type LiveOptions struct {
	// OnFinding is the Engine's hook: every violation and unknown window as found.
	// It is called with Live's lock held: it must not block or call back into Live.
	OnFinding func(invariant string, st Status, f Finding)
	// OnEvent sees every event as written, after the checkers (e.g. metrics). Same
	// rules as OnFinding.
	OnEvent func(e *history.Event)
}

// NewLiveWith is NewLive with hooks.
func NewLiveWith(out Appender, p Params, o LiveOptions) *Live {
	g := NewEngine(p)
	g.OnFinding = o.OnFinding
	return &Live{out: out, g: g, onEvent: o.OnEvent}
}

// Counts returns every invariant's counts so far.
func (l *Live) Counts() []Count {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Counts()
}

// Outage says whether a dependency outage is open, and which.
func (l *Live) Outage() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Outage()
}

// Append writes e and checks it. An event the Appender refused is not checked.
func (l *Live) Append(e history.Event) (history.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, err := l.out.Append(e)
	if err != nil {
		return e, err
	}
	l.g.Observe(&e)
	if l.onEvent != nil {
		l.onEvent(&e)
	}
	return e, nil
}

// Finish ends the checking and returns the report. Write the history's end line
// first, so that teardown events are not judged.
func (l *Live) Finish() Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.g.Finish()
}
