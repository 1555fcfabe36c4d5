#!/usr/bin/env bash
# make demo: boot the bundled cluster (deploy/cluster.sh up) and run chaosd against it:
# first chaosd smoke (one run started on mesh-1 and watched from every pod, its owner
# SIGKILLed mid-stream, every watcher checked for chunk-1..chunk-N exactly once), then
# each owner fault in turn with its verdict: chaosd --fault=kill-owner, pause-owner,
# partition-owner (runs flowing and watched from every pod, the fault on the owner of
# a run with chunks buffered, every invariant judged). The cluster is left running.
#
#   deploy/demo.sh [chaosd smoke flags]   e.g. deploy/demo.sh --hint slow:40x100
#   TESTBED_BUGS=deliver-new deploy/demo.sh   the same against a defective cluster
set -euo pipefail
PROG=demo
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

"$DEPLOY_DIR/cluster.sh" up
eval "$("$DEPLOY_DIR/cluster.sh" env)"

printf '\n' >&2
log "chaosd smoke --kill-owner: one run on mesh-1, watched from every pod, its owner SIGKILLed mid-run"
rc=0
"$CHAOSD_BIN" smoke --pods "$CHAOSD_PODS" --database-url "$CHAOSD_DATABASE_URL" \
	--provider-url "$CHAOSD_PROVIDER_URL" --compose-project "$CHAOSD_COMPOSE_PROJECT" \
	--kill-owner "$@" || rc=$?
printf '\n' >&2
case "$rc" in
0) log "smoke: every check passed" ;;
1) log "smoke: a check failed (see above; TESTBED_BUGS=${TESTBED_BUGS:-none})" ;;
*) log "smoke: could not run (exit $rc)" ;;
esac
histories=${CHAOSD_DEMO_DIR:-$ROOT_DIR/bin/demo}
mkdir -p "$histories"
for fault in kill-owner pause-owner partition-owner; do
	printf '\n' >&2
	log "chaosd --fault=$fault: runs flowing, the owner of one hit, every invariant judged"
	frc=0
	# The default hold (auto): past owner-alive's grace for the target's timings, so
	# that a takeover that never happens is told apart from a slow one.
	"$CHAOSD_BIN" --fault="$fault" --history="$histories/$fault.jsonl" \
		--ledger="$histories/ledger.jsonl" --log-level=warn 2>&1 || frc=$?
	[ "$frc" = 0 ] && log "$fault: every invariant passed" || log "$fault: exit $frc (1 violated, 2 could not run or unknown)"
	[ "$frc" -gt "$rc" ] && rc=$frc
done
log "the cluster is still running: deploy/cluster.sh status | logs [service]; tear it down with: make cluster-down"
exit "$rc"
