#!/usr/bin/env bash
# make demo: boot the bundled cluster (deploy/cluster.sh up) and run chaosd against it:
# one run started on mesh-1 and watched from every pod, its owner SIGKILLed mid-stream,
# and every watcher checked for chunk-1..chunk-N exactly once and the finish, with
# Postgres ending completed and ownerless (chaosd smoke). The cluster is left running.
#
#   deploy/demo.sh [chaosd smoke flags]   e.g. deploy/demo.sh --hint slow:40x100 --chunks 40
#   TESTBED_BUGS=strict-claim deploy/demo.sh   the same against a defective cluster
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
0) log "every check passed" ;;
1) log "a check failed (see above; TESTBED_BUGS=${TESTBED_BUGS:-none})" ;;
*) log "chaosd smoke could not run (exit $rc)" ;;
esac
log "the cluster is still running: deploy/cluster.sh status | logs [service]; tear it down with: make cluster-down"
exit "$rc"
