package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// kernelCounters are the TCP counters of /proc/net/netstat that tell of connections
// the kernel dropped or delayed: a full accept queue (ListenOverflows, ListenDrops), a
// full SYN queue (TCPReqQFullDrop, TCPReqQFullDoCookies, SyncookiesSent), SYNs sent
// again (TCPSynRetrans) and other losses. They count for the whole network namespace,
// so traffic other than the bench's shows too.
var kernelCounters = []string{
	"ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPReqQFullDoCookies",
	"SyncookiesSent", "TCPSynRetrans", "TCPTimeouts", "TCPBacklogDrop", "TCPAbortOnMemory",
}

// netstat is a reading of /proc/net/netstat: "TcpExt:ListenOverflows" -> value.
type netstat map[string]int64

// readNetstat reads /proc/net/netstat, whose sections are pairs of lines: the names,
// then the values, both led by the section's name.
func readNetstat() (netstat, error) {
	f, err := os.Open("/proc/net/netstat")
	if err != nil {
		return nil, fmt.Errorf("read kernel counters: %w", err)
	}
	defer f.Close()
	ns := netstat{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if names == nil || names[0] != fields[0] {
			names = fields
			continue
		}
		section := strings.TrimSuffix(fields[0], ":")
		for i := 1; i < min(len(fields), len(names)); i++ {
			if v, err := strconv.ParseInt(fields[i], 10, 64); err == nil {
				ns[section+":"+names[i]] = v
			}
		}
		names = nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kernel counters: %w", err)
	}
	return ns, nil
}

// delta formats the change of kernelCounters from before to ns, e.g.
// "ListenOverflows 0→12 (+12)".
func (ns netstat) delta(before netstat) string {
	var b strings.Builder
	for _, name := range kernelCounters {
		k := "TcpExt:" + name
		v0, ok0 := before[k]
		v1, ok1 := ns[k]
		if !ok0 || !ok1 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d→%d (+%d)", name, v0, v1, v1-v0)
	}
	return b.String()
}
