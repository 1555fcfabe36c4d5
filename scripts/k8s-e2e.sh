#!/usr/bin/env bash
# The Kubernetes tier (make k8s-e2e): boot the single-node cluster of deploy/k8s/cluster.sh
# with the testbed's Helm chart, run chaosd's Kubernetes end-to-end tests against it
# (kube/e2e_test.go: every kind Kubernetes offers on the clean testbed, chaosd's verdict
# per kind and on the strict-claim defect, directly and through port-forward, a soak,
# least privilege, the refusals, the agent's own thaw, and a crash loop of
# CHAOSD_E2E_K8S_CRASHES SIGKILLs per kind and way of healing), then tear it down
# (CHAOSD_K8S_KEEP=1 leaves it up). Needs root. Not in .ci/run: see
# the README's "Kubernetes" section for why and for the time it takes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "k8s-e2e: run as root (the cluster needs a kubelet, a runtime, a bridge)" >&2; exit 2; }
export CGO_ENABLED=0
make build >/dev/null
t0=$(date +%s)
deploy/k8s/cluster.sh up
echo "k8s-e2e: cluster and testbed up in $(($(date +%s) - t0))s" >&2
[ "${CHAOSD_K8S_KEEP:-0}" = 1 ] || trap 'deploy/k8s/cluster.sh down' EXIT
eval "$(deploy/k8s/cluster.sh env)"
CHAOSD_BIN=$PWD/bin/chaosd go test -tags e2e,k8s -count=1 -v -timeout 60m ./kube -run 'E2EK8s'
