// Package listenfd speaks the two halves of systemd's service protocol that
// a Switchyard binary needs: socket activation (listeners inherited as file
// descriptors 3, 4, ... announced by LISTEN_FDS) and readiness
// notification (READY=1 sent to the datagram socket NOTIFY_SOCKET names).
// systemd uses both in production; the devserver's Go dev loop uses the
// same two to hand its socket to each new build and to know when that
// build serves.
package listenfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// The environment variables of the protocol.
const (
	EnvFDs      = "LISTEN_FDS"
	EnvPID      = "LISTEN_PID"
	EnvFDNames  = "LISTEN_FDNAMES"
	EnvNotify   = "NOTIFY_SOCKET"
	firstFD     = 3
	maxInherits = 64
)

// Listeners returns the listeners passed by LISTEN_FDS, in order, or none
// when the variable is unset. LISTEN_PID, when set, must be this process
// (systemd sets it; a parent that cannot know its child's pid before
// starting it, such as the devserver, leaves it unset). The variables are
// removed from the environment so that processes this one starts do not
// inherit them.
func Listeners() ([]net.Listener, error) {
	n := os.Getenv(EnvFDs)
	if n == "" {
		return nil, nil
	}
	defer func() {
		os.Unsetenv(EnvFDs)
		os.Unsetenv(EnvPID)
		os.Unsetenv(EnvFDNames)
	}()
	if pid := os.Getenv(EnvPID); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 0 || count > maxInherits {
		return nil, fmt.Errorf("%s=%q: want a count of inherited sockets", EnvFDs, n)
	}
	lns := make([]net.Listener, 0, count)
	for fd := firstFD; fd < firstFD+count; fd++ {
		f := os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd))
		ln, err := net.FileListener(f) // dups the descriptor
		f.Close()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("inherited descriptor %d is not a listening socket: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Env returns the environment entries that pass n listeners, given to the
// child as its ExtraFiles (descriptors 3 onwards), with the name "http".
func Env(n int) []string {
	names := ""
	for i := range n {
		if i > 0 {
			names += ":"
		}
		names += "http"
	}
	return []string{EnvFDs + "=" + strconv.Itoa(n), EnvFDNames + "=" + names}
}

// Notify sends state (such as "READY=1" or "STOPPING=1") to the socket
// NOTIFY_SOCKET names. It does nothing when the variable is unset.
func Notify(state string) error {
	path := os.Getenv(EnvNotify)
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("%s: %w", EnvNotify, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("%s: %w", EnvNotify, err)
	}
	return nil
}

// ErrNotListening is returned by File for a listener that has no
// descriptor to pass on.
var ErrNotListening = errors.New("listenfd: the listener has no file descriptor")

// File returns a duplicate descriptor of a TCP or Unix listener, for a
// child's ExtraFiles. The caller closes it.
func File(ln net.Listener) (*os.File, error) {
	type filer interface{ File() (*os.File, error) }
	f, ok := ln.(filer)
	if !ok {
		return nil, ErrNotListening
	}
	return f.File()
}
