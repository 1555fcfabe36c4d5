package kube

import (
	"bytes"
	"context"
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// execer runs a command in a pod's container: its exit code and output.
type execer interface {
	run(ctx context.Context, ns, pod, container string, cmd []string) (code int, out string, err error)
}

// spdyExec runs it through the API server's pods/exec subresource.
type spdyExec struct {
	rc     *rest.Config
	client kubernetes.Interface
}

func (e spdyExec) run(ctx context.Context, ns, pod, container string, cmd []string) (int, string, error) {
	if e.rc == nil {
		return 0, "", errors.New("no API server to exec through")
	}
	req := e.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.rc, "POST", req.URL())
	if err != nil {
		return 0, "", err
	}
	var stdout, stderr bytes.Buffer // two streams, two writers
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	out := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code, out, nil
	}
	if err != nil {
		return 0, out, err
	}
	return 0, out, nil
}

func trim(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
