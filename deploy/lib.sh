# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared by the deploy scripts (sourced, never run): paths, defaults, logging, and the
# Docker and compose wrappers. Every default here can be overridden from the environment.

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$DEPLOY_DIR")
PROG=${PROG:-$(basename "$0")}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# The target: which cluster shape the scripts boot and talk to. TARGET, else
# CHAOSD_TARGET (what `cluster.sh env` prints, so that after an eval of it `down`
# reaches the same cluster), else bundled.
#   bundled       deploy/docker-compose.yml, project chaosd: everything published on
#                 127.0.0.1, short heartbeat timings (6s/2s), executor_id = POD_NAME
#   mesh-2026-05  deploy/docker-compose.mesh-2026-05.yml, project multi-pod: mesh's
#                 harness at PR #3392: only the pods published, mock LLM "mock-ai",
#                 heartbeat 45s/10s, executor_id "local" on every pod
#   mesh-current  deploy/docker-compose.mesh-current.yml, project multi-pod: today's
#                 mesh: DBOS workflow owners (executor_id = POD_NAME), no heartbeat
#                 bucket, SIGTERM hand-over, minio; only the pods published
#   bundled-30    deploy/docker-compose.yml with its profile "scale", project chaosd-30:
#                 the bundled cluster with pods mesh-1..mesh-$CHAOSD_SCALE_PODS (2..30,
#                 default 30), every host port 100 above the bundled one (pods
#                 13101..13130), so that it runs beside the bundled cluster
TARGETS=(bundled bundled-30 mesh-2026-05 mesh-current)
if [ -n "${TARGET:-}" ]; then
	CHAOSD_TARGET=$TARGET TARGET_FROM=TARGET
else
	CHAOSD_TARGET=${CHAOSD_TARGET:-bundled} TARGET_FROM=CHAOSD_TARGET
fi
TARGET_PODS=3         # pods mesh-1..mesh-N
TARGET_PROFILES=()    # compose profiles every command of the target enables
TARGET_PORT_OFFSET=0  # added to every default host port
TARGET_PG_MAX_CONNECTIONS=100 # Postgres's max_connections (docker-compose.yml only)
case "$CHAOSD_TARGET" in
bundled)
	COMPOSE_FILE_PATH=$DEPLOY_DIR/docker-compose.yml
	TARGET_PROJECT=chaosd
	TARGET_HEARTBEAT_TTL=6s TARGET_HEARTBEAT_INTERVAL=2s
	TARGET_INFRA_PUBLISHED=1 # Postgres, NATS and mockai on 127.0.0.1
	TARGET_PROVIDER_URL=http://mockai:9000/v1
	TARGET_SOAK=1 # has the compose service chaosd (profile soak)
	;;
bundled-30)
	COMPOSE_FILE_PATH=$DEPLOY_DIR/docker-compose.yml
	TARGET_PROJECT=chaosd-30
	TARGET_HEARTBEAT_TTL=6s TARGET_HEARTBEAT_INTERVAL=2s
	TARGET_INFRA_PUBLISHED=1
	TARGET_PROVIDER_URL=http://mockai:9000/v1
	TARGET_SOAK=0 # the soak service's config names the bundled cluster's three pods
	TARGET_PODS=${CHAOSD_SCALE_PODS:-30}
	[[ "$TARGET_PODS" =~ ^[0-9]+$ ]] && [ "$TARGET_PODS" -ge 2 ] && [ "$TARGET_PODS" -le 30 ] ||
		die "CHAOSD_SCALE_PODS=$TARGET_PODS: want a number of pods from 2 to 30 (the compose file has mesh-1..mesh-30)"
	TARGET_PROFILES=(scale) # mesh-4..mesh-30
	TARGET_PORT_OFFSET=100
	# Each pod's pool holds up to 16 connections and keeps them open for 30 minutes:
	# 30 pods at 2 runs/s held 77 of Postgres's default 100 within 3 minutes.
	TARGET_PG_MAX_CONNECTIONS=500
	;;
