// Package devloop is the devserver's Go dev loop: it holds a listening
// socket, builds a Go package with the toolchain, runs the binary as a
// child serving that socket (passed by the systemd LISTEN_FDS convention),
// and on every save of the module's Go files rebuilds, starts the new
// child on the same socket, waits until it reports ready (NOTIFY_SOCKET),
// then tells the old child to drain and exit. Both children accept from
// the one socket during the handover, so no connection is refused. A
// build that fails leaves the old child serving.
package devloop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/switchyard/switchyard/internal/devstatus"
	"github.com/switchyard/switchyard/internal/listenfd"
)

// Options configure Run.
type Options struct {
	// Package is the Go package to build, as `go build` takes it (such as
	// ./cmd/myserver), resolved in Dir.
	Package string
	// Dir is the working directory of the builds and the children; empty
	// is the current one.
	Dir string
	// Addr is the address to listen on, unless Listener is set.
	Addr string
	// Listener, when set, is served instead of binding Addr; Run does not
	// close it.
	Listener net.Listener
	// Args are the children's arguments, such as -config FILE.
	Args []string
	// Env is added to the children's environment (after os.Environ).
	Env []string
	// Logger receives the loop's own lines; nil discards them.
	Logger *slog.Logger
	// Output receives the children's output and the compiler's errors;
	// nil is os.Stderr.
	Output io.Writer
	// Go is the go command; empty is "go".
	Go string
	// Debounce joins the events of one save; 0 is 100ms.
	Debounce time.Duration
	// ReadyTimeout bounds a new child's start; 0 is 30s. A child that is
	// not ready by then is stopped and the old one keeps serving.
	ReadyTimeout time.Duration
	// StopTimeout bounds an old child's drain after SIGTERM, after which
	// it is killed; 0 is 60s.
	StopTimeout time.Duration
	// Events, when set, is told of each step (for tests and tools).
	Events func(Event)
}

// Event is one step of the loop.
type Event struct {
	// Kind is "build", "build-failed", "ready", "start-failed" or
	// "stopped".
	Kind string
	// Build counts the builds, from 1.
	Build int
	// Took is the build's duration, or for "ready" the start's.
	Took time.Duration
	// Pid is the child's process id.
	Pid int
	// Output is the compiler's output of a failed build.
	Output string
}

// child is one running build.
type child struct {
	cmd   *exec.Cmd
	build int
	sum   [32]byte
	done  chan struct{} // closed when the process has exited
	err   error         // the exit status, once done
}

// loop is the state of one Run.
type loop struct {
	o       Options
	log     *slog.Logger
	out     io.Writer
	ln      net.Listener
	lnFile  *os.File
	tmp     string
	builds  int
	cur     *child
	stopped sync.WaitGroup // old children draining
	status  devstatus.Status
}

// Run runs the loop until ctx ends, then stops the child (SIGTERM, a
// drain within its shutdown timeout) and closes the socket. It returns an
// error when it cannot listen, find the package or watch its files.
func Run(ctx context.Context, o Options) error {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Debounce == 0 {
		o.Debounce = 100 * time.Millisecond
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 60 * time.Second
	}
	l := &loop{o: o, log: o.Logger, out: o.Output}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.out == nil {
		l.out = os.Stderr
	}
	root, err := l.moduleRoot(ctx)
	if err != nil {
		return err
	}
	l.ln = o.Listener
	if l.ln == nil {
		if l.ln, err = net.Listen("tcp", o.Addr); err != nil {
			return err
		}
		defer l.ln.Close()
	}
	if l.lnFile, err = listenfd.File(l.ln); err != nil {
		return err
	}
	defer l.lnFile.Close()
	if l.tmp, err = os.MkdirTemp("", "switchyard-devloop-"); err != nil {
		return err
	}
	defer os.RemoveAll(l.tmp)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := watchTree(w, root); err != nil {
		return err
	}
	l.log.Info("dev loop", "package", o.Package, "module", root, "listening", "http://"+l.ln.Addr().String())
	defer l.shutdown()

	l.rebuild(ctx)
	var debounce <-chan time.Time
	for {
		var exited chan struct{}
		if l.cur != nil {
			exited = l.cur.done
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("devloop: the file watcher stopped")
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !skipDir(fi.Name()) {
					_ = watchTree(w, ev.Name)
				}
			}
			if relevant(ev.Name) {
				debounce = time.After(o.Debounce)
			}
		case err, ok := <-w.Errors:
			if ok {
				l.log.Warn("file watcher", "err", err)
			}
		case <-debounce:
			debounce = nil
			l.rebuild(ctx)
		case <-exited:
			l.log.Error("the child exited; waiting for a save to rebuild", "pid", l.cur.cmd.Process.Pid, "err", l.cur.err)
			os.Remove(l.cur.cmd.Path)
			l.cur = nil
		}
	}
}

