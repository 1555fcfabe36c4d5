#!/usr/bin/env bash
# make soak: boot the bundled cluster (deploy/cluster.sh up) and run a compressed
# overnight soak against it: runs flowing at 0.5/s, each watched from every pod, the
# three owner faults on schedules of tens of seconds, chaosd's /metrics on
# 127.0.0.1:9464, and at the end the final quiet check, the verdicts and the report
# (report.html, junit.xml, summary.md) in bin/soak/<start time>/ (bin/soak/latest). The
# cluster is left running.
#
#   deploy/soak.sh [chaosd soak flags]      e.g. deploy/soak.sh --duration 30m
#   CHAOSD_SOAK_DURATION=8h deploy/soak.sh  the real thing (faults every 10-20 min)
#   TESTBED_BUGS=deliver-new deploy/soak.sh the same against a defective cluster
set -euo pipefail
PROG=soak
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

"$DEPLOY_DIR/cluster.sh" up
eval "$("$DEPLOY_DIR/cluster.sh" env)"
out=${CHAOSD_SOAK_OUT:-$ROOT_DIR/bin/soak}
mkdir -p "$out"
cfg="$out/chaosd.yaml"
# Shorter holds than the overnight defaults, so that each kind fires several times.
cat >"$cfg" <<'YAML'
faults:
  kinds:
    kill: {down_for: 5s}
    pause: {duration: 10s}
    partition: {duration: 10s}
YAML
duration=${CHAOSD_SOAK_DURATION:-5m}
schedule='kill=@every 40s;pause=@every 50s;partition=@every 60s'
warmup=20s cooldown=60s
if [ -n "${CHAOSD_SOAK_DURATION:-}" ]; then
	schedule='kill=@every 10m;pause=@every 15m;partition=@every 20m' warmup=2m cooldown=5m
fi
log "chaosd soak for $duration: faults $schedule; report and history in $out"
rc=0
"$CHAOSD_BIN" soak --config "$cfg" --out "$out" --ledger "$out/ledger.jsonl" --duration "$duration" \
	--warmup "$warmup" --cooldown "$cooldown" --schedule "$schedule" "$@" || rc=$?
case "$rc" in
0) log "soak: every invariant passed and was exercised; open $out/latest/report.html" ;;
1) log "soak: an invariant was violated (TESTBED_BUGS=${TESTBED_BUGS:-none}); open $out/latest/report.html" ;;
*) log "soak: exit $rc (could not run, stopped early, or a verdict unknown or not exercised)" ;;
esac
log "the cluster is still running: deploy/cluster.sh status | logs [service]; tear it down with: make cluster-down"
exit "$rc"
