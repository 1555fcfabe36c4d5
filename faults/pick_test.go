package faults

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

func TestSelectorNeedsAProjectOrLabels(t *testing.T) {
	c := newCluster("mesh-1")
	_, err := Selector{}.List(context.Background(), c.docker())
	if err == nil || !strings.Contains(err.Error(), "would match every container") {
		t.Fatalf("err %v", err)
	}
}

func TestSelectorSeesOnlyItsProjectAndMarksSkipAndInfra(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2", "nats")
	c.byService("mesh-2").labels[LabelSkip] = "true"
	outsider := c.byService("mesh-1")
	c.boxes["decoy"] = &fakeBox{id: "decoy", name: "decoy", service: "mesh-9", state: "running", labels: map[string]string{LabelProject: "other"}, nets: map[string]fakeEP{}}
	c.order = append(c.order, "decoy")
	ms, err := Selector{Project: "proj", Infra: []string{"nats"}, PodName: DefaultPodNameRule}.List(context.Background(), c.docker())
	must(t, err)
	if len(ms) != 3 {
		t.Fatalf("%d members, want 3 (not the decoy)", len(ms))
	}
	byPod := map[string]Member{}
	for _, m := range ms {
		byPod[m.Pod] = m
	}
	if !byPod["mesh-2"].Skipped || byPod["mesh-1"].Skipped || !byPod["nats"].Infra || byPod["mesh-1"].Infra {
		t.Errorf("members %+v", byPod)
	}
	if byPod["mesh-1"].IPs["proj_default"] != outsider.ip {
		t.Errorf("address %v, want %v", byPod["mesh-1"].IPs, outsider.ip)
	}
}

func TestPodNameRules(t *testing.T) {
	c := newCluster("svc-a")
	for rule, want := range map[string]string{"label:" + LabelService: "svc-a", "env:POD_NAME": "svc-a", "name": "proj_svc-a_1", "label:missing": "proj_svc-a_1"} {
		r, err := ParsePodNameRule(rule)
		must(t, err)
		ms, err := Selector{Project: "proj", PodName: r}.List(context.Background(), c.docker())
		must(t, err)
		if ms[0].Pod != want {
			t.Errorf("rule %s: pod %q, want %q", rule, ms[0].Pod, want)
		}
	}
	for _, bad := range []string{"", "label:", "env", "service"} {
		if _, err := ParsePodNameRule(bad); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
}

func members(t *testing.T, c *cluster) []Member {
	t.Helper()
	ms, err := Selector{Project: "proj", Infra: []string{"postgres", "nats"}, PodName: DefaultPodNameRule}.List(context.Background(), c.docker())
	must(t, err)
	return ms
}

func TestPickRefusesSkippedFaultedAndStoppedTargets(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2", "mesh-3", "postgres")
	c.byService("mesh-1").labels[LabelSkip] = "true"
	c.byService("mesh-3").state = "exited"
	ms := members(t, c)
	p := picker{members: ms, faulted: map[string]bool{c.byService("mesh-2").id: true}, rand: func(int) int { return 0 }}
	for name, want := range map[string]string{
		"mesh-1": "labelled chaosd.skip=true", "mesh-2": "already has an open fault", "mesh-3": "exited, not running", "mesh-9": "no container named",
	} {
		if _, _, err := p.pick(context.Background(), named(name)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", name, err, want)
		}
	}
	if _, _, err := p.pick(context.Background(), TargetSpec{Mode: PickRandom}); !errors.Is(err, ErrNoTarget) {
		t.Errorf("random with no free pod: err %v", err)
	}
	m, _, err := p.pick(context.Background(), named("postgres"))
	if err != nil || m.Pod != "postgres" {
		t.Errorf("named infra: %v %v", m.Pod, err)
	}
}

func TestRandomNeverPicksInfra(t *testing.T) {
	c := newCluster("postgres", "nats", "mesh-1", "mesh-2")
	p := picker{members: members(t, c), faulted: map[string]bool{}}
	for i := range 4 {
		p.rand = func(n int) int {
			if n != 2 {
				t.Fatalf("random among %d, want the 2 pods", n)
			}
			return i % n
		}
		m, _, err := p.pick(context.Background(), TargetSpec{Mode: PickRandom})
		if err != nil || m.Infra {
			t.Fatalf("picked %+v, %v", m, err)
		}
	}
}

func TestOwnerPicksThePodPostgresNames(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2", "mesh-3")
	p := picker{members: members(t, c), faulted: map[string]bool{}}
	p.owners = ownersFunc(func() ([]Owner, error) { return []Owner{{Pod: "local"}, {Pod: "mesh-3", Run: "thrd_1"}}, nil })
	m, why, err := p.pick(context.Background(), TargetSpec{Mode: PickOwner})
	if err != nil || m.Pod != "mesh-3" || !strings.Contains(why, "thrd_1") {
		t.Fatalf("picked %s (%s), %v", m.Pod, why, err)
	}
	p.owners = ownersFunc(func() ([]Owner, error) { return []Owner{{Pod: "local"}}, nil })
	if _, _, err := p.pick(context.Background(), TargetSpec{Mode: PickOwner}); !errors.Is(err, ErrNoTarget) || !strings.Contains(err.Error(), `every pod shares the DBOS executor id "local"`) {
		t.Fatalf("owner that maps to nothing: %v", err)
	}
	// A DBOS Conductor's executor id names no pod: said so, not guessed.
	p.owners = ownersFunc(func() ([]Owner, error) { return []Owner{{Pod: "0f8fad5b-d9cb-469f-a165-70867728950e"}}, nil })
	if _, _, err := p.pick(context.Background(), TargetSpec{Mode: PickOwner}); !errors.Is(err, ErrNoTarget) || !strings.Contains(err.Error(), "a DBOS Conductor assigns executor ids") {
		t.Fatalf("a Conductor's executor id: %v", err)
	}
	p.owners = ownersFunc(func() ([]Owner, error) { return []Owner{{Pod: "studio-1"}}, nil })
	if _, _, err := p.pick(context.Background(), TargetSpec{Mode: PickOwner}); !errors.Is(err, ErrNoTarget) || !strings.Contains(err.Error(), `"studio-1" matches 0 containers`) {
		t.Fatalf("an owner of another name: %v", err)
	}
	p.owners = ownersFunc(func() ([]Owner, error) { return nil, nil })
	if _, _, err := p.pick(context.Background(), TargetSpec{Mode: PickOwner, OwnerWait: 30 * time.Millisecond}); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("no run in progress: %v", err)
	}
	p.owners = ownersFunc(func() ([]Owner, error) { return nil, errors.New("owner: postgres unreachable: dial tcp") })
	if _, _, err := p.pick(context.Background(), TargetSpec{Mode: PickOwner}); err == nil || !strings.Contains(err.Error(), "postgres unreachable") {
		t.Fatalf("postgres down: %v", err)
	}
}

