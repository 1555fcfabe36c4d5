// Package netns runs code inside the network namespace of a container's process: TCP
// reachability probes, DNS lookups through Docker's embedded resolver, and chaosd's own
// nftables table that cuts a container off from chosen peers.
//
// A namespace is named by the host pid of a process in it (a container's State.Pid).
// Work runs on a fresh OS thread that is switched into the namespace and thrown away
// afterwards, so no other goroutine ever runs in the wrong namespace.
package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrHostNamespace is returned when a pid's network namespace is chaosd's own: chaosd
// never filters the host's network (a container with network_mode: host).
var ErrHostNamespace = errors.New("the target shares chaosd's own network namespace")

// Host is the pid that means "chaosd's own namespace" to Do and the probes.
const Host = 0

// path is the namespace file of pid.
func path(pid int) string { return fmt.Sprintf("/proc/%d/ns/net", pid) }

// open opens pid's network namespace; pid must be a real process.
func open(pid int) (int, error) {
	if pid <= 0 {
		return -1, fmt.Errorf("netns: invalid pid %d", pid)
	}
	fd, err := unix.Open(path(pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netns: open %s: %w", path(pid), err)
	}
	return fd, nil
}

// hostInode is chaosd's own network namespace, read before any thread could have been
// switched: /proc/self/ns/net names the main thread's namespace, and the runtime may
// run Do's throw-away goroutine on the main thread (it then parks that thread for good).
var hostInode, hostErr = Inode(os.Getpid())

// IsHost reports whether pid's network namespace is chaosd's own.
func IsHost(pid int) (bool, error) {
	if hostErr != nil {
		return false, hostErr
	}
	ino, err := Inode(pid)
	if err != nil {
		return false, err
	}
	return ino == hostInode, nil
}

// Inode identifies pid's network namespace (for checking that a container's
// namespace did not change between two steps).
func Inode(pid int) (uint64, error) {
	fi, err := os.Stat(path(pid))
	if err != nil {
		return 0, fmt.Errorf("netns: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("netns: no inode for " + path(pid))
	}
	return st.Ino, nil
}

// Do runs fn inside pid's network namespace (Host: in chaosd's own, on the calling
// goroutine). Sockets fn opens stay in that namespace after Do returns.
func Do(pid int, fn func() error) error {
	if pid == Host {
		return fn()
	}
	fd, err := open(pid)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine ends, the runtime ends its thread too,
		// so a thread switched into the container's namespace is never reused.
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: setns %s: %w", path(pid), err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
