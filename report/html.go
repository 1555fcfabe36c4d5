package report

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaosd/chaosd/invariants"
)

// latencies are the finished runs' latencies, sorted.
func latencies(runs []Run) []time.Duration {
	var out []time.Duration
	for _, r := range runs {
		if r.Latency > 0 {
			out = append(out, r.Latency)
		}
	}
	slices.Sort(out)
	return out
}

// Rows of the page's tables past which the rest is only counted.
const (
	maxFaultRows = 500
	maxOwnerRows = 300
	maxRunRows   = 300
)

// page is what the template shows.
type page struct {
	D                             *Data
	Status                        string
	Timeline, Latency, Throughput template.HTML
	Elements                      int
	Detail                        bool
	Bucket                        string
	Span                          string
	Sum                           summary
	Verdicts                      []verdictRow
	Diagnoses                     []diagnosis
	Notes                         []string
	Faults                        []Fault
	FaultsMore                    int
	Owners                        []OwnerChange
	OwnersMore                    int
	BadRuns                       []badRun
	BadRunsMore                   int
	Outages                       []outageRow
	Kinds                         []string
	Pods                          []podKey
	Legend                        string // the verdict table's legend (invariants.TableLegend)
}

type summary struct {
	Runs, Completed, Failed, Never        int
	P50, P95, P99, Max                    string
	Faults, Healed                        int
	FaultKinds                            string
	OwnerChanges                          int
	Violations, Unknowns, FailedInvariant int
	Outages                               int
	Downtime                              string
}

type verdictRow struct {
	invariants.Verdict
	Anchor string // its diagnosis block, when it has one
}

type diagnosis struct {
	Name, Anchor, Status, Head string
	Findings                   []findingBlock
	More                       []string
	Notes                      []string
}

type findingBlock struct {
	Anchor, Kind, Label string
	At, Run, Message    string
	Details             string
}

type badRun struct {
	Run
	Watchers string
	Owners   string
}

type outageRow struct {
	Outage
	Span string
}

type podKey struct {
	Name  string
	Class string
}

