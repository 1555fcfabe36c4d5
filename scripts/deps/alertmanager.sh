#!/usr/bin/env bash
# Build Prometheus Alertmanager into bin/alertmanager at the repo root, for the alert
# package's integration test (go test -tags integration -run '^TestIntegration' ./alert/).
# Idempotent: does nothing when bin/alertmanager already reports the wanted version.
# Needs only Go and the Go module proxy (no container registry, no release download).
set -euo pipefail
cd "$(dirname "$0")/../.."

version=0.35.0
mod=github.com/prometheus/alertmanager
bin="$PWD/bin/alertmanager"

# A machine-wide copy, so that a fresh clone on a machine that built it once (a CI
# runner) copies it instead of building it again.
cache=${CHAOSD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosd}/tools
cached=$cache/alertmanager-$version
good() { [ -x "$1" ] && "$1" --version 2>&1 | grep -q "version $version "; }

if good "$bin"; then
	echo "alertmanager: bin/alertmanager is already $version"
	exit 0
fi
if good "$cached"; then
	mkdir -p bin && cp "$cached" "$bin"
	echo "alertmanager: $version copied from $cached"
	exit 0
fi

start=$(date +%s)
mkdir -p bin
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off
ldflags="-X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Branch=v$version -X github.com/prometheus/common/version.BuildUser=chaosd"
echo "alertmanager: building $version into bin/alertmanager"
if ! GOBIN="$PWD/bin" go install -tags netgo -ldflags "$ldflags" "$mod/cmd/alertmanager@v$version" 2>/tmp/alertmanager-install.$$.log; then
	# The module as served by the proxy lacks the web UI's built assets (ui/app/dist is
	# made by npm and git-ignored upstream), so the go:embed in ui/web.go fails and
	# neither `go install pkg@version` nor a go get into a temporary module can build it.
	# Build from a writable copy of the module source with an empty placeholder UI; the
	# API (/api/v2), the dispatcher and the notifiers are unaffected.
	grep -q 'pattern app/dist' /tmp/alertmanager-install.$$.log || { cat /tmp/alertmanager-install.$$.log >&2; rm -f /tmp/alertmanager-install.$$.log; exit 1; }
	rm -f /tmp/alertmanager-install.$$.log
	echo "alertmanager: the proxied module has no built UI; building from a copy with a placeholder UI"
	tmp=$(mktemp -d)
	trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
	src=$(go mod download -json "$mod@v$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$src" ] || { echo "alertmanager: go mod download $mod@v$version gave no directory" >&2; exit 1; }
	cp -r "$src" "$tmp/src"
	chmod -R u+w "$tmp/src"
	for ui in elm mantine; do
		mkdir -p "$tmp/src/ui/app/dist/$ui"
		echo "<!doctype html><title>Alertmanager</title><p>UI not built (chaosd test binary); use /api/v2." >"$tmp/src/ui/app/dist/$ui/index.html"
	done
	(cd "$tmp/src" && go build -trimpath -tags netgo -ldflags "$ldflags" -o "$bin" ./cmd/alertmanager)
else
	rm -f /tmp/alertmanager-install.$$.log
fi
"$bin" --version 2>&1 | head -1
mkdir -p "$cache" && cp "$bin" "$cached.tmp" && mv "$cached.tmp" "$cached"
echo "alertmanager: built in $(($(date +%s) - start))s"
