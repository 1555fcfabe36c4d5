#!/usr/bin/env bash
# Install what chaosd's commands need on a fresh Debian machine (one with Go and a
# Docker engine and nothing else). Idempotent; does nothing when everything is present.
#
#   scripts/install-deps.sh          everything the tests need (make test runs this):
#                                    PostgreSQL 15 server binaries (integration tests),
#                                    debootstrap (the offline Postgres image), Chromium
#                                    (the report's browser test), make, curl; Alertmanager
#                                    and promtool built from the Go module proxy; gotestsum
#   scripts/install-deps.sh images   only what booting the bundled cluster needs (make
#                                    demo, make soak, make cluster-up run this):
#                                    debootstrap, make, flock
set -euo pipefail
what=${1:-tests}
case "$what" in
tests | images) ;;
*)
	echo "install-deps: unknown argument '$what' (want tests or images)" >&2
	exit 2
	;;
esac
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v make >/dev/null || need+=(make)
command -v runuser >/dev/null && command -v flock >/dev/null || need+=(util-linux)
if [ "$what" = tests ]; then
	ls /usr/lib/postgresql/15/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)
	command -v curl >/dev/null || need+=(curl)
	command -v chromium >/dev/null || need+=(chromium fonts-liberation)
fi
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "install-deps: missing ${need[*]}; run as root or install them" >&2; exit 1; }
	echo "install-deps: installing ${need[*]} (apt-get, a minute or two)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# The Debian package starts a cluster of its own; the tests start theirs.
	command -v pg_ctlcluster >/dev/null && pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi
[ "$what" = tests ] || exit 0

# Alertmanager (the alert path's integration test) and promtool (the alert rules'
# tests), built from the Go module proxy into bin/; each script skips a build that is
# already there.
"$(dirname "$0")/deps/alertmanager.sh"
"$(dirname "$0")/deps/promtool.sh"
# gotestsum (the end-to-end tier prints each failed test again at the end of its log).
"$(dirname "$0")/deps/gotestsum.sh"
