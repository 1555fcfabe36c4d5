package testbed

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// switchPod is a pod with only what the defect switch routes use.
func switchPod(runtime bool, boot Bugs) *Pod {
	p := &Pod{cfg: DefaultConfig(), log: zap.NewNop()}
	p.cfg.Bugs, p.cfg.RuntimeSwitches = boot, runtime
	bugs := boot.clone()
	p.bugs.Store(&bugs)
	return p
}

func callBugs(t *testing.T, h http.Handler, method, body string) (int, string) {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, "/testbed/bugs", nil)
	} else {
		r = httptest.NewRequest(method, "/testbed/bugs", strings.NewReader(body))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String())
}

func TestRuntimeSwitchesOffByDefault(t *testing.T) {
	cfg, err := ConfigFromEnv(envOf(map[string]string{"POD_NAME": "p"}))
	if err != nil || cfg.RuntimeSwitches {
		t.Fatalf("default: %v %v, want off", cfg.RuntimeSwitches, err)
	}
	if cfg, err = ConfigFromEnv(envOf(map[string]string{"POD_NAME": "p", "TESTBED_RUNTIME_SWITCHES": "true"})); err != nil || !cfg.RuntimeSwitches {
		t.Fatalf("TESTBED_RUNTIME_SWITCHES=true: %v %v", cfg.RuntimeSwitches, err)
	}
	if _, err = ConfigFromEnv(envOf(map[string]string{"POD_NAME": "p", "TESTBED_RUNTIME_SWITCHES": "maybe"})); err == nil ||
		!strings.Contains(err.Error(), `TESTBED_RUNTIME_SWITCHES="maybe": want true or false`) {
		t.Fatalf("bad value: %v", err)
	}
	for _, m := range []string{"GET", "POST"} {
		if code, _ := callBugs(t, switchPod(false, Bugs{}).routes(), m, `{"bugs":[]}`); code != http.StatusNotFound {
			t.Errorf("%s /testbed/bugs without runtime switches: %d, want 404", m, code)
		}
	}
}

func TestRuntimeSwitchesReplaceTheSet(t *testing.T) {
	p := switchPod(true, Bugs{BugStrictClaim: true})
	h := p.routes()
	if code, body := callBugs(t, h, "GET", ""); code != 200 || body != `{"bugs":["strict-claim"]}` {
		t.Fatalf("GET: %d %s", code, body)
	}
	if p.deliverPolicy(StatusInProgress) != jetstream.DeliverAllPolicy {
		t.Fatal("deliver-new is on before it was switched on")
	}
	code, body := callBugs(t, h, "POST", `{"bugs":["deliver-new","purge-on-resume"]}`)
	if code != 200 || body != `{"bugs":["deliver-new","purge-on-resume"]}` {
		t.Fatalf("POST list: %d %s", code, body)
	}
	if !p.bug(BugDeliverNew) || !p.bug(BugPurgeOnResume) || p.bug(BugStrictClaim) {
		t.Fatalf("set after POST: %v", *p.bugs.Load())
	}
	if p.deliverPolicy(StatusInProgress) != jetstream.DeliverNewPolicy {
		t.Fatal("an attach does not follow the switched-on deliver-new")
	}
	if code, body = callBugs(t, h, "POST", `{"bugs":"duplicate-on-resume, strict-claim"}`); code != 200 ||
		body != `{"bugs":["duplicate-on-resume","strict-claim"]}` {
		t.Fatalf("POST string: %d %s", code, body)
	}
	if code, body = callBugs(t, h, "POST", `{"bugs":[]}`); code != 200 || body != `{"bugs":[]}` || len(*p.bugs.Load()) != 0 {
		t.Fatalf("POST []: %d %s", code, body)
	}
	if len(p.cfg.Bugs) != 1 {
		t.Fatalf("the boot set changed: %v", p.cfg.Bugs)
	}
}

func TestRuntimeSwitchesRefuse(t *testing.T) {
	p := switchPod(true, Bugs{BugDeliverNew: true})
	h := p.routes()
	for _, tt := range []struct {
		body string
		code int
		want string
	}{
		{`{"bugs":["frobnicate"]}`, 400, `unknown defect \"frobnicate\"`},
		{`{"bugs":[1]}`, 400, `want a list of defect names`},
		{`{}`, 400, `want {\"bugs\": [...]}`},
		{`{"bugs":null}`, 400, `want {\"bugs\": [...]}`},
		{`nope`, 400, `invalid JSON body`},
		{`{"bugs":["deliver-new","no-heartbeat-bucket"]}`, 409, `no-heartbeat-bucket is a boot-time switch`},
	} {
		code, body := callBugs(t, h, "POST", tt.body)
		var e struct{ Error string }
		if code != tt.code || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(body, tt.want) {
			t.Errorf("POST %s: %d %s, want %d with %q", tt.body, code, body, tt.code, tt.want)
		}
	}
	if !p.bug(BugDeliverNew) || len(*p.bugs.Load()) != 1 {
		t.Fatalf("a refused POST changed the set: %v", *p.bugs.Load())
	}
}
