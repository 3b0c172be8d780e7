package hotreload

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults and limits of the [Watcher].
const (
	// DefaultDebounce is the quiet window used when [Options.Debounce] is 0.
	DefaultDebounce = 100 * time.Millisecond
	// MaxWaitFactor bounds a debounce window: however often events keep
	// coming, onChange runs at the latest MaxWaitFactor x Debounce after
	// the event that opened the window, so a directory that never goes
	// quiet (a log file written beside the config) cannot hold reloads back.
	MaxWaitFactor = 10
	// MissingGrace is how long the end of a window is postponed while a
	// watched file is missing (delete-then-create saves, a directory being
	// replaced), so that a save caught half-way does not become a failed
	// reload. After it, onChange runs anyway and the host reports the error.
	MissingGrace = time.Second
	// FallbackPoll is the polling interval used when file-system events are
	// unavailable (fsnotify could not start) and no poll interval was set.
	FallbackPoll = 2 * time.Second
	// rearmInterval is how often the watcher retries while a watched
	// directory is missing or could not be added.
	rearmInterval = time.Second
)

// newFSWatcher starts fsnotify; tests replace it to simulate a system where
// events are unavailable.
var newFSWatcher = fsnotify.NewWatcher

// ErrClosed is returned by [Watcher.Watch] after [Watcher.Close].
var ErrClosed = errors.New("hotreload: watcher closed")

// Options configure a [Watcher]. They mirror the `reload:` block of the
// config (watch, debounce, poll); the zero value watches with file-system
// events and the default debounce, without polling.
type Options struct {
	// Debounce is the quiet window: onChange runs once no event has arrived
	// for this long (reload.debounce). 0 means [DefaultDebounce].
	Debounce time.Duration
	// Poll, when > 0, also hashes the watched files' content at this
	// interval and triggers on a change (reload.poll), for NFS, FUSE and
	// other file systems that deliver no events.
	Poll time.Duration
	// DisableEvents turns file-system events off, so that only polling
	// detects changes. It is read by [NewWatcher] only; [Watcher.SetOptions]
	// ignores it.
	DisableEvents bool
	// Logger receives the watcher's diagnostics (events at debug level,
	// errors at warn level). nil discards them.
	Logger *slog.Logger
}