// moduleRoot asks the go command for the module directory of the package.
func (l *loop) moduleRoot(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, l.o.Go, "list", "-f", "{{.Dir}}|{{with .Module}}{{.Dir}}{{end}}", l.o.Package)
	cmd.Dir = l.o.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("-build %s: %s", l.o.Package, strings.TrimSpace(firstNonEmpty(stderr.String(), err.Error())))
	}
	dir, mod, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	if strings.Contains(dir, "\n") {
		return "", fmt.Errorf("-build %s: names more than one package", l.o.Package)
	}
	if mod != "" {
		return mod, nil
	}
	return dir, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rebuild builds the package and, when the binary differs from the
// running one, swaps it in.
func (l *loop) rebuild(ctx context.Context) {
	l.builds++
	n := l.builds
	bin := filepath.Join(l.tmp, "build-"+strconv.Itoa(n))
	cmd := exec.CommandContext(ctx, l.o.Go, "build", "-o", bin, l.o.Package)
	cmd.Dir = l.o.Dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		msg := strings.TrimRight(string(out), "\n")
		if msg == "" {
			msg = err.Error()
		}
		fmt.Fprintf(l.out, "build %d of %s failed (%s):\n%s\n", n, l.o.Package, took.Round(time.Millisecond), msg)
		if l.cur != nil {
			fmt.Fprintf(l.out, "build %d keeps serving; fix and save to rebuild\n", l.cur.build)
		}
		l.setStatus(n, msg)
		l.event(Event{Kind: "build-failed", Build: n, Took: took, Output: msg})
		return
	}
	l.event(Event{Kind: "build", Build: n, Took: took})
	l.setStatus(0, "")
	sum, err := fileSum(bin)
	if err != nil {
		l.log.Error("reading the build", "err", err)
		return
	}
	if l.cur != nil && sum == l.cur.sum {
		os.Remove(bin)
		l.log.Debug("build unchanged", "build", n)
		return
	}
	l.swap(ctx, bin, n, sum, took)
}

