package cli

import (
	"bytes"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

func TestParseRates(t *testing.T) {
	got, err := parseRates("0.5, 1,2,8")
	if err != nil || len(got) != 4 || got[0] != 0.5 || got[3] != 8 {
		t.Fatalf("parseRates: %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"1,x":   `"x" is not a positive number`,
		"0,1":   `"0" is not a positive number`,
		"2,1":   "the rates must rise",
		"1,1":   "the rates must rise",
		"":      `"" is not a positive number`,
		"1,Inf": `"Inf" is not a positive number`,
	} {
		if _, err := parseRates(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRates(%q): %v, want an error saying %q", in, err, want)
		}
	}
}

func TestBenchRejectsBadFlagsBeforeTouchingAnything(t *testing.T) {
	for _, c := range []struct{ args []string }{
		{[]string{"bench", "--rates", "4,2"}},
		{[]string{"bench", "--step", "1s"}},
	} {
		code, _, errOut := run(t, c.args...)
		if code != ExitError || errOut == "" {
			t.Errorf("%v: exit %d, %q; want exit %d with the reason", c.args, code, errOut, ExitError)
		}
	}
	code, out, errOut := run(t, "bench", "--check-config")
	if code != ExitOK || !strings.Contains(out, "hint: "+benchHint) {
		t.Fatalf("bench --check-config: exit %d, want the bench's own hint %s\n%s%s", code, benchHint, out, errOut)
	}
	code, out, _ = run(t, "bench", "--check-config", "--hint", "slow:10x100")
	if code != ExitOK || !strings.Contains(out, "hint: slow:10x100") {
		t.Fatalf("bench --hint: exit %d, the asked hint is not kept\n%s", code, out)
	}
}

func TestJudgeStepNamesTheSide(t *testing.T) {
	ok := benchStep{Started: 40, Completed: 40, completedPerSecond: 3.6, startedPerSecondCap: 3.6, CPUShare: 0.1, SchedP99: time.Millisecond}
	judgeStep(&ok)
	if !ok.held() {
		t.Fatalf("a clean step failed: %v %v", ok.TargetWhy, ok.OwnWhy)
	}
	target := benchStep{Started: 40, Completed: 30, NotCompleted: 10, Skipped: 3, Violations: 2, completedPerSecond: 2.7, startedPerSecondCap: 3.6}
	judgeStep(&target)
	if len(target.OwnWhy) != 0 || len(target.TargetWhy) != 4 {
		t.Fatalf("target-side failure judged as %q / %q, want 4 target reasons and none of chaosd's", target.TargetWhy, target.OwnWhy)
	}
	own := benchStep{Started: 40, Completed: 40, completedPerSecond: 3.6, startedPerSecondCap: 3.6, SchedP99: 80 * time.Millisecond, CPUShare: 0.7}
	judgeStep(&own)
	if len(own.TargetWhy) != 0 || len(own.OwnWhy) != 1 || !strings.Contains(own.OwnWhy[0], "waited 80ms") {
		t.Fatalf("chaosd-side failure judged as %q / %q", own.TargetWhy, own.OwnWhy)
	}
	busy := benchStep{Started: 40, Completed: 40, completedPerSecond: 3.6, startedPerSecondCap: 3.6, CPUShare: 100}
	judgeStep(&busy)
	if len(busy.OwnWhy) != 1 || !strings.Contains(busy.OwnWhy[0], "chaosd busy") {
		t.Fatalf("a saturated chaosd judged as %q", busy.OwnWhy)
	}
	behind := benchStep{Started: 30, Completed: 30, Late: 10, completedPerSecond: 2.7, startedPerSecondCap: 2.7, CPUShare: 0.2}
	judgeStep(&behind)
	if len(behind.TargetWhy) != 0 || len(behind.OwnWhy) != 1 || !strings.Contains(behind.OwnWhy[0], "10 runs due not started") {
		t.Fatalf("chaosd behind its schedule judged as %q / %q", behind.TargetWhy, behind.OwnWhy)
	}
	// Waiting while using little CPU is the machine's saturation: a note, no failure.
	saturated := benchStep{Started: 40, Completed: 40, completedPerSecond: 3.6, startedPerSecondCap: 3.6, SchedP99: 80 * time.Millisecond, CPUShare: 0.1}
	judgeStep(&saturated)
	if !saturated.held() || !strings.Contains(saturated.Note, "machine saturated") {
		t.Fatalf("saturated machine: held %v, note %q", saturated.held(), saturated.Note)
	}
	var b bytes.Buffer
	if err := benchCeiling(&b, []*benchStep{&ok, &own}); err != nil || !strings.Contains(b.String(), "failed on chaosd's side") {
		t.Fatalf("ceiling: %v, %q", err, b.String())
	}
	b.Reset()
	if err := benchCeiling(&b, []*benchStep{&target}); err == nil {
		t.Fatalf("no step held, yet %q and no error", b.String())
	}
	b.Reset()
	writeBenchTable(&b, []*benchStep{&ok, &target, &own})
	if out := b.String(); !strings.Contains(out, "held") || !strings.Contains(out, "TARGET: 10 runs not completed") || !strings.Contains(out, "CHAOSD: chaosd behind") {
		t.Fatalf("table:\n%s", out)
	}
}

func TestPercentilesAndSchedulerLatency(t *testing.T) {
	ls := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if pct(ls, 0.5) != 5 || pct(ls, 0.9) != 9 || pct(ls, 0.99) != 10 || pct(nil, 0.5) != 0 {
		t.Fatalf("pct: %v %v %v", pct(ls, 0.5), pct(ls, 0.9), pct(ls, 0.99))
	}
	a := &metrics.Float64Histogram{Counts: []uint64{5, 5, 0}, Buckets: []float64{0, 0.001, 0.1, 1}}
	b := &metrics.Float64Histogram{Counts: []uint64{5, 104, 1}, Buckets: a.Buckets}
	// Between the readings: 99 in (1ms, 100ms], 1 in (100ms, 1s]: the p99 is 100ms.
	if got := schedP99(a, b); got != 100*time.Millisecond {
		t.Fatalf("schedP99 = %s, want 100ms", got)
	}
	if schedP99(nil, b) != 0 || schedP99(b, b) != 0 {
		t.Fatal("schedP99 of no readings or no change is not 0")
	}
	if h := schedHist(); h == nil || len(h.Counts) == 0 {
		t.Fatal("the Go scheduler's latency histogram could not be read")
	}
	if processCPU() <= 0 || processRSS() == 0 {
		t.Fatalf("process CPU %s, RSS %d", processCPU(), processRSS())
	}
}

func TestObservationLoadWarnsWhereChaosdWouldBeTheBottleneck(t *testing.T) {
	// The bundled soak's default: 0.5 runs/s of slow:20x250 on 3 pods.
	_, light, err := observationLoad(0.5, 6, "slow:20x250", 250*time.Millisecond, 2, 3)
	if err != nil || light > 0.05 {
		t.Fatalf("default soak: %.3f of a core, %v; want a few percent", light, err)
	}
	// 20 runs/s of slow:20x50 on 3 pods: the 25%-of-a-core goal.
	inFlight, mid, _ := observationLoad(20, 100, "slow:20x50", 250*time.Millisecond, 2, 3)
	if inFlight < 20 || mid <= light || mid > 0.5 {
		t.Fatalf("20 runs/s: %.0f in flight, %.2f of a core", inFlight, mid)
	}
	// 100 runs/s of slow:20x250 on 30 pods watched from every pod: far past a core.
	_, heavy, _ := observationLoad(100, 1000, "slow:20x250", 250*time.Millisecond, 0, 30)
	if heavy < 1 {
		t.Fatalf("100 runs/s from every one of 30 pods: only %.2f of a core", heavy)
	}
	if _, _, err := observationLoad(1, 4, "slow:99999999999x1", time.Second, 2, 3); err == nil {
		t.Fatal("a bad hint was accepted")
	}
}
