package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func terminated(p *corev1.Pod, code int32, reason string) *corev1.Pod {
	p = p.DeepCopy()
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}
	return p
}

func TestDeathsTellADeathFromOtherUpdates(t *testing.T) {
	d := newDeaths()
	p := worker("w-1", "uid-1", "10.244.0.5", true)
	if got := d.observe(p, false); len(got) != 0 {
		t.Fatalf("first sight: want no death, got %+v", got)
	}
	if got := d.observe(p, false); len(got) != 0 {
		t.Fatalf("an update that changes nothing: want no death, got %+v", got)
	}
	got := d.observe(terminated(p, 137, "Error"), false)
	if len(got) != 1 || got[0].Action != "die" || got[0].Actor.ID != "uid-1" || got[0].Actor.Attributes["name"] != "w-1" || got[0].Actor.Attributes["exitCode"] != "137" {
		t.Fatalf("terminated: want one die of w-1 (uid-1) with exit 137, got %+v", got)
	}
	if got := d.observe(terminated(p, 137, "Error"), true); len(got) != 0 {
		t.Fatalf("deleted after its death was seen: want no second death, got %+v", got)
	}
}

func TestDeathsOfARestartInPlaceAnOOMAndADeletion(t *testing.T) {
	d := newDeaths()
	p := worker("w-1", "uid-1", "10.244.0.5", true)
	d.observe(p, false)
	restarted := p.DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	got := d.observe(restarted, false)
	if len(got) != 2 || got[0].Action != "oom" || got[1].Action != "die" || got[1].Actor.Attributes["exitCode"] != "137" {
		t.Fatalf("restarted in place after an OOM kill: want oom then die (137), got %+v", got)
	}

	q := worker("w-2", "uid-2", "10.244.0.6", true)
	d.observe(q, false)
	got = d.observe(q, true)
	if len(got) != 1 || got[0].Action != "die" || got[0].Actor.Attributes["exitCode"] != "" {
		t.Fatalf("deleted while running (the kubelet never reported it): want one die without an exit code, got %+v", got)
	}
	if got := d.observe(worker("w-3", "uid-3", "", false), true); len(got) != 0 {
		t.Fatalf("a pod deleted before it was ever seen: want nothing, got %+v", got)
	}
}

func TestReadyPodsAndStarted(t *testing.T) {
	start := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	a := worker("w-a", "uid-a", "10.244.0.5", true)
	a.Status.ContainerStatuses[0].State.Running.StartedAt = metav1.NewTime(start)
	b := worker("w-b", "uid-b", "10.244.0.6", false) // not ready
	c := worker("w-c", "uid-c", "10.244.0.7", true)
	now := metav1.Now()
	c.DeletionTimestamp = &now            // terminating
	e := worker("w-e", "uid-e", "", true) // no IP yet
	s := worker("w-s", "uid-s", "10.244.0.9", true)
	s.Labels[LabelSkip] = "true"
	r := newRuntime(t, fake.NewClientset(a, b, c, e, s), nil)
	ready, err := r.ReadyPods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 1 || ready[0] != (ReadyPod{Name: "w-a", IP: "10.244.0.5"}) {
		t.Fatalf("want only w-a (ready, not terminating, with an IP, not skipped), got %+v", ready)
	}
	started, err := r.Started(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !started["w-a"].Equal(start) {
		t.Fatalf("w-a started at %s, got %s", start, started["w-a"])
	}
	if _, ok := started["w-c"]; ok {
		t.Fatal("a terminating pod is not in the running snapshot")
	}
	if !Replaces("delete") || !Replaces("stop") || !Replaces("rollout") || Replaces("kill") || Replaces("partition") {
		t.Fatal("delete, stop and rollout replace their pods on Kubernetes; kill and partition do not")
	}
}
