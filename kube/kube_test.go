package kube

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosd/chaosd/faults"
)

const ns = "testbed"

func worker(name, uid, ip string, ready bool) *corev1.Pod {
	yes := true
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid),
			Labels:          map[string]string{"component": "worker", "pod-template-hash": "abc12"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "tb-worker-abc12", Controller: &yes}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Ports: []corev1.ContainerPort{{ContainerPort: 3000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "worker", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func deployment(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "tb-worker", Namespace: ns, Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"component": "worker"}}},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas},
	}
}

func newRuntime(t *testing.T, c *fake.Clientset, ex execer) *Runtime {
	t.Helper()
	r, err := New(c, nil, Config{Namespace: ns, Selector: "component=worker", Port: 3000, ProbeImage: "chaosd:dev"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex != nil {
		r.exec = ex
	}
	return r
}

var fastTiming = faults.Timing{Confirm: 2 * time.Second, Probe: 50 * time.Millisecond}

func TestNewRefusesAnEmptySelectorOrNamespace(t *testing.T) {
	c := fake.NewClientset()
	if _, err := New(c, nil, Config{Namespace: ns}, nil); err == nil || !strings.Contains(err.Error(), "non-empty label selector") {
		t.Errorf("empty selector: %v", err)
	}
	if _, err := New(c, nil, Config{Selector: "a=b"}, nil); err == nil || !strings.Contains(err.Error(), "no namespace") {
		t.Errorf("no namespace: %v", err)
	}
}

func TestListMapsPodsToMembers(t *testing.T) {
	skipped := worker("w-2", "u2", "10.0.0.2", true)
	skipped.Labels[LabelSkip] = "true"
	gone := worker("w-3", "u3", "", false)
	now := metav1.Now()
	gone.DeletionTimestamp = &now
	other := worker("x-1", "u9", "10.0.0.9", true)
	other.Labels = map[string]string{"component": "api"}
	c := fake.NewClientset(worker("w-1", "u1", "10.0.0.1", true), skipped, gone, other)
	ms, err := newRuntime(t, c, nil).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("members %+v: want the 3 workers, not the api pod", ms)
	}
	m := ms[0]
	if m.Pod != "w-1" || m.Name != "w-1" || m.ID != "u1" || m.Service != "tb-worker" || m.State != "running" || m.IPs["pod"].String() != "10.0.0.1" || len(m.Ports) != 1 || m.Ports[0].PrivatePort != 3000 {
		t.Errorf("w-1: %+v", m)
	}
	if !ms[1].Skipped || ms[2].State != "terminating" {
		t.Errorf("w-2 skipped %v, w-3 state %q", ms[1].Skipped, ms[2].State)
	}
}

func TestDeletePlanRefusesWhatNoDeploymentReplaces(t *testing.T) {
	bare := worker("bare", "ub", "10.0.0.5", true)
	bare.OwnerReferences = nil
	c := fake.NewClientset(bare, deployment(1))
	r := newRuntime(t, c, nil)
	f, _ := r.Fault("delete", faults.Deps{Timing: fastTiming})
	_, err := f.Plan(context.Background(), member(bare), faults.Spec{})
	if err == nil || !strings.Contains(err.Error(), "has no Deployment") {
		t.Errorf("bare pod: %v", err)
	}
	w := worker("w-1", "u1", "10.0.0.1", true)
	if _, err := f.Plan(context.Background(), member(w), faults.Spec{Never: true}); err == nil || !strings.Contains(err.Error(), "down_for never is not possible") {
		t.Errorf("never: %v", err)
	}
}

// The Deployment's status still says 2/2 ready right after the delete: the heal must
// count the pods and wait for the replacement.
func TestDeleteHealWaitsForTheReplacement(t *testing.T) {
	c := fake.NewClientset(worker("w-1", "u1", "", true), worker("w-2", "u2", "", true), deployment(2))
	r := newRuntime(t, c, nil)
	f, _ := r.Fault("delete", faults.Deps{Timing: fastTiming})
	ctx := context.Background()
	p, err := f.Plan(ctx, member(worker("w-1", "u1", "", true)), faults.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	eff, err := f.Inject(ctx, p)
	if err != nil || !strings.Contains(eff.Evidence, "gone from the API") {
		t.Fatalf("inject: %v %+v", err, eff)
	}
	replaced := time.Now().Add(300 * time.Millisecond)
	go func() {
		time.Sleep(time.Until(replaced))
		_, _ = c.CoreV1().Pods(ns).Create(ctx, worker("w-3", "u3", "", true), metav1.CreateOptions{})
	}()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h := f.Heal(hctx, p.Undo)
	if h.Err != nil || h.Outcome != faults.Healed || !strings.Contains(h.Evidence, "2/2 pods ready (w-2, w-3)") {
		t.Fatalf("heal: %+v", h)
	}
	if h.Confirmed.Before(replaced) {
		t.Errorf("healed at %s, before the replacement existed (%s)", h.Confirmed, replaced)
	}
}

func TestDeleteHealOfAVanishedDeploymentIsUnknown(t *testing.T) {
	c := fake.NewClientset()
	r := newRuntime(t, c, nil)
	f, _ := r.Fault("stop", faults.Deps{Timing: fastTiming})
	undo, _ := json.Marshal(deleteUndo{Namespace: ns, Pod: "w-1", UID: "u1", Deployment: "tb-worker", Replicas: 2})
	if h := f.Heal(context.Background(), undo); h.Err != nil || h.Outcome != faults.Unknown {
		t.Errorf("heal: %+v", h)
	}
}

// fakeExec answers the probe: reached unless the pod carries the fault label and a
// NetworkPolicy exists (enforce), or an error when broken.
type fakeExec struct {
	c       *fake.Clientset
	enforce bool
	broken  bool
	mu      sync.Mutex
	calls   int
}

func (e *fakeExec) run(ctx context.Context, ns, pod, _ string, cmd []string) (int, string, error) {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	if e.broken {
		return 0, "", context.DeadlineExceeded
	}
	if !e.enforce {
		return 0, "connected", nil
	}
	nps, _ := e.c.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	w, _ := e.c.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	if len(nps.Items) > 0 && w != nil && w.Labels[LabelFault] != "" {
		return 1, "connection refused", nil
	}
	return 0, "connected", nil
}

// runProbePods plays the kubelet for probe pods: each one created runs.
func runProbePods(ctx context.Context, c *fake.Clientset) {
	go func() {
		for ctx.Err() == nil {
			pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelProbe})
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.Status.Phase != corev1.PodRunning {
					p.Status.Phase = corev1.PodRunning
					p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
					_, _ = c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
}

func TestPartitionConfirmedAndHealedByTheProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := fake.NewClientset(worker("w-1", "u1", "10.0.0.1", true))
	runProbePods(ctx, c)
	ex := &fakeExec{c: c, enforce: true}
	r := newRuntime(t, c, ex)
	f, _ := r.Fault("partition", faults.Deps{Timing: fastTiming})
	p, err := f.Plan(ctx, member(worker("w-1", "u1", "10.0.0.1", true)), faults.Spec{Hold: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eff, err := f.Inject(ctx, p)
	if err != nil || !strings.Contains(eff.Evidence, "cannot connect to 10.0.0.1:3000") {
		t.Fatalf("inject: %v %+v", err, eff)
	}
	var u partitionUndo
	_ = json.Unmarshal(p.Undo, &u)
	np, err := c.NetworkingV1().NetworkPolicies(ns).Get(ctx, u.Policy, metav1.GetOptions{})
	if err != nil || np.Spec.PodSelector.MatchLabels[LabelFault] != u.ID || len(np.Spec.PolicyTypes) != 2 || np.Spec.Ingress != nil || np.Spec.Egress != nil || np.Annotations[AnnotationExpire] == "" {
		t.Fatalf("policy: %v %+v", err, np)
	}
	h := f.Heal(ctx, p.Undo)
	if h.Err != nil || h.Outcome != faults.Healed || !strings.Contains(h.Evidence, "connects to 10.0.0.1:3000") {
		t.Fatalf("heal: %+v", h)
	}
	if _, err := c.NetworkingV1().NetworkPolicies(ns).Get(ctx, u.Policy, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("policy left behind: %v", err)
	}
	w, _ := c.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	if _, ok := w.Labels[LabelFault]; ok {
		t.Errorf("label left behind: %v", w.Labels)
	}
	if _, err := c.CoreV1().Pods(ns).Get(ctx, u.Probe, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("probe pod left behind: %v", err)
	}
}

// A policy the network plugin does not enforce, or a probe that cannot run, is never
// taken for a partition.
func TestPartitionNotEnforcedOrNotProbedIsNotConfirmed(t *testing.T) {
	for name, ex := range map[string]*fakeExec{"not enforced": {enforce: false}, "probe broken": {broken: true}} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := fake.NewClientset(worker("w-1", "u1", "10.0.0.1", true))
			ex.c = c
			runProbePods(ctx, c)
			r := newRuntime(t, c, ex)
			f, _ := r.Fault("partition", faults.Deps{Timing: faults.Timing{Confirm: 500 * time.Millisecond, Probe: 50 * time.Millisecond}})
			p, err := f.Plan(ctx, member(worker("w-1", "u1", "10.0.0.1", true)), faults.Spec{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Inject(ctx, p); err == nil {
				t.Fatal("confirmed a partition nothing showed")
			}
		})
	}
}

func TestRolloutPatchesTheTemplateAndRefusesSkippedPods(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(worker("w-1", "u1", "", true), worker("w-2", "u2", "", true), deployment(2))
	r := newRuntime(t, c, nil)
	f, _ := r.Fault("rollout", faults.Deps{Timing: fastTiming})
	p, err := f.Plan(ctx, faults.Member{Target: faults.Target{ID: faults.EveryPod, Pod: faults.EveryPod}}, faults.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(ctx, p); err != nil {
		t.Fatal(err)
	}
	d, _ := c.AppsV1().Deployments(ns).Get(ctx, "tb-worker", metav1.GetOptions{})
	if d.Spec.Template.Annotations[restartedAt] == "" {
		t.Errorf("template annotations %v: no %s", d.Spec.Template.Annotations, restartedAt)
	}
	skipped := worker("w-3", "u3", "", true)
	skipped.Labels[LabelSkip] = "true"
	_, _ = c.CoreV1().Pods(ns).Create(ctx, skipped, metav1.CreateOptions{})
	if _, err := f.Plan(ctx, faults.Member{Target: faults.Target{ID: faults.EveryPod}}, faults.Spec{}); err == nil || !strings.Contains(err.Error(), "would restart it") {
		t.Errorf("skipped pod: %v", err)
	}
}

// What chaosd left past its expiry goes, whatever the ledger says; what has not
// expired stays, and so does what chaosd did not make.
func TestSweepRemovesWhatExpired(t *testing.T) {
	ctx := context.Background()
	past, future := expiry(time.Now().Add(-time.Minute)), expiry(time.Now().Add(time.Hour))
	np := func(name, id, exp string) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{LabelFault: id}, Annotations: map[string]string{AnnotationExpire: exp}}}
	}
	probe := func(name, exp string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{LabelProbe: "x"}, Annotations: map[string]string{AnnotationExpire: exp}}}
	}
	stale, held := worker("w-1", "u1", "10.0.0.1", true), worker("w-2", "u2", "10.0.0.2", true)
	stale.Labels[LabelFault] = "old"
	held.Labels[LabelFault] = "new"
	theirs := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}}
	c := fake.NewClientset(np("chaosd-partition-old", "old", past), np("chaosd-partition-new", "new", future), theirs,
		probe("chaosd-probe-old", past), probe("chaosd-probe-new", future), stale, held)
	gone, err := newRuntime(t, c, nil).Sweep(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := "NetworkPolicy chaosd-partition-old, probe pod chaosd-probe-old, label chaosd.io/fault=old on pod w-1"
	if got := strings.Join(gone, ", "); got != want {
		t.Errorf("swept %q, want %q", got, want)
	}
	left, _ := c.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if len(left.Items) != 2 {
		t.Errorf("policies left: %d, want chaosd-partition-new and theirs", len(left.Items))
	}
	w2, _ := c.CoreV1().Pods(ns).Get(ctx, "w-2", metav1.GetOptions{})
	if w2.Labels[LabelFault] != "new" {
		t.Errorf("a partition in force lost its label: %v", w2.Labels)
	}
}

