package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
)

// buckets cuts the history into v.bucket wide buckets, aligned on the bucket (UTC).
func (v *view) buckets() (time.Time, int) {
	b0 := v.ax.from.UTC().Truncate(v.bucket)
	n := int(v.ax.to.Sub(b0)/v.bucket) + 1
	return b0, n
}

func (v *view) bucketOf(b0 time.Time, t time.Time, n int) int {
	return min(n-1, max(0, int(t.Sub(b0)/v.bucket)))
}

// bands shades the fault windows (merged at the pixel, whatever pod they hit) and
// the dependency outages from top to bottom of a chart.
func (v *view) bands(s *svgw, top, bottom float64, hatch string) {
	d := v.d
	var x0, x1 float64
	n := 0
	var first, last time.Time
	var held time.Duration // time under fault within the merged band
	flush := func() {
		if n > 0 {
			tip := fmt.Sprintf("fault window: %s", spanText(first, last))
			style := ""
			if n > 1 {
				cover := float64(held) / float64(max(last.Sub(first), 1))
				tip = fmt.Sprintf("%d fault windows: %s, under fault %.0f%% of it", n, spanText(first, last), 100*min(1, cover))
				style = fmt.Sprintf(` style="fill-opacity:%.2f"`, 0.05+0.2*min(1, cover))
			}
			s.el(`<rect class="fault-band"%s x="%s" y="%s" width="%s" height="%s">%s</rect>`, style, f1(x0), f1(top), f1(math.Max(1.5, x1-x0)), f1(bottom-top), title(tip))
		}
	}
	for _, f := range d.Faults {
		if f.Injected.IsZero() {
			continue
		}
		end := nonZero(f.Healed, d.To)
		a, b := v.ax.x(f.Injected), v.ax.x(end)
		if n > 0 && a <= x1+3 { // a shade, not a record: merged at a few pixels
			x1 = math.Max(x1, b)
			if more := end.Sub(maxT(f.Injected, last)); more > 0 {
				held += more
			}
			last = maxT(last, end)
			n++
			continue
		}
		flush()
		x0, x1, n, first, last, held = a, b, 1, f.Injected, end, end.Sub(f.Injected)
	}
	flush()
	for _, o := range d.Outages {
		a, b := v.ax.x(o.From), v.ax.x(nonZero(o.To, d.To))
		s.el(`<rect class="outage" data-dep="%s" x="%s" y="%s" width="%s" height="%s" fill="url(#%s)">%s</rect>`, esc(o.Name), f1(a), f1(top), f1(math.Max(1.5, b-a)), f1(bottom-top), hatch,
			title(fmt.Sprintf("%s unreachable from chaosd: %s", o.Name, spanText(o.From, o.To))))
	}
	for _, m := range v.markers {
		if m.kind == "violation" && !m.finding.At.IsZero() {
			x := v.ax.x(m.finding.At)
			s.el(`<line class="violation-faint" x1="%s" x2="%[1]s" y1="%s" y2="%s"/>`, f1(x), f1(top), f1(bottom))
		}
	}
}

// podColors tell the pods apart in the latency chart (the legend's .sw.p0…p7).
var podColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"}

// quantile is the q-quantile of sorted ls (nearest rank).
func quantile(ls []time.Duration, q float64) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(ls)))) - 1
	return ls[min(len(ls)-1, max(0, i))]
}

