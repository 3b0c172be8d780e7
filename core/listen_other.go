//go:build !linux

package core

import "net"

// listenBacklog opens a TCP listener; the backlog is the system default on
// platforms other than Linux.
func listenBacklog(addr string, _ int) (net.Listener, error) {
	return net.Listen("tcp", addr)
}
