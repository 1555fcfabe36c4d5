package testbed

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigMesh(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{"POD_NAME": "mesh-1"}))
	if err != nil || cfg.Mesh != MeshMay || cfg.QueuePoll != time.Second || cfg.ReaperAfter != 10*time.Minute || cfg.DrainTimeout != 10*time.Second {
		t.Fatalf("defaults: mesh %q, poll %s, reaper %s, drain %s, %v", cfg.Mesh, cfg.QueuePoll, cfg.ReaperAfter, cfg.DrainTimeout, err)
	}
	cfg, err = ConfigFromEnv(envOf(map[string]string{"POD_NAME": "mesh-1", "TESTBED_MESH": "current", "TESTBED_QUEUE_POLL": "250ms",
		"TESTBED_REAPER_AFTER": "90s", "TESTBED_DRAIN_TIMEOUT": "3s", "TESTBED_BUGS": "purge-on-resume,deliver-new,persist-twice"}))
	if err != nil || cfg.Mesh != MeshCurrent || cfg.QueuePoll != 250*time.Millisecond || cfg.ReaperAfter != 90*time.Second ||
		cfg.DrainTimeout != 3*time.Second || len(cfg.Bugs) != 3 {
		t.Fatalf("current: %+v %v", cfg, err)
	}
	flags := map[string]string{}
	for _, v := range EnvVars {
		flags[v.Name] = v.Flag
	}
	for name, flag := range map[string]string{"TESTBED_MESH": "mesh", "TESTBED_QUEUE_POLL": "queue-poll", "TESTBED_REAPER_AFTER": "reaper-after",
		"TESTBED_DRAIN_TIMEOUT": "drain-timeout"} {
		if flags[name] != flag {
			t.Errorf("%s: flag %q, want --%s", name, flags[name], flag)
		}
	}
}

func TestConfigMeshErrors(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TESTBED_MESH": "2026-09"}, `TESTBED_MESH="2026-09": want "2026-05" (mesh at #3392) or "current" (today's mesh)`},
		{map[string]string{"TESTBED_MESH": "current", "TESTBED_BUGS": "strict-claim,purge-on-resume"},
			`TESTBED_BUGS="purge-on-resume,strict-claim": strict-claim applies to TESTBED_MESH=2026-05 only (this pod is TESTBED_MESH=current)`},
		{map[string]string{"TESTBED_MESH": "current", "TESTBED_BUGS": "no-heartbeat-bucket,duplicate-on-resume"},
			"no-heartbeat-bucket applies to TESTBED_MESH=2026-05 only; duplicate-on-resume applies to TESTBED_MESH=2026-05 only"},
		{map[string]string{"TESTBED_BUGS": "handover-loses-run"}, `TESTBED_BUGS="handover-loses-run": handover-loses-run applies to TESTBED_MESH=current only (this pod is TESTBED_MESH=2026-05)`},
		{map[string]string{"TESTBED_BUGS": "persist-twice,restart-no-recover"}, "persist-twice applies to TESTBED_MESH=current only; restart-no-recover applies"},
		{map[string]string{"TESTBED_REAPER_AFTER": "0s"}, `TESTBED_REAPER_AFTER="0s": want a positive duration`},
		{map[string]string{"TESTBED_QUEUE_POLL": "often"}, `TESTBED_QUEUE_POLL="often": want a duration`},
	} {
		tt.env["POD_NAME"] = "p"
		_, err := ConfigFromEnv(envOf(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.env, err, tt.want)
		}
	}
	cfg := DefaultConfig()
	cfg.PodName, cfg.Mesh = "p", ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `TESTBED_MESH=""`) {
		t.Errorf("no mesh: %v", err)
	}
}

func TestMigrateRefusesAnUnknownMesh(t *testing.T) {
	if err := Migrate(context.Background(), nil, "2025"); err == nil || !strings.Contains(err.Error(), `TESTBED_MESH="2025": want "2026-05" or "current"`) {
		t.Fatalf("Migrate: %v", err)
	}
}

