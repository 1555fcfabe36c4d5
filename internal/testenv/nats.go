package testenv

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS starts an embedded NATS server with JetStream on a random loopback port and a
// temporary store directory, and returns its URL. It shuts down when the test ends.
func NATS(t testing.TB) string {
	t.Helper()
	return NATSServer(t).ClientURL()
}

// NATSServer is NATS for tests that need the server itself.
func NATSServer(t testing.TB) *server.Server {
	t.Helper()
	return RestartableNATS(t).Server()
}

// NATSHandle is an embedded NATS server that a test can restart on the same address,
// losing its memory streams, as a NATS container restart does.
type NATSHandle struct {
	t    testing.TB
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server
}

// RestartableNATS starts an embedded NATS server (JetStream on, temporary store
// directory, random loopback port) that is shut down when the test ends.
func RestartableNATS(t testing.TB) *NATSHandle {
	t.Helper()
	h := &NATSHandle{t: t, opts: server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	}}
	h.start()
	h.opts.Port = h.srv.Addr().(*net.TCPAddr).Port // restarts keep the address
	t.Cleanup(h.stop)
	return h
}

// URL is the server's client URL.
func (h *NATSHandle) URL() string { return h.Server().ClientURL() }

// Server is the running server.
func (h *NATSHandle) Server() *server.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.srv
}

// Restart shuts the server down and starts a new one on the same address.
func (h *NATSHandle) Restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *NATSHandle) start() {
	h.t.Helper()
	opts := h.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		h.t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		h.t.Fatal("nats server: not ready for connections after 10s")
	}
	h.mu.Lock()
	h.srv = s
	h.mu.Unlock()
}

func (h *NATSHandle) stop() {
	h.mu.Lock()
	s := h.srv
	h.mu.Unlock()
	s.Shutdown()
	s.WaitForShutdown()
}
