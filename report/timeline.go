package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
)

// Limits that keep the page light for a soak of hours: past them the timeline
// aggregates instead of drawing one element per thing.
const (
	// DetailRuns is the most runs drawn one bar each; past it each lane is a heat
	// strip of the runs in flight, with the failed and unfinished runs drawn one by
	// one (up to maxRunMarks).
	DetailRuns    = 2000
	maxRunMarks   = 1000 // failed or unfinished runs drawn one by one in an aggregated lane
	maxOwnerMarks = 600  // owner changes drawn one by one; past it, counted per lane and bucket
	maxFaultRects = 1500 // fault windows drawn one by one; past it, merged per pixel
	maxPodEvents  = 400  // container deaths and starts drawn; past it, none (the faults show them)
	maxTitleRuns  = 4000 // run dots in the latency chart (detail only)
	laneBuckets   = 270  // columns of an aggregated lane's heat strip
	maxRows       = 40   // rows of bars in one lane
)

// marker is one finding on the timeline, linked to its evidence block.
type marker struct {
	anchor  string // the id of its evidence block
	kind    string // "violation" or "unknown"
	inv     string
	finding invariants.Finding
}

// seg is a part of a run's bar on one lane: from its start, or an owner change, to
// the next owner change, or its decision.
type seg struct {
	run      *Run
	lane     int
	from, to time.Time
	row      int
	y        float64
}

// view is what the charts of a page share.
type view struct {
	d        *Data
	ax       xaxis
	lanes    map[string]int // pod -> lane
	detail   bool
	owners   map[string][]OwnerChange // run -> its owner changes
	markers  []marker
	violated map[string]bool // runs named by a violation
	bucket   time.Duration   // latency and throughput buckets
}

func newView(d *Data) *view {
	v := &view{d: d, ax: newXAxis(d.From, d.To), lanes: map[string]int{}, detail: len(d.Runs) <= DetailRuns,
		owners: map[string][]OwnerChange{}, violated: map[string]bool{}}
	for i, p := range d.Pods {
		v.lanes[p] = i
	}
	for _, c := range d.Owners {
		v.owners[c.Run] = append(v.owners[c.Run], c)
	}
	v.markers = markersOf(d.Verdicts)
	for _, m := range v.markers {
		if m.kind == "violation" && m.finding.Run != "" {
			v.violated[m.finding.Run] = true
		}
	}
	// Buckets of the latency quantiles and the throughput: about 8 runs each, at
	// most 120 of them.
	v.bucket = niceStep(v.ax.span(), min(120, max(4, len(d.Runs)/8)))
	if v.bucket < time.Second && v.ax.span() >= 10*time.Second {
		v.bucket = time.Second
	}
	return v
}

// pod is the name of lane i ("" when the history names no pod).
func (v *view) pod(i int) string {
	if i < len(v.d.Pods) {
		return v.d.Pods[i]
	}
	return ""
}

// markersOf lists every finding kept as evidence (violations) or as an unobserved
// window (unknowns), each with the anchor of its block in the diagnoses.
func markersOf(r invariants.Report) []marker {
	var out []marker
	used := map[string]bool{}
	for _, v := range r.Verdicts {
		base := "evidence-" + slug(v.Name)
		for used[base+"-v1"] || used[base+"-u1"] {
			base += "-x"
		}
		for i, f := range v.Evidence {
			id := fmt.Sprintf("%s-v%d", base, i+1)
			used[id] = true
			out = append(out, marker{anchor: id, kind: "violation", inv: v.Name, finding: f})
		}
		for i, f := range v.Unobserved {
			id := fmt.Sprintf("%s-u%d", base, i+1)
			used[id] = true
			out = append(out, marker{anchor: id, kind: "unknown", inv: v.Name, finding: f})
		}
	}
	return out
}

// slug is s made safe for an id: lower-case letters, digits and dashes.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// svgw writes SVG and counts the elements it wrote.
type svgw struct {
	strings.Builder
	n int
}