// swap starts bin on the socket, waits until it is ready, then stops the
// old child. A child that does not get ready is stopped and the old one
// keeps serving.
func (l *loop) swap(ctx context.Context, bin string, n int, sum [32]byte, built time.Duration) {
	sock := filepath.Join(l.tmp, "notify-"+strconv.Itoa(n)+".sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		l.log.Error("readiness socket", "err", err)
		return
	}
	defer os.Remove(sock)
	defer notify.Close()
	cmd := exec.Command(bin, l.o.Args...)
	cmd.Dir = l.o.Dir
	cmd.Stdout, cmd.Stderr = l.out, l.out
	cmd.ExtraFiles = []*os.File{l.lnFile}
	cmd.Env = append(append(os.Environ(), l.o.Env...), listenfd.Env(1)...)
	cmd.Env = append(cmd.Env, listenfd.EnvNotify+"="+sock, devstatus.Env+"="+l.statusPath())
	cmd.SysProcAttr = sysProcAttr()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		l.log.Error("starting the build", "build", n, "err", err)
		return
	}
	c := &child{cmd: cmd, build: n, sum: sum, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	ready := make(chan error, 1)
	go func() { ready <- waitReady(notify, l.o.ReadyTimeout) }()
	var rerr error
	select {
	case rerr = <-ready:
	case <-c.done:
		rerr = fmt.Errorf("exited before it was ready: %v", c.err)
	case <-ctx.Done():
		rerr = ctx.Err()
	}
	notify.Close() // ends waitReady
	if rerr != nil {
		l.stop(c)
		<-c.done
		os.Remove(bin)
		if ctx.Err() == nil {
			fmt.Fprintf(l.out, "build %d did not start: %v\n", n, rerr)
			l.event(Event{Kind: "start-failed", Build: n, Pid: cmd.Process.Pid})
		}
		return
	}
	old := l.cur
	l.cur = c
	l.status.Serving = n
	l.setStatus(0, "")
	l.log.Info("serving build", "build", n, "pid", cmd.Process.Pid, "built", built.Round(time.Millisecond), "started", time.Since(start).Round(time.Millisecond))
	l.event(Event{Kind: "ready", Build: n, Took: time.Since(start), Pid: cmd.Process.Pid})
	if old != nil {
		l.stop(old)
		l.stopped.Go(func() {
			<-old.done
			os.Remove(old.cmd.Path)
			l.event(Event{Kind: "stopped", Build: old.build, Pid: old.cmd.Process.Pid})
		})
	}
}

// statusPath is the file that tells the children how the builds went.
func (l *loop) statusPath() string { return filepath.Join(l.tmp, "status.json") }

// setStatus records the newest build's outcome (failed is its number when
// it failed, with the compiler's output) for the serving child's
// dashboard.
func (l *loop) setStatus(failed int, output string) {
	l.status.Package = l.o.Package
	l.status.Failed, l.status.Output, l.status.At = failed, output, time.Now()
	if err := devstatus.Write(l.statusPath(), l.status); err != nil {
		l.log.Warn("writing the build status for the dashboard", "err", err)
	}
}

// waitReady reads the readiness socket until READY=1 arrives.
func waitReady(c *net.UnixConn, timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("not ready after %s", timeout)
			}
			return err
		}
		for line := range strings.SplitSeq(string(buf[:n]), "\n") {
			if line == "READY=1" {
				return nil
			}
		}
	}
}

// stop asks c to drain and exit, and kills it after StopTimeout.
func (l *loop) stop(c *child) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	l.stopped.Go(func() {
		t := time.NewTimer(l.o.StopTimeout)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			l.log.Warn("the old build did not drain in time; killing it", "pid", c.cmd.Process.Pid)
			_ = c.cmd.Process.Kill()
		}
	})
}

// shutdown stops the current child and waits for every child to exit.
func (l *loop) shutdown() {
	if c := l.cur; c != nil {
		l.stop(c)
		l.stopped.Go(func() { <-c.done })
	}
	l.stopped.Wait()
}

func (l *loop) event(e Event) {
	if l.o.Events != nil {
		l.o.Events(e)
	}
}

// fileSum hashes a file.
func fileSum(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// relevant reports whether a change to name can change the build: Go
// sources (tests apart), go.mod, go.sum and go.work.
func relevant(name string) bool {
	base := filepath.Base(name)
	switch base {
	case "go.mod", "go.sum", "go.work", "go.work.sum":
		return true
	}
	return strings.HasSuffix(base, ".go") && !strings.HasSuffix(base, "_test.go") && !strings.HasPrefix(base, ".")
}

// skipDir reports whether a directory is left unwatched: hidden ones,
// testdata, vendor and node_modules.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
		name == "testdata" || name == "vendor" || name == "node_modules"
}

// watchTree watches dir and every directory below it that skipDir keeps.
func watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && skipDir(d.Name()) {
			return filepath.SkipDir
		}
		return w.Add(path)
	})
}