mesh-2026-05)
	COMPOSE_FILE_PATH=$DEPLOY_DIR/docker-compose.mesh-2026-05.yml
	TARGET_PROJECT=multi-pod
	TARGET_HEARTBEAT_TTL=45s TARGET_HEARTBEAT_INTERVAL=10s
	TARGET_INFRA_PUBLISHED=0 # only the pods are published, as in mesh's harness
	TARGET_PROVIDER_URL=http://mock-ai:9000/v1
	TARGET_SOAK=0
	;;
mesh-current)
	COMPOSE_FILE_PATH=$DEPLOY_DIR/docker-compose.mesh-current.yml
	TARGET_PROJECT=multi-pod
	TARGET_HEARTBEAT_TTL=45s TARGET_HEARTBEAT_INTERVAL=10s # no bucket: unused by the pods
	TARGET_INFRA_PUBLISHED=0
	TARGET_PROVIDER_URL=http://mock-ai:9000/v1
	TARGET_SOAK=0
	;;
*) die "unknown target '$CHAOSD_TARGET' ($TARGET_FROM); known targets: $(IFS=,; echo "${TARGETS[*]}" | sed 's/,/, /g')" ;;
esac
POD_SERVICES=() # the pods' compose services, also their POD_NAMEs: mesh-1..mesh-N on every target
for ((i = 1; i <= TARGET_PODS; i++)); do POD_SERVICES+=("mesh-$i"); done
PROFILE_ARGS=() # --profile P for each of the target's compose profiles
for i in "${TARGET_PROFILES[@]}"; do PROFILE_ARGS+=(--profile "$i"); done
unset i

# The compose project: fixed per target, so that chaosd and the tests find the
# containers by the labels com.docker.compose.project=$CHAOSD_PROJECT and
# com.docker.compose.service=mesh-N.
: "${CHAOSD_PROJECT:=$TARGET_PROJECT}"
# Images the compose file runs; build-images.sh makes whichever is missing.
: "${CHAOSD_IMAGE:=chaosd:dev}"
: "${POSTGRES_IMAGE:=postgres:15-alpine}"
: "${NATS_IMAGE:=nats:2.10-alpine}"
# Host ports, all published on 127.0.0.1: the bundled ones plus the target's offset
# (bundled-30: pods 13101..13130, Postgres 15532, NATS 14322 and 18322, mockai 19100).
# CHAOSD_PODn_PORT for n = 1..30 (the compose file names each); only the target's pods
# are published.
for ((i = 1; i <= 30; i++)); do
	var=CHAOSD_POD${i}_PORT
	[ -n "${!var:-}" ] || printf -v "$var" '%s' $((13000 + TARGET_PORT_OFFSET + i))
	export "${var?}"
done
unset i var
: "${CHAOSD_PG_PORT:=$((15432 + TARGET_PORT_OFFSET))}"
: "${CHAOSD_NATS_PORT:=$((14222 + TARGET_PORT_OFFSET))}" "${CHAOSD_NATS_MONITOR_PORT:=$((18222 + TARGET_PORT_OFFSET))}"
: "${CHAOSD_MOCKAI_PORT:=$((19000 + TARGET_PORT_OFFSET))}"
: "${CHAOSD_PG_MAX_CONNECTIONS:=$TARGET_PG_MAX_CONNECTIONS}"
# Where build-images.sh keeps what is slow to make (rootfs tarball, nats-server, busybox).
: "${CHAOSD_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/chaosd}"
export CHAOSD_PROJECT CHAOSD_IMAGE POSTGRES_IMAGE NATS_IMAGE CHAOSD_CACHE_DIR \
	CHAOSD_PG_PORT CHAOSD_NATS_PORT CHAOSD_NATS_MONITOR_PORT CHAOSD_MOCKAI_PORT CHAOSD_PG_MAX_CONNECTIONS