func newPage(d *Data) *page {
	v := newView(d)
	p := &page{D: d, Legend: invariants.TableLegend, Status: string(d.Verdicts.Status), Detail: v.detail, Bucket: fmtDur(v.bucket),
		Span: fmtDur(d.To.Sub(d.From))}
	var n1, n2, n3 int
	p.Timeline, n1 = v.lanesSVG()
	p.Latency, n2 = v.latencySVG()
	p.Throughput, n3 = v.throughputSVG()
	p.Elements = n1 + n2 + n3

	s := &p.Sum
	s.Runs = len(d.Runs)
	for _, r := range d.Runs {
		switch r.Outcome {
		case OutcomeCompleted:
			s.Completed++
		case OutcomeFailed:
			s.Failed++
		default:
			s.Never++
		}
	}
	if lat := latencies(d.Runs); len(lat) > 0 {
		s.P50, s.P95, s.P99, s.Max = fmtDur(quantile(lat, .5)), fmtDur(quantile(lat, .95)), fmtDur(quantile(lat, .99)), fmtDur(lat[len(lat)-1])
	}
	kinds := map[string]int{}
	for _, f := range d.Faults {
		kinds[f.Kind]++
		if f.Outcome == "healed" {
			s.Healed++
		}
	}
	s.Faults = len(d.Faults)
	for k := range kinds {
		p.Kinds = append(p.Kinds, k)
	}
	sort.Strings(p.Kinds)
	var ks []string
	for _, k := range p.Kinds {
		ks = append(ks, fmt.Sprintf("%d %s", kinds[k], k))
	}
	s.FaultKinds = strings.Join(ks, ", ")
	s.OwnerChanges = len(d.Owners)
	var down time.Duration
	for _, o := range d.Outages {
		down += nonZero(o.To, d.To).Sub(o.From)
		p.Outages = append(p.Outages, outageRow{o, spanText(o.From, o.To)})
	}
	s.Outages, s.Downtime = len(d.Outages), fmtDur(down)
	for i, pod := range d.Pods {
		p.Pods = append(p.Pods, podKey{pod, fmt.Sprintf("p%d", i%8)})
	}

	// Verdicts and their diagnoses, with an anchor for each finding kept: the
	// markers of the timeline link to them.
	anchors := map[string][]marker{}
	for _, m := range v.markers {
		anchors[m.inv] = append(anchors[m.inv], m)
	}
	for _, vd := range d.Verdicts.Verdicts {
		s.Violations += vd.Violations
		s.Unknowns += vd.Unknowns
		if vd.Status == invariants.Fail {
			s.FailedInvariant++
		}
		row := verdictRow{Verdict: vd}
		if vd.Status == invariants.Pass && len(vd.Notes) == 0 {
			p.Verdicts = append(p.Verdicts, row)
			continue
		}
		row.Anchor = "diag-" + slug(vd.Name)
		p.Verdicts = append(p.Verdicts, row)
		dg := diagnosis{Name: vd.Name, Anchor: row.Anchor, Status: string(vd.Status), Notes: vd.Notes}
		unpromised := ""
		if vd.NotPromised > 0 {
			unpromised = fmt.Sprintf(", %d not promised", vd.NotPromised)
		}
		dg.Head = fmt.Sprintf("%d violations, %d unobserved windows%s; of %d cases checked, %d under fault",
			vd.Violations, vd.Unknowns, unpromised, vd.Checks, vd.UnderFault)
		nv, nu := 0, 0
		for _, m := range anchors[vd.Name] {
			label := ""
			if m.kind == "violation" {
				nv++
				label = fmt.Sprintf("violation %d", nv)
			} else {
				nu++
				label = fmt.Sprintf("unobserved %d", nu)
			}
			f := m.finding
			dg.Findings = append(dg.Findings, findingBlock{Anchor: m.anchor, Kind: m.kind, Label: label, At: clock(f.At), Run: f.Run,
				Message: f.Message, Details: strings.Join(f.Details, "\n")})
		}
		if vd.Violations > len(vd.Evidence) {
			dg.More = append(dg.More, fmt.Sprintf("… %d more violations not kept (evidence is capped)", vd.Violations-len(vd.Evidence)))
		}
		if vd.Unknowns > len(vd.Unobserved) {
			dg.More = append(dg.More, fmt.Sprintf("… %d more unobserved windows not kept (evidence is capped)", vd.Unknowns-len(vd.Unobserved)))
		}
		p.Diagnoses = append(p.Diagnoses, dg)
	}
	p.Notes = d.Verdicts.Notes

	p.Faults = d.Faults
	if len(p.Faults) > maxFaultRows {
		p.Faults, p.FaultsMore = p.Faults[:maxFaultRows], len(d.Faults)-maxFaultRows
	}
	p.Owners = d.Owners
	if len(p.Owners) > maxOwnerRows {
		p.Owners, p.OwnersMore = p.Owners[:maxOwnerRows], len(d.Owners)-maxOwnerRows
	}
	for i := range d.Runs {
		r := &d.Runs[i]
		if r.Outcome == OutcomeCompleted && watchersMissed(r) == 0 {
			continue
		}
		if len(p.BadRuns) == maxRunRows {
			p.BadRunsMore++
			continue
		}
		var ws, os []string
		for _, w := range r.Watchers {
			st := "finished"
			if !w.Finished {
				st = "ended: " + clip(nonEmpty(w.Err, "no finish"), 100)
			}
			late := ""
			if w.Late {
				late = fmt.Sprintf(" late k=%d", w.K)
			}
			ws = append(ws, fmt.Sprintf("%s on %s%s: %d chunks, %s", w.ID, w.Pod, late, w.Chunks, st))
		}
		for _, c := range v.owners[r.ID] {
			os = append(os, fmt.Sprintf("%s → %s at %s", c.From, c.To, ms(c.At)))
		}
		p.BadRuns = append(p.BadRuns, badRun{Run: *r, Watchers: strings.Join(ws, "\n"), Owners: strings.Join(os, "\n")})
	}
	return p
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"clock": clock, "upper": strings.ToUpper, "dur": fmtDur,
	"span": func(a, b time.Time) string { return spanText(a, b) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>chaosd report: {{upper .Status}}</title>
<style>
:root{--ink:#1d232b;--muted:#5c6670;--line:#d8dde3;--bg:#fff;--ok:#1e7b34;--bad:#b00020;--warn:#a36b00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:var(--ink);background:#f5f6f8}
main{max-width:1240px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:var(--muted);margin:0 0 12px}
nav{margin:8px 0 4px;font-size:13px}nav a{margin-right:14px;color:#2557a7}
h1 .badge{display:inline-block;padding:1px 10px;border-radius:4px;color:#fff;background:#666;letter-spacing:.03em}
h1 .badge.pass{background:var(--ok)}h1 .badge.fail{background:var(--bad)}h1 .badge.unknown,h1 .badge.not-exercised{background:var(--warn)}h1 .badge.not-promised{background:#5b5b8f}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:20px;font-weight:600}.card .s{color:var(--muted);font-size:12px}
.card.bad .v{color:var(--bad)}.card.warn .v{color:var(--warn)}
figure{background:#fff;border:1px solid var(--line);border-radius:6px;margin:10px 0;padding:8px 8px 4px;break-inside:avoid}
figcaption{color:var(--muted);font-size:12.5px;margin:2px 6px 6px}
svg.chart{display:block;width:100%;height:auto;max-width:1200px;font-family:inherit}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px;margin:4px 6px 6px;color:var(--ink)}
.legend span{display:inline-flex;align-items:center;gap:5px}
.sw{display:inline-block;width:18px;height:10px;border-radius:2px;border:1px solid rgba(0,0,0,.25)}
table{border-collapse:collapse;margin:8px 0;background:#fff;font-size:13px}
td,th{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef1f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:var(--ok)}.fail{color:var(--bad);font-weight:bold}.unknown,.not-exercised{color:var(--warn);font-weight:bold}.not-promised{color:#5b5b8f;font-weight:bold}
.diag{background:#fff;border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:4px;padding:6px 12px;margin:10px 0}
.diag.st-fail{border-left-color:var(--bad)}.diag.st-not-promised{border-left-color:#5b5b8f}.diag.st-pass{border-left-color:var(--ok)}.diag h3{margin:4px 0}
.evidence .msg{font-weight:500;margin:2px 0}.evidence pre{color:#3b444d}.evidence .lbl a{font-weight:normal;margin-left:6px}
.evidence{margin:6px 0;padding:4px 8px;border-radius:4px;background:#fafbfc;border:1px solid #eceff2}
.evidence:target{background:#fff4d6;border-color:#e0a000;box-shadow:0 0 0 2px #e0a000}
.evidence .lbl{font-weight:600;font-size:12px}.evidence.ev-violation .lbl{color:var(--bad)}.evidence.ev-unknown .lbl{color:var(--warn)}
table.verdicts td:first-child,table.runs td:nth-child(-n+3){white-space:nowrap}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
.note{color:var(--muted)}.more{color:var(--muted);font-style:italic}
td pre{margin:0}
#tip{position:fixed;display:none;z-index:10;max-width:520px;white-space:pre-line;background:#1d232b;color:#fff;font-size:12px;line-height:1.35;padding:6px 8px;border-radius:4px;pointer-events:none;box-shadow:0 2px 8px rgba(0,0,0,.3)}
/* chart */
svg text{font-size:12px;fill:#3b444d}
svg .tick-label{font-size:11.5px;fill:#4b545d;font-variant-numeric:tabular-nums}svg .axis-title{font-size:11.5px;fill:#6b747d}
svg .grid{stroke:#e3e7eb;stroke-width:1}svg .tick,svg .baseline{stroke:#69727b}
svg .lane-bg{fill:#fbfcfd;stroke:#e4e8ec}svg .lane-bg.alt{fill:#f1f4f7}
svg .lane-label{font-weight:600;font-size:13px;fill:#1d232b}svg .lane-sub,svg .lane-peak{font-size:10.5px;fill:#6b747d}
svg .plot-bg{fill:#fff;stroke:#e4e8ec}
svg .fault{fill:#f28b82;fill-opacity:.38;stroke:#d93025;stroke-opacity:.55;stroke-width:.8}
svg .fault[data-kind=pause]{fill:#fbbc04;stroke:#b06000}svg .fault[data-kind=partition]{fill:#c58af9;stroke:#8430ce}
svg .fault[data-kind=stop]{fill:#fcad70;stroke:#c26401}svg .fault[data-kind=rollout]{fill:#8ab4f8;stroke:#1967d2}svg .fault[data-kind=restart]{fill:#f6aea9;stroke:#c5221f}
svg .fault[data-open=true]{stroke-dasharray:4 2}
svg .fault-label{font-size:10.5px;fill:#7a2e26;font-weight:600}
svg .fault-band{fill:#f28b82;fill-opacity:.16}
svg .outage{fill-opacity:.55;stroke:#7b848d;stroke-dasharray:3 2}svg .outage-label{font-size:11px;font-weight:600;fill:#4b545d}
svg .notready{fill:#5f6368}
svg .bar{fill:#4a7fc1}svg .bar[data-outcome=failed]{fill:#d93025}svg .bar[data-outcome=never]{stroke:#d93025;stroke-width:.8}
svg .bar.partial{stroke:#e0a000;stroke-width:1.4}svg .bar.violated{stroke:#b00020;stroke-width:2}
svg .watch-miss{stroke:#b00020;stroke-width:2}
svg .inflight{fill:none;stroke:#173d6e;stroke-width:1.2}svg .bad-count{fill:#d93025}
svg .takeover{stroke:#6a1b9a;stroke-width:2.2;fill:#6a1b9a}svg path.takeover[marker-end]{fill:none}svg rect.takeover{stroke:none;fill-opacity:.8}svg .takeover-dot{fill:#6a1b9a}
svg .podev{stroke:#1d232b;stroke-width:1.6;fill:none}svg .podev[data-action=start],svg .podev[data-action=restart]{fill:#1e7b34;stroke:none}
svg .violation{stroke:#b00020;stroke-width:1.6}svg .violation-head{fill:#b00020}svg .violation-dot{fill:#b00020;stroke:#fff;stroke-width:1}
svg .unknown-line{stroke:#e69500;stroke-width:1.2;stroke-dasharray:4 3}svg .unknown-head{fill:#e69500}svg .unknown-dot{fill:#e69500;stroke:#fff;stroke-width:1}
svg a:hover .violation,svg a:focus .violation{stroke-width:3}svg a:hover .unknown-line{stroke-width:2.5}
svg .violation-faint{stroke:#b00020;stroke-opacity:.35;stroke-width:1}
svg .run{fill-opacity:.75}
svg .p0{fill:#1f77b4}svg .p1{fill:#ff7f0e}svg .p2{fill:#2ca02c}svg .p3{fill:#9467bd}svg .p4{fill:#8c564b}svg .p5{fill:#e377c2}svg .p6{fill:#17becf}svg .p7{fill:#bcbd22}
svg .lost{fill:#b00020;font-weight:bold;font-size:13px}svg .lost-bar{fill:#d93025}
svg .q{fill:none;stroke-width:1.8}svg .q50{stroke:#1d232b}svg .q95{stroke:#e8710a}svg .qmax{stroke:#b00020;stroke-width:1.2;stroke-dasharray:3 2}
svg .thr-started{fill:none;stroke:#5f6368;stroke-width:1.6}svg .thr-done{fill:none;stroke:#1e7b34;stroke-width:1.8}svg .thr-bad{fill:#d93025;fill-opacity:.8}
.sw.bar{background:#4a7fc1}.sw.failed{background:#d93025}.sw.never{background:repeating-linear-gradient(45deg,#fde7e7 0 3px,#d93025 3px 5px)}.sw.partial{background:#4a7fc1;border:2px solid #e0a000}
.sw.kill{background:rgba(242,139,130,.6)}.sw.pause{background:rgba(251,188,4,.5)}.sw.partition{background:rgba(197,138,249,.5)}.sw.stop{background:rgba(252,173,112,.55)}.sw.rollout{background:rgba(138,180,248,.55)}.sw.restart{background:rgba(246,174,169,.6)}
.sw.outage{background:repeating-linear-gradient(45deg,#eceff3 0 3px,#9aa3ad 3px 5px)}.sw.notready{background:#5f6368;height:4px}
.sw.takeover{background:#6a1b9a;height:3px}.sw.violation{background:#b00020;width:4px}.sw.unknown{background:#e69500;width:4px}
.sw.p0{background:#1f77b4}.sw.p1{background:#ff7f0e}.sw.p2{background:#2ca02c}.sw.p3{background:#9467bd}.sw.p4{background:#8c564b}.sw.p5{background:#e377c2}.sw.p6{background:#17becf}.sw.p7{background:#bcbd22}
.sw.q50{background:#1d232b;height:3px}.sw.q95{background:#e8710a;height:3px}.sw.qmax{background:#b00020;height:2px}.sw.started{background:#5f6368;height:3px}.sw.done{background:#1e7b34;height:3px}
@page{size:A4 landscape;margin:10mm}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{background:#fff;font-size:10.5pt}main{max-width:none;padding:0}nav,#tip{display:none}
 figure,.card,.diag,table,tr{break-inside:avoid}h2{break-after:avoid}
 figure{border:none;padding:0}svg.chart{max-width:100%}
 a{color:inherit;text-decoration:none}
 .evidence:target{box-shadow:none}
}
</style></head><body><main>
<header>
<h1>chaosd: <span class="badge {{.Status}}">{{upper .Status}}</span></h1>
<p class="meta">{{clock .D.From}} – {{clock .D.To}} UTC ({{.Span}}) · {{.D.Verdicts.Events}} events · {{len .D.Pods}} pods · {{.Sum.Runs}} runs · {{.Sum.Faults}} faults{{if .D.Target}} · target {{.D.Target}}{{end}}{{if .D.Version}} · chaosd {{.D.Version}}{{end}}{{if not .D.Verdicts.Ended}} · the history has no end line{{end}}{{if .D.Verdicts.Torn}}, its last line is torn{{end}}</p>
<nav><a href="#timeline">Timeline</a><a href="#latency">Latency</a><a href="#throughput">Throughput</a><a href="#invariants">Invariants</a>{{if .Diagnoses}}<a href="#diagnoses">Diagnoses</a>{{end}}<a href="#faults">Faults</a>{{if .D.Owners}}<a href="#owners">Owner changes</a>{{end}}{{if .Outages}}<a href="#outages">Outages</a>{{end}}{{if .BadRuns}}<a href="#runs">Runs not completed</a>{{end}}</nav>
</header>
<section class="cards" aria-label="summary">
<div class="card"><div class="k">runs</div><div class="v">{{.Sum.Runs}}</div><div class="s">{{.Sum.Completed}} completed · {{.Sum.Failed}} failed · {{.Sum.Never}} never seen finishing</div></div>
<div class="card{{if or .Sum.Failed .Sum.Never}} warn{{end}}"><div class="k">latency (start → finish seen)</div><div class="v">{{if .Sum.P50}}{{.Sum.P50}}{{else}}–{{end}}</div><div class="s">p50{{if .Sum.P50}} · p95 {{.Sum.P95}} · p99 {{.Sum.P99}} · max {{.Sum.Max}}{{end}}</div></div>
<div class="card"><div class="k">faults</div><div class="v">{{.Sum.Faults}}</div><div class="s">{{if .Sum.FaultKinds}}{{.Sum.FaultKinds}} · {{end}}{{.Sum.Healed}} healed</div></div>
<div class="card"><div class="k">owner changes</div><div class="v">{{.Sum.OwnerChanges}}</div><div class="s">runs that moved to another pod</div></div>
<div class="card{{if .Sum.Violations}} bad{{end}}"><div class="k">violations</div><div class="v">{{.Sum.Violations}}</div><div class="s">{{.Sum.FailedInvariant}} invariants failed</div></div>
<div class="card{{if .Sum.Unknowns}} warn{{end}}"><div class="k">unobserved windows</div><div class="v">{{.Sum.Unknowns}}</div><div class="s">could not be judged</div></div>
<div class="card{{if .Sum.Outages}} warn{{end}}"><div class="k">dependency outages</div><div class="v">{{.Sum.Outages}}</div><div class="s">{{if .Sum.Outages}}{{.Sum.Downtime}} in all{{else}}Postgres, NATS, Docker reachable{{end}}</div></div>
</section>

<h2 id="timeline">Timeline</h2>
<figure>
<div class="legend">
{{if .Detail}}<span><i class="sw bar"></i>run: start → finish seen</span><span><i class="sw failed"></i>failed</span><span><i class="sw never"></i>never seen finishing</span><span><i class="sw partial"></i>a watcher missed the finish</span>
{{else}}<span><i class="sw bar"></i>runs in flight (shade and line)</span><span><i class="sw failed"></i>failed</span><span><i class="sw never"></i>never seen finishing</span>
{{end}}<span><i class="sw takeover"></i>owner change</span>
{{range .Kinds}}<span><i class="sw {{.}}"></i>{{.}}</span>{{end}}
<span><i class="sw notready"></i>pod not ready</span><span>✕ / ▲ container died / started</span><span><i class="sw outage"></i>dependency outage</span>
<span><i class="sw violation"></i>violation</span><span><i class="sw unknown"></i>unobserved window</span>
</div>
{{.Timeline}}
<figcaption>One lane per pod. {{if .Detail}}Each run is a bar from its start to its decision, on the lane of the pod that owned it; an arrow marks the moment its owner reading named another pod.{{else}}{{.Sum.Runs}} runs are too many to draw one by one: each lane shades the runs in flight on the pod, with failed and unfinished runs drawn on their own.{{end}} Fault windows are drawn on the lane of the pod they hit (across every lane when they hit all). Hover for details; a violation's marker links to its evidence below.</figcaption>
</figure>

<h2 id="latency">Latency</h2>
<figure>
<div class="legend">{{if .Detail}}{{range .Pods}}<span><i class="sw {{.Class}}"></i>run started on {{.Name}}</span>{{end}}{{end}}<span><i class="sw q50"></i>p50 per {{.Bucket}}</span><span><i class="sw q95"></i>p95</span>{{if not .Detail}}<span><i class="sw qmax"></i>max</span>{{end}}<span><i class="sw kill"></i>fault window</span><span><i class="sw outage"></i>dependency outage</span></div>
{{.Latency}}
<figcaption>Time from a run's start to the first finish a watcher saw, at the run's start{{if .Detail}} (a dot per run){{end}}; the lines are the quantiles of the runs started in each {{.Bucket}}. Runs never seen finishing are marked above the plot.</figcaption>
</figure>

<h2 id="throughput">Throughput</h2>
<figure>
<div class="legend"><span><i class="sw started"></i>started</span><span><i class="sw done"></i>finish seen</span><span><i class="sw failed"></i>failed or never seen finishing</span></div>
{{.Throughput}}
<figcaption>Runs per {{.Bucket}}.</figcaption>
</figure>

<h2 id="invariants">Invariants</h2>
<table class="verdicts"><tr><th>invariant</th><th>status</th><th title="cases judged, each in the invariant's unit; the other counts are parts of it">checked</th><th title="of checked, the cases a chaosd fault bore on">under fault</th><th title="of checked, the violations found">violated</th><th title="of checked, the cases that could not be decided">unknown</th><th>first finding</th></tr>
{{range .Verdicts}}<tr><td>{{if .Anchor}}<a href="#{{.Anchor}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</td><td class="{{.Status}}">{{.Status}}</td><td class="num">{{.Checks}}</td><td class="num">{{.UnderFault}}</td><td class="num">{{.Violations}}</td><td class="num">{{.Unknowns}}</td><td>{{.Message}}</td></tr>
{{end}}</table>
<details class="note"><summary>What the columns and statuses mean</summary><pre>{{.Legend}}</pre></details>

{{if or .Diagnoses .Notes}}<h2 id="diagnoses">Diagnoses</h2>
{{range .Diagnoses}}<div class="diag st-{{.Status}}" id="{{.Anchor}}"><h3>{{.Name}}: <span class="{{.Status}}">{{.Status}}</span></h3><p class="note">{{.Head}}</p>
{{range .Findings}}<div class="evidence ev-{{.Kind}}" id="{{.Anchor}}"><div class="lbl">{{.Label}} · {{.At}}{{if .Run}} · run {{.Run}}{{end}} <a href="#timeline" title="back to the timeline">↑ timeline</a></div><div class="msg">{{.Message}}</div>{{if .Details}}<pre>{{.Details}}</pre>{{end}}</div>
{{end}}{{range .More}}<p class="more">{{.}}</p>{{end}}{{range .Notes}}<p class="note">note: {{.}}</p>{{end}}</div>
{{end}}{{range .Notes}}<p class="note">note: {{.}}</p>{{end}}{{end}}

<h2 id="faults">Faults</h2>
<table><tr><th>fault</th><th>kind</th><th>pod</th><th>target</th><th>injected</th><th>healed</th><th>held</th><th>outcome</th></tr>
{{range .Faults}}<tr><td>{{.ID}}</td><td>{{.Kind}}</td><td>{{.Pod}}</td><td>{{.Target}}</td><td>{{clock .Injected}}</td><td>{{clock .Healed}}</td><td class="num">{{if and (not .Injected.IsZero) (not .Healed.IsZero)}}{{dur (.Healed.Sub .Injected)}}{{end}}</td><td>{{.Outcome}}</td></tr>
{{else}}<tr><td colspan="8">no faults</td></tr>{{end}}</table>
{{if .FaultsMore}}<p class="more">… {{.FaultsMore}} more faults</p>{{end}}

{{if .D.Owners}}<h2 id="owners">Owner changes</h2>
<table><tr><th>at</th><th>run</th><th>from</th><th>to</th></tr>
{{range .Owners}}<tr><td>{{clock .At}}</td><td>{{.Run}}</td><td>{{.From}}</td><td>{{.To}}</td></tr>
{{end}}</table>{{if .OwnersMore}}<p class="more">… {{.OwnersMore}} more owner changes</p>{{end}}{{end}}

{{if .Outages}}<h2 id="outages">Dependency outages</h2>
<table><tr><th>dependency</th><th>unreachable</th><th>why</th></tr>
{{range .Outages}}<tr><td>{{.Name}}</td><td>{{.Span}}</td><td>{{.Err}}</td></tr>
{{end}}</table>{{end}}

{{if .BadRuns}}<h2 id="runs">Runs not completed, or not seen by every watcher</h2>
<table class="runs"><tr><th>run</th><th>pod</th><th>started</th><th>outcome</th><th>owner changes</th><th>what the watchers saw</th></tr>
{{range .BadRuns}}<tr><td>{{.ID}}</td><td>{{.Pod}}</td><td>{{clock .Start}}</td><td>{{.Outcome}}{{if .Err}}: {{.Err}}{{end}}{{if .Status}} (thread {{.Status}}){{end}}</td><td><pre>{{.Owners}}</pre></td><td><pre>{{.Watchers}}</pre></td></tr>
{{end}}</table>{{if .BadRunsMore}}<p class="more">… {{.BadRunsMore}} more</p>{{end}}{{end}}
<p class="note">Written by chaosd report; self-contained (no network): {{.Elements}} chart elements.</p>
</main>
<div id="tip" role="tooltip"></div>
<script>
(function(){
  var tip = document.getElementById("tip");
  if (!tip || !document.querySelectorAll) { return; }
  var titles = document.querySelectorAll("svg title");
  for (var i = 0; i < titles.length; i++) {
    var t = titles[i], p = t.parentNode;
    if (p && p.setAttribute) { p.setAttribute("data-tip", t.textContent); p.removeChild(t); }
  }
  document.addEventListener("mousemove", function (ev) {
    var el = ev.target && ev.target.closest ? ev.target.closest("[data-tip]") : null;
    if (!el) { tip.style.display = "none"; return; }
    tip.textContent = el.getAttribute("data-tip");
    tip.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 8) { x = ev.clientX - tip.offsetWidth - 14; }
    if (y + tip.offsetHeight > window.innerHeight - 8) { y = ev.clientY - tip.offsetHeight - 14; }
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  });
})();
</script>
</body></html>
`))

// WriteHTML writes the report page: self-contained (inline SVG, CSS and a little
// script for the hover texts; the page works and prints without it).
func WriteHTML(w io.Writer, d *Data) error {
	if err := pageTmpl.Execute(w, newPage(d)); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	return nil
}
