//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/chaosd/chaosd/history"
	"github.com/chaosd/chaosd/internal/testam"
	"github.com/chaosd/chaosd/invariants"
)

// soakConfig is the compressed soak's configuration: shorter holds than the
// overnight defaults, so that every kind fires several times in a few minutes.
const soakConfig = `
faults:
  kinds:
    kill: {down_for: 5s}
    pause: {duration: 8s}
    partition: {duration: 8s}
soak:
  rate: 0.5
  max_in_flight: 6
  history_max: 1MiB
  compress: true
  progress: log
`

// soakRun is one chaosd soak process and what it left.
type soakRun struct {
	base string // --out
	dir  string // the soak's own directory, --out/latest
	code int
	out  string // what chaosd printed
	took time.Duration
}

// runSoak runs chaosd soak with args against the bundled cluster; during runs
// alongside it (given the metrics URL) and may act on the cluster.
func runSoak(t *testing.T, timeout time.Duration, args []string, during func(metricsURL string)) *soakRun {
	t.Helper()
	bin := chaosdBin(t)
	r := &soakRun{base: t.TempDir()}
	cfg := filepath.Join(r.base, "chaosd.yaml")
	if err := os.WriteFile(cfg, []byte(soakConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	args = append([]string{"soak", "--config", cfg, "--out", r.base, "--ledger", filepath.Join(r.base, "ledger.jsonl"),
		"--metrics-addr", addr, "--log-level=warn"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 30 * time.Second
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	if during != nil {
		wg.Go(func() { during("http://" + addr + "/metrics") })
	}
	err := cmd.Wait()
	wg.Wait()
	r.took, r.out = time.Since(start), out.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("chaosd %v: %v\n%s", args, err, r.out)
	}
	t.Logf("chaosd soak exited %d after %s", r.code, r.took.Round(time.Second))
	latest, err := filepath.EvalSymlinks(filepath.Join(r.base, "latest"))
	if err != nil {
		t.Fatalf("the soak's directory: %v\n%s", err, r.out)
	}
	r.dir = latest
	return r
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// scrapeUntil scrapes url until ok says the text will do, or until the deadline.
func scrapeUntil(url string, within time.Duration, ok func(string) bool) string {
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if ok(last) {
				return last
			}
		}
		time.Sleep(2 * time.Second)
	}
	return last
}

// metricValue is a sample's value from a scrape, -1 when absent.
func metricValue(scrape, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(scrape))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// checkReports checks the soak's report files: the HTML page with its timeline, the
// JUnit file (one case per invariant, failures for anything but pass) and the
// summary.
func checkReports(t *testing.T, dir string, rep invariants.Report) string {
	t.Helper()
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", `class="fault"`, `class="run"`, "run-completes"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit.xml: %v, %d suites, want 1", err, len(suites.Suites))
	}
	suite := suites.Suites[0]
	notPass := 0
	for _, v := range rep.Verdicts {
		if v.Status != invariants.Pass {
			notPass++
		}
	}
	failed := 0
	for _, c := range suite.Cases {
		if c.Failure != nil {
			failed++
		}
	}
	if len(suite.Cases) != len(rep.Verdicts) || suite.Tests != len(rep.Verdicts) || suite.Failures != notPass || failed != notPass {
		t.Errorf("junit.xml: %d cases (%d failures), the history has %d verdicts (%d not pass)", len(suite.Cases), suite.Failures, len(rep.Verdicts), notPass)
	}
	if md, err := os.ReadFile(filepath.Join(dir, "summary.md")); err != nil || !strings.Contains(string(md), string(rep.Status)) {
		t.Errorf("summary.md: %v, does not state %s", err, rep.Status)
	}
	return string(html)
}

