package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
)

// Source is where a host's configuration comes from: a file, bytes held in
// memory, or a key of a shared store such as etcd (package
// configsource/etcd). Every load, whatever its source, goes through the same
// validate, build, swap and drain path.
type Source interface {
	// Kind names the source in the generations and, for a watching
	// source, is the trigger of the reloads it asks for: "file", "bytes",
	// "etcd".
	Kind() string
	// Load reads the configuration as it is now and parses it with
	// config.LoadBytes (or config.Load). On error the Document's Loaded may
	// still say which files were read. An error that wraps
	// ErrSourceUnavailable means the source could not be reached.
	Load(env []string) (Document, error)
}

// Document is one read of a Source.
type Document struct {
	// Loaded is the parsed configuration (see config.Load).
	Loaded *config.Loaded
	// Name names the main document in errors; its extension is its format.
	Name string
	// Dir is where its includes resolve.
	Dir string
	// Data is the main document as read: what a rollback writes back.
	Data []byte
	// Revision is the source's own revision of what was read (etcd's mod
	// revision of the key, a file's content hash); a writable source
	// compares it in Write.
	Revision string
	// Cached is true when the source could not be reached and this is its
	// local copy of the last good configuration.
	Cached bool
}

// WatchSource is a Source that reports its own changes. Host.Watch runs
// Watch in a goroutine that the host owns and stops (by ctx) on Close.
type WatchSource interface {
	Source
	// Watch calls changed whenever the configuration may have changed
	// (including after a reconnection, so that a change made while the
	// source was unreachable is not missed) and up with the source's
	// reachability, until ctx ends.
	Watch(ctx context.Context, changed func(), up func(bool))
}

// WritableSource is a Source that the admin API can write to.
type WritableSource interface {
	Source
	// Write replaces the main document with data if the source still
	// holds the document of revision rev (a Document.Revision that Load
	// returned); otherwise the error wraps ErrStale and nothing is
	// written.
	Write(ctx context.Context, data []byte, rev string) error
}

// AppliedSource is a Source told when a document it returned was applied,
// for example to keep a local copy of the last good configuration.
type AppliedSource interface {
	Source
	Applied(d Document, c *config.Config)
}

// ErrStale is the error of a write to a source that changed since the host
// read it: another writer was first.
var ErrStale = errors.New("core: the configuration source changed since it was read")

// ErrSourceUnavailable is wrapped by the error of a Source that could not
// be reached.
var ErrSourceUnavailable = errors.New("core: configuration source unavailable")

// ErrNotWritable is the error of a write to a source that cannot be
// written (bytes held in memory).
var ErrNotWritable = errors.New("core: the configuration source cannot be written")

// fileSource is a configuration file on disk and its includes.
type fileSource struct {
	path string
	mu   sync.Mutex // serialises writes
}

func (*fileSource) Kind() string { return "file" }

func (f *fileSource) Load(env []string) (Document, error) {
	rev := hotreload.Hash([]string{f.path})
	l, err := config.Load(f.path, env)
	d := Document{Loaded: l, Name: f.path, Dir: filepath.Dir(f.path), Revision: rev[:16]}
	if err == nil {
		// Read after the load: a rollback writes back these bytes. A write
		// between the two is caught by the next load's hash.
		d.Data, _ = os.ReadFile(f.path)
	}
	return d, err
}

// Write replaces the file atomically (a temporary file in the same
// directory, synced, then renamed over it), unless its content is no longer
// that of revision rev.
func (f *fileSource) Write(_ context.Context, data []byte, rev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rev == "" || hotreload.Hash([]string{f.path})[:16] != rev {
		return fmt.Errorf("%w: %s was modified", ErrStale, f.path)
	}
	return writeAtomic(f.path, data)
}

// writeAtomic writes data to path by rename, keeping path's mode when it
// exists.
func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteFileAtomic writes data to path by rename, so that a reader (and a
// file watcher) sees either the old content or the new, never a part. It
// keeps path's permissions when the file exists.
func WriteFileAtomic(path string, data []byte) error { return writeAtomic(path, data) }

// bytesSource is a document held in memory (the devserver's default).
type bytesSource struct {
	name string
	data []byte
	dir  string
}

func (*bytesSource) Kind() string { return "bytes" }

func (b *bytesSource) Load(env []string) (Document, error) {
	l, err := config.LoadBytes(b.name, b.data, b.dir, env)
	return Document{Loaded: l, Name: b.name, Dir: b.dir, Data: b.data}, err
}

var (
	_ WritableSource = (*fileSource)(nil)
	_ Source         = (*bytesSource)(nil)
)

// sourceState is a Source and what the reloader remembers of its last
// load.
type sourceState struct {
	src Source
	// name and dir are the main document's name and include directory at
	// the last load, for validating a write, and rev the revision of the
	// last document whose load is over (applied, rejected or skipped): a
	// write replaces the source only if it still holds that. Guarded by
	// reloader.mu; rev is set after the snapshot swap, so that a write that
	// sees it also sees the version it produced.
	name, dir, rev string

	// tried is the content hash of the last load attempted from this source
	// and failed the error that rejected it (nil when it was applied). A file
	// event whose content equals the last attempt changes nothing: it is
	// skipped, whether that attempt serves or was rejected. triedFiles and
	// triedGlobs are the files that load read and its include globs.
	tried      string
	failed     error
	triedFiles []string
	triedGlobs []string
}

// unchanged reports, without parsing anything, that the files of the last
// attempt still hold what it read, so that a load now would give the same
// result: the source is a file, no SWITCHYARD_ variable is in the
// environment (the hash of a load is then the hash of its files alone), no
// file matching an include glob appeared, and the files hash as before. It
// is how an event that changes no content (a touch, an editor's swap file,
// the second event of a save) costs one hash. False means "load and see".
func (s *sourceState) unchanged(env []string) bool {
	if _, file := s.src.(*fileSource); !file || s.tried == "" || len(s.triedFiles) == 0 {
		return false
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, config.EnvPrefix) {
			return false
		}
	}
	for _, g := range s.triedGlobs {
		matches, err := filepath.Glob(g)
		if err != nil {
			return false
		}
		for _, m := range matches {
			if !slices.Contains(s.triedFiles, m) {
				return false
			}
		}
	}
	return hotreload.Hash(s.triedFiles) == s.tried
}