func (o Options) normalized() Options {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Poll < 0 {
		o.Poll = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// armedDir is a directory watched through fsnotify, with its identity at the
// time the watch was added (to notice a directory removed and recreated).
type armedDir struct {
	info fs.FileInfo
}

// Watcher watches the directories of a set of files and of include globs,
// debounces their events and calls onChange once per quiet window. See the
// package documentation for the semantics. Its methods are safe for
// concurrent use.
type Watcher struct {
	onChange func(Trigger)
	fw       *fsnotify.Watcher // nil when events are off

	mu          sync.Mutex
	opts        Options
	forcedPoll  bool // events unavailable: poll at FallbackPoll at least
	files       []string
	globs       []string
	contentDirs map[string]bool // an event in one of these triggers
	armed       map[string]armedDir
	failing     map[string]bool // directories whose watch could not be added (logged once)
	pollHash    string
	pollGen     uint64 // bumped when the polled set changes
	pending     Trigger
	hasPending  bool
	closed      bool
	lastFailed  bool // the last reload failed: a pure Chmod triggers too

	kick      chan struct{} // an event arrived (to the debouncer)
	debOpts   chan struct{} // options changed (to the debouncer)
	pollOpts  chan struct{} // options changed (to the poller)
	retry     chan struct{} // a directory is missing: re-arm later (to the event loop)
	lost      chan struct{} // fsnotify reported an error: re-arm now (to the event loop)
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewWatcher starts a Watcher that calls onChange at the end of each debounce
// window. It watches nothing until [Watcher.Watch] is called. onChange runs on
// the watcher's own goroutine, one call at a time; events arriving during a
// call open the next window. It should return quickly (a [Runner.Trigger]
// does); it must not call [Watcher.Close].
//
// If file-system events cannot be started (for example the inotify instance
// limit is reached), NewWatcher logs a warning and falls back to polling
// every [FallbackPoll] (or opts.Poll when set) rather than failing.
func NewWatcher(opts Options, onChange func(Trigger)) (*Watcher, error) {
	if onChange == nil {
		return nil, errors.New("hotreload: NewWatcher: onChange is nil")
	}
	w := &Watcher{
		onChange:    onChange,
		opts:        opts.normalized(),
		contentDirs: map[string]bool{},
		armed:       map[string]armedDir{},
		failing:     map[string]bool{},
		kick:        make(chan struct{}, 1),
		debOpts:     make(chan struct{}, 1),
		pollOpts:    make(chan struct{}, 1),
		retry:       make(chan struct{}, 1),
		lost:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	if !w.opts.DisableEvents {
		fw, err := newFSWatcher()
		if err != nil {
			w.forcedPoll = true
			w.opts.Logger.Warn("hotreload: file-system events unavailable, polling instead",
				"error", err, "poll", w.effectivePoll())
		} else {
			w.fw = fw
		}
	}
	w.wg.Add(2)
	go w.debounceLoop()
	go w.pollLoop()
	if w.fw != nil {
		w.wg.Add(2)
		go w.eventLoop()
		go w.errorLoop()
	}
	return w, nil
}

// effectivePoll is the polling interval in force. Called with mu held or
// before the goroutines start.
func (w *Watcher) effectivePoll() time.Duration {
	p := w.opts.Poll
	if w.forcedPoll && (p <= 0 || p > FallbackPoll) {
		p = FallbackPoll
	}
	return p
}

// Watch replaces the set of watched paths: files (their directories are
// watched, and so are the directories their symbolic links resolve to) and
// glob patterns (their directories are watched so that a new matching file
// triggers too). Relative paths are taken from the working directory. The
// host calls it after every successful load with the files it read and the
// include globs.
//
// A directory that does not exist yet is not an error: its nearest existing
// ancestor is watched until it appears. Watch returns an error for a
// malformed glob and for a directory that exists but cannot be watched (for
// example permission denied or the inotify watch limit); the other paths are
// watched all the same, and the failed ones are retried every second.
func (w *Watcher) Watch(files []string, globs []string) error {
	var errs []error
	absFiles := make([]string, 0, len(files))
	for _, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("hotreload: watch file %q: %w", f, err))
			continue
		}
		if !slices.Contains(absFiles, a) {
			absFiles = append(absFiles, a)
		}
	}
	absGlobs := make([]string, 0, len(globs))
	for _, g := range globs {
		if _, err := filepath.Match(g, ""); err != nil {
			errs = append(errs, fmt.Errorf("hotreload: include glob %q: %w", g, err))
			continue
		}
		a, err := filepath.Abs(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("hotreload: include glob %q: %w", g, err))
			continue
		}
		if !slices.Contains(absGlobs, a) {
			absGlobs = append(absGlobs, a)
		}
	}

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	changed := !slices.Equal(absFiles, w.files) || !slices.Equal(absGlobs, w.globs)
	w.files, w.globs = absFiles, absGlobs
	if w.fw != nil {
		_, armErrs := w.rearmLocked(true)
		errs = append(errs, armErrs...)
	}
	if changed {
		w.pollGen++
		if w.effectivePoll() > 0 {
			w.pollHash = Hash(w.pollSetLocked())
		}
	}
	w.mu.Unlock()
	return errors.Join(errs...)
}

// SetOptions changes the debounce, the poll interval and the logger of a
// running Watcher, as a reload of the `reload:` block does. DisableEvents is
// ignored. A window already open ends by the new debounce.
func (w *Watcher) SetOptions(opts Options) {
	opts = opts.normalized()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	opts.DisableEvents = w.opts.DisableEvents
	before, beforeDebounce := w.effectivePoll(), w.opts.Debounce
	w.opts = opts
	after := w.effectivePoll()
	if before <= 0 && after > 0 {
		w.pollGen++
		w.pollHash = Hash(w.pollSetLocked())
	}
	w.mu.Unlock()
	// The host calls SetOptions after every reload: unchanged settings
	// must not restart the poll interval.
	if opts.Debounce != beforeDebounce {
		notify(w.debOpts)
	}
	if after != before {
		notify(w.pollOpts)
	}
}