// soakHistory re-checks the soak's (rotated) history offline.
func soakHistory(t *testing.T, dir string, each func(*history.Event)) invariants.Report {
	t.Helper()
	r, c, err := history.Open(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := invariants.AnalyzeEach(r, invariants.Params{}, nil, each)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestE2ESoakClean is the compressed soak: five minutes against the clean testbed
// with all three owner faults on schedules of tens of seconds. Every invariant must
// pass and be exercised, every fault healed, the report files valid, and /metrics
// must show runs and faults while it runs.
func TestE2ESoakClean(t *testing.T) {
	newCluster(t)
	r := runSoak(t, 9*time.Minute, []string{"--duration", "5m", "--warmup", "20s", "--cooldown", "50s",
		"--schedule", "kill=@every 40s;pause=@every 50s;partition=@every 60s"}, func(url string) {
		scrape := scrapeUntil(url, 4*time.Minute, func(s string) bool {
			return metricValue(s, `chaosd_runs_total{outcome="completed"}`) > 0 && metricValue(s, `chaosd_faults_total{kind="kill",outcome="healed"}`) > 0
		})
		if metricValue(scrape, `chaosd_runs_total{outcome="completed"}`) <= 0 {
			t.Errorf("/metrics never showed a completed run:\n%.2000s", scrape)
		}
		if metricValue(scrape, `chaosd_faults_total{kind="kill",outcome="healed"}`) <= 0 {
			t.Errorf("/metrics never showed a healed kill")
		}
	})
	if r.code != 0 {
		t.Errorf("exit %d, want 0:\n%s", r.code, r.out)
	}
	kinds := map[string]int{}
	rotated := 0
	rep := soakHistory(t, r.dir, func(e *history.Event) {
		if e.Type == history.TypeFault && e.Fault.Phase == history.FaultHealed {
			kinds[e.Fault.Kind]++
		}
	})
	segs, _ := history.Segments(filepath.Join(r.dir, "history.jsonl"))
	rotated = len(segs)
	for _, v := range rep.Verdicts {
		if v.Status != invariants.Pass || v.Exercised == 0 {
			t.Errorf("%s: %s (exercised %d): %s", v.Name, v.Status, v.Exercised, v.Message())
		}
	}
	for _, k := range []string{"kill", "pause", "partition"} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault was injected and healed: %v", k, kinds)
		}
	}
	if !strings.Contains(r.out, "final quiet check") || !strings.Contains(r.out, "0 violations, every pod ready: true") {
		t.Errorf("final quiet check not clean:\n%s", r.out)
	}
	checkReports(t, r.dir, rep)
	checkReportInBrowser(t, r.dir, 0)
	t.Logf("faults healed by kind %v; history segments rotated: %d\n%s", kinds, rotated, tail(r.out, 40))
}

