package mockai

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of the seed mock and of the hint bounds.
const (
	DefaultChunks    = 5
	DefaultDelay     = 50 * time.Millisecond
	DefaultMaxChunks = 100000
	DefaultMaxDelay  = 10 * time.Minute
)

// FaultKind names a provider fault that a hint asks for.
type FaultKind uint8

// The fault kinds, in the order of precedence when a message holds several.
const (
	FaultNone  FaultKind = iota
	FaultFail            // fail:CODE, an HTTP error with an OpenAI error body
	FaultCut             // cut:K, the connection is closed after content chunk K
	FaultStall           // stall:K or stall:KxMS, nothing more is sent after chunk K
)

func (k FaultKind) String() string {
	switch k {
	case FaultFail:
		return "fail"
	case FaultCut:
		return "cut"
	case FaultStall:
		return "stall"
	}
	return "none"
}

// Fault is the provider fault of a plan.
type Fault struct {
	Kind   FaultKind
	Status int           // FaultFail: the HTTP status, 400-599
	After  int           // FaultCut, FaultStall: content chunks sent before the fault (at most Plan.Chunks)
	Hold   time.Duration // FaultStall: how long to hold the silent connection; 0 = the server's MaxStall
}

// Plan is what a request's hints ask for: Chunks content chunks, Delay apart, then the
// finish frame, unless Fault says otherwise.
type Plan struct {
	Chunks int
	Delay  time.Duration
	Fault  Fault
}

// Last is the number of content chunks the stream sends before it ends or faults.
func (p Plan) Last() int {
	if p.Fault.Kind == FaultCut || p.Fault.Kind == FaultStall {
		return p.Fault.After
	}
	return p.Chunks
}

// Limits bounds the hint values; a hint over a bound is an error, not clamped.
type Limits struct {
	MaxChunks int           // most content chunks (slow:N, many:N, cut:K, stall:K); 0 = DefaultMaxChunks
	MaxDelay  time.Duration // longest delay (slow:NxMS, stall:KxMS); 0 = DefaultMaxDelay
}

func (l Limits) withDefaults() Limits {
	if l.MaxChunks <= 0 {
		l.MaxChunks = DefaultMaxChunks
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = DefaultMaxDelay
	}
	return l
}

// ErrHintBound is wrapped by every HintError.
var ErrHintBound = errors.New("hint value out of bounds")

// HintError names a hint whose value is out of its bounds.
type HintError struct {
	Hint  string // the hint as written, e.g. "slow:200001x5"
	What  string // what is out of bounds, e.g. "chunk count"
	Value string // the value as written
	Bound string // the bound, e.g. "at most 100000"
}

func (e *HintError) Error() string {
	return fmt.Sprintf("hint %q: %s %s is out of bounds (%s)", e.Hint, e.What, e.Value, e.Bound)
}

// Unwrap makes errors.Is(err, ErrHintBound) true.
func (e *HintError) Unwrap() error { return ErrHintBound }

// ParseHints reads the hints in the text of the last user message. Like the seed mock,
// a hint matches anywhere in the text and the first match of each kind counts:
//
//	slow:NxMS     N content chunks, MS milliseconds apart (checked first; N at least 1)
//	many:N        N content chunks, 50 ms apart (N at least 1, so many:0 gives 1 chunk)
//	(neither)     5 content chunks, 50 ms apart
//	fail:CODE     answer with HTTP CODE (400-599) and an OpenAI error body, no stream
//	cut:K         send K content chunks (at most N), then close the connection: no
//	              finish frame, no [DONE]
//	stall:K       send K content chunks (at most N), then send nothing more and hold the
//	              connection until the client leaves or the server's stall bound passes,
//	              then close it
//	stall:KxMS    the same, holding MS milliseconds
//
// Only one fault applies; fail wins over cut, cut over stall. Only the hints that apply
// are checked against lim; a value over its bound is a *HintError.
func ParseHints(text string, lim Limits) (Plan, error) {
	lim = lim.withDefaults()
	p := Plan{Chunks: DefaultChunks, Delay: DefaultDelay}
	if h, ok := findHint(text, "slow:", needSecond); ok {
		n, err := h.count(h.a, "chunk count", lim.MaxChunks)
		if err != nil {
			return Plan{}, err
		}
		d, err := h.millis(h.b, "delay", lim.MaxDelay)
		if err != nil {
			return Plan{}, err
		}
		p.Chunks, p.Delay = max(n, 1), d
	} else if h, ok := findHint(text, "many:", noSecond); ok {
		n, err := h.count(h.a, "chunk count", lim.MaxChunks)
		if err != nil {
			return Plan{}, err
		}
		p.Chunks = max(n, 1)
	}
	f, err := parseFault(text, lim, p.Chunks)
	if err != nil {
		return Plan{}, err
	}
	p.Fault = f
	return p, nil
}