// Close stops every goroutine the Watcher started and waits for them,
// including an onChange call in progress. It is safe to call more than once.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.done)
		if w.fw != nil {
			w.closeErr = w.fw.Close()
		}
		w.wg.Wait()
	})
	return w.closeErr
}

// notify does a non-blocking send on a one-slot channel: a signal already
// waiting there stands for this one too.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// schedule records that something changed. The first trigger of a window is
// the one reported to onChange.
func (w *Watcher) schedule(t Trigger) {
	w.mu.Lock()
	if !w.hasPending {
		w.pending, w.hasPending = t, true
	}
	w.mu.Unlock()
	notify(w.kick)
}

// debounceLoop turns the stream of kicks into onChange calls: a window opens
// at the first kick, each kick pushes its end to Debounce later, and it never
// lasts beyond MaxWaitFactor x Debounce. When it ends while a watched file is
// missing, the call waits up to MissingGrace for the file to come back.
func (w *Watcher) debounceLoop() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		open      bool
		start     time.Time
		lastEvent time.Time
		graceEnd  time.Time // set once the window ended with a file missing
	)
	deadline := func(d time.Duration) time.Time {
		end := lastEvent.Add(d)
		if limit := start.Add(MaxWaitFactor * d); limit.Before(end) {
			end = limit
		}
		return end
	}
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
			now := time.Now()
			if !open {
				open, start = true, now
			}
			lastEvent = now
			timer.Reset(time.Until(deadline(w.debounce())))
		case <-w.debOpts:
			if open {
				timer.Reset(time.Until(deadline(w.debounce())))
			}
		case <-timer.C:
			if !open {
				continue
			}
			d := w.debounce()
			now := time.Now()
			select {
			case <-w.kick:
				// An event arrived while the timer fired: it counts
				// first, so a late wake-up never splits a burst.
				lastEvent = now
			default:
			}
			if end := deadline(d); now.Before(end) {
				timer.Reset(end.Sub(now))
				continue
			}
			if w.fileMissing() {
				if graceEnd.IsZero() {
					graceEnd = now.Add(MissingGrace)
				}
				if now.Before(graceEnd) {
					timer.Reset(min(d, 50*time.Millisecond))
					continue
				}
			} else if !graceEnd.IsZero() {
				// The missing file is back. It may still be being written,
				// and the events of its creation may not have arrived yet:
				// give them a window of their own rather than reading it
				// now and once more when they come.
				graceEnd, start, lastEvent = time.Time{}, now, now
				timer.Reset(d)
				continue
			}
			open, graceEnd = false, time.Time{}
			if t, ok := w.takePending(); ok {
				w.call(t)
			}
		}
	}
}

// takePending ends a window: it returns the trigger to report, if any.
// When an event (not the poller) ended the window and polling is on, the
// content about to be reloaded becomes the polling baseline, in the same
// critical section that takes the trigger: a poll that finds the change
// after that compares against the new baseline, and one that found it
// before only adds a kick to a window that has nothing pending. The hash
// is taken before onChange runs, so a change after this point is still
// seen.
func (w *Watcher) takePending() (Trigger, bool) {
	w.mu.Lock()
	rebase := w.hasPending && w.pending != TriggerPoll && w.effectivePoll() > 0
	set, gen := w.pollSetLocked(), w.pollGen
	w.mu.Unlock()
	var h string
	if rebase {
		h = Hash(set) // outside the lock, as in pollLoop
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.pending, w.hasPending
	w.hasPending = false
	if ok && rebase && gen == w.pollGen {
		w.pollHash = h
	}
	return t, ok
}

// call runs onChange, keeping the watcher alive if it panics.
func (w *Watcher) call(t Trigger) {
	defer func() {
		if p := recover(); p != nil {
			w.logger().Error("hotreload: onChange panicked", "trigger", t, "panic", p)
		}
	}()
	w.onChange(t)
}

func (w *Watcher) debounce() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opts.Debounce
}

func (w *Watcher) logger() *slog.Logger {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opts.Logger
}

