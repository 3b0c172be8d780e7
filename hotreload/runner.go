package hotreload

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultHistory is the number of results a [Runner] keeps when NewRunner is
// given a size <= 0.
const DefaultHistory = 50

// Result is the record of one reload, as the admin API's reload history and
// the reload log line show it.
type Result struct {
	// Time is when the reload started.
	Time time.Time `json:"time"`
	// Trigger is what started it.
	Trigger Trigger `json:"trigger"`
	// Success is true when the new config was swapped in (or was unchanged).
	Success bool `json:"success"`
	// Skipped is true when the content hash of the config files had not
	// changed, so nothing was parsed or swapped (a touch, a chmod, an
	// unrelated file in a watched directory).
	Skipped bool `json:"skipped,omitempty"`
	// Duration is how long the reload took.
	Duration time.Duration `json:"duration_ns"`
	// Version is the config version serving after the reload: the new one on
	// success (or the unchanged one when skipped); a host may also report
	// the version still serving after a failure.
	Version string `json:"version,omitempty"`
	// Error is the reason of a failure (file, key, line and what was
	// expected), empty on success.
	Error string `json:"error,omitempty"`
	// Err is the failure itself, for errors.As: a host returns its
	// structured config errors here. Error is its text.
	Err error `json:"-"`
	// Changes lists what the reload changed.
	Changes Changes `json:"changes"`
	// Repeats counts further skipped results folded into this one: a run of
	// consecutive skipped reloads is kept as one entry so that it does not
	// push real reloads out of the history.
	Repeats int `json:"repeats,omitempty"`
}

// Changes lists what a reload changed, by route pattern and plugin instance
// name.
type Changes struct {
	// RoutesAdded are routes present only in the new config.
	RoutesAdded []string `json:"routes_added,omitempty"`
	// RoutesRemoved are routes present only in the old config.
	RoutesRemoved []string `json:"routes_removed,omitempty"`
	// RoutesChanged are routes in both whose methods, chain or handler differ.
	RoutesChanged []string `json:"routes_changed,omitempty"`
	// PluginsCreated are plugin instances built by this reload.
	PluginsCreated []string `json:"plugins_created,omitempty"`
	// PluginsKept are instances reused unchanged from the old snapshot (their
	// state, such as rate-limit counters and cache contents, survives).
	PluginsKept []string `json:"plugins_kept,omitempty"`
	// PluginsRetired are instances no longer used, closed after their last
	// in-flight request.
	PluginsRetired []string `json:"plugins_retired,omitempty"`
}

// String returns a one-line summary for logs, such as
// "routes +1 -0 ~2, plugins +1 =3 -1": routes added, removed and changed,
// plugin instances created, kept and retired.
func (c Changes) String() string {
	return fmt.Sprintf("routes +%d -%d ~%d, plugins +%d =%d -%d",
		len(c.RoutesAdded), len(c.RoutesRemoved), len(c.RoutesChanged),
		len(c.PluginsCreated), len(c.PluginsKept), len(c.PluginsRetired))
}

// Empty reports whether nothing was added, removed, changed, created or
// retired (kept instances do not count).
func (c Changes) Empty() bool {
	return len(c.RoutesAdded)+len(c.RoutesRemoved)+len(c.RoutesChanged)+
		len(c.PluginsCreated)+len(c.PluginsRetired) == 0
}