CHAOSD_BIN=$ROOT_DIR/bin/chaosd
CHAOSD_HEALTHCHECK_BIN=$ROOT_DIR/bin/chaosd-healthcheck

# image_label IMAGE LABEL prints the image's label, or nothing.
image_label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# now prints the seconds since the epoch; elapsed START prints the seconds since START.
now() { date +%s; }
elapsed() { echo $(($(now) - $1)); }

pod_urls() {
	local svc sep=
	for svc in "${POD_SERVICES[@]}"; do
		printf '%s%s' "$sep" "$(pod_url "$svc")"
		sep=,
	done
}
pod_url() { # pod_url mesh-N
	local var="CHAOSD_POD${1#mesh-}_PORT"
	printf 'http://127.0.0.1:%s' "${!var}"
}
database_url() {
	printf 'postgres://postgres:postgres@127.0.0.1:%s/postgres?sslmode=disable' "$CHAOSD_PG_PORT"
}

# need_docker fails at once, with Docker's own words, when the daemon cannot be reached.
need_docker() {
	command -v docker >/dev/null || die "docker not found on PATH (install Docker Engine)"
	local out
	if ! out=$(timeout 20 docker version --format '{{.Server.Version}}' 2>&1); then
		out=$(printf '%s\n' "$out" | sed '/^[[:space:]]*$/d')
		die "cannot reach the Docker daemon: ${out:-no answer within 20s} (is dockerd running? e.g. systemctl start docker)"
	fi
}

# COMPOSE is the compose command: `docker compose` when that plugin works, else
# docker-compose (v1); CHAOSD_COMPOSE overrides (e.g. CHAOSD_COMPOSE=docker-compose).
COMPOSE=()
find_compose() {
	if [ -n "${CHAOSD_COMPOSE:-}" ]; then
		read -r -a COMPOSE <<<"$CHAOSD_COMPOSE"
		command -v "${COMPOSE[0]}" >/dev/null || die "CHAOSD_COMPOSE=$CHAOSD_COMPOSE: ${COMPOSE[0]} not found"
	elif docker compose version >/dev/null 2>&1; then
		COMPOSE=(docker compose)
	elif command -v docker-compose >/dev/null; then
		COMPOSE=(docker-compose)
	else
		die "neither 'docker compose' nor 'docker-compose' works; install one (Debian: apt-get install docker-compose)"
	fi
}

# compose runs the compose command on the target's file, project and profiles.
compose() {
	[ ${#COMPOSE[@]} -gt 0 ] || find_compose
	"${COMPOSE[@]}" -p "$CHAOSD_PROJECT" -f "$COMPOSE_FILE_PATH" "${PROFILE_ARGS[@]}" "$@"
}

# target_services prints the compose file's services that belong to the target: all
# of them but the pods mesh-N past the target's N (the scale pods of the bundled file
# are not the bundled target's) and, on a target without one, the soak service.
target_services() {
	local svc
	for svc in $(compose config --services); do
		if [[ "$svc" =~ ^mesh-[0-9]+$ ]] && [[ " ${POD_SERVICES[*]} " != *" $svc "* ]]; then
			continue
		fi
		[ "$svc" != chaosd ] || [ "$TARGET_SOAK" = 1 ] || continue
		echo "$svc"
	done
}

# service_containers SERVICE prints the ids of the project's containers of SERVICE,
# running or not. Docker's own labels, so it works the same with compose v1 and v2.
service_containers() {
	docker ps -aq --filter "label=com.docker.compose.project=$CHAOSD_PROJECT" \
		--filter "label=com.docker.compose.service=$1"
}

# service_state SERVICE prints "<status> <exit code> <health>" of SERVICE's container
# (health is "-" without a health check), or "missing".
service_state() {
	local id
	id=$(service_containers "$1" | head -n1)
	if [ -z "$id" ]; then
		echo missing
		return
	fi
	docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' "$id" 2>/dev/null || echo missing
}