// latencySVG plots each finished run's latency (start to the first finish a
// watcher saw) at its start, with the p50, p95 and max of each bucket as lines; the
// runs never seen finishing are crosses in the band above the plot.
func (v *view) latencySVG() (template.HTML, int) {
	d := v.d
	const top, bottom = 34.0, 236.0
	height := bottom + 30
	s := &svgw{}
	fmt.Fprintf(s, `<svg id="latency-svg" class="chart latency" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="run latency over time">`,
		svgW, height, svgW, height)
	defs(s, "lt")
	var maxLat time.Duration
	for _, r := range d.Runs {
		maxLat = max(maxLat, r.Latency)
	}
	step, ceil := durTicks(maxLat, 5)
	y := func(l time.Duration) float64 { return bottom - (bottom-top)*float64(l)/float64(ceil) }
	s.el(`<rect class="plot-bg" x="%s" y="%s" width="%s" height="%s"/>`, f1(plotL), f1(top), f1(plotW), f1(bottom-top))
	v.bands(s, top, bottom, "lt-hatch")
	s.el(`<g class="axis y-axis">`)
	for l := time.Duration(0); l <= ceil; l += step {
		s.el(`<line class="grid" x1="%s" x2="%s" y1="%s" y2="%[3]s"/>`, f1(plotL), f1(plotR), f1(y(l)))
		s.el(`<text class="tick-label" x="%s" y="%s" text-anchor="end">%s</text>`, f1(plotL-6), f1(y(l)+4), fmtDur(l))
	}
	s.el(`<text class="axis-title" transform="translate(18 %s) rotate(-90)" text-anchor="middle">latency</text>`, f1((top+bottom)/2))
	s.el(`<text class="axis-title" x="%s" y="17" text-anchor="end">unfinished ×</text>`, f1(plotL-6))
	s.WriteString(`</g>`)
	v.timeAxis(s, bottom, top)

	b0, nb := v.buckets()
	per := make([][]time.Duration, nb)
	lost := make([]int, nb)
	for _, r := range d.Runs {
		b := v.bucketOf(b0, r.Start, nb)
		if r.Latency > 0 {
			per[b] = append(per[b], r.Latency)
		} else {
			lost[b]++
		}
	}
	dots := v.detail && len(d.Runs) <= maxTitleRuns
	if dots {
		for _, r := range d.Runs {
			lane := v.lanes[r.Pod]
			if r.Latency > 0 {
				s.el(`<circle class="run" fill="%s" cx="%s" cy="%s" r="2.4">%s</circle>`, podColors[lane%len(podColors)], f1(v.ax.x(r.Start)), f1(y(r.Latency)),
					title(fmt.Sprintf("run %s on %s, started %s: finish seen after %s", r.ID, r.Pod, ms(r.Start), fmtDur(r.Latency))))
			} else {
				what := "never seen finishing"
				if r.Outcome == OutcomeFailed {
					what = "failed at " + ms(r.End)
				}
				s.el(`<text class="lost" x="%s" y="19" text-anchor="middle">×%s</text>`, f1(v.ax.x(r.Start)),
					title(fmt.Sprintf("run %s on %s, started %s: %s", r.ID, r.Pod, ms(r.Start), what)))
			}
		}
	} else {
		peak := slices.Max(lost)
		for b, n := range lost {
			if n == 0 {
				continue
			}
			t := b0.Add(time.Duration(b) * v.bucket)
			h := 4 + 12*float64(n)/float64(peak)
			s.el(`<rect class="lost-bar" x="%s" y="%s" width="%s" height="%s">%s</rect>`, f1(v.ax.x(t)), f1(24-h), f1(math.Max(1.5, v.ax.x(t.Add(v.bucket))-v.ax.x(t)-1)), f1(h),
				title(fmt.Sprintf("%s – %s: %d runs started then failed or never seen finishing", ms(t), ms(t.Add(v.bucket)), n)))
		}
	}
	// The quantiles of each bucket, as steps over the bucket; the max only when the
	// dots (which show it) are not drawn.
	qs := []struct {
		cls string
		q   float64
	}{{"q q50", 0.5}, {"q q95", 0.95}}
	if !dots {
		qs = append(qs, struct {
			cls string
			q   float64
		}{"q qmax", 1})
	}
	for _, ls := range per {
		slices.Sort(ls)
	}
	for _, q := range qs {
		var p strings.Builder
		for b, ls := range per {
			if len(ls) == 0 {
				continue
			}
			t := b0.Add(time.Duration(b) * v.bucket)
			fmt.Fprintf(&p, "M%s %sH%s", f1(v.ax.x(t)), f1(y(quantile(ls, q.q))), f1(v.ax.x(t.Add(v.bucket))))
		}
		if p.Len() > 0 {
			s.el(`<path class="%s" d="%s"/>`, q.cls, p.String())
		}
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), s.n
}

