package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Horizontal geometry shared by every chart of the page, so that their time axes
// line up one under the other.
const (
	svgW  = 1200.0
	plotL = 112.0 // lane labels and y ticks are left of it
	plotR = 1186.0
	plotW = plotR - plotL
)

// xaxis maps the history's time span onto [plotL, plotR].
type xaxis struct {
	from, to time.Time
}

func newXAxis(from, to time.Time) xaxis {
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	return xaxis{from, to}
}

func (a xaxis) span() time.Duration { return a.to.Sub(a.from) }

// x is t's position, clamped to the plot.
func (a xaxis) x(t time.Time) float64 {
	f := float64(t.Sub(a.from)) / float64(a.span())
	return plotL + plotW*math.Min(1, math.Max(0, f))
}

// px is how much time one unit of x stands for.
func (a xaxis) px() time.Duration { return time.Duration(float64(a.span()) / plotW) }

// tickSteps are the round steps of a time axis.
var tickSteps = []time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// niceStep is the smallest round step that cuts span into at most n pieces.
func niceStep(span time.Duration, n int) time.Duration {
	n = max(n, 1)
	for _, s := range tickSteps {
		if span/s <= time.Duration(n) {
			return s
		}
	}
	day := 24 * time.Hour
	return day * time.Duration(math.Ceil(float64(span)/float64(day)/float64(n)))
}

// timeTicks are the multiples of step (UTC) within [from, to].
func timeTicks(from, to time.Time, step time.Duration) []time.Time {
	var out []time.Time
	t := from.UTC().Truncate(step)
	if t.Before(from) {
		t = t.Add(step)
	}
	for ; !t.After(to); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

// tickLabel is a UTC clock label precise enough for ticks step apart.
func tickLabel(t time.Time, step time.Duration) string {
	t = t.UTC()
	switch {
	case step < time.Second:
		return t.Format("15:04:05.0")
	case step < time.Minute:
		return t.Format("15:04:05")
	case step < 24*time.Hour:
		return t.Format("15:04")
	}
	return t.Format("Jan 2")
}

// durSteps are the round steps of a latency axis.
var durSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
}

// durTicks returns a round step and the top of an axis from 0 that holds maxV in
// about n steps.
func durTicks(maxV time.Duration, n int) (step, top time.Duration) {
	maxV = max(maxV, time.Millisecond)
	step = durSteps[len(durSteps)-1]
	for _, s := range durSteps {
		if maxV/s < time.Duration(n) || maxV == s*time.Duration(n) {
			step = s
			break
		}
	}
	for maxV/step >= time.Duration(3*n) { // past the table: an hour and more
		step *= 2
	}
	top = step * ((maxV + step - 1) / step)
	return step, top
}

// countTicks is durTicks for counts: a step of 1, 2 or 5 times a power of ten.
func countTicks(maxV float64, n int) (step, top float64) {
	maxV = math.Max(maxV, 1)
	raw := maxV / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = mag * 10
	for _, m := range []float64{1, 2, 5, 10} {
		if mag*m >= raw {
			step = mag * m
			break
		}
	}
	step = math.Max(step, 1)
	return step, step * math.Ceil(maxV/step)
}

// fmtDur is a short duration label: 0, 250ms, 2.5s, 1m30s, 2h.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		s := strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
		return strings.TrimSuffix(strings.TrimRight(s, "0"), ".") + "s"
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// fmtCount is a count label without needless decimals.
func fmtCount(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// ms is t as a UTC clock with milliseconds; "-" for the zero time.
func ms(t time.Time) string { return clock(t) }

// span is "from – to (duration)", or "from – (still at the end)".
func spanText(from, to time.Time) string {
	if to.IsZero() {
		return fmt.Sprintf("%s – end of history", ms(from))
	}
	return fmt.Sprintf("%s – %s (%s)", ms(from), ms(to), fmtDur(to.Sub(from)))
}
