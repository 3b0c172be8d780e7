package core

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/wait"
)

func addrYAML(addr string) string {
	return fmt.Sprintf(`reload: {debounce: 20ms}
server: {addr: %q}
routes:
  - path: /gen
    handler: {respond: {body: %q}}
  - path: /slow
    handler: slow
`, addr, addr)
}

// Acceptance 8a: a new server.addr serves within 1 s; the old address stops
// accepting at once and closes once its in-flight request has finished.
func TestListenerAddrChange(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	}
	addr1, addr2 := freePort(t), freePort(t)
	fh := newFileHost(t, "", nil, addrYAML(addr1), func(h *Host) { h.HandleFunc("slow", slow) })
	if got := fh.h.Addr().String(); got != addr1 {
		t.Fatalf("listening on %s, want server.addr %s", got, addr1)
	}
	// An idle keep-alive connection and an in-flight request on addr1.
	idle := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer idle.CloseIdleConnections()
	if code, _, body, err := getWith(idle, "http://"+addr1+"/gen"); err != nil || code != 200 || body != addr1 {
		t.Fatalf("addr1 /gen = %d %q %v", code, body, err)
	}
	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		code, _, body, err := getWith(c, "http://"+addr1+"/slow")
		inflight <- result{code, body, err}
	}()
	<-entered

	v2 := fh.versionOf(addrYAML(addr2))
	start := time.Now()
	writeFile(t, fh.path, addrYAML(addr2))
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	if !wait.Check(wait.Deadline, func() bool { v, err := healthVersion(probe, "http://"+addr2); return err == nil && v == v2 }) {
		t.Fatalf("new address %s not serving the new version within 1 s:%s", addr2, historyString(fh.h.History()))
	}
	took := time.Since(start)
	fh.base = "http://" + addr2
	if got := fh.h.Addr().String(); got != addr2 {
		t.Fatalf("Addr() = %s after the change, want %s", got, addr2)
	}
	// The old address accepts nothing new while its request is in flight.
	if c, err := net.DialTimeout("tcp", addr1, 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the old address still accepts connections")
	}
	select {
	case r := <-inflight:
		t.Fatalf("the in-flight request ended before it was released: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-inflight
	if r.err != nil || r.code != 200 || r.body != "done" {
		t.Fatalf("in-flight request on the old address: %+v", r)
	}
	// The old generation drains and goes: its idle keep-alive connection is
	// closed, so a request through it fails (nothing listens there).
	wait.For(t, "the old address to stop serving over a kept-alive connection", func() bool {
		_, _, _, err := getWith(idle, "http://"+addr1+"/gen")
		return err != nil
	})
	checkServed(t, fh, "/gen", addr2)
	t.Logf("new address serving %v after the write; old address closed after its in-flight request", took.Round(time.Millisecond))
}

// A new server.addr that cannot be bound rejects the reload (the listener is
// opened before the swap) and the old address keeps serving.
func TestListenerAddrInUseRejected(t *testing.T) {
	addr1 := freePort(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	fh := newFileHost(t, "", nil, addrYAML(addr1), func(h *Host) { h.HandleFunc("slow", func(http.ResponseWriter, *http.Request) {}) })
	f0 := fh.metric(`switchyard_config_reloads_total{result="failure"}`)
	writeFile(t, fh.path, addrYAML(taken.Addr().String()))
	if !wait.Check(wait.Deadline, func() bool { _, f, _, _ := fh.reloadMetrics(); return f == f0+1 }) {
		t.Fatalf("binding an address in use did not fail the reload:%s", historyString(fh.h.History()))
	}
	checkServed(t, fh, "/gen", addr1)
	if fh.metric("switchyard_config_last_reload_successful") != 0 {
		t.Fatal("config_last_reload_successful is not 0")
	}
	found := false
	for _, rec := range fh.logs.records("config rejected") {
		if rec["key"] == "server.addr" && rec["file"] == fh.path && rec["line"].(float64) == 2 && strings.Contains(fmt.Sprint(rec["err"]), "address already in use") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no rejection naming server.addr: %v", fh.logs.records("config rejected"))
	}
	addr3 := freePort(t)
	writeFile(t, fh.path, addrYAML(addr3))
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	if !wait.Check(wait.Deadline, func() bool { _, err := healthVersion(probe, "http://"+addr3); return err == nil }) {
		t.Fatalf("a free address after the rejection was not applied:%s", historyString(fh.h.History()))
	}
}

func settingsYAML(i int, what string) string {
	pools := []string{
		"memory: {buffer_pool: {count: 100}, connection_pool: {max_size: 100}, object_pool: {size: 10000}}\n  cpu: {thread_pool: {min_workers: 4, max_workers: 16}}",
		"memory: {buffer_pool: {count: 20}, connection_pool: {max_size: 20}, object_pool: {size: 100}}\n  cpu: {thread_pool: {min_workers: 1, max_workers: 4}}",
	}[i%2]
	var listener, server string
	if what == "listener" {
		listener = fmt.Sprintf("\n  network: {tcp: {backlog: %d}}", []int{1024, 2048}[i%2])
		server = fmt.Sprintf("server: {read_header_timeout: %ds}\n", 5+i%2)
	}
	return fmt.Sprintf(`reload: {debounce: 10ms}
%sperformance:
  %s%s
routes:
  - path: /gen
    handler: {respond: {body: "gen %d"}}
`, server, pools, listener, i)
}

// Acceptance 8b: 50 reloads that change only pool settings, then 50 that
// change the listen backlog and the server timeouts, while new connections
// are opened continuously: no connection refused or reset.
func TestListenerNoRefusedConnections(t *testing.T) {
	for _, what := range []string{"pools", "listener"} {
		t.Run(what, func(t *testing.T) {
			fh := startFileHost(t, settingsYAML(0, what))
			addr := fh.h.Addr().String()
			ch := startChurn(4, "http://"+addr+"/gen", 10*time.Second, func(code int, body string) bool {
				return code == 200 && strings.HasPrefix(body, "gen ")
			})
			for i := 1; i <= 50; i++ {
				fh.apply(settingsYAML(i, what), renameOver)
			}
			conns, failed, sample := ch.finish()
			t.Logf("%s: 50 reloads, %d new connections, %d failed", what, conns, failed)
			if failed != 0 {
				t.Fatalf("%d of %d new connections failed, e.g. %v", failed, conns, sample)
			}
			if got := fh.h.Addr().String(); got != addr {
				t.Fatalf("listening on %s, was %s: the listener was replaced", got, addr)
			}
			if what == "listener" {
				if backlog := fh.h.srv.Backlog(); backlog != 1024 {
					t.Fatalf("listener backlog %d, want the configured 1024", backlog)
				}
				for _, rec := range fh.logs.records("") {
					if lvl := rec["level"]; lvl == "WARN" || lvl == "ERROR" {
						t.Fatalf("listener change logged %v", rec)
					}
				}
			}
		})
	}
}