func TestRuntimeSwitchesRefuseTheOtherMesh(t *testing.T) {
	may := switchPod(true, Bugs{BugDeliverNew: true})
	code, body := callBugs(t, may.routes(), "POST", `{"bugs":["deliver-new","handover-loses-run"]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "handover-loses-run applies to TESTBED_MESH=current only") {
		t.Errorf("May pod, current-only switch: %d %s", code, body)
	}
	cur := switchPod(true, Bugs{})
	cur.cfg.Mesh = MeshCurrent
	code, body = callBugs(t, cur.routes(), "POST", `{"bugs":["no-heartbeat-bucket"]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "no-heartbeat-bucket applies to TESTBED_MESH=2026-05 only") {
		t.Errorf("current pod, May-only switch: %d %s", code, body)
	}
	if len(*may.bugs.Load()) != 1 || len(*cur.bugs.Load()) != 0 {
		t.Errorf("a refused POST changed a set: %v %v", *may.bugs.Load(), *cur.bugs.Load())
	}
}

func TestRoutesOfTodaysMesh(t *testing.T) {
	get := func(p *Pod, path string) int {
		w := httptest.NewRecorder()
		p.routes().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code
	}
	may, cur := switchPod(false, Bugs{}), switchPod(false, Bugs{})
	cur.cfg.Mesh = MeshCurrent
	for _, tt := range []struct {
		pod  *Pod
		path string
		want int
	}{
		{may, "/api/o/decopilot/attach/t", http.StatusServiceUnavailable}, // served (the pod is starting)
		{cur, "/api/o/decopilot/attach/t", http.StatusNotFound},           // renamed
		{cur, "/api/o/decopilot/threads/t/stream", http.StatusServiceUnavailable},
	} {
		if got := get(tt.pod, tt.path); got != tt.want {
			t.Errorf("%s on %s: %d, want %d", tt.path, tt.pod.cfg.Mesh, got, tt.want)
		}
	}
}

// The buffer after a resume: the dead attempt's partial log stays; a reader of the
// resumed attempt's fence counts only its own messages, a May reader (fence 0) none of
// them.
func TestProgressReaderByFence(t *testing.T) {
	mine := messageIDFor("thread-run:t:1")
	var msgs [][]byte
	add := func(fence int64, cs ...Chunk) {
		for _, c := range cs {
			msgs = append(msgs, encodeChunk(c, fence))
		}
	}
	head := []Chunk{{Type: ChunkStart, MessageID: mine}, {Type: ChunkStartStep}, {Type: ChunkTextStart, ID: "txt-0"}}
	add(1, head...)
	add(1, Chunk{Type: ChunkTextDelta, ID: "txt-0", Delta: "chunk-1 "}, Chunk{Type: ChunkTextDelta, ID: "txt-0", Delta: "chunk-2 "})
	add(2, head...)
	add(2, Chunk{Type: ChunkTextDelta, ID: "txt-0", Delta: "chunk-1 "})
	read := func(fence int64) progressReader {
		r := progressReader{messageID: mine, fence: fence}
		for _, m := range msgs {
			r.add(m)
		}
		return r
	}
	head3 := progress{Started: true, StepStarted: true, TextStarted: true}
	for _, tt := range []struct {
		fence int64
		text  string
	}{{1, "chunk-1 chunk-2 "}, {2, "chunk-1 "}} {
		r := read(tt.fence)
		want := head3
		want.Text = len(tt.text)
		if r.prog != want || string(r.reply) != tt.text {
			t.Errorf("fence %d: %+v %q, want %+v %q", tt.fence, r.prog, r.reply, want, tt.text)
		}
	}
	if r := read(0); r.prog != (progress{}) || len(r.reply) != 0 {
		t.Errorf("a May reader counted fenced messages: %+v", r.prog)
	}
	if got := string(encodeChunk(Chunk{Type: ChunkFinish}, 2)); got != `{"p":{"type":"finish"},"fence":2}` {
		t.Errorf("fenced chunk %s", got)
	}
	if got := string(encodeDone(0)); got != `{"done":true}` {
		t.Errorf("the May done sentinel changed: %s", got)
	}
	if got := string(encodeDone(3)); got != `{"done":true,"fence":3}` || !isDoneMessage([]byte(got)) {
		t.Errorf("fenced done %s", got)
	}
}

func TestCheckTiersToday(t *testing.T) {
	tier := map[string]string{"keyId": "k", "modelId": "mock-model"}
	body := func(tiers map[string]any) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"tiers": tiers})
		return b
	}
	may := body(map[string]any{"fast": nil, "smart": tier, "thinking": nil, "image": nil, "web_research": nil})
	err := checkTiersToday(may)
	re, ok := err.(*rpcError)
	if !ok || re.Code != rpcInvalidParams || !strings.Contains(re.Message, "Invalid arguments for tool ORGANIZATION_SETTINGS_UPDATE: simple_mode.tiers.web_search: required") ||
		!strings.Contains(re.Message, "simple_mode.tiers.deep_research: required") {
		t.Fatalf("May body: %v", err)
	}
	if err := checkTiersToday(body(map[string]any{"fast": nil, "smart": tier, "thinking": nil, "image": nil, "web_search": nil, "deep_research": nil})); err != nil {
		t.Fatalf("today's body: %v", err)
	}
	if err := checkTiersToday(body(map[string]any{"smart": map[string]string{"keyId": "k"}, "web_search": 3, "deep_research": nil})); err == nil ||
		!strings.Contains(err.Error(), "simple_mode.tiers.smart: want {keyId, modelId}") || !strings.Contains(err.Error(), "simple_mode.tiers.web_search: want") {
		t.Fatalf("bad tiers: %v", err)
	}
	if err := checkTiersToday(json.RawMessage(`{"enabled":true}`)); err == nil || !strings.Contains(err.Error(), "simple_mode.tiers: required") {
		t.Fatalf("no tiers: %v", err)
	}
}

func TestReplyPartsAndWorkflowIDs(t *testing.T) {
	for _, tt := range []struct {
		reply, errText, status string
		want                   []map[string]string
	}{
		{"chunk-1 chunk-2 ", "", StatusCompleted, []map[string]string{{"type": "text", "text": "chunk-1 chunk-2 "}, {"type": "finish"}}},
		{"chunk-1 ", "429", StatusFailed, []map[string]string{{"type": "text", "text": "chunk-1 "}, {"type": "error", "errorText": "429"}}},
		{"", "", StatusFailed, []map[string]string{{"type": "error", "errorText": "run failed"}}},
	} {
		if got := replyParts(tt.reply, tt.errText, tt.status); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("replyParts(%q, %q, %s) = %v, want %v", tt.reply, tt.errText, tt.status, got, tt.want)
		}
	}
	if g, h := GateWorkflowID("thrd_1", "m1"), HarnessWorkflowID("thrd_1", 3); g != "thread-run:thrd_1:m1" || h != "decopilot-hosted:thrd_1:3" {
		t.Errorf("workflow ids %s %s", g, h)
	}
}
