#!/usr/bin/env bash
# The test command (make test): formatting and vet, unit tests, integration tests
# against a real PostgreSQL and NATS JetStream, short fuzzing runs, and the end-to-end
# tier against the bundled Docker cluster. Every tier runs; none is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
# Fuzzing is bounded by executions, not by time: a time bound races the coordinator's
# deadline on a loaded machine and fails with a bare "context deadline exceeded" and no
# crasher (golang/go#75804, fixed in Go 1.27). An Nx bound has no deadline to miss.
FUZZTIME=${FUZZTIME:-50000x}
tiers=${*:-lint unit integration fuzz e2e}
want() { [[ " $tiers " == *" $1 "* ]]; }
step() { printf '\n=== %s\n' "$*"; }
# The tests build with make build's flags (static, -trimpath), so that the chaosd the
# e2e images are built from reuses what the tests compiled instead of compiling every
# package once more (about three minutes on a cold machine). Nothing here needs cgo.
export CGO_ENABLED=${CGO_ENABLED:-0}
case " ${GOFLAGS:-} " in
*" -trimpath "*) ;;
*) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" ;;
esac
# prebuild: the e2e tier's images are built in the background while the other tiers
# run (niced: the tests come first), mostly waiting on debootstrap's downloads; the
# e2e tier waits for it, then builds whatever is still missing itself.
prebuild=""
prebuild_images() {
	if want e2e && [ "${CHAOSD_PREBUILD_IMAGES:-1}" = 1 ] && [ "$tiers" != e2e ]; then
		mkdir -p bin
		echo "(the e2e images are built in the background meanwhile: bin/prebuild-images.log)"
		nice -n 10 deploy/build-images.sh >bin/prebuild-images.log 2>&1 &
		prebuild=$!
	fi
}

if want lint; then
step "gofmt and go vet"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$bad" ] || { echo "gofmt would change: $bad" >&2; exit 1; }
go vet ./...
go vet -tags integration,e2e ./...
go vet -tags e2e,mesh ./e2e/
go vet -tags e2e,k8s ./kube/
fi
prebuild_images

if want unit; then
step "unit tests"
go test -count=1 ./...
fi

if want integration; then
step "integration tests (real PostgreSQL, embedded NATS JetStream)"
if [ -z "${CHAOSD_TEST_DATABASE_URL:-}" ]; then
	dsn=$(scripts/pg.sh start) # fails the run when PostgreSQL cannot start
	trap 'scripts/pg.sh stop' EXIT
	export CHAOSD_TEST_DATABASE_URL=$dsn
fi
go test -count=1 -tags integration -run "^TestIntegration" ./...
fi

if want fuzz; then
step "fuzzing, $FUZZTIME per target"
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "--- $pkg $fn"
		go test -run='^$' -fuzz="^$fn\$" -fuzztime="$FUZZTIME" "$pkg"
	done
done
fi

if want e2e; then
	step "end-to-end tests (bundled Docker cluster)"
	if [ -n "$prebuild" ] && ! wait "$prebuild"; then
		echo "(the background image build failed, bin/prebuild-images.log follows; the e2e tier builds the images again)"
		tail -20 bin/prebuild-images.log || true
	fi
	scripts/e2e.sh
fi
