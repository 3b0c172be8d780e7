package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
)

// A Source is what -config names: a local file (loaded with
// core.Host.LoadFile and watched), or a document in memory (the embedded
// default, stdin, or one fetched by a registered scheme).
type Source struct {
	// Name names the document in errors; its extension picks the format.
	Name string
	// Path is the local file; empty for Data.
	Path string
	// Data is the document when Path is empty; Dir resolves its includes.
	Data []byte
	Dir  string
	// Describe names the source for people, in banners and errors.
	Describe string
	// Follow, when set, runs while the host serves and keeps it current
	// (for example, calling h.LoadBytes on every change of a remote key);
	// it returns when ctx ends.
	Follow func(ctx context.Context, h *core.Host) error
	// Core, when set, is the source itself (an etcd key, say): the host
	// loads it with LoadSource and, with -watch, follows its changes.
	// Close, when set, is called once the host has stopped.
	Core  core.Source
	Close func()

	embedded bool
}

// An Opener resolves a -config value of its scheme (the whole value, such
// as "etcd://10.0.0.1:2379/switchyard/config") to a Source.
type Opener func(ctx context.Context, ref string) (*Source, error)

var (
	sourcesMu sync.RWMutex
	sources   = map[string]Opener{}
)

// RegisterSource makes -config accept SCHEME://... values, opened by open.
// Call it from an init function; it panics on an empty or duplicate
// scheme (a programmer error).
func RegisterSource(scheme string, open Opener) {
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	if scheme == "" || open == nil {
		panic("cli: RegisterSource with an empty scheme or a nil opener")
	}
	if _, dup := sources[scheme]; dup {
		panic("cli: RegisterSource called twice for scheme " + scheme)
	}
	sources[scheme] = open
}

// sourceSchemes returns the registered schemes, sorted.
func sourceSchemes() []string {
	sourcesMu.RLock()
	defer sourcesMu.RUnlock()
	return slices.Sorted(maps.Keys(sources))
}

// openSource resolves the -config flag: empty is the embedded config, "-"
// and /dev/stdin read stdin (YAML) at once, SCHEME://... goes to the
// opener registered for the scheme, anything else is a local file.
func openSource(ctx context.Context, o Options, ref string) (*Source, error) {
	switch ref {
	case "":
		if o.DefaultConfig == nil {
			return nil, fmt.Errorf("no configuration: give -config FILE (run '%s -help' for usage)", o.Name)
		}
		return &Source{Name: o.DefaultConfigName, Data: o.DefaultConfig, Dir: ".", Describe: "embedded default config", embedded: true}, nil
	case "-", "/dev/stdin":
		data, err := io.ReadAll(io.LimitReader(o.Stdin, config.MaxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("reading the config from stdin: %w", err)
		}
		if len(data) > config.MaxFileSize {
			return nil, fmt.Errorf("the config on stdin is larger than %d bytes", config.MaxFileSize)
		}
		return &Source{Name: "stdin.yaml", Data: data, Dir: ".", Describe: "config on stdin"}, nil
	}
	if scheme, _, ok := strings.Cut(ref, "://"); ok && !strings.ContainsAny(scheme, `/\.`) {
		sourcesMu.RLock()
		open := sources[scheme]
		sourcesMu.RUnlock()
		if open == nil {
			return nil, fmt.Errorf("-config %s: no config source for %s:// in this binary", ref, scheme)
		}
		return open(ctx, ref)
	}
	fi, err := os.Stat(ref)
	switch {
	case err != nil:
		return nil, fmt.Errorf("-config %s: %v", ref, unwrapPath(err))
	case fi.IsDir():
		return nil, fmt.Errorf("-config %s: is a directory, want a file", ref)
	}
	return &Source{Name: ref, Path: ref, Describe: ref}, nil
}

// unwrapPath drops the path from an *os.PathError, which the caller names.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// load makes the host serve src.
func (src *Source) load(h *core.Host) error {
	if src.Core != nil {
		return h.LoadSource(src.Core)
	}
	if src.Path == "" {
		return h.LoadBytes(src.Name, src.Data, src.Dir)
	}
	return h.LoadFile(src.Path)
}

// bytes returns the document.
func (src *Source) bytes() ([]byte, error) {
	if src.Core != nil {
		d, err := src.Core.Load(os.Environ())
		return d.Data, err
	}
	if src.Path == "" {
		return src.Data, nil
	}
	return os.ReadFile(src.Path)
}