// el writes one element (or the opening of one) and counts it.
func (s *svgw) el(format string, a ...any) {
	s.n++
	fmt.Fprintf(s, format, a...)
}

var esc = template.HTMLEscapeString

// title is an SVG <title> child: the hover text.
func title(s string) string { return "<title>" + esc(s) + "</title>" }

// defs are the patterns and markers the charts share (each chart carries its own
// copy, with ids prefixed, so that every SVG stands alone).
func defs(s *svgw, p string) {
	s.el(`<defs><pattern id="%[1]s-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eceff3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9aa3ad" stroke-width="2"/></pattern>`+
		`<pattern id="%[1]s-never" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="5" height="5" fill="#fde7e7"/><line x1="0" y1="0" x2="0" y2="5" stroke="#d9534f" stroke-width="1.6"/></pattern>`+
		`<marker id="%[1]s-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#6a1b9a"/></marker></defs>`, p)
}

// timeAxis draws the ticks, labels and grid lines of the time axis at y (grid from
// gridTop), and returns the height it used below y.
func (v *view) timeAxis(s *svgw, y, gridTop float64) {
	step := niceStep(v.ax.span(), int(plotW)/95)
	s.el(`<g class="axis x-axis">`)
	for _, t := range timeTicks(v.ax.from, v.ax.to, step) {
		x := v.ax.x(t)
		s.el(`<line class="grid" x1="%s" x2="%[1]s" y1="%s" y2="%s"/>`, f1(x), f1(gridTop), f1(y))
		s.el(`<line class="tick" x1="%s" x2="%[1]s" y1="%s" y2="%s"/>`, f1(x), f1(y), f1(y+5))
		anchor := "middle"
		switch {
		case x-plotL < 28:
			anchor = "start"
		case plotR-x < 28:
			anchor = "end"
		}
		s.el(`<text class="tick-label" x="%s" y="%s" text-anchor="%s">%s</text>`, f1(x), f1(y+17), anchor, tickLabel(t, step))
	}
	s.el(`<line class="baseline" x1="%s" x2="%s" y1="%s" y2="%[3]s"/>`, f1(plotL), f1(plotR), f1(y))
	s.el(`<text class="axis-title" x="%s" y="%s" text-anchor="end">UTC</text>`, f1(plotL-8), f1(y+17))
	s.WriteString(`</g>`)
}

// segments cuts each run's bar at its owner changes, one part per lane.
func (v *view) segments(runs []Run) []seg {
	var out []seg
	for i := range runs {
		r := &runs[i]
		end := r.End
		if end.IsZero() {
			end = v.d.To
		}
		lane, ok := v.lanes[r.Pod]
		if !ok {
			lane = 0
		}
		from := r.Start
		for _, c := range v.owners[r.ID] {
			if c.At.Before(from) || !c.At.Before(end) {
				continue
			}
			out = append(out, seg{run: r, lane: lane, from: from, to: c.At})
			lane, from = v.lanes[c.To], c.At
		}
		out = append(out, seg{run: r, lane: lane, from: from, to: end})
	}
	return out
}

// stack puts each lane's parts of bars into rows so that none overlaps another, and
// returns the rows each lane needs.
func (v *view) stack(segs []seg) []int {
	rows := make([]int, max(1, len(v.d.Pods)))
	ends := make([][]time.Time, len(rows))
	gap := 2 * v.ax.px()
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return segs[order[a]].from.Before(segs[order[b]].from) })
	for _, i := range order {
		sg := &segs[i]
		e := ends[sg.lane]
		row := -1
		for k, end := range e {
			if !sg.from.Before(end.Add(gap)) {
				row = k
				break
			}
		}
		if row < 0 && len(e) < maxRows {
			e = append(e, time.Time{})
			row = len(e) - 1
		}
		if row < 0 { // every row taken: the one that frees first
			row = 0
			for k := range e {
				if e[k].Before(e[row]) {
					row = k
				}
			}
		}
		if sg.to.After(e[row]) {
			e[row] = sg.to
		}
		ends[sg.lane] = e
		sg.row = row
	}
	for i := range rows {
		rows[i] = max(1, len(ends[i]))
	}
	return rows
}

