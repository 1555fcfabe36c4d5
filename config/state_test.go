package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPodsOverride(t *testing.T) {
	c, err := resolve(t, map[string]string{"CHAOSD_PODS": "http://127.0.0.1:23001/, http://127.0.0.1:23002,http://h:3/x?a=b"})
	if err != nil {
		t.Fatal(err)
	}
	want := []PodURL{{URL: "http://127.0.0.1:23001"}, {URL: "http://127.0.0.1:23002"}, {URL: "http://h:3/x?a=b"}}
	if !reflect.DeepEqual(c.Workload.Pods, want) {
		t.Fatalf("bare URLs: %+v, want %+v", c.Workload.Pods, want)
	}
	c, err = resolve(t, map[string]string{"CHAOSD_PODS": "http://ignored:1,http://ignored:2"}, "--pods", "a=http://x:1,b=https://y:2")
	if err != nil {
		t.Fatal(err)
	}
	if want := []PodURL{{"a", "http://x:1"}, {"b", "https://y:2"}}; !reflect.DeepEqual(c.Workload.Pods, want) {
		t.Fatalf("the flag wins, names kept: %+v", c.Workload.Pods)
	}
	for v, want := range map[string]string{
		"=http://x:1,b=http://y:2":  `--pods: entry 1 "=http://x:1": empty pod name before '='`,
		"a=ftp://x,b=http://y:2":    `--pods: entry 1 "a=ftp://x": "ftp://x" is not an http(s) base URL`,
		",,":                        `--pods: ",," names no pod`,
		"http://x:1":                "workload.pods: need at least 2 pods",
		"a=http://x:1,a=http://x:2": `workload.pods[1].name: names pod 0 too: each pod once (got "a")`,
	} {
		if _, err := resolve(t, nil, "--pods", v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--pods %q: %v, want %q", v, err, want)
		}
	}
}

func TestStatePathsAreKeyedByTarget(t *testing.T) {
	a, err := resolve(t, map[string]string{"CHAOSD_COMPOSE_PROJECT": "branch"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Ledger.Path != "/var/lib/chaosd/branch/ledger.jsonl" || b.Ledger.Path != "/var/lib/chaosd/chaosd/ledger.jsonl" {
		t.Errorf("ledgers %q and %q", a.Ledger.Path, b.Ledger.Path)
	}
	if a.Soak.Out != "chaosd-soak/branch" || a.Workload.HistoryDir != "chaosd-history/branch" {
		t.Errorf("soak out %q, history dir %q", a.Soak.Out, a.Workload.HistoryDir)
	}
	c, err := resolve(t, map[string]string{"CHAOSD_LEDGER": "/tmp/mine.jsonl", "CHAOSD_SOAK_OUT": "out", "CHAOSD_HISTORY_DIR": "h"}, "--compose-project", "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.Ledger.Path != "/tmp/mine.jsonl" || c.Soak.Out != "out" || c.Workload.HistoryDir != "h" {
		t.Errorf("explicit paths must win: %q %q %q", c.Ledger.Path, c.Soak.Out, c.Workload.HistoryDir)
	}
	l, err := resolve(t, nil, "--compose-project", "", "--select-labels", "team=a b,app=x/y")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.StateKey(); got != "bundled-app_x_y-team_a_b" {
		t.Errorf("key without a project: %q", got)
	}
}

func TestWaitLock(t *testing.T) {
	for v, want := range map[string]struct {
		d       time.Duration
		forever bool
	}{"": {}, "false": {}, "true": {forever: true}, "forever": {forever: true}, "90s": {d: 90 * time.Second}} {
		d, forever, err := ParseWaitLock(v)
		if err != nil || d != want.d || forever != want.forever {
			t.Errorf("%q: %v %v %v", v, d, forever, err)
		}
	}
	c, err := resolve(t, nil, "--wait-lock")
	if err != nil || c.Ledger.WaitLock != "true" {
		t.Errorf("--wait-lock alone: %q %v", c.Ledger.WaitLock, err)
	}
	if _, err := resolve(t, map[string]string{"CHAOSD_WAIT_LOCK": "soon"}); err == nil || err.Error() != `env CHAOSD_WAIT_LOCK: "soon": want true, false or a duration such as 2m` {
		t.Errorf("bad wait: %v", err)
	}
}
