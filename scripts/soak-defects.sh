#!/usr/bin/env bash
# The detection-hole soaks on Docker (issue 15): boot the bundled cluster with the
# testbed's runtime switches, then for each defect switch it on in every pod (POST
# /testbed/bugs), run a 3-minute chaosd soak with the fault kind that exposes it, and
# switch it off again; last, the same soak on the clean cluster with kill, pause,
# partition and stop scheduled. Prints each soak's exit code and verdict table; the
# reports stay in bin/soak-defects/<defect>/. Not part of CI (its in-process twins
# are: TestIntegrationSoakCatchesDetectionHoles, TestIntegrationSoakCleanAllKinds).
#
#   scripts/soak-defects.sh                 every row
#   SOAK_DEFECTS="zombie-owner" scripts/soak-defects.sh
#   SOAK_DURATION=10m scripts/soak-defects.sh
set -uo pipefail
cd "$(dirname "$0")/.."
rows=${SOAK_DEFECTS:-replay-loses-start zombie-owner ready-but-failing none}
duration=${SOAK_DURATION:-3m}
declare -A kind=([replay-loses-start]="kill=@every 40s" [zombie-owner]="pause=@every 40s" [ready-but-failing]="partition=@every 40s"
	[none]="kill=0 0-59/2 * * * *;pause=30 0-59/2 * * * *;partition=0 1-59/2 * * * *;stop=30 1-59/2 * * * *")

make build >/dev/null || exit 1
TESTBED_BUGS='' TESTBED_RUNTIME_SWITCHES=true deploy/cluster.sh up || exit 1
eval "$(deploy/cluster.sh env)"
switch() {
	local url
	for url in ${CHAOSD_PODS//,/ }; do
		curl -fsS -X POST -H 'content-type: application/json' -d "{\"bugs\":\"$1\"}" "$url/testbed/bugs" >/dev/null ||
			{ echo "soak-defects: could not set bugs=$1 on $url" >&2; return 1; }
	done
}
rc=0
for row in $rows; do
	[ -n "${kind[$row]:-}" ] || { echo "soak-defects: unknown row $row (want: ${!kind[*]})" >&2; exit 2; }
	bugs=$row
	[ "$row" = none ] && bugs=""
	switch "$bugs" || exit 1
	out=bin/soak-defects/$row
	rm -rf "$out" && mkdir -p "$out"
	start=$(date +%s)
	bin/chaosd soak --duration="$duration" --warmup=20s --cooldown=60s --out="$out" --progress=log \
		--metrics-addr=127.0.0.1:0 --schedule="${kind[$row]}" >"$out/output.log" 2>&1
	code=$?
	printf '\n== %s (%s): exit %s in %ss\n' "$row" "${kind[$row]}" "$code" "$(($(date +%s) - start))"
	grep -E '^(runs|faults):|^[a-z-]+ +(PASS|FAIL|UNKNOWN|NOT-EXERCISED|NOT-PROMISED) ' "$out/output.log"
	want=1
	[ "$row" = none ] && want=0
	[ "$code" = "$want" ] || { echo "soak-defects: $row: exit $code, want $want" >&2; rc=1; }
	switch "" || exit 1
	sleep 5 # a pod whose attach path ready-but-failing tore down serves again once it is off
done
exit "$rc"
