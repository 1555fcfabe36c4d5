package workload

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func podsN(n int) []Pod {
	ps := make([]Pod, n)
	for i := range ps {
		ps[i] = Pod{Name: fmt.Sprintf("mesh-%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", 13001+i)}
	}
	return ps
}

// lateNames is the late sample of run number n (0-based) as Start picks its pods.
func lateNames(pods []Pod, watchers, n int) (post, early string, late []string) {
	w := &Workload{cfg: Config{Pods: pods, Watchers: watchers}}
	r := &Run{w: w, Post: pods[n%len(pods)], Early: pods[(n+1)%len(pods)]}
	for _, p := range r.latePods() {
		late = append(late, p.Name)
	}
	return r.Post.Name, r.Early.Name, late
}

func TestLatePodsOnThreePodsIsEveryPodButTheEarlyOne(t *testing.T) {
	pods := podsN(3)
	for n := range 6 {
		for _, watchers := range []int{0, 2, 5} {
			post, early, late := lateNames(pods, watchers, n)
			if len(late) != 2 || slices.Contains(late, early) || !slices.Contains(late, post) {
				t.Fatalf("run %d, watchers %d: late %v (post %s, early %s), want the two pods but the early one", n, watchers, late, post, early)
			}
		}
	}
}

func TestLatePodsSampleOnThirtyPods(t *testing.T) {
	pods := podsN(30)
	lateSeen := map[string]bool{}
	for n := range 30 {
		post, early, late := lateNames(pods, DefaultWatchers, n)
		if len(late) != DefaultWatchers {
			t.Fatalf("run %d: %d late watchers %v, want %d", n, len(late), late, DefaultWatchers)
		}
		if slices.Contains(late, early) {
			t.Fatalf("run %d: late %v includes the early pod %s", n, late, early)
		}
		if !slices.ContainsFunc(late, func(p string) bool { return p != post }) {
			t.Fatalf("run %d: late %v has no pod other than the POST pod %s", n, late, post)
		}
		if !slices.Contains(late, post) {
			t.Fatalf("run %d: late %v does not replay on the POST pod %s", n, late, post)
		}
		for _, p := range late {
			lateSeen[p] = true
		}
	}
	if len(lateSeen) != 30 {
		t.Fatalf("over 30 runs only %d pods watched late, want every pod", len(lateSeen))
	}
	if _, _, late := lateNames(pods, 0, 7); len(late) != 29 {
		t.Fatalf("watchers 0: %d late watchers, want 29 (every pod but the early one)", len(late))
	}
}

func TestLatePodsOneWatcherIsCrossPod(t *testing.T) {
	for _, n := range []int{3, 5, 30} {
		post, early, late := lateNames(podsN(n), 1, 4)
		if len(late) != 1 || late[0] == post || late[0] == early {
			t.Fatalf("%d pods, one watcher: late %v (post %s, early %s), want one pod that is neither", n, late, post, early)
		}
	}
	// Two pods: the only pod that is not the early one is the POST pod.
	if post, _, late := lateNames(podsN(2), 1, 0); len(late) != 1 || late[0] != post {
		t.Fatalf("two pods: late %v, want the POST pod %s", late, post)
	}
}

func TestConfigRejectsNegativeWatchers(t *testing.T) {
	c := DefaultConfig()
	c.Pods = podsN(3)
	c.Watchers = -1
	if err := c.Validate(); err == nil {
		t.Fatal("watchers -1 accepted")
	}
}

func TestNextTickIsTheNextMultiple(t *testing.T) {
	every := 250 * time.Millisecond
	base := time.Unix(1_700_000_000, 0) // a multiple of every
	for _, c := range []struct {
		after time.Duration
		want  time.Duration
	}{
		{0, every},
		{time.Nanosecond, every - time.Nanosecond},
		{100 * time.Millisecond, 150 * time.Millisecond},
		{249 * time.Millisecond, time.Millisecond},
		{250 * time.Millisecond, every},
		{1010 * time.Millisecond, 240 * time.Millisecond},
	} {
		if got := nextTick(base.Add(c.after), every); got != c.want {
			t.Errorf("nextTick(+%s, %s) = %s, want %s", c.after, every, got, c.want)
		}
	}
}

// On Kubernetes a pod removed for good leaves the rotation and its replacement joins
// it; the pods that stay keep their order, and a listing that found nothing changes
// nothing.
func TestSetPodsFollowsPodsReplacedUnderNewNames(t *testing.T) {
	w, err := New(Config{Pods: podsN(3), Hint: "slow:20x50", Rate: 1, MaxInFlight: 1, LateAfter: 3, ProbeEvery: time.Second, Grace: time.Second}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	found := []Pod{{Name: "mesh-4", URL: "http://10.0.0.4:3000"}, {Name: "mesh-3", URL: "http://10.0.0.3:3000"}, {Name: "mesh-1", URL: "http://10.0.0.1:3000"}}
	left, joined := w.SetPods(found)
	if !slices.Equal(left, []string{"mesh-2"}) || !slices.Equal(joined, []string{"mesh-4"}) {
		t.Fatalf("left %v joined %v, want mesh-2 left and mesh-4 joined", left, joined)
	}
	var names []string
	for _, p := range w.Pods() {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"mesh-1", "mesh-3", "mesh-4"}) || w.Pods()[0].URL != "http://10.0.0.1:3000" {
		t.Fatalf("pods %v (%+v), want mesh-1, mesh-3 in their order, then mesh-4, at their listed URLs", names, w.Pods())
	}
	if left, joined := w.SetPods(nil); left != nil || joined != nil || len(w.Pods()) != 3 {
		t.Fatalf("an empty listing changed the pods: left %v joined %v, pods %d", left, joined, len(w.Pods()))
	}
	// A run posted to a pod that has left is watched late from the pods there are.
	r := &Run{w: w, Post: Pod{Name: "mesh-2"}, Early: w.Pods()[0]}
	var late []string
	for _, p := range r.latePods() {
		late = append(late, p.Name)
	}
	if !slices.Equal(late, []string{"mesh-3", "mesh-4"}) {
		t.Fatalf("late pods of a run whose POST pod left: %v, want mesh-3, mesh-4", late)
	}
}

// API pods (mesh's, which run nothing) take their turn at receiving runs and at
// watching them, early and late, beside the pods under test; the pods under test
// stay what readiness and heartbeats are read for.
func TestAPIPodsReceiveAndWatchRuns(t *testing.T) {
	pods := podsN(3)
	api := []Pod{{Name: "api-1", URL: "http://127.0.0.1:14001"}, {Name: "api-2", URL: "http://127.0.0.1:14002"}}
	w := &Workload{cfg: Config{Pods: pods, APIPods: api, Watchers: 2}}
	entries := w.Entries()
	if len(entries) != 5 || entries[3].Name != "api-1" || len(w.Pods()) != 3 {
		t.Fatalf("entries %v, pods %v", entries, w.Pods())
	}
	posted, watched := map[string]bool{}, map[string]bool{}
	for n := range 10 {
		r := &Run{w: w, Post: entries[n%len(entries)], Early: entries[(n+1)%len(entries)]}
		posted[r.Post.Name] = true
		watched[r.Early.Name] = true
		for _, p := range r.latePods() {
			watched[p.Name] = true
			if p.Name == r.Early.Name {
				t.Fatalf("run %d: late watcher %s is the early one", n, p.Name)
			}
		}
	}
	for _, p := range entries {
		if !posted[p.Name] || !watched[p.Name] {
			t.Errorf("%s: posted %v, watched %v over 10 runs", p.Name, posted[p.Name], watched[p.Name])
		}
	}
}
