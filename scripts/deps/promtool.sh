#!/usr/bin/env bash
# Build Prometheus's promtool into bin/promtool at the repo root, for the alert rule
# tests (metrics/rules_test.go runs `promtool check rules` and `promtool test rules` on
# deploy/prometheus/). Idempotent: does nothing when bin/promtool already reports the
# wanted version. Needs only Go and the Go module proxy (no release download).
#
#   scripts/deps/promtool.sh            PROMTOOL_VERSION overrides the module version
#
# Prometheus 3.x publishes its Go module as v0.3XX.Y (v0.316.0 is Prometheus 3.16.0).
set -euo pipefail
cd "$(dirname "$0")/../.."

version=${PROMTOOL_VERSION:-0.316.0}
bin="$PWD/bin/promtool"

# built_version prints the Prometheus module version bin/promtool was built from (its
# Go build information; a go-installed promtool's --version carries no version).
built_version() {
	go version -m "$bin" 2>/dev/null | awk '$2 == "github.com/prometheus/prometheus" { print $3; exit }'
}

if [ -x "$bin" ] && [ "$(built_version)" = "v$version" ]; then
	echo "promtool: bin/promtool is already v$version"
	exit 0
fi
# A machine-wide copy, so that a fresh clone on a machine that built it once (a CI
# runner) copies it instead of building it again.
cache=${CHAOSD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosd}/tools
cached=$cache/promtool-v$version
if [ -x "$cached" ] && [ "$(go version -m "$cached" 2>/dev/null | awk '$2 == "github.com/prometheus/prometheus" { print $3; exit }')" = "v$version" ]; then
	mkdir -p bin && cp "$cached" "$bin"
	echo "promtool: v$version copied from $cached"
	exit 0
fi

start=$(date +%s)
mkdir -p bin
# remove_all_sd (Prometheus 3.10 and later) leaves out every service-discovery plugin
# (Kubernetes, the clouds, Consul...): the rule checks need none, and they are most
# of what there is to download and compile.
tags=remove_all_sd
echo "promtool: building v$version into bin/promtool (a few minutes: Prometheus is large)"
if ! GOBIN="$PWD/bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off \
	go install -trimpath -tags "$tags" -ldflags '-s -w' "github.com/prometheus/prometheus/cmd/promtool@v$version"; then
	# go install pkg@version refuses modules whose go.mod has replace directives;
	# build from a throwaway module that requires it instead.
	echo "promtool: go install refused, building from a temporary module"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(
		cd "$tmp"
		go mod init tmp >/dev/null 2>&1
		GOWORK=off go get "github.com/prometheus/prometheus@v$version"
		CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off go build -trimpath -tags "$tags" -ldflags '-s -w' -o "$bin" \
			github.com/prometheus/prometheus/cmd/promtool
	)
fi
[ "$(built_version)" = "v$version" ] || { echo "promtool: bin/promtool does not say it is v$version" >&2; exit 1; }
mkdir -p "$cache" && cp "$bin" "$cached.tmp" && mv "$cached.tmp" "$cached"
echo "promtool: built in $(($(date +%s) - start))s"
