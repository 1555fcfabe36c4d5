package metrics

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/chaosd/chaosd/history"
)

// The deploy files that name chaosd's metrics, relative to this package.
var (
	rulesFile     = filepath.Join("..", "deploy", "prometheus", "chaosd-rules.yml")
	rulesTestFile = filepath.Join("..", "deploy", "prometheus", "chaosd-rules.test.yml")
	dashboardFile = filepath.Join("..", "deploy", "grafana", "chaosd-dashboard.json")
)

// metricName matches the names of chaosd's own metrics and of the Go and process
// collectors in an expression (label names such as by_chaosd do not match: no word
// boundary inside them).
var metricName = regexp.MustCompile(`\b(?:chaosd|go|process)_[a-zA-Z0-9_]+\b`)

// exposedNames is every series name a fully fed registry exposes, histogram and
// summary parts included.
func exposedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := New(Options{Version: "test", Invariants: func() []InvariantCount { return []InvariantCount{{Name: "run-completes"}} }})
	opened := t0
	observe(m,
		fault("f1", history.KindPause, history.FaultInjected, t0), // stays active: the since gauge is exposed
		history.OpEvent(history.Op{Name: history.OpStartRun, Phase: history.PhaseOK}),
		history.WatchEvent(history.Watch{Late: true, K: 3, OpenedAt: opened, PrefixAt: opened.Add(time.Second), Finished: true}),
		history.DockerEvent(history.Docker{Action: history.DockerDie}),
		history.ProbeEvent(history.Probe{Kind: history.ProbeThread, Err: "unreachable"}, t0),
	)
	m.RunDecided("completed", time.Second)
	m.SoakStarted(t0, time.Hour)
	m.SetPhase(PhaseWarmup)
	m.SetDependency(history.DepNATS, true)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	return names
}

// ruleFile is the part of a Prometheus rule file that holds expressions.
type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleTestFile is the part of a promtool test file that names series and alerts.
type ruleTestFile struct {
	Tests []struct {
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkNames fails for every metric named in expr that the registry does not expose.
func checkNames(t *testing.T, exposed map[string]bool, where, expr string) int {
	t.Helper()
	found := metricName.FindAllString(expr, -1)
	for _, n := range found {
		if !exposed[n] {
			t.Errorf("%s uses %s, which chaosd does not expose (renamed? see package metrics)\n  expr: %s", where, n, expr)
		}
	}
	return len(found)
}

// TestReferencedMetricsExist keeps the alert rules, their tests and the dashboard in
// step with the registry: a renamed metric fails here rather than silently never
// alerting or drawing.
func TestReferencedMetricsExist(t *testing.T) {
	exposed := exposedNames(t)

	var rules ruleFile
	readYAML(t, rulesFile, &rules)
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if checkNames(t, exposed, rulesFile+": "+name, r.Expr) == 0 && !strings.Contains(r.Expr, `job="chaosd"`) {
				t.Errorf("%s: %s uses no chaosd metric: %s", rulesFile, name, r.Expr)
			}
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
			}
		}
	}
	if len(alerts) < 5 {
		t.Fatalf("%s: %d alerts read, want at least 5: %v", rulesFile, len(alerts), alerts)
	}

	var tests ruleTestFile
	readYAML(t, rulesTestFile, &tests)
	tested := map[string]bool{}
	for i, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			checkNames(t, exposed, rulesTestFile+": test "+itoa(i+1)+" series", s.Series)
		}
		for _, a := range tc.AlertRuleTest {
			tested[a.Alertname] = true
		}
	}
	for _, a := range alerts {
		if !tested[a] {
			t.Errorf("alert %s has no test in %s", a, rulesTestFile)
		}
	}

	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	exprs := map[string]string{}
	collectExprs(dash, "", exprs)
	n := 0
	for where, e := range exprs {
		n += checkNames(t, exposed, dashboardFile+": "+where, e)
	}
	if n < 20 {
		t.Errorf("%s: %d metric references found in %d expressions, want at least 20", dashboardFile, n, len(exprs))
	}
}

// collectExprs gathers every PromQL string of a dashboard: targets' and annotations'
// expr, and template variables' query and definition, keyed by where they are.
func collectExprs(v any, where string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		if title, ok := v["title"].(string); ok {
			where += "/" + title
		}
		if name, ok := v["name"].(string); ok {
			where += "/" + name
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			switch s := v[k].(type) {
			case string:
				if k == "expr" || k == "definition" || (k == "query" && strings.Contains(s, "(")) {
					out[where+"/"+k+"#"+itoa(len(out))] = s
				}
			default:
				collectExprs(s, where, out)
			}
		}
	case []any:
		for _, e := range v {
			collectExprs(e, where, out)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
