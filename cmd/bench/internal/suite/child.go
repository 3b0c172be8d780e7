package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// child is a server running as a child process of the suite.
type child struct {
	label string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout, line by line
	errs  *tail       // the end of stderr, for error messages
	addr  string
	wait  chan error

	// The peak anonymous (private) RSS, sampled every 100 ms.
	anonPeak atomic.Int64
	filePeak atomic.Int64
	monDone  chan struct{}
	monWG    sync.WaitGroup
}

// startChild runs exe serve args... and waits for it to listen.
func startChild(ctx context.Context, label, exe string, args []string) (*child, error) {
	cmd := exec.Command(exe, append([]string{"serve"}, args...)...)
	c := &child{label: label, cmd: cmd, lines: make(chan string, 4), errs: &tail{max: 8 << 10}, wait: make(chan error, 1)}
	cmd.Stderr = c.errs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: starting %s: %w", label, exe, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.wait <- cmd.Wait()
	}()
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case line, ok := <-c.lines:
		if ok && strings.HasPrefix(line, readyPrefix) {
			c.addr = strings.TrimPrefix(line, readyPrefix)
			c.monitor(100 * time.Millisecond)
			return c, nil
		}
		c.kill()
		return nil, fmt.Errorf("%s: server did not start: %q\n%s", label, line, c.errs)
	case <-timer.C:
		c.kill()
		return nil, fmt.Errorf("%s: server not ready after 60s\n%s", label, c.errs)
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

func (c *child) kill() {
	c.stopMonitor()
	_ = c.cmd.Process.Kill()
	_ = c.stdin.Close()
	for range c.lines {
	}
	<-c.wait
}

// monitor samples the child's anonymous and file-backed RSS until
// stopMonitor.
func (c *child) monitor(every time.Duration) {
	c.monDone = make(chan struct{})
	pid := c.cmd.Process.Pid
	sample := func() {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
			if kb, err := statusField(b, "RssAnon:"); err == nil && kb*1024 > c.anonPeak.Load() {
				c.anonPeak.Store(kb * 1024)
			}
			if kb, err := statusField(b, "RssFile:"); err == nil && kb*1024 > c.filePeak.Load() {
				c.filePeak.Store(kb * 1024)
			}
		}
	}
	sample()
	c.monWG.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.monDone:
				return
			case <-t.C:
				sample()
			}
		}
	})
}

func (c *child) stopMonitor() {
	if c.monDone != nil {
		close(c.monDone)
		c.monWG.Wait()
		c.monDone = nil
	}
}

// cpuTime returns the CPU time (user and system, all threads) the child
// has used, from /proc/PID/stat, at the kernel's 100 Hz resolution.
func (c *child) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseCPUTime(b)
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on Linux).
const userHZ = 100

func parseCPUTime(stat []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed process stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed process stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("malformed process stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// peakRSS reads the child's VmHWM.
func (c *child) peakRSS() (int64, error) { return VmHWM(c.cmd.Process.Pid) }

// stop closes the child's stdin, reads its stats and waits for it to exit.
func (c *child) stop() (ChildStats, error) {
	var st ChildStats
	c.stopMonitor()
	_ = c.stdin.Close()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	var got bool
	for !got {
		select {
		case line, ok := <-c.lines:
			if !ok {
				err := <-c.wait
				return st, fmt.Errorf("%s: exited without stats (%v)\n%s", c.label, err, c.errs)
			}
			if s, found := strings.CutPrefix(line, statsPrefix); found {
				if err := json.Unmarshal([]byte(s), &st); err != nil {
					c.kill()
					return st, fmt.Errorf("%s: bad stats line %q: %w", c.label, line, err)
				}
				got = true
			}
		case <-timer.C:
			c.kill()
			return st, fmt.Errorf("%s: did not stop within 30s\n%s", c.label, c.errs)
		}
	}
	for range c.lines {
	}
	if err := <-c.wait; err != nil {
		return st, fmt.Errorf("%s: %w\n%s", c.label, err, c.errs)
	}
	return st, nil
}

// VmHWM returns the peak resident set size of process pid, in KiB, from
// /proc/PID/status.
func VmHWM(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmHWM(b)
}

func parseVmHWM(status []byte) (int64, error) { return statusField(status, "VmHWM:") }

// statusField returns a "Name:   123 kB" field of /proc/PID/status, in KiB.
func statusField(status []byte, name string) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s unexpected %q", name, strings.TrimSpace(string(line)))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s line in the process status", name)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
