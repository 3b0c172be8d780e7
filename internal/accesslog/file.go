package accesslog

import (
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"
)

// stderr and stdout are the standard outputs, as variables for tests.
var (
	stderr io.Writer = os.Stderr
	stdout io.Writer = os.Stdout
)

// checkEvery is how often open files are checked for having been moved.
const checkEvery = time.Second

// file is one log file shared by every Logger writing to its path.
type file struct {
	path string
	refs int // guarded by files.mu

	mu     sync.Mutex
	f      *os.File
	fi     os.FileInfo
	closed bool // released: a late reopen closes what it opened
}

// files holds the open files and the goroutine that reopens them: it runs
// while at least one file is open.
var files struct {
	mu   sync.Mutex
	m    map[string]*file
	stop chan struct{}
	done chan struct{}
}

func openShared(path string) (*file, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	files.mu.Lock()
	defer files.mu.Unlock()
	if f, ok := files.m[abs]; ok {
		f.refs++
		return f, nil
	}
	f := &file{path: abs, refs: 1}
	if err := f.open(); err != nil {
		return nil, err
	}
	if files.m == nil {
		files.m = map[string]*file{}
	}
	files.m[abs] = f
	if files.stop == nil {
		files.stop, files.done = make(chan struct{}), make(chan struct{})
		go reopener(files.stop, files.done)
	}
	return f, nil
}

// open opens (or creates) the file for appending and puts it in place of
// the one open, which it closes.
func (f *file) open() error {
	nf, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	fi, err := nf.Stat()
	if err != nil {
		nf.Close()
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nf.Close()
	}
	old := f.f
	f.f, f.fi = nf, fi
	f.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Write writes one line with one call.
func (f *file) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// moved reports whether the path no longer names the open file.
func (f *file) moved() bool {
	fi, err := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	return err != nil || !os.SameFile(fi, f.fi)
}

func (f *file) release() error {
	files.mu.Lock()
	f.refs--
	if f.refs > 0 {
		files.mu.Unlock()
		return nil
	}
	delete(files.m, f.path)
	var stop, done chan struct{}
	if len(files.m) == 0 {
		stop, done = files.stop, files.done
		files.stop, files.done = nil, nil
	}
	files.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return f.f.Close()
}

// Reopen reopens every open log file, as SIGUSR1 does.
func Reopen() {
	files.mu.Lock()
	open := make([]*file, 0, len(files.m))
	for _, f := range files.m {
		open = append(open, f)
	}
	files.mu.Unlock()
	for _, f := range open {
		_ = f.open() // on error the file open keeps receiving lines
	}
}

// reopener reopens the files on SIGUSR1, and a file that was moved or
// removed at the next check, until stop is closed.
func reopener(stop, done chan struct{}) {
	defer close(done)
	sig := make(chan os.Signal, 1)
	if len(reopenSignals) > 0 {
		signal.Notify(sig, reopenSignals...)
		defer signal.Stop(sig)
	}
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-sig:
			Reopen()
		case <-t.C:
			files.mu.Lock()
			var moved []*file
			for _, f := range files.m {
				if f.moved() {
					moved = append(moved, f)
				}
			}
			files.mu.Unlock()
			for _, f := range moved {
				_ = f.open()
			}
		}
	}
}
