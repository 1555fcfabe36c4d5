# chaosd: the two commands in the README are `make demo` and `make test`.
GO      ?= go
BIN     := bin/chaosd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/chaosd/chaosd/cli.version=$(VERSION)

.PHONY: build deps test unit integration e2e bench fuzz demo soak cluster-up cluster-down k8s-up k8s-down k8s-e2e clean

build: ## build bin/chaosd and bin/chaosd-healthcheck (static; the image's health check)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/chaosd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/chaosd-healthcheck ./cmd/chaosd-healthcheck

test: deps ## every test tier: vet, unit, integration, fuzz, end-to-end (the report's browser checks required: deps installs chromium)
	CHAOSD_REQUIRE_BROWSER=1 scripts/test.sh

deps: ## install what the tests need (Debian packages as root; Alertmanager and promtool into bin/)
	scripts/install-deps.sh

unit: ## unit tests only (no PostgreSQL, NATS or Docker needed)
	scripts/test.sh lint unit

integration: ## integration tests: a throwaway PostgreSQL, embedded NATS JetStream
	scripts/test.sh integration

e2e: ## end-to-end tests against the bundled Docker cluster
	scripts/test.sh e2e

demo: ## the main job: boot the bundled cluster and run chaosd against it (installs what it needs first)
	scripts/install-deps.sh images
	deploy/demo.sh

soak: ## a compressed soak (5 min; CHAOSD_SOAK_DURATION=8h for the real one) against the bundled cluster, report in bin/soak
	scripts/install-deps.sh images
	deploy/soak.sh

cluster-up: ## boot the bundled cluster (TARGET=mesh-2026-05: mesh's harness shape at #3392; TARGET=mesh-current: today's mesh; TESTBED_BUGS=... switches defects on) and wait until every pod is ready
	scripts/install-deps.sh images
	TARGET='$(TARGET)' deploy/cluster.sh up

cluster-down: ## tear the cluster of TARGET (default bundled) down with its volumes
	TARGET='$(TARGET)' deploy/cluster.sh down

k8s-up: ## boot a real single-node Kubernetes cluster on this machine (built offline: deploy/k8s/cluster.sh) with the testbed's Helm chart deployed; eval "$$(deploy/k8s/cluster.sh env)" then
	deploy/k8s/cluster.sh up

k8s-down: ## stop the Kubernetes cluster and remove its state, network and netfilter rules
	deploy/k8s/cluster.sh down

k8s-e2e: ## the Kubernetes tier: k8s-up, chaosd's Kubernetes end-to-end tests (kinds, refusals, crash loops), k8s-down
	scripts/k8s-e2e.sh

fuzz: ## fuzz every target for FUZZTIME executions (default 1000000x; a duration such as 1m also works, but see golang/go#75804)
	FUZZTIME=$${FUZZTIME:-1000000x} scripts/test.sh fuzz

bench: ## the benchmarks whose figures are in the README
	scripts/bench.sh

clean:
	rm -rf bin
