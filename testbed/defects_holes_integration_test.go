//go:build integration

package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chaosd/chaosd/internal/testenv"
)

// The defects of issue 15 ("detection holes"): each test shows the symptom with the
// switch on and its absence with the switch off, on the same steps.

func bugsIf(on bool, b Bug) func(*Config) {
	return func(cfg *Config) {
		if on {
			cfg.Bugs = Bugs{b: true}
		}
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// bufferMessages reads every message on a thread's subject, done sentinels included.
func (c *cluster) bufferMessages(threadID string) []envelope {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.js().Stream(ctx, StreamName)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []envelope
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(StreamSubject(threadID)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			c.t.Fatal(err)
		}
		var e envelope
		if err := json.Unmarshal(m.Data, &e); err != nil {
			c.t.Fatalf("buffer message %d %q: %v", m.Sequence, m.Data, err)
		}
		out = append(out, e)
		seq = m.Sequence + 1
	}
}

// afterFirstDone is what the buffer holds after the run's first done sentinel: the
// writes that came after the run was decided.
func afterFirstDone(es []envelope) (chunks []Chunk, dones int) {
	seen := false
	for _, e := range es {
		switch {
		case !seen:
			seen = e.Done
		case e.Done:
			dones++
		case e.P != nil:
			chunks = append(chunks, *e.P)
		}
	}
	return chunks, dones
}

// zombie-owner: the owner is frozen (the in-process SIGSTOP of
// TestIntegrationPausedOwnerFenced) or cut off from NATS, and comes back only after a
// survivor took the run over and completed it. With the switch on it appends the rest
// of its reply after the survivor's end sentinel (text-deltas, a second finish, a
// second done sentinel); off, its first publish is fenced and the buffer ends at the
// survivor's done sentinel.
func TestIntegrationDefectZombieOwner(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"frozen", "cut-off-from-nats"} {
		for _, on := range []bool{true, false} {
			t.Run(how+"/"+onOff(on), func(t *testing.T) {
				t.Parallel()
				zombieOwner(t, how, on)
			})
		}
	}
}

func zombieOwner(t *testing.T, how string, on bool) {
	c := newCluster(t, 2, bugsIf(on, BugZombieOwner))
	var old *Pod
	var freeze, wake func()
	switch how {
	case "frozen":
		old = c.start("pod-3")
		freeze, wake = old.freeze.freeze, old.freeze.thaw
	default:
		natsURL, nl := testenv.Via(t, c.natsURL)
		old = c.start("pod-3", func(cfg *Config) { cfg.NATSURL = natsURL })
		freeze, wake = func() { nl.SetCut(true) }, func() { nl.SetCut(false) }
	}
	tn := bootstrap(t, c.url("pod-1"), c.provider)
	id := tn.newThread(t, c.url("pod-1"))
	w := tn.attach(t, c.url("pod-1"), id)
	tn.startRun(t, c.url("pod-3"), id, "slow:30x60")
	w.waitDeltas(t, 5, 10*time.Second)
	freeze()
	eventually(t, c.base.HeartbeatTTL+3*time.Second, "a survivor owns the run", func() bool {
		o := c.owner(id)
		return o == "pod-1" || o == "pod-2"
	})
	c.waitCompleted(id, 15*time.Second)
	wantRun(t, "watcher before the wake", w.waitFinishes(t, 1, 5*time.Second), 30)
	decided := time.Now()
	wake()

	if on {
		eventually(t, 10*time.Second, "the zombie's second finish and done sentinel", func() bool {
			chunks, dones := afterFirstDone(c.bufferMessages(id))
			return countType(chunks, ChunkFinish) == 1 && dones == 1
		})
		t.Logf("the zombie finished writing %s after the run was decided", time.Since(decided).Round(time.Millisecond))
		chunks, _ := afterFirstDone(c.bufferMessages(id))
		if len(deltas(chunks)) == 0 || chunks[len(chunks)-1].Type != ChunkFinish {
			t.Errorf("after the survivor's done sentinel: %+v, want the rest of the reply ending with finish", chunks)
		}
		cs := w.waitFinishes(t, 2, 5*time.Second)
		if n := len(deltas(cs)); n <= 30 {
			t.Errorf("watcher saw %d text-deltas, want more than 30 (the zombie's after the survivor's)", n)
		}
		eventually(t, 5*time.Second, "the zombie's final status refused", func() bool { return counterValue(old.metrics.fenced) == 1 })
	} else {
		eventually(t, 20*time.Second, "the old owner fenced", func() bool { return counterValue(old.metrics.fenced) == 1 })
		time.Sleep(time.Second) // anything it wrote would be in by now
		es := c.bufferMessages(id)
		if chunks, dones := afterFirstDone(es); len(chunks) > 0 || dones > 0 {
			t.Errorf("after the survivor's done sentinel: %d chunks and %d done sentinels, want none", len(chunks), dones)
		}
		if len(es) == 0 || !es[len(es)-1].Done {
			t.Errorf("the buffer does not end with the done sentinel")
		}
		wantRun(t, "buffer", c.bufferChunks(id), 30)
		wantRun(t, "watcher", w.snapshot(), 30)
	}
	if r := c.thread(id); r.Status != StatusCompleted || r.Owner != nil {
		t.Errorf("thread %+v, want completed with no owner", r)
	}
}

