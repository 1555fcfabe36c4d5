package kube

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosd/chaosd/faults"
)

// agentExec plays chaosd's node agent: it records each command and answers as the
// agent does.
type agentExec struct {
	mu    sync.Mutex
	calls [][]string
	pods  []string
	reply string
	code  int
}

func (e *agentExec) run(_ context.Context, _, pod, _ string, cmd []string) (int, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, cmd)
	e.pods = append(e.pods, pod)
	if e.reply != "" {
		return e.code, e.reply, nil
	}
	switch cmd[2] {
	case "cut":
		return 0, "pod u1 CUT off from ...", nil
	case "uncut":
		return 0, "pod u1 UNCUT (pid 7): the table had dropped 12 packets from the peers and 9 to them", nil
	}
	return 2, "unknown", nil
}

func agentPodOn(node string, caps ...corev1.Capability) *corev1.Pod {
	if caps == nil {
		caps = []corev1.Capability{"KILL", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "chaosd-agent-" + node, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/component": "chaosd-agent"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "agent",
			SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: caps}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

func onNode(p *corev1.Pod, node string) *corev1.Pod { p.Spec.NodeName = node; return p }

func peerCluster() *fake.Clientset {
	nats := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "testbed-nats", Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.21", Selector: map[string]string{"app": "nats"}, Ports: []corev1.ServicePort{{Port: 4222}, {Port: 8222}}}}
	other := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "natsy", Namespace: ns}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.99"}}
	natsPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nats-0", Namespace: ns, UID: "n0", Labels: map[string]string{"app": "nats"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.50"}}
	return fake.NewClientset(onNode(worker("w-1", "u1", "10.244.0.11", true), "node-a"), onNode(worker("w-2", "u2", "10.244.0.12", true), "node-a"),
		nats, other, natsPod, agentPodOn("node-a"))
}

// A partition from a peer group resolves the group to the Service's cluster IP (what
// the pod dials) and its pods' IPs, probed at the Service's first port; "pods" is
// every other pod of the selector, probed at pods.port. The agent on the pod's node
// cuts and uncuts, by the pod's uid.
func TestPartitionFromPeersThroughTheAgent(t *testing.T) {
	ctx := context.Background()
	c := peerCluster()
	ex := &agentExec{}
	r := newRuntime(t, c, ex)
	f, _ := r.Fault("partition", faults.Deps{Timing: fastTiming, PeerGroups: map[string][]string{"nats": {"nats"}, "ext": {"192.0.2.7"}}})
	w1, _ := c.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	p, err := f.Plan(ctx, member(w1), faults.Spec{Peers: []string{"nats", "pods", "ext"}})
	if err != nil {
		t.Fatal(err)
	}
	var u partitionUndo
	if err := json.Unmarshal(p.Undo, &u); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, pe := range u.Peers {
		addrs = append(addrs, pe.Addr)
	}
	// testbed-nats by its "-nats" suffix (natsy is not), never the target itself.
	if want := []string{"10.96.0.21", "10.244.0.50", "10.244.0.12", "192.0.2.7"}; !slices.Equal(addrs, want) {
		t.Fatalf("addresses %v, want %v", addrs, want)
	}
	if u.Mode != modePeers || u.Agent != "chaosd-agent-node-a" || u.UID != "u1" {
		t.Fatalf("undo %+v", u)
	}
	if !strings.Contains(p.Does, "open connections included") {
		t.Errorf("plan says %q", p.Does)
	}
	eff, err := f.Inject(ctx, p)
	if err != nil || eff.Confirmed.IsZero() {
		t.Fatalf("inject: %v %+v", err, eff)
	}
	cut := strings.Join(ex.calls[0], " ")
	for _, want := range []string{"agent cut --pod-uid u1", "--addr 10.96.0.21,10.244.0.50,10.244.0.12,192.0.2.7", "--probe 10.96.0.21:4222,10.244.0.12:3000", "--until "} {
		if !strings.Contains(cut, want) {
			t.Errorf("agent command %q lacks %q", cut, want)
		}
	}
	h := f.Heal(ctx, p.Undo)
	if h.Err != nil || h.Outcome != faults.Healed || !strings.Contains(h.Evidence, "dropped 12 packets") {
		t.Fatalf("heal %+v", h)
	}
	if uncut := strings.Join(ex.calls[1], " "); !strings.Contains(uncut, "agent uncut --pod-uid u1 --probe 10.96.0.21:4222,10.244.0.12:3000") {
		t.Errorf("heal ran %q", uncut)
	}
}

