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
TARGETS=(bundled mesh-2026-05 mesh-current)
if [ -n "${TARGET:-}" ]; then
	CHAOSD_TARGET=$TARGET TARGET_FROM=TARGET
else
	CHAOSD_TARGET=${CHAOSD_TARGET:-bundled} TARGET_FROM=CHAOSD_TARGET
fi
case "$CHAOSD_TARGET" in
bundled)
	COMPOSE_FILE_PATH=$DEPLOY_DIR/docker-compose.yml
	TARGET_PROJECT=chaosd
	TARGET_HEARTBEAT_TTL=6s TARGET_HEARTBEAT_INTERVAL=2s
	TARGET_INFRA_PUBLISHED=1 # Postgres, NATS and mockai on 127.0.0.1
	TARGET_PROVIDER_URL=http://mockai:9000/v1
	TARGET_SOAK=1 # has the compose service chaosd (profile soak)
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

# The compose project: fixed per target, so that chaosd and the tests find the
# containers by the labels com.docker.compose.project=$CHAOSD_PROJECT and
# com.docker.compose.service=mesh-N.
: "${CHAOSD_PROJECT:=$TARGET_PROJECT}"
# Images the compose file runs; build-images.sh makes whichever is missing.
: "${CHAOSD_IMAGE:=chaosd:dev}"
: "${POSTGRES_IMAGE:=postgres:15-alpine}"
: "${NATS_IMAGE:=nats:2.10-alpine}"
# Host ports, all published on 127.0.0.1.
: "${CHAOSD_POD1_PORT:=13001}" "${CHAOSD_POD2_PORT:=13002}" "${CHAOSD_POD3_PORT:=13003}"
: "${CHAOSD_PG_PORT:=15432}"
: "${CHAOSD_NATS_PORT:=14222}" "${CHAOSD_NATS_MONITOR_PORT:=18222}"
: "${CHAOSD_MOCKAI_PORT:=19000}"
# Where build-images.sh keeps what is slow to make (rootfs tarball, nats-server, busybox).
: "${CHAOSD_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/chaosd}"
export CHAOSD_PROJECT CHAOSD_IMAGE POSTGRES_IMAGE NATS_IMAGE CHAOSD_CACHE_DIR \
	CHAOSD_POD1_PORT CHAOSD_POD2_PORT CHAOSD_POD3_PORT CHAOSD_PG_PORT \
	CHAOSD_NATS_PORT CHAOSD_NATS_MONITOR_PORT CHAOSD_MOCKAI_PORT

CHAOSD_BIN=$ROOT_DIR/bin/chaosd
POD_SERVICES=(mesh-1 mesh-2 mesh-3) # the same service names on every target

# now prints the seconds since the epoch; elapsed START prints the seconds since START.
now() { date +%s; }
elapsed() { echo $(($(now) - $1)); }

pod_urls() {
	printf 'http://127.0.0.1:%s,http://127.0.0.1:%s,http://127.0.0.1:%s' \
		"$CHAOSD_POD1_PORT" "$CHAOSD_POD2_PORT" "$CHAOSD_POD3_PORT"
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

# compose runs the compose command on the target's file and project.
compose() {
	[ ${#COMPOSE[@]} -gt 0 ] || find_compose
	"${COMPOSE[@]}" -p "$CHAOSD_PROJECT" -f "$COMPOSE_FILE_PATH" "$@"
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