// replay-loses-start: a late attach on another pod (it replays the buffer) gets every
// text-delta in order but not the start chunk with the message id; the early attach
// (deliver policy new) and the buffer itself are whole.
func TestIntegrationDefectReplayLosesStart(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		t.Run(onOff(on), func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 2, bugsIf(on, BugReplayLosesStart))
			tn := bootstrap(t, c.url("pod-1"), c.provider)
			id := tn.newThread(t, c.url("pod-1"))
			early := tn.attach(t, c.url("pod-2"), id)
			tn.startRun(t, c.url("pod-1"), id, "slow:15x40")
			early.waitDeltas(t, 5, 10*time.Second)
			late := tn.attach(t, c.url("pod-2"), id)
			ecs := early.waitFinishes(t, 1, 10*time.Second)
			wantRun(t, "early watcher", ecs, 15)
			cs := late.waitFinishes(t, 1, 10*time.Second)
			c.waitCompleted(id, 5*time.Second)
			wantRun(t, "buffer", c.bufferChunks(id), 15)
			if !on {
				wantRun(t, "late watcher", cs, 15)
				if cs[0].MessageID == "" || cs[0].MessageID != ecs[0].MessageID {
					t.Errorf("late watcher's message id %q, early's %q", cs[0].MessageID, ecs[0].MessageID)
				}
				return
			}
			var want []string
			for i := 1; i <= 15; i++ {
				want = append(want, fmt.Sprintf("chunk-%d ", i))
			}
			if got := deltas(cs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("late watcher's text-deltas %q, want chunk-1..15 untouched", got)
			}
			if countType(cs, ChunkStart) != 0 || cs[0].Type != ChunkStartStep {
				t.Errorf("late watcher's run begins %+v with %d start chunks: want start-step first, no start", cs[0], countType(cs, ChunkStart))
			}
			for _, typ := range []string{ChunkStartStep, ChunkTextStart, ChunkTextEnd, ChunkFinishStep, ChunkFinish} {
				if k := countType(cs, typ); k != 1 {
					t.Errorf("late watcher: %d %s chunks, want 1", k, typ)
				}
			}
		})
	}
}

// getStatus does a GET and returns the status and, unless it is an SSE 200, the body.
func getStatus(t *testing.T, url string, hdr map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readiness is a pod's /health/ready: HTTP status, status and NATS's state.
func readiness(t *testing.T, base string) (code int, status, nats string) {
	t.Helper()
	resp, out := send(t, "GET", base+"/health/ready", nil, nil)
	status, _ = out["status"].(string)
	if svc, ok := out["services"].(map[string]any); ok {
		if n, ok := svc["nats"].(map[string]any); ok {
			nats, _ = n["status"].(string)
		}
	}
	return resp.StatusCode, status, nats
}

// ready-but-failing: pod-2 is cut off from NATS and healed. With the switch on, every
// attach on it answers 500 from then on while /health/ready answers 200 ok with NATS
// up, and runs it owns still stream; off, it answers 503 during the cut and serves
// attaches again after the heal.
func TestIntegrationDefectReadyButFailing(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		t.Run(onOff(on), func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 1, bugsIf(on, BugReadyButFailing))
			natsURL, nl := testenv.Via(t, c.natsURL)
			c.start("pod-2", func(cfg *Config) { cfg.NATSURL = natsURL })
			tn := bootstrap(t, c.url("pod-1"), c.provider)
			id := tn.newThread(t, c.url("pod-1"))
			pod2 := c.url("pod-2")
			attachURL := pod2 + "/api/" + tn.slug + "/decopilot/attach/" + id
			streamURL := pod2 + "/api/" + tn.slug + "/decopilot/threads/" + id + "/stream"
			if code, body := getStatus(t, attachURL, tn.bearer()); code != http.StatusOK {
				t.Fatalf("attach on pod-2 before the cut: %d %s", code, body)
			}

			nl.SetCut(true)
			eventually(t, 10*time.Second, "pod-2 sees NATS down", func() bool {
				_, _, n := readiness(t, pod2)
				return n == serviceDown
			})
			want := http.StatusServiceUnavailable
			if on {
				want = http.StatusInternalServerError
			}
			if code, body := getStatus(t, attachURL, tn.bearer()); code != want {
				t.Errorf("attach on pod-2 during the cut: %d %s, want %d", code, body, want)
			}
			nl.SetCut(false)
			eventually(t, 10*time.Second, "pod-2 ready with NATS up", func() bool {
				code, status, n := readiness(t, pod2)
				return code == http.StatusOK && status == "ok" && n == serviceUp
			})

			if !on {
				w := tn.attach(t, pod2, id)
				tn.startRun(t, c.url("pod-1"), id, "many:5")
				wantRun(t, "watcher on pod-2 after the heal", w.waitFinishes(t, 1, 10*time.Second), 5)
				c.waitCompleted(id, 5*time.Second)
				return
			}
			for i := 0; i < 5; i++ {
				for _, u := range []string{attachURL, streamURL} {
					if code, body := getStatus(t, u, tn.bearer()); code != http.StatusInternalServerError {
						t.Errorf("attach %d on pod-2 after the heal: %d %s, want 500", i, code, body)
					}
				}
				if code, status, n := readiness(t, pod2); code != http.StatusOK || status != "ok" || n != serviceUp {
					t.Errorf("readiness of pod-2 after the heal: %d %s nats %s, want 200 ok, nats up", code, status, n)
				}
				time.Sleep(200 * time.Millisecond)
			}
			// The pod's own NATS use is fine: a run it owns streams to a watcher elsewhere.
			w := tn.attach(t, c.url("pod-1"), id)
			tn.startRun(t, pod2, id, "many:5")
			wantRun(t, "watcher on pod-1 of pod-2's run", w.waitFinishes(t, 1, 10*time.Second), 5)
			c.waitCompleted(id, 5*time.Second)
		})
	}
}
