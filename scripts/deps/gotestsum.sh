#!/usr/bin/env bash
# Build gotestsum into bin/gotestsum, for the end-to-end tier (scripts/e2e.sh): it
# prints go test's verbose output as it comes and, at the end, every failed test's
# whole output again, so that the tail of a long CI log names what failed and why.
# Idempotent: does nothing when bin/gotestsum is already the wanted version. Needs
# only Go and the Go module proxy.
#
#   scripts/deps/gotestsum.sh          GOTESTSUM_VERSION overrides the module version
set -euo pipefail
cd "$(dirname "$0")/../.."

version=${GOTESTSUM_VERSION:-1.13.0}
bin="$PWD/bin/gotestsum"
built_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "gotest.tools/gotestsum" { print $3; exit }'; }

if [ -x "$bin" ] && [ "$(built_version "$bin")" = "v$version" ]; then
	echo "gotestsum: bin/gotestsum is already v$version"
	exit 0
fi
cache=${CHAOSD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosd}/tools
cached=$cache/gotestsum-v$version
if [ -x "$cached" ] && [ "$(built_version "$cached")" = "v$version" ]; then
	mkdir -p bin && cp "$cached" "$bin"
	echo "gotestsum: v$version copied from $cached"
	exit 0
fi
start=$(date +%s)
mkdir -p bin
echo "gotestsum: building v$version into bin/gotestsum"
GOBIN="$PWD/bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off \
	go install -trimpath -ldflags '-s -w' "gotest.tools/gotestsum@v$version"
[ "$(built_version "$bin")" = "v$version" ] || { echo "gotestsum: bin/gotestsum does not say it is v$version" >&2; exit 1; }
mkdir -p "$cache" && cp "$bin" "$cached.tmp" && mv "$cached.tmp" "$cached"
echo "gotestsum: built in $(($(date +%s) - start))s"
