package main

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosd/chaosd/mockai"
)

// TestClientReadsEveryStreamToItsEnd runs the load generator against an in-process
// mock, with and without SO_RCVLOWAT: every stream must be read to its end, checked,
// and take at least its ideal time.
func TestClientReadsEveryStreamToItsEnd(t *testing.T) {
	const n, chunks, delay = 40, 10, 20 * time.Millisecond
	for _, lowat := range []bool{false, true} {
		s := mockai.New(mockai.Options{})
		ts := httptest.NewServer(s)
		t.Cleanup(func() {
			s.Close()
			ts.Close()
		})
		var open, opened, ramp atomic.Int64
		tl := &tally{open: &open, opened: &opened, all: n, ramp: &ramp, start: time.Now()}
		addr := ts.Listener.Addr().String()
		c, err := newClient(addr, requestBody("slow:10x20"), chunks, 8, 2, tl)
		if err != nil {
			t.Fatal(err)
		}
		if lowat {
			if err := c.calibrate(t.Context(), addr); err != nil {
				t.Fatal(err)
			}
			if c.floor < chunks*100 {
				t.Fatalf("floor %d bytes: too short for %d chunks", c.floor, chunks)
			}
		}
		for i, st := range c.run(t.Context(), n) {
			if err := st.check(chunks); err != nil {
				t.Errorf("lowat %v, stream %d: %v", lowat, i, err)
				continue
			}
			if st.total < chunks*delay || st.firstFrame <= 0 {
				t.Errorf("lowat %v, stream %d: first frame after %s, end after %s (ideal %s)", lowat, i, st.firstFrame, st.total, chunks*delay)
			}
		}
		if opened.Load() != n || open.Load() != 0 || ramp.Load() == 0 {
			t.Errorf("lowat %v: opened %d, still open %d, ramp %d", lowat, opened.Load(), open.Load(), ramp.Load())
		}
	}
}

// TestClientCountsAWrongStream checks that a stream with fewer chunks than asked for
// is an error.
func TestClientCountsAWrongStream(t *testing.T) {
	s := mockai.New(mockai.Options{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	c, err := newClient(ts.Listener.Addr().String(), requestBody("slow:3x1"), 4, 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.run(t.Context(), 1)[0].check(4); err == nil {
		t.Error("3 chunks checked as 4")
	}
}

func TestReadNetstat(t *testing.T) {
	ns, err := readNetstat()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ns["TcpExt:ListenOverflows"]; !ok {
		t.Errorf("no TcpExt:ListenOverflows in %d counters", len(ns))
	}
	if d := ns.delta(ns); d == "" {
		t.Error("empty delta")
	}
}
