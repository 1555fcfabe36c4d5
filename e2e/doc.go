// Package e2e holds the end-to-end tests: they drive the bundled Docker cluster
// (deploy/docker-compose.yml) through its published ports, read Postgres, and kill and
// start pods through the Docker Engine API. Build tag e2e, test names TestE2E*.
//
// scripts/e2e.sh boots the cluster, runs them and tears it down; against a cluster
// booted by hand (deploy/cluster.sh up):
//
//	go test -count=1 -tags e2e -run '^TestE2E' -v ./e2e/...
//
// The addresses come from the environment that `deploy/cluster.sh env` prints
// (CHAOSD_PODS, CHAOSD_DATABASE_URL, CHAOSD_PROVIDER_URL, CHAOSD_COMPOSE_PROJECT),
// defaulting to the bundled cluster's; CHAOSD_HEARTBEAT_TTL and
// CHAOSD_HEARTBEAT_INTERVAL give the pods' heartbeat timings (default 6s and 2s).
package e2e
