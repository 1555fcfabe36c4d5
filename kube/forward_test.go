package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

// port-forward reaches a Service through one of its ready pods, at the container port
// its port targets (a number or a name); a host that is no Service of the namespace
// is an error that says so.
func TestForwarderPicksAServicesReadyPod(t *testing.T) {
	pg := worker("pg-1", "uid-pg", "10.244.0.9", true)
	pg.Labels = map[string]string{"app": "postgres"}
	pg.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "sql", ContainerPort: 5432}}
	down := worker("pg-0", "uid-pg0", "10.244.0.8", false)
	down.Labels = map[string]string{"app": "postgres"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "testbed-postgres", Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Selector: map[string]string{"app": "postgres"},
			Ports: []corev1.ServicePort{{Port: 5432, TargetPort: intstr.FromString("sql")}, {Port: 6432, TargetPort: intstr.FromInt(5432)}}}}
	r := newRuntime(t, fake.NewClientset(pg, down, svc), nil)
	f := r.NewForwarder()
	ctx := context.Background()
	for _, sp := range svc.Spec.Ports {
		pod, port, err := f.backend(ctx, svc, sp)
		if err != nil || pod != "pg-1" || port != 5432 {
			t.Errorf("port %d: backend %s:%d (%v), want the ready pod pg-1 at 5432", sp.Port, pod, port, err)
		}
	}
	// The Service is found by its cluster IP and by its name; with no API server to
	// forward through (a fake client), the forward itself fails, saying so.
	for _, host := range []string{"10.96.0.20:5432", "testbed-postgres:5432", "testbed-postgres.testbed.svc:5432"} {
		if _, err := f.Service(ctx, host); err == nil || !strings.Contains(err.Error(), "no API server to port-forward through") {
			t.Errorf("%s: %v, want the Service found and the forward refused", host, err)
		}
	}
	for host, want := range map[string]string{
		"10.96.0.99:5432":  "no Service of namespace testbed is 10.96.0.99",
		"10.96.0.20:5433":  "Service testbed-postgres has no port 5433",
		"testbed-postgres": "want host:port",
	} {
		if _, err := f.Service(ctx, host); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", host, err, want)
		}
	}
}

// A pause the container's liveness probe would end (the kubelet restarting a frozen
// container) is refused before anything is done, naming the limit.
func TestPauseRefusesAHoldTheLivenessProbeWouldEnd(t *testing.T) {
	lp := &corev1.Probe{PeriodSeconds: 5, FailureThreshold: 6, TimeoutSeconds: 1}
	if err := pauseFitsLiveness("w-1", lp, 20*time.Second); err != nil {
		t.Errorf("20s under a 6 x 5s probe: %v", err)
	}
	err := pauseFitsLiveness("w-1", lp, 28*time.Second)
	if err == nil || !strings.Contains(err.Error(), "hold the pause under 24s") {
		t.Errorf("28s under a 6 x 5s probe: %v, want refused under 24s", err)
	}
	if err := pauseFitsLiveness("w-1", nil, time.Hour); err != nil {
		t.Errorf("no liveness probe: %v", err)
	}
	if err := pauseFitsLiveness("w-1", &corev1.Probe{}, 20*time.Second); err == nil {
		t.Error("the defaults (every 10s, 3 failures) end a 20s pause: want refused")
	}
}
