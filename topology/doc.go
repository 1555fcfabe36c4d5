// Package topology finds the containers of a compose project and makes their
// in-network addresses reachable from wherever chaosd runs.
//
// Discover lists a project's containers: services, states, health, networks and
// published ports. A Forwarder is to a compose project what `kubectl port-forward` is
// to a cluster: one container on the project's network, running chaosd's hidden
// `forward` subcommand, that publishes each in-network target (postgres:5432,
// nats:4222) on a loopback port of the host. A Resolver rewrites URLs naming the
// project's services to an address that connects from here: the URL unchanged when
// chaosd runs inside the network, a published port, or the forwarder.
package topology