// laneGeom is where one lane is drawn.
type laneGeom struct {
	top, h     float64 // the lane's box
	rowH, barH float64
}

const (
	lanesTop  = 34.0 // room for the marker heads and outage labels above the lanes
	lanePadT  = 8.0
	lanePadB  = 9.0
	aggInnerH = 40.0
)

// runTitle is a run's hover text: where it ran, its owners, what each watcher saw.
func (v *view) runTitle(r *Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s on %s, started %s", r.ID, r.Pod, ms(r.Start))
	switch r.Outcome {
	case OutcomeCompleted:
		fmt.Fprintf(&b, "\nfinish seen after %s (%s)", fmtDur(r.Latency), ms(r.End))
	case OutcomeFailed:
		fmt.Fprintf(&b, "\nFAILED at %s", ms(r.End))
	default:
		b.WriteString("\nNEVER seen finishing")
	}
	if r.Err != "" {
		fmt.Fprintf(&b, ": %s", clip(r.Err, 160))
	}
	if r.Status != "" {
		fmt.Fprintf(&b, "\nthread status at the last reading: %s", r.Status)
	}
	for _, c := range v.owners[r.ID] {
		fmt.Fprintf(&b, "\nowner %s → %s at %s", c.From, c.To, ms(c.At))
	}
	if len(r.Watchers) == 0 {
		b.WriteString("\nno watcher reported")
	}
	for _, w := range r.Watchers {
		fmt.Fprintf(&b, "\nwatcher %s on %s", w.ID, w.Pod)
		if w.Late {
			fmt.Fprintf(&b, " (late, k=%d)", w.K)
		}
		fmt.Fprintf(&b, ": %d chunks", w.Chunks)
		if w.Restarts > 0 {
			fmt.Fprintf(&b, ", %d restarts", w.Restarts)
		}
		if w.Foreign > 0 {
			fmt.Fprintf(&b, ", %d foreign deltas", w.Foreign)
		}
		switch {
		case w.Finished:
			b.WriteString(", finished")
		case w.Err != "":
			fmt.Fprintf(&b, ", ended: %s", clip(w.Err, 120))
		default:
			b.WriteString(", no finish")
		}
		fmt.Fprintf(&b, " (%s)", ms(w.At))
	}
	if v.violated[r.ID] {
		b.WriteString("\nnamed by a violation (see the diagnoses)")
	}
	return b.String()
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// watchersMissed is how many watchers ended without the finish.
func watchersMissed(r *Run) int {
	n := 0
	for _, w := range r.Watchers {
		if !w.Finished {
			n++
		}
	}
	return n
}

// lanesSVG draws the timeline: one lane per pod, the runs' bars on the lane of the
// pod that owned them, owner changes, fault windows on the pod they hit, pods not
// ready and their container deaths and starts, dependency outages across every lane,
// and the findings as markers linked to their evidence.
func (v *view) lanesSVG() (template.HTML, int) {
	d := v.d
	s := &svgw{}
	nl := max(1, len(d.Pods))
	segs := v.segments(d.Runs)
	rows := make([]int, nl)
	if v.detail {
		rows = v.stack(segs)
	}
	geo := make([]laneGeom, nl)
	y := lanesTop
	for i := range geo {
		g := &geo[i]
		if v.detail {
			g.rowH = math.Min(11, math.Max(3, 170/float64(rows[i])))
			g.barH = math.Max(2, g.rowH-math.Min(3, g.rowH*0.3))
			g.h = math.Max(46, float64(rows[i])*g.rowH+lanePadT+lanePadB)
		} else {
			g.h = aggInnerH + lanePadT + lanePadB
		}
		g.top = y
		y += g.h
	}
	bottom := y
	height := bottom + 30
	fmt.Fprintf(s, `<svg id="timeline-svg" class="chart timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="timeline: one lane per pod">`,
		svgW, height, svgW, height)
	defs(s, "tl")
	// Lane backgrounds, then the grid, outages and faults under the bars.
	for i, g := range geo {
		s.el(`<rect class="lane-bg%s" data-pod="%s" x="0" y="%s" width="%.0f" height="%s"/>`, map[bool]string{true: " alt", false: ""}[i%2 == 1], esc(v.pod(i)), f1(g.top), svgW, f1(g.h))
	}
	v.timeAxis(s, bottom, lanesTop-4)
	for _, o := range d.Outages {
		end := o.To
		if end.IsZero() {
			end = d.To
		}
		x0, x1 := v.ax.x(o.From), v.ax.x(end)
		s.el(`<rect class="outage" data-dep="%s" x="%s" y="%s" width="%s" height="%s" fill="url(#tl-hatch)">%s</rect>`, esc(o.Name), f1(x0), f1(lanesTop-14), f1(math.Max(1.5, x1-x0)), f1(bottom-lanesTop+14),
			title(fmt.Sprintf("%s unreachable from chaosd: %s\n%s", o.Name, spanText(o.From, o.To), clip(o.Err, 200))))
		if x1-x0 > 40 {
			s.el(`<text class="outage-label" x="%s" y="%s">%s down</text>`, f1(x0+3), f1(lanesTop-4), esc(o.Name))
		}
	}
	if v.detail {
		v.faultRects(s, geo, bottom) // under the bars
	}
	for i, p := range d.Pods {
		g := geo[i]
		s.el(`<g class="lane" data-pod="%s">`, esc(p))
		v.notReady(s, p, g)
		if v.detail {
			v.bars(s, segs, i, g)
		} else {
			v.heatStrip(s, segs, i, g)
		}
		v.podEvents(s, p, g)
		n := 0
		for _, r := range d.Runs {
			if r.Pod == p {
				n++
			}
		}
		s.el(`<text class="lane-label" x="10" y="%s">%s</text>`, f1(g.top+20), esc(clip(p, 14)))
		s.el(`<text class="lane-sub" x="10" y="%s">%d runs started</text>`, f1(g.top+34), n)
		s.WriteString(`</g>`)
	}
	if v.detail {
		v.ownerArrows(s, segs, geo)
	} else {
		v.faultRects(s, geo, bottom) // over the heat strips, which are opaque
		v.ownerCounts(s, geo)
	}
	v.findingMarks(s, geo, bottom)
	s.WriteString(`</svg>`)
	return template.HTML(s.String()), s.n
}

// laneSpan is the vertical extent of the lane of pod, or of every lane when pod
// is not one of them (a rollout's "all", or a pod the history does not name).
func (v *view) laneSpan(pod string, geo []laneGeom, bottom float64) (float64, float64, bool) {
	if i, ok := v.lanes[pod]; ok && i < len(geo) {
		return geo[i].top, geo[i].h, true
	}
	return lanesTop, bottom - lanesTop, false
}

// faultRects draws each fault's window on the lane of the pod it hit; past
// maxFaultRects, overlapping windows of a lane are merged at the pixel.
func (v *view) faultRects(s *svgw, geo []laneGeom, bottom float64) {
	d := v.d
	var fs []Fault
	for _, f := range d.Faults {
		if !f.Injected.IsZero() {
			fs = append(fs, f)
		}
	}
	type win struct {
		pod, kind    string
		x0, x1       float64
		n            int
		first, last  Fault
		kinds        map[string]int
		open, merged bool
	}
	var wins []*win
	merge := len(fs) > maxFaultRects
	byPod := map[string]*win{}
	for _, f := range fs {
		end := f.Healed
		x0, x1 := v.ax.x(f.Injected), v.ax.x(nonZero(end, d.To))
		lanePod := f.Pod
		if _, ok := v.lanes[lanePod]; !ok {
			lanePod = ""
		}
		if w := byPod[lanePod]; merge && w != nil && x0 <= w.x1+1 {
			w.x1 = math.Max(w.x1, x1)
			w.n++
			w.kinds[f.Kind]++
			w.last, w.merged = f, true
			continue
		}
		w := &win{pod: lanePod, kind: f.Kind, x0: x0, x1: x1, n: 1, first: f, last: f, kinds: map[string]int{f.Kind: 1}, open: end.IsZero()}
		byPod[lanePod] = w
		wins = append(wins, w)
	}
	labels := len(wins) <= 300
	for _, w := range wins {
		top, h, _ := v.laneSpan(w.pod, geo, bottom)
		f := w.first
		var tip string
		if w.merged {
			var ks []string
			for k, n := range w.kinds {
				ks = append(ks, fmt.Sprintf("%d %s", n, k))
			}
			sort.Strings(ks)
			tip = fmt.Sprintf("%d faults on %s (%s): %s – %s", w.n, podOrAll(w.pod), strings.Join(ks, ", "), ms(w.first.Injected), ms(nonZero(w.last.Healed, d.To)))
		} else {
			tip = fmt.Sprintf("fault %s: %s on %s", f.ID, f.Kind, podOrAll(f.Pod))
			if f.Target != "" {
				tip += " (" + f.Target + ")"
			}
			tip += fmt.Sprintf("\n%s\n%s", spanText(f.Injected, f.Healed), f.Outcome)
		}
		s.el(`<rect class="fault" data-kind="%s" data-pod="%s"%s x="%s" y="%s" width="%s" height="%s">%s</rect>`, esc(w.kind), esc(podOrAll(w.pod)),
			map[bool]string{true: ` data-open="true"`, false: ""}[w.open], f1(w.x0), f1(top+1), f1(math.Max(2, w.x1-w.x0)), f1(h-2), title(tip))
		if labels && w.x1-w.x0 >= 22 {
			label := w.kind
			if w.pod == "" && f.Pod != "" && f.Pod != history.PeerAll {
				label += " " + f.Pod
			}
			s.el(`<text class="fault-label" x="%s" y="%s">%s</text>`, f1(w.x0+3), f1(top+h-3), esc(clip(label, 18)))
		}
	}
}

func podOrAll(p string) string {
	if p == "" {
		return "all pods"
	}
	return p
}

// notReady draws the windows in which the pod did not answer ready as a strip at
// the bottom of its lane (merged at the pixel).
func (v *view) notReady(s *svgw, pod string, g laneGeom) {
	type win struct {
		x0, x1   float64
		from, to time.Time
	}
	var cur *win
	flush := func() {
		if cur != nil {
			s.el(`<rect class="notready" x="%s" y="%s" width="%s" height="3">%s</rect>`, f1(cur.x0), f1(g.top+g.h-5), f1(math.Max(1.5, cur.x1-cur.x0)),
				title(fmt.Sprintf("%s not ready: %s", pod, spanText(cur.from, cur.to))))
		}
	}
	for _, w := range v.d.NotReady {
		if w.Pod != pod {
			continue
		}
		x0, x1 := v.ax.x(w.From), v.ax.x(nonZero(w.To, v.d.To))
		if cur != nil && x0 <= cur.x1+1 {
			cur.x1 = math.Max(cur.x1, x1)
			if w.To.IsZero() || cur.to.IsZero() {
				cur.to = time.Time{}
			} else {
				cur.to = maxT(cur.to, w.To)
			}
			continue
		}
		flush()
		cur = &win{x0, x1, w.From, w.To}
	}
	flush()
}

// bars draws lane's parts of the runs' bars, colored by outcome.
func (v *view) bars(s *svgw, segs []seg, lane int, g laneGeom) {
	for i := range segs {
		sg := &segs[i]
		if sg.lane != lane {
			continue
		}
		r := sg.run
		sg.y = g.top + lanePadT + float64(sg.row)*g.rowH
		x0, x1 := v.ax.x(sg.from), v.ax.x(sg.to)
		cls := "bar"
		if v.violated[r.ID] {
			cls += " violated"
		}
		if r.Outcome == OutcomeCompleted && watchersMissed(r) > 0 {
			cls += " partial"
		}
		fill := ""
		if r.Outcome == OutcomeNever {
			fill = ` fill="url(#tl-never)"`
		}
		s.el(`<rect class="%s" data-run="%s" data-outcome="%s"%s x="%s" y="%s" width="%s" height="%s">%s</rect>`, cls, esc(r.ID), r.Outcome, fill,
			f1(x0), f1(sg.y), f1(math.Max(1.5, x1-x0)), f1(g.barH), title(v.runTitle(r)))
		if len(segs) <= 600 && sg.to.Equal(nonZero(r.End, v.d.To)) {
			// What the watchers saw, at the end of the bar: a tick for each one that
			// ended without the finish.
			for _, w := range r.Watchers {
				if w.Finished {
					continue
				}
				wx := v.ax.x(w.At)
				s.el(`<line class="watch-miss" x1="%s" x2="%[1]s" y1="%s" y2="%s">%s</line>`, f1(wx), f1(sg.y-1), f1(sg.y+g.barH+1),
					title(fmt.Sprintf("watcher %s on %s of run %s ended without the finish at %s: %s", w.ID, w.Pod, r.ID, ms(w.At), clip(nonEmpty(w.Err, "no finish"), 140))))
			}
		}
	}
}

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// ownerArrows draws each owner change as an arrow from the run's row on the old
// owner's lane to its row on the new owner's.
func (v *view) ownerArrows(s *svgw, segs []seg, geo []laneGeom) {
	for i := 1; i < len(segs); i++ {
		a, b := segs[i-1], segs[i]
		if a.run != b.run || !a.to.Equal(b.from) {
			continue
		}
		x := v.ax.x(b.from)
		y0, y1 := a.y+geo[a.lane].barH/2, b.y+geo[b.lane].barH/2
		if y0 == y1 {
			y1 += 0.1
		}
		tip := fmt.Sprintf("owner change of run %s: %s → %s at %s", b.run.ID, v.d.Pods[a.lane], v.d.Pods[b.lane], ms(b.from))
		s.el(`<path class="takeover" data-run="%s" d="M%[2]s %[3]sL%[2]s %[4]s" marker-end="url(#tl-arrow)">%[5]s</path>`, esc(b.run.ID), f1(x), f1(y0), f1(y1), title(tip))
		s.el(`<circle class="takeover-dot" cx="%s" cy="%s" r="2.6">%s</circle>`, f1(x), f1(y0), title(tip))
	}
}

// ownerCounts draws the owner changes of an aggregated timeline on the new owner's
// lane: one by one up to maxOwnerMarks, else counted per lane and bucket.
func (v *view) ownerCounts(s *svgw, geo []laneGeom) {
	d := v.d
	diamond := func(x, y float64, cls, tip string) {
		s.el(`<path class="%s" d="M%s %sl4 4l-4 4l-4-4z">%s</path>`, cls, f1(x), f1(y-4), title(tip))
	}
	if len(d.Owners) <= maxOwnerMarks {
		for _, c := range d.Owners {
			g := geo[v.lanes[c.To]]
			diamond(v.ax.x(c.At), g.top+g.h-lanePadB-4, "takeover", fmt.Sprintf("owner change of run %s: %s → %s at %s", c.Run, c.From, c.To, ms(c.At)))
		}
		return
	}
	bw := v.ax.span() / laneBuckets
	counts := map[[2]int]int{}
	for _, c := range d.Owners {
		counts[[2]int{v.lanes[c.To], int(c.At.Sub(v.ax.from) / max(bw, 1))}]++
	}
	keys := make([][2]int, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	peak := 0
	for _, n := range counts {
		peak = max(peak, n)
	}
	// A histogram under each lane: a tick per bucket, as tall as its count.
	for _, k := range keys {
		g := geo[k[0]]
		t := v.ax.from.Add(time.Duration(k[1]) * bw)
		h := 2 + 8*float64(counts[k])/float64(peak)
		s.el(`<rect class="takeover" x="%s" y="%s" width="%s" height="%s">%s</rect>`, f1(v.ax.x(t)), f1(g.top+g.h-h), f1(math.Max(1.2, plotW/laneBuckets-0.6)), f1(h),
			title(fmt.Sprintf("%d owner changes to %s from %s to %s", counts[k], d.Pods[k[0]], ms(t), ms(t.Add(bw)))))
	}
}

// heatStrip draws an aggregated lane: per bucket, the runs in flight on the pod (on
// average) as a shade and a line, and the failed and unfinished runs on their own.
func (v *view) heatStrip(s *svgw, segs []seg, lane int, g laneGeom) {
	d := v.d
	bw := v.ax.span() / laneBuckets
	if bw <= 0 {
		bw = 1
	}
	inflight := make([]float64, laneBuckets) // run-time in the bucket / bucket width
	started := make([]int, laneBuckets)
	done := make([]int, laneBuckets)
	bad := make([]int, laneBuckets)
	idx := func(t time.Time) int { return min(laneBuckets-1, max(0, int(t.Sub(v.ax.from)/bw))) }
	var marks []*Run
	for _, sg := range segs {
		if sg.lane != lane {
			continue
		}
		for b := idx(sg.from); b <= idx(sg.to); b++ {
			b0 := v.ax.from.Add(time.Duration(b) * bw)
			lo, hi := maxT(b0, sg.from), minT(b0.Add(bw), sg.to)
			if hi.After(lo) {
				inflight[b] += float64(hi.Sub(lo)) / float64(bw)
			}
		}
		if sg.from.Equal(sg.run.Start) {
			started[idx(sg.from)]++
		}
		if end := sg.run.End; !end.IsZero() && sg.to.Equal(end) {
			if sg.run.Outcome == OutcomeCompleted {
				done[idx(end)]++
			}
		}
		if sg.run.Outcome != OutcomeCompleted && sg.to.Equal(nonZero(sg.run.End, d.To)) {
			bad[idx(sg.to)]++
			marks = append(marks, sg.run)
		}
	}
	peak := 0.0
	for _, c := range inflight {
		peak = math.Max(peak, c)
	}
	innerTop := g.top + lanePadT
	if peak > 0 {
		var path strings.Builder
		for b, c := range inflight {
			x0 := plotL + plotW*float64(b)/laneBuckets
			if c > 0 {
				t := v.ax.from.Add(time.Duration(b) * bw)
				s.el(`<rect class="density" x="%s" y="%s" width="%s" height="%s" fill="%s">%s</rect>`, f1(x0), f1(innerTop), f1(plotW/laneBuckets+0.4), f1(aggInnerH),
					heat(c/peak), title(fmt.Sprintf("%s, %s – %s: %.1f runs in flight on average; %d started, %d completed, %d failed or never finished",
						d.Pods[lane], ms(t), ms(t.Add(bw)), c, started[b], done[b], bad[b])))
			}
			yv := innerTop + aggInnerH*(1-c/peak)
			if b == 0 {
				fmt.Fprintf(&path, "M%s %s", f1(x0), f1(yv))
			}
			fmt.Fprintf(&path, "L%s %sL%s %[2]s", f1(x0), f1(yv), f1(x0+plotW/laneBuckets))
		}
		s.el(`<path class="inflight" d="%s"/>`, path.String())
		s.el(`<text class="lane-peak" x="10" y="%s">peak %.0f in flight</text>`, f1(g.top+47), peak)
	}
	if len(marks) <= maxRunMarks {
		for _, r := range marks {
			end := nonZero(r.End, d.To)
			x0, x1 := v.ax.x(r.Start), v.ax.x(end)
			fill := ""
			if r.Outcome == OutcomeNever {
				fill = ` fill="url(#tl-never)"`
			}
			s.el(`<rect class="bar%s" data-run="%s" data-outcome="%s"%s x="%s" y="%s" width="%s" height="5">%s</rect>`, map[bool]string{true: " violated", false: ""}[v.violated[r.ID]],
				esc(r.ID), r.Outcome, fill, f1(x0), f1(innerTop+aggInnerH-6), f1(math.Max(2, x1-x0)), title(v.runTitle(r)))
		}
		return
	}
	for b, n := range bad {
		if n == 0 {
			continue
		}
		t := v.ax.from.Add(time.Duration(b) * bw)
		x0 := plotL + plotW*float64(b)/laneBuckets
		s.el(`<rect class="bad-count" x="%s" y="%s" width="%s" height="6">%s</rect>`, f1(x0), f1(innerTop+aggInnerH-6), f1(math.Max(1.5, plotW/laneBuckets)),
			title(fmt.Sprintf("%s, %s – %s: %d runs failed or never seen finishing", d.Pods[lane], ms(t), ms(t.Add(bw)), n)))
	}
}

// heat is the shade of a heat-strip cell, f in [0, 1] of the peak: opaque, so
// that neighbouring cells that overlap by a hair do not stripe.
func heat(f float64) string {
	lo, hi := [3]float64{0xe9, 0xef, 0xf7}, [3]float64{0x3a, 0x6b, 0xad}
	f = math.Min(1, math.Max(0, 0.12+0.88*f))
	var c [3]int
	for i := range c {
		c[i] = int(math.Round(lo[i] + (hi[i]-lo[i])*f))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}

func maxT(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// podEvents draws the pod's container deaths (a cross) and starts (a triangle) at
// the top of its lane.
func (v *view) podEvents(s *svgw, pod string, g laneGeom) {
	if len(v.d.PodEvents) > maxPodEvents {
		return
	}
	y := g.top + 4
	for _, e := range v.d.PodEvents {
		if e.Pod != pod {
			continue
		}
		x := v.ax.x(e.At)
		tip := fmt.Sprintf("%s: container %s at %s", pod, e.Action, ms(e.At))
		if e.ExitCode != nil {
			tip += fmt.Sprintf(", exit %d", *e.ExitCode)
		}
		if e.ByChaosd {
			tip += ", caused by chaosd"
			if e.Fault != "" {
				tip += " (" + e.Fault + ")"
			}
		}
		switch e.Action {
		case history.DockerStart, history.DockerRestart:
			s.el(`<path class="podev" data-action="%s" d="M%s %sl3.5 5h-7z">%s</path>`, esc(e.Action), f1(x), f1(y-1), title(tip))
		default:
			s.el(`<path class="podev" data-action="%s" d="M%s %sl6 6m0-6l-6 6">%s</path>`, esc(e.Action), f1(x-3), f1(y-1), title(tip))
		}
	}
}

// findingMarks draws each finding at its time: a line through every lane with a
// head above them that links to the finding's evidence block, and a dot on the lane
// of the pod it names.
func (v *view) findingMarks(s *svgw, geo []laneGeom, bottom float64) {
	for _, m := range v.markers {
		f := m.finding
		if f.At.IsZero() {
			continue
		}
		x := v.ax.x(f.At)
		tip := fmt.Sprintf("%s %s at %s", m.inv, m.kind, ms(f.At))
		if f.Run != "" {
			tip += " (run " + f.Run + ")"
		}
		tip += "\n" + clip(f.Message, 400) + "\nclick for the evidence"
		line, head := "violation", "violation-head"
		if m.kind != "violation" {
			line, head = "unknown-line", "unknown-head"
		}
		s.el(`<a class="%s-mark" href="#%s" data-inv="%s">%s`, m.kind, m.anchor, esc(m.inv), title(tip))
		s.el(`<line class="%s" x1="%s" x2="%[2]s" y1="%s" y2="%s"/>`, line, f1(x), f1(lanesTop-12), f1(bottom))
		if m.kind == "violation" {
			s.el(`<path class="%s" d="M%s %sl6-11h-12z"/>`, head, f1(x), f1(lanesTop-10))
		} else {
			s.el(`<path class="%s" d="M%s %sl5-5l-5-5l-5 5z"/>`, head, f1(x), f1(lanesTop-10))
		}
		for _, p := range f.Pods {
			if i, ok := v.lanes[p]; ok {
				s.el(`<circle class="%s-dot" cx="%s" cy="%s" r="4"/>`, m.kind, f1(x), f1(geo[i].top+geo[i].h/2))
			}
		}
		s.WriteString(`</a>`)
	}
}