func TestPartitionFromPeersRefusals(t *testing.T) {
	ctx := context.Background()
	c := peerCluster()
	r := newRuntime(t, c, &agentExec{})
	f, _ := r.Fault("partition", faults.Deps{PeerGroups: map[string][]string{"nats": {"nats"}, "postgres": {"postgres"}}})
	w1, _ := c.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	for peers, want := range map[string]string{
		"postgres": `peer group "postgres" (faults.peers.postgres: postgres) names no Service, pod or IP address`,
		"redis":    `unknown peer group "redis"`,
	} {
		if _, err := f.Plan(ctx, member(w1), faults.Spec{Peers: []string{peers}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", peers, err, want)
		}
	}
	host := onNode(worker("w-h", "uh", "10.201.0.1", true), "node-a")
	host.Spec.HostNetwork = true
	_, _ = c.CoreV1().Pods(ns).Create(ctx, host, metav1.CreateOptions{})
	if _, err := f.Plan(ctx, member(host), faults.Spec{Peers: []string{"nats"}}); err == nil || !strings.Contains(err.Error(), "hostNetwork") {
		t.Errorf("host network: %v", err)
	}
	_, _ = c.CoreV1().Pods(ns).Create(ctx, agentPodOn("node-c", "KILL"), metav1.CreateOptions{})
	weak := onNode(worker("w-8", "u8", "10.244.0.18", true), "node-c")
	_, _ = c.CoreV1().Pods(ns).Create(ctx, weak, metav1.CreateOptions{})
	if _, err := f.Plan(ctx, member(weak), faults.Spec{Peers: []string{"nats"}}); err == nil || !strings.Contains(err.Error(), "agent.network=true") {
		t.Errorf("agent without network capabilities: %v", err)
	}
	lone := onNode(worker("w-9", "u9", "10.244.0.19", true), "node-b")
	_, _ = c.CoreV1().Pods(ns).Create(ctx, lone, metav1.CreateOptions{})
	if _, err := f.Plan(ctx, member(lone), faults.Spec{Peers: []string{"nats"}}); err == nil || !strings.Contains(err.Error(), "no chaosd agent runs on node node-b") {
		t.Errorf("no agent: %v", err)
	}
}

// An agent that could not confirm the cut fails the injection; a pod gone by the
// heal took its namespace, and the table, with it.
func TestPartitionFromPeersUnconfirmedAndGone(t *testing.T) {
	ctx := context.Background()
	c := peerCluster()
	ex := &agentExec{}
	r := newRuntime(t, c, ex)
	f, _ := r.Fault("partition", faults.Deps{Timing: fastTiming, PeerGroups: map[string][]string{"nats": {"nats"}}})
	w1, _ := c.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	p, err := f.Plan(ctx, member(w1), faults.Spec{Peers: []string{"nats"}})
	if err != nil {
		t.Fatal(err)
	}
	ex.reply, ex.code = "cut: pod u1 still reaches 10.96.0.21:4222 connected under chaosd's nftables table", 1
	if _, err := f.Inject(ctx, p); err == nil || !strings.Contains(err.Error(), "still reaches") {
		t.Fatalf("unconfirmed cut: %v", err)
	}
	_ = c.CoreV1().Pods(ns).Delete(ctx, "w-1", metav1.DeleteOptions{})
	if h := f.Heal(ctx, p.Undo); h.Err != nil || h.Outcome != faults.Unknown || !strings.Contains(h.Evidence, "is gone") {
		t.Fatalf("heal of a gone pod: %+v", h)
	}
}

// policyAndAgent plays the probe pod (through fakeExec) and the agent.
type policyAndAgent struct {
	policy *fakeExec
	agent  *agentExec
}

func (e policyAndAgent) run(ctx context.Context, ns, pod, c string, cmd []string) (int, string, error) {
	if len(cmd) > 1 && cmd[1] == "agent" {
		return e.agent.run(ctx, ns, pod, c, cmd)
	}
	return e.policy.run(ctx, ns, pod, c, cmd)
}

// A whole-pod partition's NetworkPolicy lets open connections live on (kube-router
// accepts ESTABLISHED): with an agent that may, the open connections are cut too,
// from everything but the node, before the policy; the heal removes the table
// first. Without such an agent the plan says, in words, that they are not.
func TestPartitionCutsOpenConnectionsThroughTheAgent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := peerCluster()
	w1, _ := c.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	w1.Status.HostIP = "10.201.0.1"
	_, _ = c.CoreV1().Pods(ns).UpdateStatus(ctx, w1, metav1.UpdateOptions{})
	runProbePods(ctx, c)
	ag := &agentExec{}
	r := newRuntime(t, c, policyAndAgent{policy: &fakeExec{c: c, enforce: true}, agent: ag})
	f, _ := r.Fault("partition", faults.Deps{Timing: fastTiming})
	p, err := f.Plan(ctx, member(w1), faults.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Does, "open are cut too") {
		t.Errorf("plan: %s", p.Does)
	}
	eff, err := f.Inject(ctx, p)
	if err != nil || !strings.Contains(eff.Evidence, "agent: pod u1 CUT") {
		t.Fatalf("inject: %v %+v", err, eff)
	}
	cut := strings.Join(ag.calls[0], " ")
	for _, want := range []string{"agent cut --pod-uid u1 --all", "--keep 10.201.0.1", "--probe 10.96.0.21:4222,10.244.0.12:3000"} {
		if !strings.Contains(cut, want) {
			t.Errorf("agent command %q lacks %q", cut, want)
		}
	}
	h := f.Heal(ctx, p.Undo)
	if h.Err != nil || h.Outcome != faults.Healed || !strings.Contains(h.Evidence, "agent: pod u1 UNCUT") {
		t.Fatalf("heal %+v", h)
	}
	if len(ag.calls) != 2 || ag.calls[1][2] != "uncut" {
		t.Errorf("agent calls %v", ag.calls)
	}

	// An agent without the capabilities: the policy alone, and the plan says what
	// that leaves.
	c2 := fake.NewClientset(onNode(worker("w-1", "u1", "10.244.0.11", true), "node-a"), agentPodOn("node-a", "KILL"))
	f2, _ := newRuntime(t, c2, nil).Fault("partition", faults.Deps{Timing: fastTiming})
	w, _ := c2.CoreV1().Pods(ns).Get(ctx, "w-1", metav1.GetOptions{})
	p2, err := f2.Plan(ctx, member(w), faults.Spec{})
	if err != nil || !strings.Contains(p2.Does, "WARNING: the connections the pod has open are NOT cut") {
		t.Fatalf("plan without a capable agent: %v %s", err, p2.Does)
	}
}