// TestE2ESoakDefectAlerts runs a soak against the testbed with deliver-new on: the
// prefix-replay violation must reach a real Alertmanager (and through it, its
// webhook receiver) and a plain webhook, each within alertWithin of being found,
// and the report must mark it on the timeline.
func TestE2ESoakDefectAlerts(t *testing.T) {
	const alertWithin = 10 * time.Second
	bootCluster(t, "deliver-new")
	t.Cleanup(func() { bootCluster(t, "") })
	newCluster(t)
	type arrival struct {
		at   time.Time
		body string
	}
	var mu sync.Mutex
	var hook, am []arrival
	record := func(list *[]arrival) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			*list = append(*list, arrival{time.Now(), string(b)})
			mu.Unlock()
		}
	}
	hookSrv := httptest.NewServer(record(&hook))
	defer hookSrv.Close()
	amRecv := httptest.NewServer(record(&am))
	defer amRecv.Close()
	amURL := testam.Start(t, testam.Bin(t), amRecv.URL+"/am")

	r := runSoak(t, 6*time.Minute, []string{"--duration", "150s", "--warmup", "10s", "--cooldown", "40s",
		"--schedule", "kill=@every 30s", "--alert-webhook", hookSrv.URL + "/secret-token-path", "--alertmanager", amURL}, nil)
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (violated):\n%s", r.code, tail(r.out, 60))
	}
	if strings.Contains(r.out, "secret-token-path") {
		t.Error("the webhook URL's secret path was printed")
	}
	rep := soakHistory(t, r.dir, nil)
	var pr invariants.Verdict
	for _, v := range rep.Verdicts {
		if v.Name == invariants.NamePrefixReplay {
			pr = v
		}
	}
	if pr.Status != invariants.Fail || len(pr.Evidence) == 0 {
		t.Fatalf("prefix-replay: %s, want fail", pr.Status)
	}
	found := pr.Evidence[0].At
	mu.Lock()
	defer mu.Unlock()
	firstWith := func(list []arrival, want ...string) (arrival, bool) {
		for _, a := range list {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(a.body, w)
			}
			if ok {
				return a, true
			}
		}
		return arrival{}, false
	}
	// The first violation is written to the history when its watcher reports; the
	// finding's time is the watcher's report, so lateness is measured from it.
	if a, ok := firstWith(hook, `"status":"firing"`, "prefix-replay"); !ok {
		t.Errorf("the webhook never got a firing prefix-replay alert (%d posts)", len(hook))
	} else if lag := a.at.Sub(found); lag > alertWithin {
		t.Errorf("webhook alert %s after the violation, want within %s", lag, alertWithin)
	} else {
		t.Logf("webhook: alert %s after the violation was found", lag.Round(time.Millisecond))
	}
	if a, ok := firstWith(am, `"status":"firing"`, "ChaosdInvariantViolation", "prefix-replay"); !ok {
		t.Errorf("Alertmanager's receiver never got a firing prefix-replay notification (%d posts)", len(am))
	} else if lag := a.at.Sub(found); lag > alertWithin {
		t.Errorf("Alertmanager notification %s after the violation, want within %s", lag, alertWithin)
	} else {
		t.Logf("Alertmanager: notification %s after the violation was found", lag.Round(time.Millisecond))
	}
	// One alert per cause, not one per finding.
	firing := 0
	for _, a := range hook {
		var n struct {
			Alerts []struct {
				Status    string `json:"status"`
				Invariant string `json:"invariant"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal([]byte(a.body), &n); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		for _, al := range n.Alerts {
			if al.Status == "firing" && al.Invariant == invariants.NamePrefixReplay {
				firing++
			}
		}
	}
	if firing == 0 || firing >= pr.Violations && pr.Violations > 1 {
		t.Errorf("%d firing prefix-replay alerts for %d violations: want them deduplicated", firing, pr.Violations)
	}
	html := checkReports(t, r.dir, rep)
	if !strings.Contains(html, `class="violation"`) {
		t.Error("report.html marks no violation on the timeline")
	}
	checkReportInBrowser(t, r.dir, 1)
}

// TestE2ESoakDependencyOutage stops NATS for 40 s in the middle of a soak: the
// window must give unknowns, not violations, the soak must carry on (runs complete
// after NATS is back) and end with its report.
func TestE2ESoakDependencyOutage(t *testing.T) {
	c := newCluster(t)
	dc := docker(t)
	nats, err := c.podContainer(context.Background(), dc, "nats")
	if err != nil {
		t.Fatal(err)
	}
	var stoppedAt, startedAt time.Time
	r := runSoak(t, 8*time.Minute, []string{"--duration", "200s", "--warmup", "20s", "--cooldown", "60s",
		"--schedule", "kill=@every 30s"}, func(string) {
		time.Sleep(60 * time.Second)
		ctx := context.Background()
		stoppedAt = time.Now()
		if err := dc.ContainerStop(ctx, nats, container.StopOptions{}); err != nil {
			t.Errorf("stop nats: %v", err)
		}
		time.Sleep(40 * time.Second)
		startedAt = time.Now()
		if err := dc.ContainerStart(ctx, nats, container.StartOptions{}); err != nil {
			t.Errorf("start nats: %v", err)
		}
	})
	if r.code == 1 {
		t.Errorf("exit 1: the NATS outage was judged a violation:\n%s", tail(r.out, 80))
	}
	depDown, depUp, completedAfter := false, false, 0
	rep := soakHistory(t, r.dir, func(e *history.Event) {
		if e.Type == history.TypeProbe && e.Probe.Dependency != nil && e.Probe.Dependency.Name == history.DepNATS {
			if !e.Probe.Dependency.Up {
				depDown = true
			} else if depDown {
				depUp = true
			}
		}
		if e.Type == history.TypeWatch && e.Watch.Finished && !startedAt.IsZero() && e.Watch.OpenedAt.After(startedAt.Add(10*time.Second)) {
			completedAfter++
		}
	})
	if !depDown || !depUp {
		t.Errorf("the history does not record NATS going away (%v) and coming back (%v)", depDown, depUp)
	}
	unknowns := 0
	for _, v := range rep.Verdicts {
		if v.Status == invariants.Fail {
			t.Errorf("%s failed during a dependency outage: %s", v.Name, v.Message())
		}
		unknowns += v.Unknowns
	}
	if unknowns == 0 {
		t.Errorf("no unknown window from a 40 s NATS outage:\n%s", tail(r.out, 60))
	}
	if completedAfter == 0 {
		t.Errorf("no run was seen finishing after NATS came back (%s): the soak did not carry on", startedAt.Format(time.TimeOnly))
	}
	checkReports(t, r.dir, rep)
	t.Logf("NATS stopped %s-%s; %d unknown windows; %d watchers finished after it came back", stoppedAt.Format(time.TimeOnly),
		startedAt.Format(time.TimeOnly), unknowns, completedAfter)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestE2ESoakComposeService runs the soak as deploy/docker-compose.yml's chaosd
// service (profile soak): chaosd in a container next to the cluster, with the Docker
// socket, the in-network config deploy/chaosd-soak.yaml, and /metrics published on
// 127.0.0.1 only. It must fault the pods, pass, and exit 0.
func TestE2ESoakComposeService(t *testing.T) {
	c := newCluster(t)
	dc := docker(t)
	root := repoRoot(t)
	port := freeTCPPort(t)
	cmd := exec.Command("deploy/cluster.sh", "soak")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHAOSD_SKIP_BUILD=1", "CHAOSD_SOAK_DURATION=100s", "CHAOSD_SOAK_WARMUP=10s",
		"CHAOSD_SOAK_COOLDOWN=40s", "CHAOSD_SOAK_SCHEDULE=kill=@every 20s", fmt.Sprintf("CHAOSD_METRICS_PORT=%d", port))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh soak: %v\n%s", err, out)
	}
	ctx := context.Background()
	id, err := c.podContainer(ctx, dc, "chaosd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}) })
	info, err := dc.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range info.HostConfig.PortBindings {
		for _, pb := range b {
			if pb.HostIP != "127.0.0.1" {
				t.Errorf("the soak service publishes on %q, want 127.0.0.1 only", pb.HostIP)
			}
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	scrape := scrapeUntil(url, 90*time.Second, func(s string) bool {
		return metricValue(s, `chaosd_runs_total{outcome="completed"}`) > 0
	})
	if metricValue(scrape, `chaosd_runs_total{outcome="completed"}`) <= 0 {
		t.Errorf("%s never showed a completed run", url)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	okc, errc := dc.ContainerWait(wctx, id, container.WaitConditionNotRunning)
	var code int64 = -1
	select {
	case r := <-okc:
		code = r.StatusCode
	case err := <-errc:
		t.Fatalf("waiting for the soak container: %v", err)
	}
	logs := exec.Command("deploy/cluster.sh", "logs", "chaosd")
	logs.Dir = root
	out, _ := logs.CombinedOutput()
	if code != 0 {
		t.Errorf("the soak container exited %d, want 0:\n%s", code, tail(string(out), 60))
	}
	if !strings.Contains(string(out), "final quiet check") || !strings.Contains(string(out), "kill      fired") {
		t.Errorf("no soak summary in the container's output:\n%s", tail(string(out), 40))
	}
	t.Logf("soak container exited %d:\n%s", code, tail(string(out), 22))
}
