package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosd/chaosd/topology"
)

func TestForwardRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing LISTEN=TARGET"},
		{[]string{"postgres:5432"}, "want LISTEN=TARGET"},
		{[]string{"--dial-timeout=0s", "127.0.0.1:0=postgres:5432"}, "--dial-timeout must be positive"},
	} {
		code, _, errOut := run(t, append([]string{"forward"}, tc.args...)...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("forward %q: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestForwardHelpExplainsTheSyntax(t *testing.T) {
	code, _, errOut := run(t, "forward", "--help")
	if code != ExitOK || !strings.Contains(errOut, "LISTEN=TARGET") || !strings.Contains(errOut, "0.0.0.0:10001=postgres:5432") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestForwardRelaysUntilCancelled(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }() // echo
		}
	}()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := free.Addr().String()
	_ = free.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"forward", "--log-format=json", listen + "=" + up.Addr().String()},
			IO{Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }})
	}()
	var c net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err = net.Dial("tcp", listen); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forward never listened: %v; log %s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	_ = c.Close()
	if string(got) != "ping" {
		t.Errorf("echo through forward = %q", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit %d; log %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("forward did not stop on cancel")
	}
	if !strings.Contains(stderr.String(), topology.ReadyMessage) {
		t.Errorf("log lacks %q: %s", topology.ReadyMessage, stderr.String())
	}
}
