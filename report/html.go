package report

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
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

// Chart geometry of the timeline.
const (
	chartW, chartH = 900.0, 260.0
	padL, padB     = 50.0, 30.0
)

// timelineSVG draws run latencies over time (a dot per run at its start; a cross at
// the top for a run never seen finishing), fault windows shaded, and violations as
// red lines.
func timelineSVG(d *Data) template.HTML {
	span := d.To.Sub(d.From)
	if span <= 0 {
		span = time.Second
	}
	maxLat := time.Second
	for _, r := range d.Runs {
		maxLat = max(maxLat, r.Latency)
	}
	x := func(t time.Time) float64 { return padL + (chartW-padL)*float64(t.Sub(d.From))/float64(span) }
	y := func(l time.Duration) float64 { return (chartH - padB) * (1 - float64(l)/float64(maxLat)) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="timeline">`, chartW, chartH)
	for _, f := range d.Faults {
		if f.Injected.IsZero() {
			continue
		}
		end := f.Healed
		if end.IsZero() {
			end = d.To
		}
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="0" width="%.1f" height="%.0f"><title>%s %s %s–%s</title></rect>`,
			x(f.Injected), max(1, x(end)-x(f.Injected)), chartH-padB, template.HTMLEscapeString(f.Kind), template.HTMLEscapeString(f.Pod), clock(f.Injected), clock(f.Healed))
	}
	for _, v := range d.Verdicts.Verdicts {
		for _, f := range v.Evidence {
			fmt.Fprintf(&b, `<line class="violation" x1="%.1f" x2="%.1f" y1="0" y2="%.0f"><title>%s: %s</title></line>`,
				x(f.At), x(f.At), chartH-padB, v.Name, template.HTMLEscapeString(f.Message))
		}
	}
	for _, r := range d.Runs {
		if r.Latency > 0 {
			fmt.Fprintf(&b, `<circle class="run" cx="%.1f" cy="%.1f" r="3"><title>%s on %s: %s</title></circle>`, x(r.Start), y(r.Latency), r.ID, r.Pod, r.Latency.Round(time.Millisecond))
		} else {
			fmt.Fprintf(&b, `<text class="lost" x="%.1f" y="10">×<title>%s on %s: never seen finishing</title></text>`, x(r.Start), r.ID, r.Pod)
		}
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f"/>`, padL, chartW, chartH-padB, chartH-padB)
	fmt.Fprintf(&b, `<line class="axis" x1="%.0f" x2="%.0f" y1="0" y2="%.0f"/>`, padL, padL, chartH-padB)
	fmt.Fprintf(&b, `<text x="2" y="12">%s</text><text x="2" y="%.0f">0</text>`, maxLat.Round(100*time.Millisecond), chartH-padB)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text><text x="%.0f" y="%.0f" text-anchor="end">%s (UTC)</text></svg>`,
		padL, chartH-8, clock(d.From), chartW, chartH-8, clock(d.To))
	return template.HTML(b.String())
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"clock": clock, "upper": strings.ToUpper}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chaosd report: {{upper (printf "%s" .D.Verdicts.Status)}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.pass{color:#176f2c}.fail{color:#b00020;font-weight:bold}.unknown,.not-exercised{color:#a36b00;font-weight:bold}.not-promised{color:#5b5b8f;font-weight:bold}
svg .fault{fill:#f3c9c9;opacity:.7}svg .violation{stroke:#b00020;stroke-width:2}svg .run{fill:#1f5fbf}
svg .lost{fill:#b00020;font-weight:bold}svg .axis{stroke:#555}svg text{font-size:11px;fill:#444}
</style></head><body>
<h1>chaosd: <span class="{{.D.Verdicts.Status}}">{{upper (printf "%s" .D.Verdicts.Status)}}</span></h1>
<p>{{clock .D.From}} to {{clock .D.To}} UTC, {{.D.Verdicts.Events}} events, {{len .D.Runs}} runs, {{len .D.Faults}} faults.</p>
<h2>Timeline</h2>
<p>Dots: run latency (start to a watcher's finish) at the run's start; ×: a run never seen finishing; shaded: fault windows; red lines: violations.</p>
{{.SVG}}
<h2>Invariants</h2>
<table><tr><th>invariant</th><th>status</th><th>checks</th><th>exercised</th><th>under fault</th><th>violations</th><th>unknown</th><th>first finding</th></tr>
{{range .D.Verdicts.Verdicts}}<tr><td>{{.Name}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Checks}}</td><td>{{.Exercised}}</td><td>{{.UnderFault}}</td><td>{{.Violations}}</td><td>{{.Unknowns}}</td><td>{{.Message}}</td></tr>
{{end}}</table>
<h2>Faults</h2>
<table><tr><th>fault</th><th>kind</th><th>pod</th><th>target</th><th>injected</th><th>healed</th><th>outcome</th></tr>
{{range .D.Faults}}<tr><td>{{.ID}}</td><td>{{.Kind}}</td><td>{{.Pod}}</td><td>{{.Target}}</td><td>{{clock .Injected}}</td><td>{{clock .Healed}}</td><td>{{.Outcome}}</td></tr>
{{else}}<tr><td colspan="7">no faults</td></tr>{{end}}</table>
{{range .D.Verdicts.Verdicts}}{{if .Evidence}}<h3>{{.Name}}</h3><pre>{{range .Evidence}}{{.String}}
{{end}}</pre>{{end}}{{end}}
</body></html>
`))

// WriteHTML writes the report page.
func WriteHTML(w io.Writer, d *Data) error {
	if err := page.Execute(w, struct {
		D   *Data
		SVG template.HTML
	}{d, timelineSVG(d)}); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	return nil
}
