// Package browsercheck opens a chaosd report page (report.html) in headless
// Chromium and checks it as a person would see it: no console error and no
// uncaught exception, no request to anything but the page itself (the page is
// self-contained), one timeline lane per pod, the fault windows and the violation
// markers in the DOM, every marker linked to an evidence block that exists, hover
// texts that show. It keeps a full-page PNG screenshot (and a printed PDF) as
// artifacts. The tests of package report and the e2e soaks use it.
package browsercheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ExecPath is the Chromium (or Chrome) binary to drive: $CHAOSD_CHROMIUM, else the
// first of chromium (Debian's package), chromium-browser, google-chrome-stable and
// google-chrome on the PATH; empty when there is none.
func ExecPath() string {
	if p := os.Getenv("CHAOSD_CHROMIUM"); p != "" {
		if full, err := exec.LookPath(p); err == nil {
			return full
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if full, err := exec.LookPath(name); err == nil {
			return full
		}
	}
	return ""
}

// ArtifactDir is where screenshots are kept: $CHAOSD_ARTIFACTS when set, else
// bin/artifacts at the root of the module (the directory holding go.mod above the
// working directory), created if missing.
func ArtifactDir() (string, error) {
	dir := os.Getenv("CHAOSD_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		root := wd
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				root = wd
				break
			}
			root = parent
		}
		dir = filepath.Join(root, "bin", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// Result is what the browser saw of the page.
type Result struct {
	Title      string   `json:"title"`
	Lanes      []string `json:"lanes"`      // data-pod of each timeline lane, in order
	Faults     int      `json:"faults"`     // fault windows on the timeline
	FaultPods  []string `json:"faultPods"`  // the lane (pod, or "all pods") of each
	Bars       int      `json:"bars"`       // run bars (each run, or each failed run of an aggregated lane)
	Density    int      `json:"density"`    // heat-strip cells of an aggregated timeline
	Takeovers  int      `json:"takeovers"`  // owner-change marks
	Violations int      `json:"violations"` // violation markers
	Unknowns   int      `json:"unknowns"`   // unobserved-window markers
	Evidence   int      `json:"evidence"`   // evidence blocks in the diagnoses
	Broken     []string `json:"broken"`     // marker links whose target is not in the page
	NoTip      int      `json:"noTip"`      // markers without hover text
	TipShown   bool     `json:"tipShown"`   // hovering a marker showed its text
	TipText    string   `json:"tipText"`    // what it showed
	Verdicts   int      `json:"verdicts"`   // rows of the invariant table
	Ticks      int      `json:"ticks"`      // time-axis labels of the timeline
	TimelineW  float64  `json:"timelineW"`  // the timeline's width on screen, in CSS pixels
	Elements   int      `json:"elements"`   // elements in the page
	Console    []string `json:"-"`          // console errors and uncaught exceptions
	Requests   []string `json:"-"`          // requests to anything but the page
	Screenshot string   `json:"-"`          // the PNG kept
	PDF        string   `json:"-"`          // the printed PDF kept
	PDFBytes   int      `json:"-"`          // its size
}

// Options of Check.
type Options struct {
	ExecPath   string        // default ExecPath()
	Screenshot string        // PNG path to write; empty: none
	PDF        string        // PDF path to print to; empty: none
	Timeline   string        // PNG path for the timeline chart alone, at twice the scale; empty: none
	Width      int64         // viewport width, default 1400
	Timeout    time.Duration // default 90 s
}

// probe is the script that reads the page.
const probe = `(() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const tl = document.getElementById("timeline-svg");
  const marks = q("#timeline-svg a.violation-mark, #timeline-svg a.unknown-mark");
  const href = (a) => a.getAttribute("href") || a.getAttributeNS("http://www.w3.org/1999/xlink", "href") || "";
  const broken = marks.map(href).filter((h) => !h.startsWith("#") || !document.getElementById(h.slice(1)));
  const noTip = marks.filter((a) => !a.getAttribute("data-tip") && !a.querySelector("title")).length;
  let tipShown = false, tipText = "";
  const v = document.querySelector("#timeline-svg a.violation-mark path, #timeline-svg a.violation-mark line");
  if (v) {
    const r = v.getBoundingClientRect();
    v.dispatchEvent(new MouseEvent("mousemove", {bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}));
    const tip = document.getElementById("tip");
    tipShown = !!tip && getComputedStyle(tip).display !== "none" && tip.textContent.length > 0;
    tipText = tip ? tip.textContent : "";
    document.body.dispatchEvent(new MouseEvent("mousemove", {bubbles: true, clientX: 1, clientY: 1}));
  }
  return {
    title: document.title,
    lanes: q("#timeline-svg g.lane").map((g) => g.getAttribute("data-pod")),
    faults: q("#timeline-svg .fault").length,
    faultPods: q("#timeline-svg .fault").map((f) => f.getAttribute("data-pod")),
    bars: q("#timeline-svg .bar").length,
    density: q("#timeline-svg .density").length,
    takeovers: q("#timeline-svg .takeover").length,
    violations: q("#timeline-svg a.violation-mark").length,
    unknowns: q("#timeline-svg a.unknown-mark").length,
    evidence: q(".evidence[id]").length,
    broken: broken,
    noTip: noTip,
    tipShown: tipShown,
    tipText: tipText,
    verdicts: q("table.verdicts tr").length - 1,
    ticks: q("#timeline-svg .x-axis .tick-label").length,
    timelineW: tl ? tl.getBoundingClientRect().width : 0,
    elements: document.getElementsByTagName("*").length,
  };
})()`

// Check loads the page at path in headless Chromium and reads it.
func Check(ctx context.Context, path string, o Options) (*Result, error) {
	if o.ExecPath == "" {
		o.ExecPath = ExecPath()
	}
	if o.ExecPath == "" {
		return nil, errors.New("browsercheck: no chromium binary (apt-get install chromium, or set CHAOSD_CHROMIUM)")
	}
	if o.Width == 0 {
		o.Width = 1400
	}
	if o.Timeout == 0 {
		o.Timeout = 90 * time.Second
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	pageURL := (&url.URL{Scheme: "file", Path: abs}).String()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(o.ExecPath),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(int(o.Width), 1000),
		// No network: any name resolves to nothing, so a page that reached out
		// would fail loudly (and its request is listed in Result.Requests).
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	res := &Result{}
	var mu sync.Mutex
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				res.Console = append(res.Console, "console."+string(e.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			res.Console = append(res.Console, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				res.Console = append(res.Console, fmt.Sprintf("log error (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			if u := e.Request.URL; u != pageURL && !strings.HasPrefix(u, "data:") {
				res.Requests = append(res.Requests, u)
			}
		}
	}); err != nil {
		return nil, fmt.Errorf("browsercheck: start chromium: %w", err)
	}
	tctx, cancelT := context.WithTimeout(bctx, o.Timeout)
	defer cancelT()
	if err := chromedp.Do(tctx,
		chromedp.EmulateViewport(o.Width, 1000),
		chromedp.Navigate(pageURL),
		chromedp.WaitReady("body"),
		chromedp.Sleep(300*time.Millisecond), // let the script and the layout settle
	); err != nil {
		return nil, fmt.Errorf("browsercheck: load %s: %w", pageURL, err)
	}
	raw, err := chromedp.Run(tctx, chromedp.Evaluate[json.RawMessage](probe))
	if err != nil {
		return nil, fmt.Errorf("browsercheck: read the page: %w", err)
	}
	mu.Lock()
	err = json.Unmarshal(raw, res)
	mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("browsercheck: %w", err)
	}
	if o.Screenshot != "" {
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			return nil, fmt.Errorf("browsercheck: screenshot: %w", err)
		}
		if err := os.WriteFile(o.Screenshot, png, 0o644); err != nil {
			return nil, err
		}
		res.Screenshot = o.Screenshot
	}
	if o.Timeline != "" {
		png, err := chromedp.Run(tctx, chromedp.ScreenshotScale(chromedp.ID("timeline-svg"), 2))
		if err != nil {
			return nil, fmt.Errorf("browsercheck: timeline screenshot: %w", err)
		}
		if err := os.WriteFile(o.Timeline, png, 0o644); err != nil {
			return nil, err
		}
	}
	if o.PDF != "" {
		pdf, err := chromedp.Run(tctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFLandscape(),
			chromedp.PDFPrintBackground(), chromedp.PDFPreferCSSPageSize()))
		if err != nil {
			return nil, fmt.Errorf("browsercheck: print: %w", err)
		}
		if err := os.WriteFile(o.PDF, pdf, 0o644); err != nil {
			return nil, err
		}
		res.PDF, res.PDFBytes = o.PDF, len(pdf)
	}
	time.Sleep(100 * time.Millisecond) // the last console events
	mu.Lock()
	defer mu.Unlock()
	res.Console = append([]string{}, res.Console...)
	res.Requests = append([]string{}, res.Requests...)
	return res, nil
}

// Want is what a report page must show.
type Want struct {
	Pods          []string // exactly these lanes, in order; nil: at least one lane
	MinFaults     int      // fault windows on the timeline, at least
	MinViolations int      // violation markers, at least
	NoViolations  bool     // and none at all (a clean run)
}

// SkipWithoutChromium skips t for want of a chromium binary, or fails it when
// CHAOSD_REQUIRE_BROWSER is set (make test sets it: CI installs chromium, so a
// browser check that did not run there is a failure, not a skip).
func SkipWithoutChromium(t testing.TB) {
	t.Helper()
	const msg = "no chromium binary on this machine (apt-get install chromium, or set CHAOSD_CHROMIUM)"
	if os.Getenv("CHAOSD_REQUIRE_BROWSER") != "" {
		t.Fatal(msg + ", and CHAOSD_REQUIRE_BROWSER is set: the browser check of the report must run")
	}
	t.Skip(msg + ": the browser check of the report is skipped")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Verify checks the page at path in headless Chromium against want, failing t on
// any console error, exception, request off the page, missing lane, fault or
// marker, or a marker whose evidence link leads nowhere; it keeps a full-page
// screenshot, <ArtifactDir>/<test name>.png, the timeline alone, <test
// name>-timeline.png, and a printed <test name>.pdf. It skips
// t when there is no chromium binary.
func Verify(t testing.TB, path string, want Want) *Result {
	t.Helper()
	bin := ExecPath()
	if bin == "" {
		SkipWithoutChromium(t)
	}
	dir, err := ArtifactDir()
	if err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	res, err := Check(context.Background(), path, Options{ExecPath: bin,
		Screenshot: filepath.Join(dir, name+".png"), PDF: filepath.Join(dir, name+".pdf"), Timeline: filepath.Join(dir, name+"-timeline.png")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("browser: %d lanes %v, %d faults, %d bars, %d heat cells, %d owner changes, %d violations, %d unknowns, %d evidence blocks, %d ticks, timeline %.0f px wide, %d elements; screenshot %s, PDF %s (%d bytes)",
		len(res.Lanes), res.Lanes, res.Faults, res.Bars, res.Density, res.Takeovers, res.Violations, res.Unknowns, res.Evidence, res.Ticks, res.TimelineW, res.Elements,
		res.Screenshot, res.PDF, res.PDFBytes)
	for _, c := range res.Console {
		t.Errorf("console: %s", c)
	}
	for _, r := range res.Requests {
		t.Errorf("the page requested %s: it must be self-contained", r)
	}
	if want.Pods != nil {
		if strings.Join(res.Lanes, ",") != strings.Join(want.Pods, ",") {
			t.Errorf("lanes %v, want one per pod %v", res.Lanes, want.Pods)
		}
	} else if len(res.Lanes) == 0 {
		t.Error("the timeline has no lane")
	}
	if res.Faults < want.MinFaults {
		t.Errorf("%d fault windows on the timeline, want at least %d", res.Faults, want.MinFaults)
	}
	if res.Violations < want.MinViolations {
		t.Errorf("%d violation markers, want at least %d", res.Violations, want.MinViolations)
	}
	if want.NoViolations && res.Violations > 0 {
		t.Errorf("%d violation markers on a clean run", res.Violations)
	}
	if len(res.Broken) > 0 {
		t.Errorf("markers link to evidence that is not in the page: %v", res.Broken)
	}
	if res.NoTip > 0 {
		t.Errorf("%d markers have no hover text", res.NoTip)
	}
	if res.Violations > 0 && !res.TipShown {
		t.Error("hovering a violation marker shows no text")
	}
	if res.Evidence < res.Violations+res.Unknowns {
		t.Errorf("%d evidence blocks for %d markers", res.Evidence, res.Violations+res.Unknowns)
	}
	if res.Ticks < 3 {
		t.Errorf("the time axis has %d tick labels, want at least 3", res.Ticks)
	}
	if res.TimelineW < 900 {
		t.Errorf("the timeline is %.0f px wide in a 1400 px window: squeezed", res.TimelineW)
	}
	if res.PDFBytes == 0 {
		t.Error("the page printed to an empty PDF")
	}
	return res
}
