//go:build e2e && k8s

package kube_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chaosd/chaosd/faults"
	"github.com/chaosd/chaosd/kube"
)

// The Kubernetes tier: chaosd against the testbed's Helm chart on the real
// single-node cluster of deploy/k8s/cluster.sh (make k8s-up; scripts/k8s-e2e.sh boots
// it, runs this and tears it down). KUBECONFIG names the cluster, CHAOSD_BIN the
// chaosd binary (default ../bin/chaosd).

const ns = "chaosd-testbed"

func client(t *testing.T) kubernetes.Interface {
	t.Helper()
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		t.Fatal("KUBECONFIG is not set: eval \"$(deploy/k8s/cluster.sh env)\" (the Kubernetes tier needs the cluster of make k8s-up)")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func chaosdBin(t *testing.T) string {
	if b := os.Getenv("CHAOSD_BIN"); b != "" {
		return b
	}
	b, err := filepath.Abs("../bin/chaosd")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type result struct {
	code     int
	out, err string
}

func (r result) String() string { return fmt.Sprintf("exit %d\n%s\n%s", r.code, r.out, r.err) }

func chaosd(t *testing.T, ledger string, args ...string) result {
	t.Helper()
	var command []string // a command (recover) comes first, --fault's flags anywhere
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		command, args = args[:1], args[1:]
	}
	cmd := exec.Command(chaosdBin(t), append(append(command, "--target=k8s-testbed", "--ledger="+ledger, "--log-format=json"), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{out: out.String(), err: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func ledgerPath(t *testing.T) string { return filepath.Join(t.TempDir(), "ledger.jsonl") }

// Each kind Kubernetes offers, on a random pod (rollout: every pod), passes on the
// clean testbed: injected, confirmed, healed, and nothing is left behind.
func TestE2EK8sKinds(t *testing.T) {
	c := client(t)
	for _, args := range [][]string{
		{"--fault=delete-random", "--duration=2s"},
		{"--fault=stop-random", "--down-for=2s"},
		{"--fault=partition-random", "--duration=3s"},
		{"--fault=rollout", "--duration=1s"},
	} {
		t.Run(strings.TrimPrefix(args[0], "--fault="), func(t *testing.T) {
			ledger := ledgerPath(t)
			r := chaosd(t, ledger, append(args, "--workload=false")...)
			if r.code != 0 || !strings.Contains(r.out, "outcome   healed (by chaosd)") || !strings.Contains(r.out, "confirmed") {
				t.Fatalf("%v: %s", args, r)
			}
			for _, l := range strings.Split(r.out, "\n") {
				if strings.Contains(l, "confirmed ") {
					t.Log(strings.TrimSpace(l))
				}
			}
			assertClean(t, c, ledger)
		})
	}
}

// Docker kinds that need a node agent on Kubernetes are refused with nothing done.
func TestE2EK8sRefusesWhatItCannotDo(t *testing.T) {
	for args, want := range map[string]string{
		"--fault=kill-random":  "the kubernetes runtime does not offer it",
		"--fault=pause-random": "the kubernetes runtime does not offer it",
	} {
		r := chaosd(t, ledgerPath(t), args, "--workload=false")
		if r.code == 0 || !strings.Contains(r.err, want) {
			t.Errorf("%s: %s", args, r)
		}
	}
	r := chaosd(t, ledgerPath(t), "--fault=delete-random")
	if r.code != 2 || !strings.Contains(r.err, "not built for Kubernetes yet") {
		t.Errorf("with the verdict: %s", r)
	}
}

// Crash safety: chaosd SIGKILLed at a random moment of a partition (the kind that
// creates objects: a NetworkPolicy, a label, a probe pod) or a delete,
// CHAOSD_E2E_K8S_CRASHES times (default 10) per kind and way of healing: chaosd
// recover right after, or the watchdog alone by the deadline. Nothing may be left.
func TestE2EK8sCrashLoop(t *testing.T) {
	n := 10
	if v, err := strconv.Atoi(os.Getenv("CHAOSD_E2E_K8S_CRASHES")); err == nil && v > 0 {
		n = v
	}
	c := client(t)
	const hold = 3 * time.Second
	for _, kind := range []string{"partition", "delete"} {
		for _, mode := range []string{"recover", "watchdog"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				crashes, finished, failed := 0, 0, 0
				for crashes < n {
					ledger := ledgerPath(t)
					cmd := exec.Command(chaosdBin(t), "--target=k8s-testbed", "--ledger="+ledger, "--log-format=json", "--workload=false",
						"--fault="+kind+"-random", "--duration="+hold.String())
					cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					done := make(chan error, 1)
					go func() { done <- cmd.Wait() }()
					select {
					case <-done:
						finished++
						assertClean(t, c, ledger)
						continue
					case <-time.After(time.Duration(rand.Int64N(int64(hold + 2*time.Second)))):
					}
					_ = cmd.Process.Kill() // chaosd alone: its watchdog is a process of its own
					<-done
					crashes++
					before := t.Failed()
					if mode == "recover" {
						if r := chaosd(t, ledger, "recover"); r.code != 0 {
							t.Errorf("crash %d: recover: %s", crashes, r)
						}
					} else {
						waitClosed(t, ledger, hold+90*time.Second)
					}
					assertClean(t, c, ledger)
					if t.Failed() && !before {
						failed++
					}
				}
				t.Logf("%s by %s: %d crashes, %d healed with nothing left (%d runs ended before the kill)", kind, mode, crashes, crashes-failed, finished)
			})
		}
	}
}

// waitClosed waits until every fault of the ledger is closed.
func waitClosed(t *testing.T, ledger string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		st, err := faults.ReadLedger(ledger)
		if err == nil && len(st.Open()) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("faults still open in %s after %s", ledger, within)
}

// assertClean: no open fault, no NetworkPolicy, label or probe pod of chaosd's, and
// the worker Deployment whole again.
func assertClean(t *testing.T, c kubernetes.Interface, ledger string) {
	t.Helper()
	ctx := context.Background()
	if st, err := faults.ReadLedger(ledger); err != nil || len(st.Open()) > 0 {
		t.Errorf("ledger %s: open faults %v (%v)", ledger, st.Open(), err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var left []string
		nps, err := c.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, np := range nps.Items {
			left = append(left, "NetworkPolicy "+np.Name)
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if _, ok := p.Labels[kube.LabelFault]; ok {
				left = append(left, "label on "+p.Name)
			}
			if _, ok := p.Labels[kube.LabelProbe]; ok {
				left = append(left, "probe pod "+p.Name)
			}
			if p.Labels["component"] == "worker" && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
				for _, cond := range p.Status.Conditions {
					if cond.Type == "Ready" && cond.Status == "True" {
						ready++
					}
				}
			}
		}
		if ready < 3 {
			left = append(left, fmt.Sprintf("%d/3 workers ready", ready))
		}
		if len(left) == 0 {
			return
		}
		// A probe pod deleted with grace 0 and a replacement booting take a moment;
		// a policy or a label is never the kubelet's to remove.
		onlyTransient := true
		for _, l := range left {
			if strings.HasPrefix(l, "NetworkPolicy") || strings.HasPrefix(l, "label") {
				onlyTransient = false
			}
		}
		if !onlyTransient || time.Now().After(deadline) {
			t.Errorf("left behind: %s", strings.Join(left, "; "))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}