// A partition whose injection stopped before the policy (its baseline probe could not
// reach the pod) is healed at once: nothing cut the pod off, and a probe that cannot
// reach it must not hold the fault open.
func TestPartitionHealOfNothingInPlace(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(worker("w-1", "u1", "10.0.0.1", true))
	ex := &fakeExec{c: c, broken: true}
	f, _ := newRuntime(t, c, ex).Fault("partition", faults.Deps{Timing: fastTiming})
	undo, _ := json.Marshal(partitionUndo{Namespace: ns, Pod: "w-1", UID: "u1", ID: "abc", Policy: "chaosd-partition-abc", Probe: "chaosd-probe-abc", Addr: "10.0.0.1:3000"})
	h := f.Heal(ctx, undo)
	if h.Err != nil || h.Outcome != faults.Healed || !strings.Contains(h.Evidence, "nothing was in place") || ex.calls != 0 {
		t.Errorf("heal: %+v, probes %d", h, ex.calls)
	}
}

// A delete whose chaosd died after the agent's SIGKILL and before the delete left the
// pod in place (restarted by the kubelet): its heal does not wait for a removal that
// will never come; the Deployment is whole once the pod is ready again. A pod still
// terminating is waited for.
func TestDeleteHealOfAPodNeverDeleted(t *testing.T) {
	c := fake.NewClientset(worker("w-1", "u1", "", true), worker("w-2", "u2", "", true), deployment(2))
	r := newRuntime(t, c, nil)
	f, _ := r.Fault("delete", faults.Deps{Timing: fastTiming})
	ctx := context.Background()
	p, err := f.Plan(ctx, member(worker("w-1", "u1", "", true)), faults.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h := f.Heal(hctx, p.Undo)
	if h.Err != nil || h.Outcome != faults.Healed || !strings.Contains(h.Evidence, "2/2 pods ready") || !strings.Contains(h.Evidence, "pod w-1 was never deleted") {
		t.Fatalf("heal of a pod never deleted: %+v", h)
	}

	w := worker("w-1", "u1", "", true)
	now := metav1.Now()
	w.DeletionTimestamp = &now
	c = fake.NewClientset(w, worker("w-2", "u2", "", true), worker("w-3", "u3", "", true), deployment(2))
	r = newRuntime(t, c, nil)
	f, _ = r.Fault("delete", faults.Deps{Timing: fastTiming})
	sctx, scancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer scancel()
	if h := f.Heal(sctx, p.Undo); h.Outcome == faults.Healed || !strings.Contains(h.Evidence, "still exists") {
		t.Fatalf("heal while the pod terminates: %+v, want it waited for", h)
	}
}

// A Deployment with a pod more than it wants, all ready (a rollout whose old
// ReplicaSet is not yet scaled down), is not whole yet.
func TestWholeWantsExactlyItsReplicas(t *testing.T) {
	c := fake.NewClientset(worker("w-1", "u1", "", true), worker("w-2", "u2", "", true), worker("w-3", "u3", "", true), deployment(2))
	r := newRuntime(t, c, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if h := whole(ctx, r, fastTiming, ns, "tb-worker", 2, "", "", time.Now()); h.Outcome == faults.Healed || !strings.Contains(h.Evidence, "3/2 pods ready") {
		t.Fatalf("3 ready of 2 wanted: %+v, want not whole", h)
	}
	_ = c.CoreV1().Pods(ns).Delete(context.Background(), "w-3", metav1.DeleteOptions{})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if h := whole(ctx2, r, fastTiming, ns, "tb-worker", 2, "", "", time.Now()); h.Outcome != faults.Healed {
		t.Fatalf("2 ready of 2: %+v, want whole", h)
	}
}

// The API selector's ready pods are listed apart from the pods under test, a pod
// both selectors match counting as under test; a bad selector is refused.
func TestReadyAPIPods(t *testing.T) {
	ctx := context.Background()
	api := func(name, uid, ip string, ready bool) *corev1.Pod {
		p := worker(name, uid, ip, ready)
		p.Labels = map[string]string{"component": "api"}
		return p
	}
	both := worker("w-9", "u9", "10.0.0.9", true)
	both.Labels["tier"] = "api"
	c := fake.NewClientset(worker("w-1", "u1", "10.0.0.1", true), api("a-1", "ua1", "10.0.1.1", true), api("a-2", "ua2", "10.0.1.2", false), both)
	r, err := New(c, nil, Config{Namespace: ns, Selector: "component=worker", APISelector: "component=api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := r.ReadyAPIPods(ctx)
	if err != nil || len(ps) != 1 || ps[0].Name != "a-1" || ps[0].IP != "10.0.1.1" {
		t.Fatalf("api pods %v %v: want the ready a-1", ps, err)
	}
	r2, _ := New(c, nil, Config{Namespace: ns, Selector: "component=worker", APISelector: "tier=api"}, nil)
	if ps, err := r2.ReadyAPIPods(ctx); err != nil || len(ps) != 0 {
		t.Errorf("a pod under test listed as an API pod: %v %v", ps, err)
	}
	if ps, err := newRuntime(t, c, nil).ReadyAPIPods(ctx); err != nil || ps != nil {
		t.Errorf("no api selector: %v %v", ps, err)
	}
	if _, err := New(c, nil, Config{Namespace: ns, Selector: "component=worker", APISelector: "component in (("}, nil); err == nil || !strings.Contains(err.Error(), "api_selector") {
		t.Errorf("bad api selector: %v", err)
	}
}
