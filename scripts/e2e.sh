#!/usr/bin/env bash
# The end-to-end tier: build the images, boot the bundled Docker cluster, run the Go e2e
# tests (build tag e2e, TestE2E*) against its published ports, and always tear the
# cluster down at exit, with the logs of every service when something failed.
#   CHAOSD_E2E_KEEP=1     leave the cluster running afterwards (for debugging)
#   CHAOSD_E2E_RUN=REGEX  run only these tests (default ^TestE2E)
set -euo pipefail
cd "$(dirname "$0")/.."

ok=0
finish() {
	if [ "$ok" != 1 ]; then
		printf '\n=== e2e failed: logs of every service\n' >&2
		deploy/cluster.sh logs --timestamps --tail=300 >&2 || true
	fi
	if [ "${CHAOSD_E2E_KEEP:-0}" = 1 ]; then
		echo "e2e: cluster left running (CHAOSD_E2E_KEEP=1); tear it down with deploy/cluster.sh down" >&2
	else
		deploy/cluster.sh down >/dev/null 2>&1 || echo "e2e: deploy/cluster.sh down failed; run it by hand" >&2
	fi
}
trap finish EXIT

# The tests expect a correct cluster with the short default timings.
export TESTBED_BUGS='' TESTBED_HEARTBEAT_TTL=6s TESTBED_HEARTBEAT_INTERVAL=2s
t0=$(date +%s)
deploy/build-images.sh
CHAOSD_SKIP_BUILD=1 deploy/cluster.sh up
eval "$(deploy/cluster.sh env)"
export CHAOSD_HEARTBEAT_TTL=$TESTBED_HEARTBEAT_TTL CHAOSD_HEARTBEAT_INTERVAL=$TESTBED_HEARTBEAT_INTERVAL
# -p 1: the packages' tests kill, pause and cut off pods of the same cluster, so they
# must not run at the same time. The detection matrix is written to
# $CHAOSD_MATRIX_OUT (default bin/matrix.md).
make build >/dev/null
export CHAOSD_E2E_BIN=$PWD/bin/chaosd CHAOSD_MATRIX_OUT=${CHAOSD_MATRIX_OUT:-$PWD/bin/matrix.md}
go test -p 1 -count=1 -tags e2e -timeout 40m -run "${CHAOSD_E2E_RUN:-^TestE2E}" -v ./...
ok=1
echo "e2e: done in $(($(date +%s) - t0))s (images, boot, tests)"
