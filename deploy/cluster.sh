#!/usr/bin/env bash
# The testbed clusters, one per target (TARGET, default bundled):
#   bundled       postgres, nats (JetStream), mockai, migrate and three testbed pods
#                 mesh-1..3 (deploy/docker-compose.yml, compose project "chaosd"),
#                 everything published on 127.0.0.1
#   mesh-2026-05  the same stand-in in the shape of mesh's own harness at PR #3392
#                 (deploy/docker-compose.mesh-2026-05.yml, project "multi-pod"):
#                 postgres, nats, mock-ai, migrate, mesh-1..3; only the pods published
#   mesh-current  the stand-in as today's mesh (deploy/docker-compose.mesh-current.yml,
#                 project "multi-pod"): DBOS workflow owners, no heartbeat bucket,
#                 SIGTERM hand-over, and minio; only the pods published
#   bundled-30    the bundled cluster with 30 pods mesh-1..30 (deploy/docker-compose.yml
#                 and its profile "scale", project "chaosd-30"), every host port 100
#                 above the bundled one (pods 13101..13130): it runs beside bundled
#
#   deploy/cluster.sh up       build the images as needed, boot, wait until every pod is ready
#   deploy/cluster.sh down     stop and remove the containers, the network and the volumes
#   deploy/cluster.sh status   each service's state, and each pod's readiness from the host
#   deploy/cluster.sh ps       compose ps
#   deploy/cluster.sh logs [compose logs flags] [service...]
#   deploy/cluster.sh env      the cluster's addresses as shell assignments (eval "$(...)")
#   deploy/cluster.sh soak     start the soak service (chaosd soak in a container, compose
#                              profile soak) on the running cluster, detached; CHAOSD_SOAK_*
#                              and CHAOSD_ALERT* variables reach it; `logs -f chaosd` follows it
#                              (bundled only: mesh's harness has no such service)
#
# Environment:
#   TARGET                       bundled (default), bundled-30, mesh-2026-05 or mesh-current; else CHAOSD_TARGET,
#                                which `env` prints, so `down` after an eval of it reaches
#                                the same cluster
#   TESTBED_BUGS                 defect switches for every pod, e.g. deliver-new,strict-claim
#   TESTBED_HEARTBEAT_TTL        heartbeat TTL of every pod (bundled 6s; mesh-2026-05 45s, mesh's)
#   TESTBED_HEARTBEAT_INTERVAL   heartbeat refresh (bundled 2s; mesh-2026-05 10s, mesh's)
#   TESTBED_EXECUTOR_ID          mesh-2026-05: DBOS executor id of every pod (default local)
#   TESTBED_REAPER_AFTER         mesh-current: a run without progress this long is failed (90s)
#   CHAOSD_SCALE_PODS (30)       bundled-30: boot pods mesh-1..mesh-N only (N from 2 to 30)
#   CHAOSD_POD1_PORT..3 (13001..13003): the pods' host ports, on 127.0.0.1 (every target);
#                                bundled-30: CHAOSD_POD1_PORT..30 (13101..13130)
#   CHAOSD_PG_PORT (15432), CHAOSD_NATS_PORT (14222), CHAOSD_NATS_MONITOR_PORT (18222),
#   CHAOSD_MOCKAI_PORT (19000): bundled only, and bundled-30 (15532, 14322, 18322, 19100);
#                                the mesh targets publish none of them
#   CHAOSD_PG_MAX_CONNECTIONS    bundled and bundled-30: Postgres's max_connections (100; bundled-30 500)
#   CHAOSD_PROJECT               compose project name (bundled chaosd, bundled-30 chaosd-30,
#                                the mesh targets multi-pod)
#   CHAOSD_BOOT_TIMEOUT (300)    seconds `up` may take to boot, images excluded
#   CHAOSD_SKIP_BUILD=1          `up` uses the images as they are (see build-images.sh)
#   CHAOSD_COMPOSE               the compose command (default: docker compose, else docker-compose)
set -euo pipefail
PROG=cluster
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