func TestBlastRadius(t *testing.T) {
	c := newCluster("mesh-1", "mesh-2", "mesh-3", "postgres")
	ms := members(t, c)
	pod := func(name string) Member {
		for _, m := range ms {
			if m.Pod == name {
				return m
			}
		}
		t.Fatalf("no %s", name)
		return Member{}
	}
	ready := readyFunc(func(m Member) (bool, string) { return m.Pod != "mesh-3", "503" })
	b := BlastRadius{MaxFaulted: 1, MinReady: 1}
	if _, err := b.admit(context.Background(), pod("mesh-1"), ms, []Target{pod("mesh-2").Target}, ready); !errors.Is(err, ErrBlastRadius) || !strings.Contains(err.Error(), "1 pod(s) already faulted (mesh-2), at most 1") {
		t.Errorf("over max: %v", err)
	}
	// mesh-2 faulted is fine with max 2, but then mesh-1 would be the last ready pod.
	b.MaxFaulted = 2
	if _, err := b.admit(context.Background(), pod("mesh-1"), ms, []Target{pod("mesh-2").Target}, ready); !errors.Is(err, ErrBlastRadius) || !strings.Contains(err.Error(), "leave 0 ready pod(s)") {
		t.Errorf("last ready pod: %v", err)
	}
	a, err := b.admit(context.Background(), pod("mesh-3"), ms, nil, ready)
	if err != nil || strings.Join(a.ReadyPods, ",") != "mesh-1,mesh-2" {
		t.Errorf("admission %+v, %v", a, err)
	}
	// Infrastructure named explicitly is not a pod: no pod count, no readiness.
	if _, err := b.admit(context.Background(), pod("postgres"), ms, []Target{pod("mesh-1").Target, pod("mesh-2").Target}, ready); err != nil {
		t.Errorf("infra: %v", err)
	}
}

func TestPodURLPrefersThePublishedPort(t *testing.T) {
	m := Member{IPs: map[string]netip.Addr{"n": netip.MustParseAddr("172.20.0.9")}}
	if u, _ := podURL(m, 3000); u != "http://172.20.0.9:3000" {
		t.Errorf("unpublished: %s", u)
	}
	m.Ports = []container.Port{{IP: "0.0.0.0", PrivatePort: 3000, PublicPort: 13002, Type: "tcp"}}
	if u, _ := podURL(m, 3000); u != "http://127.0.0.1:13002" {
		t.Errorf("published: %s", u)
	}
}