// fileMissing reports whether one of the watched files that matches no
// include glob does not exist. A file matched by a glob may go away for good
// (an include removed), so it does not hold a reload back.
func (w *Watcher) fileMissing() bool {
	w.mu.Lock()
	files, globs := w.files, w.globs
	w.mu.Unlock()
	for _, f := range files {
		if matchesAny(globs, f) {
			continue
		}
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// matchesAny reports whether name matches one of the glob patterns.
func matchesAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}

// pollLoop hashes the watched files every Poll interval and schedules a
// reload when the hash changed.
func (w *Watcher) pollLoop() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		w.mu.Lock()
		interval := w.effectivePoll()
		w.mu.Unlock()
		if interval > 0 {
			timer.Reset(interval)
		} else {
			timer.Stop()
		}
		select {
		case <-w.done:
			return
		case <-w.pollOpts:
			continue
		case <-timer.C:
		}
		w.mu.Lock()
		set, gen := w.pollSetLocked(), w.pollGen
		w.mu.Unlock()
		h := Hash(set) // outside the lock: a slow file system must not block Watch
		w.mu.Lock()
		changed := gen == w.pollGen && h != w.pollHash
		if gen == w.pollGen {
			w.pollHash = h
		}
		w.mu.Unlock()
		if changed {
			w.logger().Debug("hotreload: poll found a change")
			w.schedule(TriggerPoll)
		}
	}
}

// pollSetLocked returns the files whose content polling compares: the
// watched files, then the current matches of the globs not already listed.
func (w *Watcher) pollSetLocked() []string {
	set := slices.Clone(w.files)
	var extra []string
	for _, g := range w.globs {
		matches, _ := filepath.Glob(g) // patterns were checked by Watch
		for _, m := range matches {
			if !slices.Contains(set, m) {
				extra = append(extra, m)
			}
		}
	}
	slices.Sort(extra)
	return append(set, slices.Compact(extra)...)
}

// eventLoop reads fsnotify's events until Close and does every re-arm.
func (w *Watcher) eventLoop() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.handleEvent(ev)
		case <-w.lost:
			// Events may have been lost (a queue overflow): re-arm and
			// assume a change; the host skips it if the content is equal.
			w.rearm()
			w.schedule(TriggerFile)
		case <-w.retry:
			timer.Reset(rearmInterval)
		case <-timer.C:
			if w.rearm() {
				w.schedule(TriggerFile)
			}
		}
	}
}

// errorLoop reads fsnotify's errors until Close. It is a goroutine of its
// own because fsnotify may send an error while holding the lock that Add and
// Remove take: the goroutine that re-arms must never be the one that has to
// receive that error.
func (w *Watcher) errorLoop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.logger().Warn("hotreload: file watcher error", "error", err)
			notify(w.lost)
		}
	}
}

// SetLastFailed tells the watcher whether the last reload failed. While it
// did, a pure Chmod event in a content directory triggers a reload too: a
// file made readable again is reloaded at once rather than at its next
// edit. Otherwise a pure Chmod (a touch, a backup tool) is ignored.
func (w *Watcher) SetLastFailed(failed bool) {
	w.mu.Lock()
	w.lastFailed = failed
	w.mu.Unlock()
}

// handleEvent decides what one fsnotify event means: any event but a pure
// Chmod in a content directory triggers (a pure Chmod too while the last
// reload failed, see [Watcher.SetLastFailed]); an event that may change the
// layout (create, remove, rename) re-arms the watches, and a content
// directory that comes back triggers too.
func (w *Watcher) handleEvent(ev fsnotify.Event) {
	if ev.Op == 0 {
		return
	}
	name := filepath.Clean(ev.Name)
	w.mu.Lock()
	if ev.Op == fsnotify.Chmod && !w.lastFailed {
		w.mu.Unlock()
		return
	}
	relevant := w.contentDirs[filepath.Dir(name)]
	structural := ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// If a watched directory itself went away, its watch is gone.
		delete(w.armed, name)
		if w.contentDirs[name] {
			relevant = true
		}
	}
	log := w.opts.Logger
	w.mu.Unlock()
	log.Debug("hotreload: event", "name", ev.Name, "op", ev.Op.String(), "relevant", relevant)
	if structural && w.rearm() {
		relevant = true
	}
	if relevant {
		w.schedule(TriggerFile)
	}
}

