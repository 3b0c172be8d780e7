// Package hotreload decides when the configuration is reloaded: it watches
// the config files, debounces their events, listens for SIGHUP, serialises
// reloads and keeps their history. It does not load anything itself: the
// host passes a reload function that parses, validates, builds and swaps in a
// new snapshot, and hotreload calls it at the right moments, one at a time.
//
// It is a leaf package: it imports none of Switchyard's other packages and
// drives [github.com/fsnotify/fsnotify] directly.
//
// # Wiring
//
// The host builds one [Runner] around its reload function, then feeds it
// from every trigger:
//
//	runner := hotreload.NewRunner(host.reload, 50)
//	w, _ := hotreload.NewWatcher(hotreload.Options{Debounce: 100 * time.Millisecond}, runner.Trigger)
//	go hotreload.Signals(ctx, runner.Trigger)
//	res := runner.Run(hotreload.TriggerStart) // first load, synchronous
//	// after every successful load: w.Watch(filesRead, includeGlobs)
//	// admin POST {prefix}/api/reload: runner.Run(hotreload.TriggerAdmin)
//
// Inside its reload function the host compares [Hash] of the files it read
// last time with their hash now and returns a Result with Skipped set when
// they are equal: events that do not change content (touch, chmod, an editor's
// swap file in the same directory) then cost one hash and nothing else.
//
// # Triggers
//
//   - [TriggerFile]: any file-system event but a pure Chmod in a watched
//     directory. Watched directories are the directory of every file read,
//     the directory each of them resolves to through symbolic links, and the
//     directories of the include globs (so a new file matching a glob
//     triggers).
//   - [TriggerPoll]: with [Options.Poll] > 0, the content hash of the files
//     and of the globs' current matches is compared at that interval, for
//     NFS, FUSE and other file systems that deliver no events.
//   - [TriggerSignal]: SIGHUP, through [Signals].
//   - [TriggerAdmin] and [TriggerStart]: synchronous runs through [Runner.Run].
//
// # Debounce
//
// The first event opens a window; every further event pushes its end to
// [Options.Debounce] (default 100 ms) after itself, and at its end onChange
// runs once. A burst of writes is therefore one reload that reads the last
// write, and a window never lasts longer than [MaxWaitFactor] times the
// debounce, so a directory that never goes quiet still reloads. Edits
// further apart than the debounce each give their own call. When a window
// ends while a watched file is missing (a delete-then-create save caught
// half-way, a directory being replaced) the call waits up to
// [MissingGrace] for it to come back, then one more debounce so that the
// call reads the finished file; files matched by an include glob may
// disappear for good and do not wait. Events that arrive while onChange runs
// open the next window.
//
// # Save patterns
//
// Because directories are watched rather than files, and every event in them
// counts, the watcher follows every way programs save a file: writing in
// place, writing a temporary file and renaming it over the original,
// deleting and creating, copying over, renaming the old file to a backup
// (c.yaml to c.yaml~) before writing a new one, and Kubernetes ConfigMap
// volumes, whose files are symbolic links through a `..data` link that is
// swapped atomically. A watched directory that is removed is re-armed: its
// nearest existing ancestor is watched until it comes back, then it is
// watched again and a reload is triggered, since its files may have changed
// unseen. An fsnotify error (an event queue overflow) re-arms every watch and
// triggers a reload. If fsnotify cannot start at all, the watcher polls
// every [FallbackPoll] instead.
//
// # Serialisation and history
//
// A [Runner] calls reload from one goroutine. Triggers arriving while a
// reload runs coalesce into one more run afterwards, so a reload always
// starts after the last trigger and reads the latest content, and no trigger
// is lost. [Runner.Run] reloads synchronously for the admin API, serialised
// with the rest. [Runner.History] returns the last results, newest first;
// consecutive skipped results are folded into one entry.
//
// # Shutdown
//
// [Watcher.Close] and [Runner.Close] stop every goroutine they started and
// wait for them; [Signals] returns when its context ends.
package hotreload
