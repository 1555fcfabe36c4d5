#!/usr/bin/env bash
# Build the images the bundled cluster runs, with no container registry needed.
#
#   deploy/build-images.sh [all|chaosd|nats|postgres]   build what is missing (default all)
#   deploy/build-images.sh clean                         remove the built images and the cache
#
# chaosd:dev (CHAOSD_IMAGE): FROM scratch with the static bin/chaosd (the pods, mockai,
#   migrate and the soak service chaosd of compose profile soak); rebuilt whenever
#   the binary changes (the Go build is incremental, the image is one small layer).
# postgres:15-alpine and nats:2.10-alpine (POSTGRES_IMAGE, NATS_IMAGE): the compose file
#   names the usual registry images. Each is used as is when present; else pulled (with
#   a short timeout, CHAOSD_PULL_TIMEOUT, default 30s, only with CHAOSD_PULL=1: by default no registry is contacted);
#   else a stand-in is built locally under the same name, labelled chaosd.standin=true:
#   - nats: FROM scratch, a static nats-server built from the Go module proxy
#     (NATS_SERVER_VERSIONS, tried in order: v2.10.22, as mesh's harness pins, then
#     v2.15.2) and Debian's busybox-static for the health check's wget;
#   - postgres: a debootstrap rootfs (bookworm minbase + postgresql-15, DEBIAN_MIRROR)
#     brought in with `docker import`, plus an entrypoint that behaves like the
#     official image's (deploy/images/postgres/docker-entrypoint.sh). Needs root.
#   A stand-in whose recipe (deploy/images/<name>/) changed since it was built is
#   rebuilt; CHAOSD_REBUILD_STANDINS=1 rebuilds them regardless.
# Slow parts are cached in CHAOSD_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/chaosd):
# the rootfs tarball, nats-server and busybox binaries.
set -euo pipefail
PROG=build-images
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

: "${CHAOSD_PULL:=0}"
: "${CHAOSD_PULL_TIMEOUT:=30}"
: "${CHAOSD_REBUILD_STANDINS:=0}"
: "${NATS_SERVER_VERSIONS:=v2.10.22 v2.15.2}"
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
ROOTFS_REV=1 # bump when the rootfs recipe (build_pg_rootfs) changes
# The imported rootfs, kept as the stand-in's base so that a changed entrypoint rebuilds fast.
: "${CHAOSD_PG_BASE_IMAGE:=chaosd-standin/postgres15-rootfs:bookworm-r$ROOTFS_REV}"
PG_BASE_IMAGE=$CHAOSD_PG_BASE_IMAGE

