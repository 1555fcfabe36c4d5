package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/invariants"
)

// svgNode is an element of a chart, parsed as XML: a chart that does not parse
// was not escaped right.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgNode  `xml:",any"`
}

func (n *svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *svgNode) hasClass(c string) bool {
	return n.attr("class") == c || strings.HasPrefix(n.attr("class"), c+" ")
}

// all are n and its descendants that match.
func (n *svgNode) all(match func(*svgNode) bool) []*svgNode {
	var out []*svgNode
	var walk func(*svgNode)
	walk = func(m *svgNode) {
		if match(m) {
			out = append(out, m)
		}
		for i := range m.Children {
			walk(&m.Children[i])
		}
	}
	walk(n)
	return out
}

func (n *svgNode) float(name string) float64 {
	f, _ := strconv.ParseFloat(n.attr(name), 64)
	return f
}

// chart parses the SVG with the given id out of the page.
func chart(t *testing.T, page, id string) *svgNode {
	t.Helper()
	i := strings.Index(page, `<svg id="`+id+`"`)
	if i < 0 {
		t.Fatalf("the page has no chart %s", id)
	}
	j := strings.Index(page[i:], "</svg>")
	var n svgNode
	if err := xml.Unmarshal([]byte(page[i:i+j+len("</svg>")]), &n); err != nil {
		t.Fatalf("chart %s is not well-formed: %v", id, err)
	}
	return &n
}

