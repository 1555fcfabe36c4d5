package faults

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Process identifies a running chaosd across pid reuse: its pid and its start time in
// clock ticks since boot (field 22 of /proc/<pid>/stat).
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Self is the current process.
func Self() Process {
	p := Process{PID: os.Getpid()}
	p.Start, _ = startTime(p.PID)
	return p
}

// Alive reports whether the process still runs (the same one, not a reused pid).
func (p Process) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := startTime(p.PID)
	return err == nil && st == p.Start
}

func (p Process) String() string { return fmt.Sprintf("pid %d", p.PID) }

func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 { // f[0] is field 3 (state); the start time is field 22
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	// A zombie still has its stat; it is not alive for chaosd's purposes.
	if string(f[0]) == "Z" {
		return 0, fmt.Errorf("pid %d is a zombie", pid)
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}