WORK='' BG=''
cleanup() {
	[ -z "$BG" ] || wait "$BG" || true # a background build still writes into WORK
	[ -z "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# workdir makes (once) a scratch directory removed at exit.
workdir() {
	[ -n "$WORK" ] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/chaosd-images.XXXXXX")
}

# quiet LOGNAME CMD... runs CMD with its output in a log, shown only if CMD fails.
# quiet NAME CMD...: run CMD with its output in a log file (shown when it fails), and
# every CHAOSD_PROGRESS_EVERY seconds (default 15) a progress line with the time so far
# and the log's last line, so that a long build never looks hung.
quiet() {
	local name=$1
	shift
	workdir
	local logf=$WORK/$name.log t0 pid rc=0 last
	t0=$(now)
	"$@" >"$logf" 2>&1 &
	pid=$!
	while ! wait_for "$pid" "${CHAOSD_PROGRESS_EVERY:-15}"; do
		last=$(tail -c 2000 "$logf" 2>/dev/null | tr '\r' '\n' | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c1-100)
		log "$name: still running after $(elapsed "$t0")s${last:+ ($last)}"
	done
	wait "$pid" || rc=$?
	if [ "$rc" != 0 ]; then
		tail -n 40 "$logf" >&2
		return 1
	fi
}

# wait_for PID SECONDS: true once PID has exited, false when it still runs after SECONDS.
wait_for() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.2
	done
	! kill -0 "$1" 2>/dev/null
}

docker_build() { # docker_build ARGS... (legacy builder when buildx is missing)
	if docker buildx version >/dev/null 2>&1; then
		docker build "$@"
	else
		DOCKER_BUILDKIT=0 docker build "$@"
	fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
recipe_hash() { cat "$DEPLOY_DIR/images/$1"/* | sha256sum | cut -c1-16; }

# --- chaosd ---------------------------------------------------------------------------

build_chaosd() {
	local t0
	t0=$(now)
	if command -v make >/dev/null; then
		quiet go-build make -C "$ROOT_DIR" --no-print-directory build || die "could not build bin/chaosd (make build)"
	else
		quiet go-build env CGO_ENABLED=0 go -C "$ROOT_DIR" build -trimpath -ldflags '-s -w' -o bin/chaosd ./cmd/chaosd ||
			die "could not build bin/chaosd (go build)"
		quiet go-build env CGO_ENABLED=0 go -C "$ROOT_DIR" build -trimpath -ldflags '-s -w' -o bin/chaosd-healthcheck ./cmd/chaosd-healthcheck ||
			die "could not build bin/chaosd-healthcheck (go build)"
	fi
	# The label is the sum of everything the image holds: an image of an older chaosd,
	# or one without the health check binary, is rebuilt.
	local sum
	sum=$(cat "$CHAOSD_BIN" "$CHAOSD_HEALTHCHECK_BIN" "$DEPLOY_DIR/images/chaosd/Dockerfile" | sha256sum | cut -c1-16)
	if [ "$(image_label "$CHAOSD_IMAGE" chaosd.binary)" = "$sum" ]; then
		log "$CHAOSD_IMAGE: up to date (bin/chaosd, bin/chaosd-healthcheck $sum)"
		return
	fi
	workdir
	local ctx=$WORK/chaosd
	mkdir -p "$ctx/tmp"
	chmod 1777 "$ctx/tmp"
	cp "$DEPLOY_DIR/images/chaosd/Dockerfile" "$CHAOSD_BIN" "$CHAOSD_HEALTHCHECK_BIN" "$ctx/"
	quiet chaosd-image docker_build -t "$CHAOSD_IMAGE" --label chaosd.binary="$sum" "$ctx" ||
		die "docker build of $CHAOSD_IMAGE failed"
	# The image this one replaced is left untagged: drop it (and any earlier ones)
	# unless a container still uses it.
	docker image prune -f --filter label=chaosd.binary >/dev/null 2>&1 || true
	log "$CHAOSD_IMAGE: built from bin/chaosd, bin/chaosd-healthcheck $sum in $(elapsed "$t0")s"
}

# --- registry images and their stand-ins ----------------------------------------------

# ensure_image NAME KIND: use NAME if present (rebuilding an outdated stand-in), else
# pull it, else build the KIND stand-in.
ensure_image() {
	local name=$1 kind=$2 hash
	hash=$(recipe_hash "$kind")
	if image_exists "$name"; then
		if [ "$(image_label "$name" chaosd.standin)" != true ]; then
			log "$name: present"
			return
		fi
		if [ "$CHAOSD_REBUILD_STANDINS" != 1 ] && [ "$(image_label "$name" chaosd.standin.recipe)" = "$hash" ]; then
			log "$name: present (local stand-in)"
			return
		fi
		log "$name: the local stand-in is out of date; rebuilding it"
	elif [ "$CHAOSD_PULL" != 0 ]; then
		local out
		if out=$(timeout "$CHAOSD_PULL_TIMEOUT" docker pull -q "$name" 2>&1); then
			log "$name: pulled"
			return
		fi
		log "$name: not present and the pull failed (${out:-no answer within ${CHAOSD_PULL_TIMEOUT}s}); building a local stand-in"
	else
		log "$name: not present (CHAOSD_PULL=0); building a local stand-in"
	fi
	local t0
	t0=$(now)
	"build_${kind}_standin" "$name" "$hash"
	log "$name: stand-in built in $(elapsed "$t0")s"
}

# find_nats_server sets NATS_BIN to a cached static nats-server, building the first of
# NATS_SERVER_VERSIONS that builds, and NATS_VERSION to its version.
NATS_BIN='' NATS_VERSION=''
find_nats_server() {
	local v
	for v in $NATS_SERVER_VERSIONS; do
		if [ -x "$CHAOSD_CACHE_DIR/nats-server-$v" ]; then
			NATS_BIN=$CHAOSD_CACHE_DIR/nats-server-$v NATS_VERSION=$v
			return
		fi
	done
	workdir
	for v in $NATS_SERVER_VERSIONS; do
		log "building nats-server $v from the Go module proxy (static, about a minute)"
		if (cd "$WORK" && quiet "nats-$v" env CGO_ENABLED=0 GOWORK=off GOBIN="$WORK/gobin-$v" \
			go install -trimpath -ldflags '-s -w' "github.com/nats-io/nats-server/v2@$v"); then
			mv "$WORK/gobin-$v/nats-server" "$CHAOSD_CACHE_DIR/nats-server-$v"
			NATS_BIN=$CHAOSD_CACHE_DIR/nats-server-$v NATS_VERSION=$v
			return
		fi
		log "nats-server $v did not build; trying the next version"
	done
	die "could not build nats-server ($NATS_SERVER_VERSIONS) from the Go module proxy"
}

# find_busybox sets BUSYBOX_BIN to a cached static busybox from Debian's busybox-static.
BUSYBOX_BIN=
find_busybox() {
	BUSYBOX_BIN=$CHAOSD_CACHE_DIR/busybox-static
	[ ! -x "$BUSYBOX_BIN" ] || return 0
	if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
		die "the NATS stand-in needs busybox-static from Debian's packages (apt-get, dpkg-deb not found)"
	fi
	workdir
	local dir=$WORK/busybox
	mkdir -p "$dir"
	if ! (cd "$dir" && quiet busybox-download apt-get download busybox-static); then
		log "apt-get download busybox-static failed; updating the package lists and retrying"
		quiet apt-update apt-get update -qq || die "apt-get update failed"
		(cd "$dir" && quiet busybox-download apt-get download busybox-static) ||
			die "could not download Debian's busybox-static"
	fi
	dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/x"
	mv "$dir/x/bin/busybox" "$BUSYBOX_BIN"
}

build_nats_standin() {
	local name=$1 hash=$2
	find_nats_server
	find_busybox
	workdir
	local ctx=$WORK/nats
	mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/bin" "$ctx/rootfs/tmp"
	chmod 1777 "$ctx/rootfs/tmp"
	cp "$NATS_BIN" "$ctx/rootfs/usr/local/bin/nats-server"
	cp "$BUSYBOX_BIN" "$ctx/rootfs/bin/busybox"
	ln -s busybox "$ctx/rootfs/bin/sh"
	ln -s busybox "$ctx/rootfs/bin/wget"
	cp "$DEPLOY_DIR/images/nats/Dockerfile" "$ctx/"
	quiet nats-image docker_build -t "$name" --label chaosd.standin=true \
		--label chaosd.standin.recipe="$hash" --label chaosd.standin.nats-server="$NATS_VERSION" "$ctx" ||
		die "docker build of the $name stand-in failed"
	log "$name: stand-in runs nats-server $NATS_VERSION"
}

# build_pg_rootfs TARBALL: debootstrap bookworm minbase + postgresql-15, trimmed.
build_pg_rootfs() {
	local tarball=$1
	[ "$(id -u)" = 0 ] || die "building the Postgres stand-in needs root (debootstrap); run as root or provide $POSTGRES_IMAGE"
	if ! command -v debootstrap >/dev/null; then
		log "debootstrap not found: installing it (scripts/install-deps.sh images)"
		"$ROOT_DIR/scripts/install-deps.sh" images >&2 || die "could not install debootstrap (apt-get install debootstrap)"
	fi
	workdir
	local dir=$WORK/pg-rootfs
	log "debootstrap bookworm minbase + postgresql-15 from $DEBIAN_MIRROR (about 1-2 minutes)"
	quiet debootstrap debootstrap --variant=minbase --include=postgresql-15 bookworm "$dir" "$DEBIAN_MIRROR" ||
		die "debootstrap failed (is $DEBIAN_MIRROR reachable? set DEBIAN_MIRROR)"
	# Drop the apt cache and lists, docs, translations, the cluster the package made,
	# and the LLVM JIT (with jit's provider gone postgres simply runs without JIT).
	rm -rf "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
		"$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
		"$dir"/etc/postgresql/15/main "$dir"/var/lib/postgresql/15 "$dir"/var/log/postgresql/* \
		"$dir"/usr/lib/postgresql/15/lib/llvmjit* "$dir"/usr/lib/postgresql/15/lib/bitcode \
		"$dir"/usr/lib/*/libLLVM-* "$dir"/usr/lib/*/libz3.so*
	chroot "$dir" /usr/lib/postgresql/15/bin/postgres --version >/dev/null ||
		die "the trimmed rootfs cannot run postgres"
	tar --numeric-owner -C "$dir" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
	rm -rf "$dir"
}

build_postgres_standin() {
	local name=$1 hash=$2
	if ! image_exists "$PG_BASE_IMAGE"; then
		local tarball=$CHAOSD_CACHE_DIR/postgres15-bookworm-rootfs-r$ROOTFS_REV.tar
		if [ -s "$tarball" ]; then
			log "using the cached rootfs $tarball"
		else
			build_pg_rootfs "$tarball"
		fi
		quiet pg-import docker import --change 'LABEL chaosd.standin=true' "$tarball" "$PG_BASE_IMAGE" ||
			die "docker import of $tarball failed"
	fi
	quiet pg-image docker_build -t "$name" --build-arg BASE="$PG_BASE_IMAGE" --label chaosd.standin=true \
		--label chaosd.standin.recipe="$hash" "$DEPLOY_DIR/images/postgres" ||
		die "docker build of the $name stand-in failed"
}

clean() {
	local img
	for img in "$CHAOSD_IMAGE" "$NATS_IMAGE" "$POSTGRES_IMAGE" "$PG_BASE_IMAGE"; do
		if image_exists "$img"; then
			if [ "$img" != "$CHAOSD_IMAGE" ] && [ "$(image_label "$img" chaosd.standin)" != true ]; then
				log "$img: not a stand-in; kept"
				continue
			fi
			docker rmi "$img" >/dev/null && log "$img: removed"
		fi
	done
	rm -rf "$CHAOSD_CACHE_DIR" && log "removed $CHAOSD_CACHE_DIR"
}

main() {
	local what=${1:-all}
	need_docker
	mkdir -p "$CHAOSD_CACHE_DIR"
	# One build at a time: two clusters booting at once would race on the cache.
	exec 9>"$CHAOSD_CACHE_DIR/.lock"
	flock 9
	local t0
	t0=$(now)
	case "$what" in
	all)
		# The Postgres stand-in (debootstrap: mostly downloads and dpkg) builds in the
		# background while the Go builds run.
		workdir
		ensure_image "$POSTGRES_IMAGE" postgres &
		BG=$!
		ensure_image "$NATS_IMAGE" nats
		build_chaosd
		local rc=0
		wait "$BG" || rc=$?
		BG=
		[ "$rc" = 0 ] || die "$POSTGRES_IMAGE: could not be made (see above)"
		;;
	chaosd) build_chaosd ;;
	nats) ensure_image "$NATS_IMAGE" nats ;;
	postgres) ensure_image "$POSTGRES_IMAGE" postgres ;;
	clean)
		clean
		return
		;;
	-h | --help | help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		return
		;;
	*) die "unknown argument '$what' (want all, chaosd, nats, postgres or clean)" ;;
	esac
	log "images ready in $(elapsed "$t0")s"
}

main "$@"