: "${CHAOSD_BOOT_TIMEOUT:=300}"
: "${CHAOSD_STOP_TIMEOUT:=10}"
: "${CHAOSD_SKIP_BUILD:=0}"
: "${TESTBED_HEARTBEAT_TTL:=$TARGET_HEARTBEAT_TTL}" "${TESTBED_HEARTBEAT_INTERVAL:=$TARGET_HEARTBEAT_INTERVAL}"
export TESTBED_BUGS=${TESTBED_BUGS:-} TESTBED_HEARTBEAT_TTL TESTBED_HEARTBEAT_INTERVAL

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# check_compose fails at once, with compose's own words, on a broken setup or file.
check_compose() {
	need_docker
	find_compose
	local out
	out=$(compose config -q 2>&1) || die "compose rejects $COMPOSE_FILE_PATH: $out"
}

cmd_up() {
	local t0 tb
	t0=$(now)
	check_compose
	if [ "$CHAOSD_SKIP_BUILD" = 1 ]; then
		[ -x "$CHAOSD_BIN" ] || die "CHAOSD_SKIP_BUILD=1 but $CHAOSD_BIN is missing (make build)"
		# The compose files' health checks exec /chaosd-healthcheck, which an image built
		# before it existed lacks: its containers would never turn healthy.
		[ "$(image_label "$CHAOSD_IMAGE" chaosd.healthcheck)" = /chaosd-healthcheck ] ||
			die "CHAOSD_SKIP_BUILD=1 but $CHAOSD_IMAGE has no /chaosd-healthcheck (built by an older chaosd): rebuild it with deploy/build-images.sh chaosd"
	else
		"$DEPLOY_DIR/build-images.sh" all
	fi
	tb=$(now)
	log "booting target $CHAOSD_TARGET, project $CHAOSD_PROJECT, ${#POD_SERVICES[@]} pods, with ${COMPOSE[*]} (TESTBED_BUGS=${TESTBED_BUGS:-none}, heartbeat TTL $TESTBED_HEARTBEAT_TTL, interval $TESTBED_HEARTBEAT_INTERVAL)"
	# A target that takes its pods out of a compose profile (bundled-30) names them,
	# and drops those of a previous boot with more: compose starts what they depend on.
	local -a services=()
	if [ ${#TARGET_PROFILES[@]} -gt 0 ]; then
		services=("${POD_SERVICES[@]}")
		drop_extra_pods
	fi
	# No --wait: the one-shot migrate service breaks it (as in mesh's harness). Compose
	# itself holds each pod until the previous one is healthy.
	local rc=0
	timeout "$CHAOSD_BOOT_TIMEOUT" "${COMPOSE[@]}" -p "$CHAOSD_PROJECT" -f "$COMPOSE_FILE_PATH" "${PROFILE_ARGS[@]}" \
		up -d --remove-orphans "${services[@]}" || rc=$?
	if [ "$rc" = 124 ]; then
		fail "compose up did not finish within ${CHAOSD_BOOT_TIMEOUT}s (CHAOSD_BOOT_TIMEOUT)"
	elif [ "$rc" != 0 ]; then
		fail "compose up failed (exit $rc)"
	fi
	wait_pods_ready $((tb + CHAOSD_BOOT_TIMEOUT))
	log "cluster ready in $(elapsed "$t0")s (images $((tb - t0))s, boot $(elapsed "$tb")s)"
	print_addresses
}

# drop_extra_pods stops and removes the pods of the compose file past the target's N
# (bundled-30 booted again with a smaller CHAOSD_SCALE_PODS).
drop_extra_pods() {
	local svc extra=()
	for svc in $(compose config --services); do
		if [[ "$svc" =~ ^mesh-[0-9]+$ ]] && [[ " ${POD_SERVICES[*]} " != *" $svc "* ]] && [ "$(service_state "$svc")" != missing ]; then
			extra+=("$svc")
		fi
	done
	[ ${#extra[@]} -eq 0 ] && return
	log "removing the pods past CHAOSD_SCALE_PODS=${#POD_SERVICES[@]}: ${extra[*]}"
	compose rm -s -f -v "${extra[@]}" >&2
}

# wait_pods_ready DEADLINE waits until every pod answers /health/ready on its published
# port, failing early when a pod's container is not running.
wait_pods_ready() {
	local deadline=$1 svc url state t0
	t0=$(now)
	for svc in "${POD_SERVICES[@]}"; do
		url="$(pod_url "$svc")/health/ready"
		until "$CHAOSD_BIN" healthcheck --timeout 2s "$url" >/dev/null 2>&1; do
			state=$(service_state "$svc")
			[[ "$state" == running* ]] || fail "$svc is not running ($state) while waiting for $url"
			[ "$(now)" -lt "$deadline" ] ||
				fail "$svc not ready at $url within ${CHAOSD_BOOT_TIMEOUT}s: $("$CHAOSD_BIN" healthcheck --timeout 2s "$url" 2>&1 || true)"
			sleep 1
		done
		log "$svc ready: $url (+$(elapsed "$t0")s)"
	done
}

print_addresses() {
	if [ "$TARGET_INFRA_PUBLISHED" = 1 ]; then
		cat >&2 <<EOF
  pods      $(pod_urls)
  postgres  $(database_url)
  nats      nats://127.0.0.1:$CHAOSD_NATS_PORT (monitoring http://127.0.0.1:$CHAOSD_NATS_MONITOR_PORT)
  mockai    http://127.0.0.1:$CHAOSD_MOCKAI_PORT (pods reach it as $TARGET_PROVIDER_URL)
  tear down: $(down_cmd)
EOF
	else
		cat >&2 <<EOF
  pods      $(pod_urls)
  postgres, nats, mock-ai: not published (as in mesh's harness); inside the project's network
            postgres:5432, nats://nats:4222, $TARGET_PROVIDER_URL
  psql      $(compose_cmd) exec -T postgres psql -U postgres
  tear down: $(down_cmd)
EOF
	fi
}

# down_cmd prints the command that tears this target's cluster down, for a user to run.
down_cmd() {
	if [ "$CHAOSD_TARGET" = bundled ]; then
		echo 'deploy/cluster.sh down (make cluster-down)'
	else
		echo "TARGET=$CHAOSD_TARGET deploy/cluster.sh down (make cluster-down TARGET=$CHAOSD_TARGET)"
	fi
}

# compose_cmd prints the compose command line of this target, for a user to run.
compose_cmd() {
	[ ${#COMPOSE[@]} -gt 0 ] || find_compose
	printf '%s -p %s -f %s' "${COMPOSE[*]}" "$CHAOSD_PROJECT" "${COMPOSE_FILE_PATH#"$ROOT_DIR"/}"
}

# failing_services prints the services whose container is dead, unhealthy or (for
# migrate) exited non-zero; missing_services those with no container at all.
failing_services() {
	local svc status code health
	for svc in $(target_services); do
		read -r status code health <<<"$(service_state "$svc")"
		case "$svc:$status" in
		*:missing | migrate:running) ;;
		migrate:exited) [ "$code" = 0 ] || echo "$svc" ;;
		*:running) [ "$health" = healthy ] || [ "$health" = - ] || echo "$svc" ;;
		*) echo "$svc" ;;
		esac
	done
}
missing_services() {
	local svc
	for svc in $(target_services); do
		[ "$(service_state "$svc")" != missing ] || echo "$svc"
	done
}

# fail MESSAGE shows the cluster's state and the logs of the failing services (of all,
# when none stands out), then dies.
fail() {
	local msg=$1 svc id bad missing
	log "$msg; the cluster's state:"
	compose ps >&2 || true
	bad=$(failing_services | tr '\n' ' ' | sed 's/ $//' || true)
	missing=$(missing_services | tr '\n' ' ' | sed 's/ $//' || true)
	for svc in ${bad:-$(target_services)}; do
		[ "$(service_state "$svc")" != missing ] || continue
		printf '\n----- %s: %s\n' "$svc" "$(service_state "$svc")" >&2
		id=$(service_containers "$svc" | head -n1)
		docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}health check: {{.Output}}{{"\n"}}{{end}}{{end}}' "$id" 2>/dev/null |
			grep -v '^$' | tail -n 2 >&2 || true
		compose logs --no-color --tail=80 "$svc" >&2 || true
	done
	printf '\n' >&2
	die "$msg${bad:+; failing: $bad}${missing:+; never created: $missing}; tear down with: $(down_cmd)"
}

cmd_down() {
	check_compose
	# --profile soak: the soak service's container is removed too (it holds the network).
	# The target's own profiles (bundled-30: scale) are on already.
	compose --profile soak down -v --remove-orphans -t "$CHAOSD_STOP_TIMEOUT"
}

cmd_soak() {
	[ "$TARGET_SOAK" = 1 ] ||
		die "target $CHAOSD_TARGET has no soak service (mesh's harness has none; the service's config names the bundled cluster's three pods); run chaosd soak --target=$CHAOSD_TARGET from the host, or use TARGET=bundled"
	check_compose
	compose --profile soak up -d --no-deps --force-recreate chaosd
	log "chaosd soak runs in container ${CHAOSD_PROJECT}_chaosd_1 (duration ${CHAOSD_SOAK_DURATION:-8h}); metrics on http://127.0.0.1:${CHAOSD_METRICS_PORT:-19464}/metrics"
	log "follow it: deploy/cluster.sh logs -f chaosd; each soak's history and report are on the volume ${CHAOSD_PROJECT}_chaosd-state (soak/<start time>/, soak/latest)"
}

cmd_status() {
	check_compose
	local svc state all_ready=0 ready
	printf '# target %s, compose project %s (%s)\n' "$CHAOSD_TARGET" "$CHAOSD_PROJECT" "${COMPOSE_FILE_PATH#"$ROOT_DIR"/}"
	printf '%-10s %-28s %s\n' SERVICE 'STATE (status exit health)' READY
	for svc in $(target_services); do
		state=$(service_state "$svc")
		ready=
		if [ "$TARGET_INFRA_PUBLISHED" = 0 ] && [[ " ${POD_SERVICES[*]} " != *" $svc "* ]]; then
			ready="not published"
		elif [[ " ${POD_SERVICES[*]} " == *" $svc "* ]]; then
			if [ -x "$CHAOSD_BIN" ] && "$CHAOSD_BIN" healthcheck --timeout 2s "$(pod_url "$svc")/health/ready" >/dev/null 2>&1; then
				ready="ready at $(pod_url "$svc")"
			else
				ready="not ready at $(pod_url "$svc")"
				all_ready=1
			fi
		fi
		printf '%-10s %-28s %s\n' "$svc" "$state" "$ready"
	done
	return "$all_ready"
}

# cmd_env prints only settings that chaosd reads (config/override.go; every command:
# --fault, soak, check-config, bench, doctor, smoke), so that the output, sourced, is
# all chaosd needs for this cluster; cli/clusterenv_test.go checks that each one is
# read. The ledger, the history and the soak's directories follow from
# CHAOSD_COMPOSE_PROJECT (chaosd's per-target state). The NATS monitor and mock-ai
# host ports, which chaosd does not use, are in `up`'s summary.
cmd_env() {
	if [ "$TARGET_INFRA_PUBLISHED" = 1 ]; then
		cat <<EOF
CHAOSD_TARGET=$CHAOSD_TARGET
CHAOSD_PODS=$(pod_urls)
CHAOSD_DATABASE_URL='$(database_url)'
CHAOSD_NATS_URL=nats://127.0.0.1:$CHAOSD_NATS_PORT
CHAOSD_PROVIDER_URL=$TARGET_PROVIDER_URL
CHAOSD_COMPOSE_PROJECT=$CHAOSD_PROJECT
unset CHAOSD_NATS_MONITOR_URL CHAOSD_MOCKAI_URL
export CHAOSD_TARGET CHAOSD_PODS CHAOSD_DATABASE_URL CHAOSD_NATS_URL CHAOSD_PROVIDER_URL CHAOSD_COMPOSE_PROJECT
EOF
	else
		# The unset drops host addresses that a bundled env may have left in the shell:
		# they would point chaosd at another cluster than this one.
		cat <<EOF
# target $CHAOSD_TARGET: Postgres, NATS and mock-ai are not published to the host (as in mesh's harness), so no host address is given for them; chaosd's target profile names them inside the project's network
CHAOSD_TARGET=$CHAOSD_TARGET
CHAOSD_PODS=$(pod_urls)
CHAOSD_PROVIDER_URL=$TARGET_PROVIDER_URL
CHAOSD_COMPOSE_PROJECT=$CHAOSD_PROJECT
unset CHAOSD_DATABASE_URL CHAOSD_NATS_URL CHAOSD_NATS_MONITOR_URL CHAOSD_MOCKAI_URL
export CHAOSD_TARGET CHAOSD_PODS CHAOSD_PROVIDER_URL CHAOSD_COMPOSE_PROJECT
EOF
	fi
}

main() {
	local cmd=${1:-}
	[ $# -eq 0 ] || shift
	case "$cmd" in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	ps) check_compose && compose ps "$@" ;;
	logs) check_compose && compose logs --no-color "$@" ;;
	env) cmd_env ;;
	soak) cmd_soak ;;
	-h | --help | help) usage ;;
	'') usage >&2 && exit 2 ;;
	*) die "unknown command '$cmd' (want up, down, status, ps, logs, env or soak; see --help)" ;;
	esac
}

main "$@"
