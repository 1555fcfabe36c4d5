#!/usr/bin/env bash
# The end-to-end tier: build the images, boot the bundled Docker cluster, run the Go e2e
# tests (build tag e2e, TestE2E*) against its published ports; then boot the same
# stand-in in the shape of mesh's own harness (TARGET=mesh-2026-05: project multi-pod,
# Postgres and NATS not published, 45 s heartbeat TTL) and run the tests of build tags
# e2e,mesh against it (TestE2EMesh*: chaosd --target=mesh-2026-05 with no other
# setting, the preflight refusing a wrong profile, the defect matrix); then the
# stand-in as today's mesh (TARGET=mesh-current: DBOS owners, no heartbeat bucket,
# SIGTERM hand-over, minio) with TestE2EMeshCurrent: every fault kind clean, each
# defect of today's mesh switched at run time on one boot, and a short soak with all
# five kinds. The phase scale (not run unless named in CHAOSD_E2E_PHASES) boots the
# 30-pod cluster (TARGET=bundled-30, project chaosd-30) and runs TestE2EScale (build
# tags e2e,scale): chaosd --target=bundled-30 --fault=kill-owner, clean. Every cluster
# is torn down at exit, with the logs of every service when something failed.
#   CHAOSD_E2E_KEEP=1     leave the cluster running afterwards (for debugging)
#   CHAOSD_E2E_RUN=REGEX  run only these tests of the bundled phase (default ^TestE2E)
#   CHAOSD_E2E_PHASES     bundled mesh current scale (default: bundled mesh current)
#   CHAOSD_CURRENT_SOAK   the mesh-current soak's length (default 4m)
set -euo pipefail
cd "$(dirname "$0")/.."

phases=${CHAOSD_E2E_PHASES:-bundled mesh current}
ok=0
target=bundled
jsondir=bin/e2e-json # go test's JSON records, one file per phase (gotest below)
finish() {
	if [ "$ok" != 1 ]; then
		printf '\n=== e2e failed: logs of every service (target %s)\n' "$target" >&2
		TARGET=$target deploy/cluster.sh logs --timestamps --tail=300 >&2 || true
		# Last, so that the tail of a long log says what failed and why: every failed
		# test's whole output again, from the phases' JSON records.
		if [ -x bin/gotestsum ] && compgen -G "$jsondir/*.json" >/dev/null; then
			printf '\n=== e2e failed: the failed tests again, with their output\n' >&2
			bin/gotestsum --format pkgname --hide-summary=skipped --raw-command -- cat "$jsondir"/*.json >&2 || true
		fi
	fi
	if [ "${CHAOSD_E2E_KEEP:-0}" = 1 ]; then
		echo "e2e: cluster left running (CHAOSD_E2E_KEEP=1); tear it down with TARGET=$target deploy/cluster.sh down" >&2
	else
		TARGET=$target deploy/cluster.sh down >/dev/null 2>&1 || echo "e2e: TARGET=$target deploy/cluster.sh down failed; run it by hand" >&2
	fi
}
trap finish EXIT

# gotest runs go test (verbose) through gotestsum when scripts/deps/gotestsum.sh built
# it: the same verbose output, each failed test's output again at the end, and a JSON
# record per phase for the digest above. Without it, plain go test -v.
rm -rf "$jsondir" && mkdir -p "$jsondir"
gotest() {
	local name=$1
	shift
	if [ -x bin/gotestsum ]; then
		bin/gotestsum --format standard-verbose --hide-summary=skipped --jsonfile "$jsondir/$name.json" -- "$@"
	else
		go test -v "$@"
	fi
}

t0=$(date +%s)
deploy/build-images.sh
make build >/dev/null
export CHAOSD_E2E_BIN=$PWD/bin/chaosd

if [[ " $phases " == *" bundled "* ]]; then
# The tests expect a correct cluster with the short default timings.
export TESTBED_BUGS='' TESTBED_HEARTBEAT_TTL=6s TESTBED_HEARTBEAT_INTERVAL=2s
CHAOSD_SKIP_BUILD=1 deploy/cluster.sh up
eval "$(deploy/cluster.sh env)"
export CHAOSD_HEARTBEAT_TTL=$TESTBED_HEARTBEAT_TTL CHAOSD_HEARTBEAT_INTERVAL=$TESTBED_HEARTBEAT_INTERVAL
# -p 1: the packages' tests kill, pause and cut off pods of the same cluster, so they
# must not run at the same time. The detection matrix is written to
# $CHAOSD_MATRIX_OUT (default bin/matrix.md).
export CHAOSD_MATRIX_OUT=${CHAOSD_MATRIX_OUT:-$PWD/bin/matrix.md}
gotest bundled -p 1 -count=1 -tags e2e -timeout 40m -run "${CHAOSD_E2E_RUN:-^TestE2E}" ./...
echo "e2e: bundled phase done at +$(($(date +%s) - t0))s"
deploy/cluster.sh down >/dev/null
unset TESTBED_BUGS TESTBED_HEARTBEAT_TTL TESTBED_HEARTBEAT_INTERVAL
fi

if [[ " $phases " == *" mesh "* ]]; then
target=mesh-2026-05
# The harness's own timings and shape come from the target; the test switches each
# defect row, with nothing of the bundled cluster's settings in the environment.
TARGET=$target CHAOSD_SKIP_BUILD=1 deploy/cluster.sh up
export CHAOSD_MESH_MATRIX_OUT=${CHAOSD_MESH_MATRIX_OUT:-$PWD/bin/matrix-mesh-2026-05.md}
gotest mesh -p 1 -count=1 -tags e2e,mesh -timeout 50m -run '^TestE2EMeshHarness' ./e2e/
echo "e2e: mesh-2026-05 phase done at +$(($(date +%s) - t0))s"
fi

if [[ " $phases " == *" current "* ]]; then
target=mesh-current
# The test takes the mesh-2026-05 cluster down (the same project) and boots this one.
export CHAOSD_CURRENT_MATRIX_OUT=${CHAOSD_CURRENT_MATRIX_OUT:-$PWD/bin/matrix-mesh-current.md}
gotest current -p 1 -count=1 -tags e2e,mesh -timeout 50m -run '^TestE2EMeshCurrent' ./e2e/
echo "e2e: mesh-current phase done at +$(($(date +%s) - t0))s"
fi
if [[ " $phases " == *" scale "* ]]; then
target=bundled-30
# The test boots the cluster (its own project and ports: a bundled cluster may run
# beside it) and tears it down unless CHAOSD_E2E_KEEP=1.
gotest scale -p 1 -count=1 -tags e2e,scale -timeout 20m -run '^TestE2EScale' ./e2e/
echo "e2e: bundled-30 phase done at +$(($(date +%s) - t0))s"
fi
ok=1
echo "e2e: done in $(($(date +%s) - t0))s (images, boot, tests)"
