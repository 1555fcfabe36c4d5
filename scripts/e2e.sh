#!/usr/bin/env bash
# The end-to-end tier: build the images, boot the bundled Docker cluster, run the Go e2e
# tests (build tag e2e, TestE2E*) against its published ports; the same stand-in in the
# shape of mesh's own harness (TARGET=mesh-2026-05: project multi-pod, Postgres and NATS
# not published, 45 s heartbeat TTL) with the tests of build tags e2e,mesh
# (TestE2EMeshHarness: chaosd --target=mesh-2026-05 with no other setting, the
# preflight refusing a broken cluster, the defect matrix); then the stand-in as today's
# mesh (TARGET=mesh-current: DBOS owners, no heartbeat bucket, SIGTERM hand-over, minio)
# with TestE2EMeshCurrent: every fault kind clean, each defect of today's mesh switched
# at run time on one boot, and a short soak with all five kinds.
#
# The mesh phases run beside the bundled one, each in a lane of its own: mesh-2026-05
# under the harness's project multi-pod with its pods on 13011..13013, mesh-current
# under project multi-pod-current with its pods on 13021..13023. Most of each phase is
# waiting on fault holds and heartbeat TTLs, so together they take little more than
# the longest of the three. The few tests that
# look at every compose project on the host run with no other cluster up: the bundled
# doctor --suggest first, TestE2EMeshAlone (doctor --suggest on each mesh target, the
# bundled profile pointed at the harness) last.
#
# The phase scale boots the 30-pod cluster (TARGET=bundled-30, project chaosd-30, its
# own ports) and runs TestE2EScale (build tags e2e,scale): doctor finds 30 ready pods,
# and chaosd --target=bundled-30 --fault=kill-owner passes clean. It runs alone, once
# the bundled and mesh lanes are done and their clusters down, so that 30 pods booting
# on two cores share the machine with no other cluster's timed checks (the bundled
# pods refresh their heartbeat key every 2 s against a 6 s TTL). It costs about 40 s.
# Every cluster is torn down at exit, with the logs of every service when something
# failed.
#   CHAOSD_E2E_KEEP=1      leave the clusters running afterwards (for debugging)
#   CHAOSD_E2E_RUN=REGEX   run only these tests of the bundled phase (default ^TestE2E)
#   CHAOSD_E2E_PHASES      bundled mesh current scale (default: all four)
#   CHAOSD_E2E_PARALLEL=0  run the phases one after the other (the mesh pods on
#                          13001..13003, as the harness publishes them, both mesh
#                          targets under project multi-pod)
#   CHAOSD_CURRENT_SOAK    the mesh-current soak's length (default 4m)
set -euo pipefail
cd "$(dirname "$0")/.."

