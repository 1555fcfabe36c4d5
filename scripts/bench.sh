#!/usr/bin/env bash
# The benchmarks whose figures are in the README (make bench). Every section runs by
# default; name sections to run only those, e.g. `scripts/bench.sh mockai`.
#
# analyze: chaosd analyze on a 1M-event synthetic history. healthcheck: one health
# check's exec, chaosd's against the image's small binary. faults, observe and soak
# boot the bundled cluster (deploy/cluster.sh up; faults needs root for nftables) and
# leave it running; soak runs chaosd soak for SOAK_DURATION (default 30m).
#
# mockai knobs: MOCKAI_BENCHTIME (go test -benchtime of the throughput benchmark,
# default 20x), MOCKAI_STREAMS (default 5000,10000), MOCKAI_REPEAT (runs of the
# default hijack mode per stream count, default 5, the median of which is the figure;
# the handler mode, for comparison, runs once).
set -euo pipefail
cd "$(dirname "$0")/.."
all_sections="mockai analyze healthcheck faults observe soak"
sections=${*:-$all_sections}
for s in $sections; do
	[[ " $all_sections " == *" $s "* ]] || { echo "bench.sh: unknown section $s (sections: $all_sections)" >&2; exit 2; }
done
want() { [[ " $sections " == *" $1 "* ]]; }
step() { printf '\n=== %s\n' "$*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'machine: %s CPUs, load average %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

if want mockai; then
	step "mockai: one client pulls a zero-delay stream (slow:200000x0); the limit is a bare net/http handler writing the same frames, flushing once"
	go test -run '^$' -bench '^BenchmarkThroughput$' -benchtime "${MOCKAI_BENCHTIME:-20x}" -count 1 ./mockai | tee "$tmp/throughput.txt"
	echo
	awk '/^BenchmarkThroughput\// {
		mode = $1; sub(/^BenchmarkThroughput\//, "", mode); sub(/-[0-9]+$/, "", mode)
		for (i = 2; i <= NF; i++) { if ($i == "mock-frames/s") m = $(i-1); if ($i == "bare-frames/s") b = $(i-1); if ($i == "ratio") r = $(i-1) }
		if (!hdr++) printf "%-8s %15s %15s %7s  %s\n", "mode", "mock frames/s", "bare frames/s", "ratio", "(goal: ratio >= 0.8)"
		printf "%-8s %15.0f %15.0f %7.2f\n", mode, m, b, r
	}' "$tmp/throughput.txt"

	step "mockai: concurrent slow:20x200 streams against the chaosd binary in its own process (goals: no errors, median wall <= 1.15x ideal at 5,000 and <= 1.3x at 10,000, < 16 KiB per open stream)"
	CGO_ENABLED=0 go build -trimpath -o "$tmp/chaosd" ./cmd/chaosd
	go build -o "$tmp/mockai-bench" ./bench/mockai
	"$tmp/mockai-bench" -chaosd "$tmp/chaosd" -streams "${MOCKAI_STREAMS:-5000,10000}" -modes hijack -repeat "${MOCKAI_REPEAT:-5}"
	echo
	"$tmp/mockai-bench" -chaosd "$tmp/chaosd" -streams "${MOCKAI_STREAMS:-5000,10000}" -modes handler -repeat 1
fi

if want analyze; then
	step "chaosd analyze: events per second on a large synthetic history"
	make build >/dev/null
	go run ./bench/analyze -events "${ANALYZE_EVENTS:-1000000}" -chaosd bin/chaosd
fi

if want healthcheck; then
	step "one container health check: chaosd healthcheck against chaosd-healthcheck (the image's HEALTHCHECK), execs alternated"
	make build >/dev/null
	go run ./bench/healthcheck -chaosd bin/chaosd -small bin/chaosd-healthcheck -n "${HEALTHCHECK_EXECS:-100}"
fi

if want faults || want observe || want soak; then
	make build >/dev/null
	deploy/cluster.sh up >/dev/null
	eval "$(deploy/cluster.sh env)"
fi

if want faults; then
	step "faults: decision to confirmed fault and heal to confirmed heal, chaosd against the docker CLI"
	go run ./bench/faults -rounds "${FAULTS_ROUNDS:-15}" -chaosd bin/chaosd
fi

if want observe; then
	step "chaosd's own cost while observing: CPU and peak memory per observed run and per chunk"
	go run ./bench/observe -chaosd bin/chaosd -runs "${OBSERVE_RUNS:-3,12,24,48}"
fi

if want soak; then
	step "chaosd over a long soak: goroutines, heap and RSS per window, growth after the warm-up, CPU share (SOAK_DURATION, default 30m)"
	go run ./bench/soak -chaosd bin/chaosd -duration "${SOAK_DURATION:-30m}"
fi
