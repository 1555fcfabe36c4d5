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

func agentPodOn(node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "chaosd-agent-" + node, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/component": "chaosd-agent"}},
		Spec:       corev1.PodSpec{NodeName: node},
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
