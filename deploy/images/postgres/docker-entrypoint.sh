#!/bin/bash
# Entrypoint of the postgres:15-alpine stand-in: what the official image's entrypoint
# does, for the parts chaosd's compose file and tests use.
#   - `docker run IMAGE -c x=y` runs `postgres -c x=y`; any other command runs as is.
#   - Started as root: prepares PGDATA and the socket directory, then re-executes
#     itself as the postgres user (postgres refuses to run as root).
#   - On first start (PGDATA empty): initdb with POSTGRES_USER (default postgres) and
#     POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), extra
#     POSTGRES_INITDB_ARGS; password authentication (POSTGRES_HOST_AUTH_METHOD, default
#     scram-sha-256) for every host; POSTGRES_DB (default POSTGRES_USER) created; then
#     /docker-entrypoint-initdb.d/*.sql and *.sh run against a private, socket-only
#     server, so nothing outside sees the database before it is ready.
#   - Then postgres runs as PID 1, listening on all interfaces (listen_addresses='*').
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 2775 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

init_db() {
	local method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
		die "the database is uninitialized and POSTGRES_PASSWORD is not set; set it (or POSTGRES_HOST_AUTH_METHOD=trust)"
	fi
	log "initializing $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB, host auth $method)"
	local pwfile
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags, as in the official image
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host="$method" ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

	local sock
	sock=$(mktemp -d)
	pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c unix_socket_directories=$sock" start >/dev/null
	local -a psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc -h "$sock" -U "$POSTGRES_USER" -d postgres -q)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh) log "running $f"; PGHOST=$sock PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB bash "$f" ;;
		*.sql) log "running $f"; "${psql[@]}" -d "$POSTGRES_DB" -f "$f" ;;
		*) if [ -e "$f" ]; then log "ignoring $f"; fi ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	rmdir "$sock" 2>/dev/null || true
	log "initialized; starting postgres"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	init_db
fi
exec "$@"
