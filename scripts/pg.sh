#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 cluster on loopback for the integration tests.
#   scripts/pg.sh start   -> prints the DSN on stdout (also written to $PGTEST_DIR/dsn)
#   scripts/pg.sh stop
# Needs the PostgreSQL 15 server binaries (Debian: postgresql-15). Runs the server as the
# "postgres" user when invoked as root, because postgres refuses to run as root.
set -euo pipefail
PGTEST_DIR=${PGTEST_DIR:-/tmp/chaosd-pgtest}
PGTEST_PORT=${PGTEST_PORT:-55432}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
[ -x "$PGBIN/initdb" ] || { echo "pg.sh: no PostgreSQL server binaries found (install postgresql-15)" >&2; exit 1; }

as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
	if [ -f "$PGTEST_DIR/data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" status >/dev/null 2>&1; then
		cat "$PGTEST_DIR/dsn"; exit 0
	fi
	# Another server on the port (a leftover, another checkout): take the next free one.
	for _ in $(seq 1 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PGTEST_PORT") 2>/dev/null || break
		PGTEST_PORT=$((PGTEST_PORT + 1))
	done
	rm -rf "$PGTEST_DIR"; mkdir -p "$PGTEST_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$PGTEST_DIR"
	as_owner "$PGBIN/initdb" -D "$PGTEST_DIR/data" -U postgres --auth=trust -E UTF8 >"$PGTEST_DIR/initdb.log" 2>&1 ||
		{ cat "$PGTEST_DIR/initdb.log" >&2; exit 1; }
	as_owner "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" -l "$PGTEST_DIR/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PGTEST_PORT -k $PGTEST_DIR -c max_connections=300 -c fsync=off" start >/dev/null ||
		{ cat "$PGTEST_DIR/server.log" >&2; exit 1; }
	dsn="postgres://postgres@127.0.0.1:$PGTEST_PORT/postgres?sslmode=disable"
	echo "$dsn" | as_owner tee "$PGTEST_DIR/dsn" >/dev/null
	echo "$dsn"
	;;
stop)
	[ -d "$PGTEST_DIR/data" ] && as_owner "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
	;;
*)
	echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