func parseFault(text string, lim Limits, chunks int) (Fault, error) {
	if h, ok := findHint(text, "fail:", noSecond); ok {
		code, err := h.count(h.a, "status", 599)
		if err != nil || code < 400 {
			return Fault{}, h.bound("status", h.a, "400-599")
		}
		return Fault{Kind: FaultFail, Status: code}, nil
	}
	if h, ok := findHint(text, "cut:", noSecond); ok {
		k, err := h.count(h.a, "chunk count", lim.MaxChunks)
		if err != nil {
			return Fault{}, err
		}
		return Fault{Kind: FaultCut, After: min(k, chunks)}, nil
	}
	if h, ok := findHint(text, "stall:", optionalSecond); ok {
		k, err := h.count(h.a, "chunk count", lim.MaxChunks)
		if err != nil {
			return Fault{}, err
		}
		f := Fault{Kind: FaultStall, After: min(k, chunks)}
		if h.b != "" {
			if f.Hold, err = h.millis(h.b, "hold", lim.MaxDelay); err != nil {
				return Fault{}, err
			}
		}
		return f, nil
	}
	return Fault{}, nil
}

// hint is one match: the whole text of it and its one or two digit runs.
type hint struct {
	text, a, b string
}

// How a hint's second number ("xDIGITS") is read.
const (
	noSecond       = iota // many:N, fail:CODE, cut:K
	optionalSecond        // stall:K or stall:KxMS
	needSecond            // slow:NxMS
)

// findHint finds the first occurrence of name followed by digits and, as second says,
// by "x" and more digits.
func findHint(text, name string, second int) (hint, bool) {
	for from := 0; ; {
		i := strings.Index(text[from:], name)
		if i < 0 {
			return hint{}, false
		}
		start := from + i
		rest := text[start+len(name):]
		a := digits(rest)
		if a != "" {
			h := hint{a: a}
			tail := rest[len(a):]
			if second != noSecond && len(tail) > 1 && tail[0] == 'x' {
				h.b = digits(tail[1:])
			}
			if second != needSecond || h.b != "" {
				end := start + len(name) + len(a)
				if h.b != "" {
					end += 1 + len(h.b)
				}
				h.text = text[start:end]
				return h, true
			}
		}
		from = start + 1
	}
}

func digits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// atoiCapped parses a digit run, saturating at limit+1 so that huge values cannot
// overflow.
func atoiCapped(s string, limit int64) int64 {
	var n int64
	for i := 0; i < len(s); i++ {
		n = n*10 + int64(s[i]-'0')
		if n > limit {
			return limit + 1
		}
	}
	return n
}

func (h hint) count(s, what string, bound int) (int, error) {
	n := atoiCapped(s, int64(bound))
	if n > int64(bound) {
		return 0, h.bound(what, s, fmt.Sprintf("at most %d", bound))
	}
	return int(n), nil
}

func (h hint) millis(s, what string, bound time.Duration) (time.Duration, error) {
	maxMS := bound.Milliseconds()
	n := atoiCapped(s, maxMS)
	if n > maxMS {
		return 0, h.bound(what+" in ms", s, fmt.Sprintf("at most %d ms (%s)", maxMS, bound))
	}
	return time.Duration(n) * time.Millisecond, nil
}

func (h hint) bound(what, value, bound string) *HintError {
	const maxShown = 40
	ht, v := h.text, value
	if len(ht) > maxShown {
		ht = ht[:maxShown] + "..."
	}
	if len(v) > maxShown {
		v = v[:maxShown] + "..."
	}
	return &HintError{Hint: ht, What: what, Value: v, Bound: bound}
}
