//go:build tools

// Package build pins the Kubernetes release whose components deploy/k8s/up.sh builds
// (go build k8s.io/kubernetes/cmd/...): the module's own replace directives point at
// ./staging, which its module zip lacks, so go.mod points every k8s.io staging module
// at its published release of the same version.
package build

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