phases=${CHAOSD_E2E_PHASES:-bundled mesh current scale}
want() { [[ " $phases " == *" $1 "* ]]; }
ok=0
clusters=""          # the targets this run boots: logged on failure, torn down at exit
jsondir=bin/e2e-json # go test's JSON records, one file per phase (gotest below)
# cluster TARGET[:PROJECT] ARGS...: deploy/cluster.sh for a cluster this run boots
# (the project when it is not the target's own).
cluster() {
	local t=$1
	shift
	if [[ $t == *:* ]]; then
		TARGET=${t%%:*} CHAOSD_PROJECT=${t#*:} deploy/cluster.sh "$@"
	else
		TARGET=$t deploy/cluster.sh "$@"
	fi
}
finish() {
	local t
	if [ "$ok" != 1 ]; then
		for t in $clusters; do
			printf '\n=== e2e failed: logs of every service (target %s)\n' "$t" >&2
			cluster "$t" logs --timestamps --tail=300 >&2 || true
		done
		# Last, so that the tail of a long log says what failed and why: every failed
		# test's whole output again, from the phases' JSON records.
		if [ -x bin/gotestsum ] && compgen -G "$jsondir/*.json" >/dev/null; then
			printf '\n=== e2e failed: the failed tests again, with their output\n' >&2
			bin/gotestsum --format pkgname --hide-summary=skipped --raw-command -- cat "$jsondir"/*.json >&2 || true
		fi
	fi
	for t in $clusters; do
		if [ "${CHAOSD_E2E_KEEP:-0}" = 1 ]; then
			echo "e2e: cluster left running (CHAOSD_E2E_KEEP=1); tear it down with TARGET=$t deploy/cluster.sh down" >&2
		else
			cluster "$t" down >/dev/null 2>&1 || echo "e2e: cluster $t: deploy/cluster.sh down failed; run it by hand (TARGET=${t%%:*}, CHAOSD_PROJECT=${t#*:} when named)" >&2
		fi
	done
}
trap finish EXIT
# The mesh targets share compose project multi-pod: one entry covers both (the later
# one's compose file names every service the logs need).
multipod=mesh-current
want current || multipod=mesh-2026-05

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
since() { echo "+$(($(date +%s) - t0))s"; }

bundled_up() {
	clusters="$clusters bundled"
	# The tests expect a correct cluster with the short default timings.
	export TESTBED_BUGS='' TESTBED_HEARTBEAT_TTL=6s TESTBED_HEARTBEAT_INTERVAL=2s
	CHAOSD_SKIP_BUILD=1 deploy/cluster.sh up
	eval "$(deploy/cluster.sh env)"
	export CHAOSD_HEARTBEAT_TTL=$TESTBED_HEARTBEAT_TTL CHAOSD_HEARTBEAT_INTERVAL=$TESTBED_HEARTBEAT_INTERVAL
	# The detection matrix is written to $CHAOSD_MATRIX_OUT (default bin/matrix.md).
	export CHAOSD_MATRIX_OUT=${CHAOSD_MATRIX_OUT:-$PWD/bin/matrix.md}
}
# bundled_tests NAME SKIP: the bundled tests but those matching SKIP. -p 1: the
# packages' tests kill, pause and cut off pods of the same cluster, so they must not
# run at the same time.
bundled_tests() {
	local rc=0
	gotest "$1" -p 1 -count=1 -tags e2e -timeout 40m -run "${CHAOSD_E2E_RUN:-^TestE2E}" -skip "$2" ./... || rc=$?
	echo "e2e: bundled phase done at $(since) (exit $rc)"
	return "$rc"
}
# mesh_phase: the stand-in in the shape of mesh's harness. The harness's own timings and
# shape come from the target; the test switches each defect row, with nothing of the
# bundled cluster's settings in the environment. Pods on CHAOSD_E2E_MESH_POD_PORT..+2.
mesh_phase() {
	local p=${CHAOSD_E2E_MESH_POD_PORT:-13001}
	TARGET=mesh-2026-05 CHAOSD_SKIP_BUILD=1 CHAOSD_POD1_PORT=$p CHAOSD_POD2_PORT=$((p + 1)) CHAOSD_POD3_PORT=$((p + 2)) \
		deploy/cluster.sh up
	export CHAOSD_MESH_MATRIX_OUT=${CHAOSD_MESH_MATRIX_OUT:-$PWD/bin/matrix-mesh-2026-05.md}
	gotest mesh -p 1 -count=1 -tags e2e,mesh -timeout 50m -run '^TestE2EMeshHarness$' ./e2e/
	# Down at once: the other phases need none of it, and the alone phase boots its own.
	TARGET=mesh-2026-05 deploy/cluster.sh down >/dev/null
	echo "e2e: mesh-2026-05 phase done at $(since)"
}
# current_phase: today's mesh. The test boots it (under CHAOSD_E2E_MESH_PROJECT when
# set; under multi-pod it takes a mesh-2026-05 cluster of that project down first).
current_phase() {
	export CHAOSD_CURRENT_MATRIX_OUT=${CHAOSD_CURRENT_MATRIX_OUT:-$PWD/bin/matrix-mesh-current.md}
	gotest current -p 1 -count=1 -tags e2e,mesh -timeout 50m -run '^TestE2EMeshCurrent$' ./e2e/
	echo "e2e: mesh-current phase done at $(since)"
}
# mesh_phases: mesh then current, as named in CHAOSD_E2E_PHASES.
mesh_phases() {
	if want mesh; then mesh_phase; fi
	if want current; then current_phase; fi
}
# alone_phase: the mesh tests that look at every compose project on the host, with no
# other cluster up. It boots mesh-2026-05, then mesh-current, on the harness's ports.
alone_phase() {
	CHAOSD_E2E_MESH_POD_PORT= gotest alone -p 1 -count=1 -tags e2e,mesh -timeout 20m -run '^TestE2EMeshAlone$' ./e2e/
	echo "e2e: mesh-alone phase done at $(since)"
}
# scale_phase: the 30-pod cluster. The test boots it (its own project and ports) and
# tears it down unless CHAOSD_E2E_KEEP=1; this script runs it with no other cluster up.
scale_phase() {
	gotest scale -p 1 -count=1 -tags e2e,scale -timeout 20m -run '^TestE2EScale' ./e2e/
	echo "e2e: bundled-30 phase done at $(since)"
}

t0=$(date +%s)
deploy/build-images.sh
make build >/dev/null
export CHAOSD_E2E_BIN=$PWD/bin/chaosd

mesh=0
scaled=0 # the scale phase ran (after the parallel lanes)
if want mesh || want current; then
	mesh=1
	clusters="$clusters $multipod"
fi
# mesh-current's project when it runs in a lane of its own (below).
currentproject=multi-pod-current
if want bundled && [ "$mesh" = 1 ] && [ "${CHAOSD_E2E_PARALLEL:-1}" = 1 ]; then
	want current && clusters="$clusters mesh-current:$currentproject"
	bundled_up
	# Alone: every profile is checked, and the mesh cluster would fit one.
	if [ -z "${CHAOSD_E2E_RUN:-}" ]; then
		gotest bundled-alone -p 1 -count=1 -tags e2e -timeout 10m -run '^TestE2ESuggestBundled$' ./e2e/
	fi
	# Each mesh phase in a lane of its own beside the bundled one: mesh-2026-05 under
	# the harness's project (multi-pod) with its pods on 13011..13013, mesh-current
	# under project multi-pod-current (chaosd is told so: CHAOSD_COMPOSE_PROJECT) with
	# its pods on 13021..13023.
	meshlog=bin/e2e-mesh-phases.log
	currentlog=bin/e2e-current-phase.log
	: >"$meshlog"
	: >"$currentlog"
	echo "e2e: the mesh phases start beside the bundled one at $(since); their output is in $meshlog and $currentlog, printed when the bundled phase is done"
	meshpid="" currentpid=""
	if want mesh; then
		(
			unset TESTBED_BUGS TESTBED_HEARTBEAT_TTL TESTBED_HEARTBEAT_INTERVAL
			export CHAOSD_E2E_MESH_POD_PORT=13011
			mesh_phase
		) >"$meshlog" 2>&1 &
		meshpid=$!
	fi
	if want current; then
		(
			unset TESTBED_BUGS TESTBED_HEARTBEAT_TTL TESTBED_HEARTBEAT_INTERVAL
			export CHAOSD_E2E_MESH_POD_PORT=13021 CHAOSD_E2E_MESH_PROJECT=$currentproject
			current_phase
		) >"$currentlog" 2>&1 &
		currentpid=$!
	fi
	bundled_rc=0
	bundled_tests bundled '^TestE2ESuggestBundled$' || bundled_rc=$?
	mesh_rc=0 current_rc=0
	[ -z "$meshpid" ] || wait "$meshpid" || mesh_rc=$?
	[ -z "$currentpid" ] || wait "$currentpid" || current_rc=$?
	printf '\n=== e2e: the mesh-2026-05 phase (run beside the bundled one): exit %s\n' "$mesh_rc"
	cat "$meshlog"
	printf '\n=== e2e: the mesh-current phase (run beside the bundled one, project %s): exit %s\n' "$currentproject" "$current_rc"
	cat "$currentlog"
	[ "$bundled_rc" = 0 ] && [ "$mesh_rc" = 0 ] && [ "$current_rc" = 0 ] || exit 1
	deploy/cluster.sh down >/dev/null
	unset TESTBED_BUGS TESTBED_HEARTBEAT_TTL TESTBED_HEARTBEAT_INTERVAL
	if want scale; then
		clusters="$clusters bundled-30"
		scale_phase
		scaled=1
	fi
	alone_phase
else
	if want bundled; then
		bundled_up
		bundled_tests bundled '^$'
		deploy/cluster.sh down >/dev/null
		unset TESTBED_BUGS TESTBED_HEARTBEAT_TTL TESTBED_HEARTBEAT_INTERVAL
	fi
	if [ "$mesh" = 1 ]; then
		mesh_phases
		alone_phase
	fi
fi
if want scale && [ "$scaled" = 0 ]; then
	clusters="$clusters bundled-30"
	scale_phase
fi
ok=1
echo "e2e: done in $(($(date +%s) - t0))s (images, boot, tests)"