// throughputSVG plots, per bucket, the runs started and the runs whose finish was
// seen, as lines, and the runs that failed or were never seen finishing, as bars.
func (v *view) throughputSVG() (template.HTML, int) {
	d := v.d
	const top, bottom = 14.0, 156.0
	height := bottom + 30
	s := &svgw{}
	fmt.Fprintf(s, `<svg id="throughput-svg" class="chart throughput" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="throughput over time">`,
		svgW, height, svgW, height)
	defs(s, "th")
	b0, nb := v.buckets()
	started, done, bad := make([]int, nb), make([]int, nb), make([]int, nb)
	for _, r := range d.Runs {
		started[v.bucketOf(b0, r.Start, nb)]++
		switch r.Outcome {
		case OutcomeCompleted:
			done[v.bucketOf(b0, r.End, nb)]++
		case OutcomeFailed:
			bad[v.bucketOf(b0, r.End, nb)]++
		default:
			bad[v.bucketOf(b0, r.Start, nb)]++
		}
	}
	peak := 0
	for b := range nb {
		peak = max(peak, started[b], done[b], bad[b])
	}
	step, ceil := countTicks(float64(peak), 4)
	y := func(n float64) float64 { return bottom - (bottom-top)*n/ceil }
	s.el(`<rect class="plot-bg" x="%s" y="%s" width="%s" height="%s"/>`, f1(plotL), f1(top), f1(plotW), f1(bottom-top))
	v.bands(s, top, bottom, "th-hatch")
	s.el(`<g class="axis y-axis">`)
	for n := 0.0; n <= ceil+step/2; n += step {
		s.el(`<line class="grid" x1="%s" x2="%s" y1="%s" y2="%[3]s"/>`, f1(plotL), f1(plotR), f1(y(n)))
		s.el(`<text class="tick-label" x="%s" y="%s" text-anchor="end">%s</text>`, f1(plotL-6), f1(y(n)+4), fmtCount(n))
	}
	s.el(`<text class="axis-title" transform="translate(18 %s) rotate(-90)" text-anchor="middle">runs per %s</text>`, f1((top+bottom)/2), fmtDur(v.bucket))
	s.WriteString(`</g>`)
	v.timeAxis(s, bottom, top)
	for b, n := range bad {
		if n == 0 {
			continue
		}
		t := b0.Add(time.Duration(b) * v.bucket)
		x0, x1 := v.ax.x(t), v.ax.x(t.Add(v.bucket))
		s.el(`<rect class="thr-bad" x="%s" y="%s" width="%s" height="%s">%s</rect>`, f1(x0+0.5), f1(y(float64(n))), f1(math.Max(1.5, x1-x0-1)), f1(bottom-y(float64(n))),
			title(fmt.Sprintf("%s – %s: %d runs failed or never seen finishing", ms(t), ms(t.Add(v.bucket)), n)))
	}
	line := func(cls string, counts []int, what string) {
		var p strings.Builder
		for b, n := range counts {
			t := b0.Add(time.Duration(b) * v.bucket)
			x0, x1 := v.ax.x(t), v.ax.x(t.Add(v.bucket))
			cmd := "L"
			if b == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&p, "%s%s %sL%s %[3]s", cmd, f1(x0), f1(y(float64(n))), f1(x1))
		}
		s.el(`<path class="%s" d="%s">%s</path>`, cls, p.String(), title(what))
	}
	line("thr-started", started, "runs started per "+fmtDur(v.bucket))
	line("thr-done", done, "runs whose finish a watcher saw, per "+fmtDur(v.bucket))
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), s.n
}
