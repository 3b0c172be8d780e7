package core

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/switchyard/switchyard/internal/wait"
)

func tcpYAML(keepalive, nodelay bool, backlog int) string {
	return fmt.Sprintf(`performance: {network: {tcp: {keepalive: %v, nodelay: %v, backlog: %d}}}
routes:
  - path: /sockopts
    handler: perf.sockopts
  - path: /ok
    handler: {respond: {body: ok}}
`, keepalive, nodelay, backlog)
}

// sockoptsHandler answers with the SO_KEEPALIVE and TCP_NODELAY options of
// the server side of the request's own connection.
func sockoptsHandler(h *Host) {
	h.HandleFunc("perf.sockopts", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer c.Close()
		var ka, nd int
		var oerr error
		if sc, ok := c.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				_ = raw.Control(func(fd uintptr) {
					ka, oerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
					if oerr == nil {
						nd, oerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
					}
				})
			}
		} else {
			oerr = fmt.Errorf("connection %T has no file descriptor", c)
		}
		body := fmt.Sprintf("keepalive=%d nodelay=%d", min(ka, 1), min(nd, 1))
		if oerr != nil {
			body = "error: " + oerr.Error()
		}
		fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		brw.Flush()
	})
}

// TestPerfTCPOptionsReload: tcp.keepalive and tcp.nodelay are the options of
// every connection accepted after the reload that sets them.
func TestPerfTCPOptionsReload(t *testing.T) {
	p := newPerfHost(t, tcpYAML(false, false, 128), true, sockoptsHandler)
	opts := func() string {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		code, _, body, err := getWith(client, p.base+"/sockopts")
		if err != nil || code != 200 {
			t.Fatalf("GET /sockopts = %d %q %v", code, body, err)
		}
		return body
	}
	if got := opts(); got != "keepalive=0 nodelay=0" {
		t.Fatalf("keepalive false, nodelay false: %s", got)
	}
	p.reload(tcpYAML(true, true, 128))
	if got := opts(); got != "keepalive=1 nodelay=1" {
		t.Fatalf("keepalive true, nodelay true: %s", got)
	}
	p.reload(tcpYAML(true, false, 128))
	if got := opts(); got != "keepalive=1 nodelay=0" {
		t.Fatalf("keepalive true, nodelay false: %s", got)
	}
}

// listenerBacklog returns the accept queue length of the host's listening
// socket as the kernel holds it: TCP_INFO on a listening socket reports it
// in tcpi_sacked.
func listenerBacklog(t *testing.T, h *Host) int {
	t.Helper()
	ln := h.srv.Listener()
	sc, ok := ln.(syscall.Conn)
	if !ok {
		t.Fatalf("listener %T has no file descriptor", ln)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info syscall.TCPInfo
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		size := uint32(syscall.SizeofTCPInfo)
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Skipf("TCP_INFO on the listener: %v", errno)
	}
	if info.State != 10 { // TCP_LISTEN
		t.Fatalf("listener socket in TCP state %d", info.State)
	}
	return int(info.Sacked)
}

// TestPerfBacklogReload: tcp.backlog is the kernel's accept queue length of
// the listening socket, and a reload that changes it applies it to the
// address being served without refusing a connection.
func TestPerfBacklogReload(t *testing.T) {
	somaxconn := 4096
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		somaxconn, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if somaxconn < 200 {
		t.Skipf("net.core.somaxconn %d caps the backlogs this test sets", somaxconn)
	}
	p := newPerfHost(t, tcpYAML(true, true, 64), true, sockoptsHandler)
	if got := listenerBacklog(t, p.h); got != 64 {
		t.Fatalf("backlog %d, want 64", got)
	}
	addr := p.addr

	// New connections all along: none may be refused.
	ch := startChurn(2, "http://"+addr+"/ok", 5*time.Second, func(code int, _ string) bool { return code == 200 })
	for i, backlog := range []int{200, 64, 150, 200} {
		p.reload(tcpYAML(true, true, backlog))
		if got := listenerBacklog(t, p.h); got != backlog {
			t.Fatalf("reload %d: backlog %d, want %d", i, got, backlog)
		}
		if got := p.h.Addr().String(); got != addr {
			t.Fatalf("reload %d: serving %s, was %s", i, got, addr)
		}
		// New connections between two changes.
		n := ch.conns.Load()
		wait.For(t, "new connections after the change", func() bool { return ch.conns.Load() >= n+5 })
	}
	conns, failed, sample := ch.finish()
	t.Logf("4 backlog changes, %d new connections meanwhile, %d failed", conns, failed)
	if failed != 0 || conns == 0 {
		t.Fatalf("%d of %d connections failed, e.g. %v", failed, conns, sample)
	}
}
