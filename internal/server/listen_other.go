//go:build !linux

package server

import (
	"errors"
	"net"
)

// listenBacklog opens a TCP listener; the backlog is the system default on
// platforms other than Linux.
func listenBacklog(addr string, _ int) (net.Listener, error) {
	return net.Listen("tcp", addr)
}

// setBacklog cannot change the backlog of an open listener outside Linux.
func setBacklog(net.Listener, int) error {
	return errors.New("the listen backlog is the system default on this platform")
}
