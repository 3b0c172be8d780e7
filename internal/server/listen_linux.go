package server

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenBacklog opens a TCP listener whose accept queue is backlog long (the
// kernel caps it at net.core.somaxconn). The standard library always uses
// somaxconn, so the socket is made by hand.
func listenBacklog(addr string, backlog int) (net.Listener, error) {
	if backlog <= 0 {
		return net.Listen("tcp", addr)
	}
	ap, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ap.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("listen %s: socket: %w", addr, err)
	}
	fail := func(op string, err error) (net.Listener, error) {
		syscall.Close(fd)
		return nil, fmt.Errorf("listen %s: %s: %w", addr, op, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	f := os.NewFile(uintptr(fd), "tcp:"+addr)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// setBacklog changes the accept queue length of an open listener: Linux
// lets listen(2) be called again on a listening socket for that, so the
// queue and the connections in it are kept.
func setBacklog(ln net.Listener, backlog int) error {
	if backlog <= 0 {
		backlog = syscall.SOMAXCONN
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("listener %T has no file descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), backlog) }); err != nil {
		return err
	}
	if lerr != nil {
		return fmt.Errorf("listen: %w", lerr)
	}
	return nil
}
