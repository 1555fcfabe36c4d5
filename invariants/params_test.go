package invariants

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaosd/chaosd/history"
)

func TestResolveRecoverDeadline(t *testing.T) {
	s := time.Second
	cases := []struct {
		name string
		p    Params
		m    *history.Meta
		want time.Duration
	}{
		{"no boot time: 2 TTL (older histories)", Params{}, &history.Meta{HeartbeatTTL: history.Duration(45 * s)}, 90 * s},
		{"no meta: mesh's defaults", Params{}, nil, 90 * s},
		{"boot time from the begin line", Params{}, &history.Meta{HeartbeatTTL: history.Duration(45 * s),
			HeartbeatInterval: history.Duration(10 * s), BootTime: history.Duration(30 * s)}, 50 * s}, // 30 + 10 + 10
		{"boot time given wins over the begin line", Params{BootTime: 5 * s}, &history.Meta{HeartbeatTTL: history.Duration(6 * s),
			HeartbeatInterval: history.Duration(2 * s), BootTime: history.Duration(30 * s)}, 17 * s}, // 5 + 2 + 10
		{"boot time with its own slack", Params{BootTime: 30 * s, Slack: 3 * s}, nil, 43 * s}, // 30 + 10 + 3
		{"an explicit deadline wins", Params{RecoverDeadline: time.Minute}, &history.Meta{BootTime: history.Duration(30 * s)}, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Resolve(tc.m).RecoverDeadline; got != tc.want {
				t.Fatalf("RecoverDeadline %s, want %s", got, tc.want)
			}
		})
	}
	if got := (Params{}).Resolve(&history.Meta{BootTime: history.Duration(30 * s)}).BootTime; got != 30*s {
		t.Errorf("BootTime %s, want the begin line's 30s", got)
	}
	if err := (Params{BootTime: -s}).Validate(); err == nil || !strings.Contains(err.Error(), "boot-time -1s is negative") {
		t.Errorf("negative boot time: %v", err)
	}
}

func TestTakeoverHold(t *testing.T) {
	s := time.Second
	// The bundled cluster: TTL 6 s, detection 2 s: grace 18 s, hold 28 s.
	bundled := Params{HeartbeatTTL: 6 * s, HeartbeatInterval: 2 * s, DetectInterval: 2 * s}.Resolve(nil)
	if bundled.OwnerGrace != 18*s || bundled.TakeoverHold() != 28*s {
		t.Errorf("bundled: grace %s, hold %s; want 18s and 28s", bundled.OwnerGrace, bundled.TakeoverHold())
	}
	// mesh's timings: TTL 45 s, detection 10 s: grace 65 s, hold 75 s.
	if mesh := (Params{}).Resolve(nil); mesh.OwnerGrace != 65*s || mesh.TakeoverHold() != 75*s {
		t.Errorf("mesh: grace %s, hold %s; want 1m5s and 1m15s", mesh.OwnerGrace, mesh.TakeoverHold())
	}
	if p := (Params{OwnerGrace: 40 * s, Slack: 5 * s}).Resolve(nil); p.TakeoverHold() != 45*s {
		t.Errorf("explicit grace: hold %s, want 45s", p.TakeoverHold())
	}
}

func TestMetaBootTimeRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	w := history.NewWriter(&buf, history.Options{})
	if _, err := w.Append(history.MetaEvent(history.Meta{Phase: history.MetaBegin, BootTime: history.Duration(30 * time.Second)})); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"bootTime":"30s"`) {
		t.Fatalf("no bootTime in %s", buf.String())
	}
	e, err := history.NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	if e.Meta.BootTime.D() != 30*time.Second {
		t.Fatalf("bootTime read back as %s", e.Meta.BootTime.D())
	}
	old, err := json.Marshal(history.Meta{Phase: history.MetaBegin})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(old), "bootTime") {
		t.Errorf("an unset boot time is written: %s", old)
	}
}