// Runner serialises reloads: every trigger funnels into one goroutine that
// calls reload, and triggers that arrive while a reload runs coalesce into
// one more run after it. [Runner.Run] reloads synchronously (for the admin
// API), serialised with the others. Its methods are safe for concurrent use.
type Runner struct {
	reload func(Trigger) Result

	runMu sync.Mutex // held for the whole of a reload

	mu         sync.Mutex
	pending    Trigger
	hasPending bool
	closed     bool
	history    []Result // ring
	next       int      // index of the next write in history
	count      int      // results in history

	started   bool // the goroutine of asynchronous triggers runs; guarded by mu
	kick      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// ErrRunnerClosed is the error of a reload asked of a closed Runner.
var ErrRunnerClosed = errors.New("hotreload: runner closed")

// NewRunner returns a Runner that calls reload for every trigger and keeps
// the last history results (DefaultHistory when history <= 0). reload is
// never called concurrently with itself. A Result's zero Time, Duration and
// Trigger are filled in by the Runner; a panic in reload is recovered and
// recorded as a failed reload. Its goroutine starts with the first Trigger.
func NewRunner(reload func(Trigger) Result, history int) *Runner {
	if reload == nil {
		panic("hotreload: NewRunner: reload is nil")
	}
	if history <= 0 {
		history = DefaultHistory
	}
	r := &Runner{
		reload:  reload,
		history: make([]Result, history),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	return r
}

// Trigger asks for a reload and returns at once. Triggers that arrive before
// the reload starts coalesce into one run, which reports the first of them.
// After Close it does nothing.
func (r *Runner) Trigger(t Trigger) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if !r.hasPending {
		r.pending, r.hasPending = t, true
	}
	if !r.started {
		r.started = true
		r.wg.Go(r.loop)
	}
	r.mu.Unlock()
	notify(r.kick)
}

// Run reloads now, after any reload in progress, and returns its result. A
// pending asynchronous trigger is satisfied by this run, since it reads the
// files after the trigger arrived. After Close it returns a failed result
// without calling reload.
func (r *Runner) Run(t Trigger) Result {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Result{Time: time.Now(), Trigger: t, Error: ErrRunnerClosed.Error(), Err: ErrRunnerClosed}
	}
	r.hasPending = false
	r.mu.Unlock()
	return r.runLocked(t)
}

// History returns the recorded results, newest first.
func (r *Runner) History() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Result, 0, r.count)
	for i := 1; i <= r.count; i++ {
		out = append(out, r.history[(r.next-i+len(r.history))%len(r.history)])
	}
	return out
}

// Close stops the Runner's goroutine and waits for a reload in progress.
// Pending triggers are dropped. It is safe to call more than once.
func (r *Runner) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.hasPending = false
		r.mu.Unlock()
		close(r.done)
		r.wg.Wait()
	})
}

func (r *Runner) loop() {
	for {
		select {
		case <-r.done:
			return
		case <-r.kick:
		}
		r.runMu.Lock()
		r.mu.Lock()
		t, ok := r.pending, r.hasPending && !r.closed
		r.hasPending = false
		r.mu.Unlock()
		if ok {
			r.runLocked(t)
		}
		r.runMu.Unlock()
	}
}

// runLocked calls reload and records its result. Called with runMu held.
func (r *Runner) runLocked(t Trigger) Result {
	start := time.Now()
	res := r.call(t)
	if res.Time.IsZero() {
		res.Time = start
	}
	if res.Duration == 0 {
		res.Duration = time.Since(start)
	}
	if res.Trigger == "" {
		res.Trigger = t
	}
	r.record(res)
	return res
}

// call runs reload, turning a panic into a failed result.
func (r *Runner) call(t Trigger) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res.Err = fmt.Errorf("hotreload: reload panicked: %v", p)
			res = Result{Trigger: t, Error: res.Err.Error(), Err: res.Err}
		}
	}()
	return r.reload(t)
}

// record adds res to the history ring; a skipped result right after another
// skipped one replaces it and counts as a repeat.
func (r *Runner) record(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res.Skipped && r.count > 0 {
		last := &r.history[(r.next-1+len(r.history))%len(r.history)]
		if last.Skipped {
			res.Repeats = last.Repeats + 1
			*last = res
			return
		}
	}
	r.history[r.next] = res
	r.next = (r.next + 1) % len(r.history)
	if r.count < len(r.history) {
		r.count++
	}
}
