#!/usr/bin/env bash
# Install what the tests and the offline image builds need on a fresh Debian machine:
# PostgreSQL 15 server binaries (integration tests), debootstrap (the offline Postgres
# image), make and curl from Debian; Alertmanager and promtool built from the Go module
# proxy into bin/. Idempotent; does nothing when everything is present.
set -euo pipefail
need=()
ls /usr/lib/postgresql/15/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v make >/dev/null || need+=(make)
command -v curl >/dev/null || need+=(curl)
command -v runuser >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "install-deps: missing ${need[*]}; run as root or install them" >&2; exit 1; }
	echo "install-deps: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# The Debian package starts a cluster of its own; the tests start theirs.
	command -v pg_ctlcluster >/dev/null && pg_ctlcluster 15 main stop 2>/dev/null || true
fi

# Alertmanager (the alert path's integration test) and promtool (the alert rules'
# tests), built from the Go module proxy into bin/; each script skips a build that is
# already there.
"$(dirname "$0")/deps/alertmanager.sh"
"$(dirname "$0")/deps/promtool.sh"