// rearm brings the fsnotify watches in line with the watched paths and
// reports whether a content directory was (re)armed, which means its files
// may have changed unseen.
func (w *Watcher) rearm() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	armed, _ := w.rearmLocked(false)
	return armed
}

// rearmLocked computes the directories to watch, adds the missing watches,
// replaces stale ones (a directory removed and recreated), watches the
// nearest existing ancestor of a directory that does not exist, and removes
// the watches no longer needed. With initial set (a call from Watch) arming
// a directory is not reported as a change. Called with mu held.
func (w *Watcher) rearmLocked(initial bool) (changed bool, errs []error) {
	want := contentDirs(w.files, w.globs)
	live := map[string]bool{}
	for _, p := range w.fw.WatchList() {
		live[p] = true
	}
	keep := map[string]bool{}
	incomplete := false
	arm := func(dir string, content bool) {
		keep[dir] = true
		info, err := os.Stat(dir)
		if err != nil || !info.IsDir() {
			return
		}
		if a, ok := w.armed[dir]; ok && live[dir] && os.SameFile(a.info, info) {
			return
		}
		if _, ok := w.armed[dir]; ok || live[dir] {
			_ = w.fw.Remove(dir) // stale: the directory was replaced
		}
		if err := w.fw.Add(dir); err != nil {
			delete(w.armed, dir)
			incomplete = true
			err = fmt.Errorf("hotreload: watch directory %s: %w", dir, err)
			errs = append(errs, err)
			if !w.failing[dir] {
				w.failing[dir] = true
				w.opts.Logger.Warn("hotreload: cannot watch directory, retrying every second", "dir", dir, "error", err)
			}
			return
		}
		delete(w.failing, dir)
		w.armed[dir] = armedDir{info: info}
		live[dir] = true
		if content && !initial {
			w.opts.Logger.Info("hotreload: watching directory again", "dir", dir)
			changed = true
		}
	}
	for dir := range want {
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			arm(dir, true)
			continue
		}
		incomplete = true
		if anc := existingAncestor(dir); anc != "" {
			arm(anc, false)
		}
	}
	for dir := range w.armed {
		if !keep[dir] {
			_ = w.fw.Remove(dir)
			delete(w.armed, dir)
		}
	}
	for dir := range w.failing {
		if !keep[dir] {
			delete(w.failing, dir)
		}
	}
	w.contentDirs = want
	if incomplete {
		notify(w.retry)
	}
	return changed, errs
}

// existingAncestor returns the nearest ancestor of dir that exists as a
// directory, or "" if there is none.
func existingAncestor(dir string) string {
	for {
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			return dir
		}
	}
}

// contentDirs returns the directories in which any event may change the
// config: each file's directory, the directory its symbolic links resolve
// to, and for each glob its directory or, when the directory part has
// wildcards too, its fixed base and every directory matching a prefix of the
// pattern (so that a new matching subdirectory is seen).
func contentDirs(files, globs []string) map[string]bool {
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[filepath.Dir(f)] = true
		if real, err := filepath.EvalSymlinks(f); err == nil {
			if abs, err := filepath.Abs(real); err == nil {
				dirs[filepath.Dir(abs)] = true
			}
		}
	}
	for _, g := range globs {
		dirPat := filepath.Dir(g)
		if !hasMeta(dirPat) {
			dirs[dirPat] = true
			continue
		}
		base := dirPat
		var rest []string
		for hasMeta(base) {
			rest = append(rest, filepath.Base(base))
			base = filepath.Dir(base)
		}
		dirs[base] = true
		level := []string{base}
		for i := len(rest) - 1; i >= 0; i-- {
			var next []string
			for _, d := range level {
				matches, _ := filepath.Glob(filepath.Join(d, rest[i]))
				for _, m := range matches {
					if info, err := os.Stat(m); err == nil && info.IsDir() {
						dirs[m] = true
						next = append(next, m)
					}
				}
			}
			level = next
		}
	}
	return dirs
}

// hasMeta reports whether path contains glob wildcards.
func hasMeta(path string) bool {
	return strings.ContainsAny(path, `*?[`)
}
