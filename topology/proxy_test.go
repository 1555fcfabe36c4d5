package topology

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestParseMapping(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		want    Mapping
	}{
		{in: "0.0.0.0:10001=postgres:5432", want: Mapping{"0.0.0.0:10001", "postgres:5432"}},
		{in: ":0=[::1]:4222", want: Mapping{":0", "[::1]:4222"}},
		{in: "postgres:5432", err: "want LISTEN=TARGET"},
		{in: "0.0.0.0=postgres:5432", err: "listen address"},
		{in: "0.0.0.0:1=postgres", err: "target"},
		{in: "0.0.0.0:1=:5432", err: "no host"},
		{in: "0.0.0.0:1=postgres:0", err: "bad port"},
		{in: "0.0.0.0:70000=postgres:5432", err: "bad port"},
	} {
		got, err := ParseMapping(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMapping(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseMapping(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// startProxy runs a proxy for one mapping from a loopback port to target until the
// test ends, and returns its address and Serve's result.
func startProxy(t *testing.T, ctx context.Context, target string) (string, <-chan error) {
	t.Helper()
	p, err := Listen([]Mapping{{Listen: "127.0.0.1:0", Target: target}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, zaptest.NewLogger(t), time.Second) }()
	return p.Addrs()[0].String(), done
}

// upstream serves one connection at a time with handle.
func upstream(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c.(*net.TCPConn)) }()
		}
	}()
	return ln.Addr().String()
}

func TestProxyRelaysBothWaysWithHalfClose(t *testing.T) {
	// The upstream greets first (as NATS does), reads until the client's half-close,
	// then answers with what it read, reversed, and closes.
	target := upstream(t, func(c *net.TCPConn) {
		_, _ = io.WriteString(c, "INFO {}\r\n")
		in, err := io.ReadAll(c)
		if err != nil {
			return
		}
		for i, j := 0, len(in)-1; i < j; i, j = i+1, j-1 {
			in[i], in[j] = in[j], in[i]
		}
		_, _ = c.Write(in)
	})
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startProxy(t, ctx, target)

	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB each way
	for i := range 3 {                                         // sequential connections reuse the listener
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(c); got <- b }()
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		var b []byte
		select {
		case b = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("connection %d: no answer: the half-close was not passed on", i)
		}
		_ = c.Close()
		want := append([]byte("INFO {}\r\n"), reversed(payload)...)
		if !bytes.Equal(b, want) {
			t.Fatalf("connection %d: got %d bytes, want %d", i, len(b), len(want))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("listener still open after the proxy stopped")
	}
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func TestProxyClosesOnTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close() // nothing listens there any more
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := startProxy(t, ctx, dead)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("read = %d, %v; want the connection closed", n, err)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

func TestProxyStopClosesOpenConnections(t *testing.T) {
	relaying := make(chan struct{}, 1)
	target := upstream(t, func(c *net.TCPConn) { relaying <- struct{}{}; _, _ = io.Copy(io.Discard, c) }) // never answers
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := startProxy(t, ctx, target)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	<-relaying
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return with a connection open")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection still open after the proxy stopped")
	}
}

func TestListenReleasesEveryPortOnError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	_ = free.Close()
	_, err = Listen([]Mapping{{freeAddr, "postgres:5432"}, {busy.Addr().String(), "nats:4222"}})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("listen %s", busy.Addr())) {
		t.Fatalf("err = %v", err)
	}
	ln, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the first mapping's port stayed bound: %v", err)
	}
	_ = ln.Close()
	if _, err := Listen(nil); err == nil {
		t.Error("Listen(nil): no error")
	}
}