func render(t *testing.T, d *Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var idAttr = regexp.MustCompile(` id="([^"]+)"`)

// The timeline of a soak: a lane per pod in order, ticks on round UTC times, each
// fault on the lane of its pod, owner changes, and every marker linked to an
// evidence block that is in the page.
func TestTimelineStructure(t *testing.T) {
	d, err := FromFile(soakHistory(t, true), invariants.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Pods, ",") != "mesh-1,mesh-2,mesh-3" {
		t.Fatalf("pods %v", d.Pods)
	}
	if len(d.Owners) == 0 || len(d.Outages) != 1 || len(d.NotReady) == 0 || len(d.PodEvents) != 4 {
		t.Fatalf("%d owner changes, %d outages, %d not-ready windows, %d pod events", len(d.Owners), len(d.Outages), len(d.NotReady), len(d.PodEvents))
	}
	page := render(t, d)
	tl := chart(t, page, "timeline-svg")

	var lanes []string
	for _, g := range tl.all(func(n *svgNode) bool { return n.XMLName.Local == "g" && n.hasClass("lane") }) {
		lanes = append(lanes, g.attr("data-pod"))
	}
	if strings.Join(lanes, ",") != "mesh-1,mesh-2,mesh-3" {
		t.Errorf("lanes %v, want one per pod", lanes)
	}
	box := map[string][2]float64{}
	for _, r := range tl.all(func(n *svgNode) bool { return n.hasClass("lane-bg") }) {
		box[r.attr("data-pod")] = [2]float64{r.float("y"), r.float("y") + r.float("height")}
	}

	// Ticks: round 30 s steps over four minutes, labelled in UTC.
	var labels []string
	for _, l := range tl.all(func(n *svgNode) bool { return n.hasClass("tick-label") }) {
		labels = append(labels, l.Text)
	}
	if strings.Join(labels, " ") != "08:00:00 08:00:30 08:01:00 08:01:30 08:02:00 08:02:30 08:03:00 08:03:30 08:04:00" {
		t.Errorf("tick labels %q", labels)
	}

	// Each fault on its pod's lane.
	faults := tl.all(func(n *svgNode) bool { return n.hasClass("fault") })
	if len(faults) != len(d.Faults) {
		t.Errorf("%d fault windows, %d faults", len(faults), len(d.Faults))
	}
	for _, f := range faults {
		pod := f.attr("data-pod")
		b, ok := box[pod]
		if !ok {
			t.Errorf("fault %s on %q, not a lane", f.attr("data-kind"), pod)
			continue
		}
		if y := f.float("y"); y < b[0] || y+f.float("height") > b[1] {
			t.Errorf("fault %s on %s drawn at y %.1f–%.1f, its lane is %.1f–%.1f", f.attr("data-kind"), pod, y, y+f.float("height"), b[0], b[1])
		}
	}

	// A bar per run (and one more per owner change), and an arrow per change.
	bars := tl.all(func(n *svgNode) bool { return n.hasClass("bar") })
	if len(bars) != len(d.Runs)+len(d.Owners) {
		t.Errorf("%d bars for %d runs and %d owner changes", len(bars), len(d.Runs), len(d.Owners))
	}
	if n := len(tl.all(func(n *svgNode) bool { return n.XMLName.Local == "path" && n.hasClass("takeover") })); n != len(d.Owners) {
		t.Errorf("%d owner-change arrows for %d changes", n, len(d.Owners))
	}
	never := tl.all(func(n *svgNode) bool { return n.hasClass("bar") && n.attr("data-outcome") == OutcomeNever })
	if len(never) != 1 || never[0].attr("data-run") != "r98" {
		t.Errorf("unfinished bars %d, want r98's", len(never))
	}
	// A bar's hover text says what the watchers saw.
	for _, b := range bars {
		if b.attr("data-run") == "r15" {
			tip := b.Children[0].Text
			for _, want := range []string{"owner mesh-1 → mesh-2", "watcher r15/w3 on mesh-1 (late, k=6): 7 chunks, ended: stream cut", "finished"} {
				if !strings.Contains(tip, want) {
					t.Errorf("r15's hover text lacks %q:\n%s", want, tip)
				}
			}
			break
		}
	}

	// Markers: one per finding kept, each linking to an id in the page.
	ids := map[string]bool{}
	for _, m := range idAttr.FindAllStringSubmatch(page, -1) {
		if ids[m[1]] {
			t.Errorf("id %s twice in the page", m[1])
		}
		ids[m[1]] = true
	}
	kept, unobs := 0, 0
	for _, v := range d.Verdicts.Verdicts {
		kept += len(v.Evidence)
		unobs += len(v.Unobserved)
	}
	marks := tl.all(func(n *svgNode) bool { return n.XMLName.Local == "a" })
	viol := 0
	for _, a := range marks {
		href := a.attr("href")
		if !strings.HasPrefix(href, "#evidence-") || !ids[href[1:]] {
			t.Errorf("marker links to %q, not an evidence block of the page", href)
		}
		if a.hasClass("violation-mark") {
			viol++
			if len(a.all(func(n *svgNode) bool { return n.XMLName.Local == "line" && n.hasClass("violation") })) != 1 {
				t.Error("a violation marker without its line")
			}
		}
	}
	if viol != kept || len(marks) != kept+unobs || kept == 0 {
		t.Errorf("%d violation markers of %d, want %d of %d", viol, len(marks), kept, kept+unobs)
	}
	for _, want := range []string{`id="diag-prefix-replay"`, `<a href="#diag-prefix-replay">prefix-replay</a>`, `id="evidence-prefix-replay-v1"`, "nats down", `@media print`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// Latency: a dot per finished run; throughput and latency have y ticks.
	lt := chart(t, page, "latency-svg")
	if n := len(lt.all(func(n *svgNode) bool { return n.hasClass("run") })); n != len(latencies(d.Runs)) {
		t.Errorf("%d latency dots for %d finished runs", n, len(latencies(d.Runs)))
	}
	for _, id := range []string{"latency-svg", "throughput-svg"} {
		if n := len(chart(t, page, id).all(func(n *svgNode) bool { return n.hasClass("tick-label") })); n < 12 {
			t.Errorf("%s: %d tick labels", id, n)
		}
	}
}

// evil is text from the history that would be markup if it were not escaped.
const evil = `<script>alert(1)</script>"><img src=x onerror=alert(2)>'&`

// hostileData is a small report whose every string from the history is evil.
func hostileData() *Data {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	d := &Data{From: t0, To: t0.Add(time.Minute), Pods: []string{"mesh-1", evil}, Target: evil, Version: evil,
		Runs: []Run{
			{ID: evil, Pod: evil, Start: t0.Add(time.Second), Latency: 10 * time.Second, End: t0.Add(11 * time.Second), Outcome: OutcomeCompleted,
				Watchers: []Watcher{{ID: evil, Pod: evil, Err: evil, At: t0.Add(5 * time.Second)}}},
			{ID: "r2", Pod: "mesh-1", Start: t0.Add(2 * time.Second), Outcome: OutcomeFailed, End: t0.Add(3 * time.Second), Err: evil},
		},
		Faults:    []Fault{{ID: evil, Kind: evil, Pod: evil, Target: evil, Outcome: evil, Injected: t0.Add(4 * time.Second), Healed: t0.Add(9 * time.Second)}},
		Owners:    []OwnerChange{{Run: evil, From: evil, To: "mesh-1", At: t0.Add(6 * time.Second)}},
		Outages:   []Outage{{Name: evil, From: t0.Add(20 * time.Second), To: t0.Add(30 * time.Second), Err: evil}},
		NotReady:  []Window{{Pod: evil, From: t0.Add(4 * time.Second), To: t0.Add(9 * time.Second)}},
		PodEvents: []PodEvent{{Pod: evil, Action: history.DockerDie, At: t0.Add(4 * time.Second), Fault: evil}},
	}
	d.Verdicts = invariants.Report{Status: invariants.Fail, From: d.From, To: d.To, Notes: []string{evil}, Verdicts: []invariants.Verdict{{
		Name: evil, Status: invariants.Fail, Violations: 1, Evidence: []invariants.Finding{{At: t0.Add(7 * time.Second), Run: evil, Pods: []string{evil}, Message: evil, Details: []string{evil}}},
		Unobserved: []invariants.Finding{{At: t0.Add(8 * time.Second), Message: evil}}, Notes: []string{evil},
	}}}
	return d
}

// Messages, pod names, ids and errors from the history are text, never markup.
func TestHostileTextIsEscaped(t *testing.T) {
	d := hostileData()
	page := render(t, d)
	for _, bad := range []string{"<script>alert", "<img src=x", `"><img`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page carries %q unescaped", bad)
		}
	}
	if n := strings.Count(page, "<script>"); n != 1 {
		t.Errorf("%d scripts in the page, want only the page's own", n)
	}
	for _, id := range []string{"timeline-svg", "latency-svg", "throughput-svg"} {
		chart(t, page, id)
	}
	tl := chart(t, page, "timeline-svg")
	for _, a := range tl.all(func(n *svgNode) bool { return n.XMLName.Local == "a" }) {
		if !regexp.MustCompile(`^#evidence-[a-z0-9-]+$`).MatchString(a.attr("href")) || !strings.Contains(page, `id="`+a.attr("href")[1:]+`"`) {
			t.Errorf("marker href %q", a.attr("href"))
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile message is not shown as text")
	}
}

// An 8-hour soak of 100,000 runs: the page aggregates, stays small, and its charts
// stay within a bounded number of elements.
func TestHundredThousandRunsStaySmall(t *testing.T) {
	d := bigData(100_000, 8*time.Hour)
	start := time.Now()
	page := render(t, d)
	took := time.Since(start)
	v := newView(d)
	_, n1 := v.lanesSVG()
	_, n2 := v.latencySVG()
	_, n3 := v.throughputSVG()
	elements := strings.Count(page, "<") - strings.Count(page, "</")
	t.Logf("100,000 runs: page %d KiB, %d chart elements (%d timeline, %d latency, %d throughput), %d tags, rendered in %s",
		len(page)>>10, n1+n2+n3, n1, n2, n3, elements, took.Round(time.Millisecond))
	if len(page) > 3<<20 {
		t.Errorf("page of %d bytes, want under 3 MiB", len(page))
	}
	if n1+n2+n3 > 15000 || elements > 25000 {
		t.Errorf("%d chart elements, %d tags: not aggregated", n1+n2+n3, elements)
	}
	tl := chart(t, page, "timeline-svg")
	if n := len(tl.all(func(n *svgNode) bool { return n.hasClass("density") })); n == 0 {
		t.Error("no heat strip in an aggregated timeline")
	}
	if n := len(tl.all(func(n *svgNode) bool { return n.hasClass("bar") })); n > maxRunMarks*len(d.Pods) {
		t.Errorf("%d bars drawn", n)
	}
	if n := len(tl.all(func(n *svgNode) bool { return n.XMLName.Local == "g" && n.hasClass("lane") })); n != len(d.Pods) {
		t.Errorf("%d lanes for %d pods", n, len(d.Pods))
	}
	if strings.Contains(page, `<circle class="run"`) {
		t.Error("a dot per run in an aggregated latency chart")
	}
	for _, want := range []string{"100000 runs are too many to draw one by one", `class="q qmax"`, "… 100 more faults"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// bigData is n runs on five pods over span: one run failing in a hundred, an owner
// change in twenty, a kill every 48 s, a NATS outage an hour.
func bigData(n int, span time.Duration) *Data {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	d := &Data{From: t0, To: t0.Add(span), Pods: []string{"mesh-1", "mesh-2", "mesh-3", "mesh-4", "mesh-5"}}
	every := span / time.Duration(n+20)
	for i := range n {
		pod := d.Pods[i%5]
		st := t0.Add(time.Duration(i) * every)
		r := Run{ID: fmt.Sprintf("r%d", i), Pod: pod, Start: st, Outcome: OutcomeCompleted, Latency: 10*time.Second + time.Duration(i%7)*time.Second,
			Watchers: []Watcher{{ID: "w1", Pod: pod, Finished: true}, {ID: "w2", Pod: d.Pods[(i+1)%5], Late: true, K: 6, Finished: true}}}
		r.End = st.Add(r.Latency)
		if i%100 == 0 {
			r.Outcome, r.Latency, r.End, r.Err = OutcomeFailed, 0, st.Add(2*time.Second), "HTTP 503"
		}
		if i%20 == 1 {
			d.Owners = append(d.Owners, OwnerChange{Run: r.ID, From: pod, To: d.Pods[(i+1)%5], At: st.Add(4 * time.Second)})
		}
		d.Runs = append(d.Runs, r)
	}
	for k := range int(span / (48 * time.Second)) {
		at := t0.Add(time.Duration(k) * 48 * time.Second)
		pod := d.Pods[k%5]
		d.Faults = append(d.Faults, Fault{ID: fmt.Sprintf("f%d", k), Kind: history.KindKill, Pod: pod, Target: "owner", Outcome: "healed", Injected: at, Healed: at.Add(5 * time.Second)})
		d.NotReady = append(d.NotReady, Window{Pod: pod, From: at, To: at.Add(15 * time.Second)})
		d.PodEvents = append(d.PodEvents, PodEvent{Pod: pod, Action: history.DockerDie, At: at, ByChaosd: true}, PodEvent{Pod: pod, Action: history.DockerStart, At: at.Add(5 * time.Second), ByChaosd: true})
	}
	for h := range int(span / time.Hour) {
		at := t0.Add(time.Duration(h)*time.Hour + 30*time.Minute)
		d.Outages = append(d.Outages, Outage{Name: history.DepNATS, From: at, To: at.Add(40 * time.Second), Err: "nats: no servers"})
	}
	var ev []invariants.Finding
	for i := range 20 {
		ev = append(ev, invariants.Finding{At: t0.Add(time.Duration(i) * 17 * time.Minute), Run: fmt.Sprintf("r%d", i*4000), Message: "missed chunk-1..6"})
	}
	d.Verdicts = invariants.Report{Status: invariants.Fail, From: d.From, To: d.To, Verdicts: []invariants.Verdict{
		{Name: invariants.NamePrefixReplay, Status: invariants.Fail, Violations: 400, Evidence: ev},
		{Name: invariants.NameRunCompletes, Status: invariants.Pass, Exercised: n},
	}}
	return d
}

// An empty history still renders.
func TestEmptyDataRenders(t *testing.T) {
	page := render(t, &Data{})
	for _, id := range []string{"timeline-svg", "latency-svg", "throughput-svg"} {
		chart(t, page, id)
	}
	if err := WriteHTML(io.Discard, &Data{Pods: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
}

// Round steps and UTC labels for the time axis; round latency and count steps.
func TestTicks(t *testing.T) {
	for _, c := range []struct {
		span time.Duration
		want time.Duration
	}{{4 * time.Minute, 30 * time.Second}, {8 * time.Hour, time.Hour}, {20 * time.Second, 2 * time.Second}, {90 * time.Minute, 10 * time.Minute}, {3 * time.Second, 500 * time.Millisecond}} {
		if got := niceStep(c.span, 11); got != c.want {
			t.Errorf("niceStep(%s) = %s, want %s", c.span, got, c.want)
		}
	}
	from := time.Date(2026, 5, 1, 7, 59, 47, 0, time.UTC)
	ticks := timeTicks(from, from.Add(2*time.Minute), 30*time.Second)
	if len(ticks) != 4 || tickLabel(ticks[0], 30*time.Second) != "08:00:00" || tickLabel(ticks[3], 30*time.Second) != "08:01:30" {
		t.Errorf("ticks %v", ticks)
	}
	if step, top := durTicks(23710*time.Millisecond, 5); step != 5*time.Second || top != 25*time.Second {
		t.Errorf("durTicks(23.71s) = %s, %s", step, top)
	}
	if step, top := countTicks(17, 4); step != 5 || top != 20 {
		t.Errorf("countTicks(17) = %v, %v", step, top)
	}
	for d, want := range map[time.Duration]string{0: "0", 250 * time.Millisecond: "250ms", 2500 * time.Millisecond: "2.5s", 90 * time.Second: "1m30s", 2 * time.Hour: "2h", 10 * time.Second: "10s"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%s) = %q, want %q", d, got, want)
		}
	}
}
