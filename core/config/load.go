package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "SWITCHYARD_"

// MaxFileSize is the largest config file a load reads.
const MaxFileSize = 16 << 20

// maxIncludeDepth bounds how deeply includes nest.
const maxIncludeDepth = 32

// Loaded is the result of a successful load.
type Loaded struct {
	// Config is the decoded, validated configuration.
	Config *Config
	// Files lists every file the load read (or tried to read: an included
	// file that is missing is listed too), the main file first, as absolute
	// paths in merge order. LoadBytes does not list its in-memory main file.
	Files []string
	// Globs lists the include patterns as absolute globs, for the watcher: a
	// new file that matches one is read by the next load.
	Globs []string
	// Hash is a content hash (hex) of every file read and of the environment
	// overrides applied: equal content gives an equal hash. For Load without
	// environment overrides it equals hotreload.Hash(Files).
	Hash string
	// Version is a short hash (12 hex digits) of the effective configuration
	// (the canonical JSON of Config without Include): the same settings give
	// the same version whatever files, format or key order they came from.
	Version string
	// Raw is the effective merged map (defaults, files, environment), for the
	// admin API. It is shared: do not modify it; Redact returns a copy to show.
	Raw map[string]any
	// Dir is the directory that relative paths of the configuration resolve
	// against: the main file's, or the dir given to LoadBytes.
	Dir string

	mainName       string
	sources        []*source
	routesAppended bool
}

// order returns the sources' names in merge order, for sorting errors.
func (l *Loaded) order() []string {
	names := make([]string, 0, len(l.sources)+1)
	names = append(names, l.mainName)
	for _, s := range l.sources {
		names = append(names, s.name)
	}
	return names
}

// Load reads the config file at path (its format chosen by extension: .yaml
// or .yml, .toml, .json) and its includes, merges them over Defaults, applies
// the SWITCHYARD_ overrides found in env (a list like os.Environ(); nil means
// none), decodes the result strictly and validates it.
//
// Includes are globs relative to the directory of the file that names them;
// each is merged after that file, in order, recursively. The `routes` lists
// of all files are concatenated in merge order; every other key follows the
// merge rule "maps merge, lists and scalars replace".
//
// The error, when not nil, is Errors: every problem found, each with file,
// line (when known) and key path. Even then the returned *Loaded is not nil
// when the main file could be named: its Files, Globs and Hash say what was
// read (so a watcher can keep watching a broken config) and Config is nil.
func Load(path string, env []string) (*Loaded, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot resolve path: " + err.Error()}}
	}
	ld := newLoader(osFS{}, env)
	data, rerr := ld.fs.ReadFile(abs)
	return ld.run(abs, data, rerr, filepath.Dir(abs), true)
}

// LoadBytes is Load for a main file held in memory, such as the devserver's
// embedded default. name is used in errors and chooses the format by its
// extension; includes resolve relative to dir.
func LoadBytes(name string, data []byte, dir string, env []string) (*Loaded, error) {
	return loadBytes(osFS{}, name, data, dir, env)
}

func loadBytes(fsys fileSystem, name string, data []byte, dir string, env []string) (*Loaded, error) {
	if dir == "" {
		dir = "."
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, Errors{{File: name, Msg: "cannot resolve include directory: " + err.Error()}}
	}
	return newLoader(fsys, env).run(name, data, nil, absDir, false)
}

// fileSystem is what a load reads files through (the OS, or memory in tests).
type fileSystem interface {
	ReadFile(name string) ([]byte, error)
	Glob(pattern string) ([]string, error)
}

type osFS struct{}

// ReadFile reads a regular file of at most MaxFileSize bytes.
func (osFS) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file larger than %d bytes", MaxFileSize)
	}
	return data, nil
}

// Glob lists the files matching pattern.
func (osFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// envOverride is one SWITCHYARD_ variable that names a config key.
type envOverride struct {
	name  string // the variable's name
	raw   string // its value as written
	path  []string
	value any
}

// loader is the state of one load.
type loader struct {
	fs        fileSystem
	env       []envOverride
	errs      Errors
	sources   []*source
	layers    []map[string]any
	files     []string
	fileData  map[string][]byte // nil value: the read failed
	fileErr   map[string]error
	globs     []string
	seen      map[string]bool
	routes    []any
	hasRoutes bool
	include   []string // the main file's include list, as written
}

func newLoader(fsys fileSystem, env []string) *loader {
	ld := &loader{fs: fsys, fileData: map[string][]byte{}, fileErr: map[string]error{}, seen: map[string]bool{}}
	ld.env = ld.parseEnv(env)
	return ld
}

// run loads the main file (already read: data, or readErr) and everything
// it includes. onDisk says whether the main file is a file to list in Files.
func (ld *loader) run(mainName string, data []byte, readErr error, dir string, onDisk bool) (*Loaded, error) {
	l := &Loaded{mainName: mainName, Dir: dir}
	if onDisk {
		ld.files = append(ld.files, mainName)
		ld.fileErr[mainName] = readErr
	}
	if readErr != nil {
		ld.errs = append(ld.errs, &Error{File: mainName, Msg: "cannot read config file: " + cleanFSError(readErr)})
	} else if len(bytes.TrimSpace(data)) == 0 {
		// What a save that truncates before it writes leaves for a moment:
		// loading it would serve a config with no routes. A file that
		// means "all defaults" says so with a comment or `{}`.
		ld.errs = append(ld.errs, &Error{File: mainName, Line: 1, Msg: MsgEmptyFile})
	} else {
		ld.fileData[mainName] = data
		ld.seen[mainName] = true
		ld.processFile(mainName, data, dir, []string{mainName}, true)
	}
	l.Files = ld.files
	l.Globs = ld.globs
	l.Hash = ld.hash(mainName, data, onDisk)
	l.sources = ld.sources
	if len(ld.errs) > 0 {
		// Syntax errors and unreadable files: decoding what remains would only
		// add noise (missing plugins, missing routes).
		return l, sortErrors(ld.errs, l.order())
	}

	k := koanf.New(".")
	load := func(m map[string]any) {
		if err := k.Load(confmap.Provider(m, ""), nil); err != nil {
			// confmap never fails to read; a merge error is a programming error.
			panic("config: merge: " + err.Error())
		}
	}
	load(Defaults())
	for _, m := range ld.layers {
		load(m)
	}
	if ld.hasRoutes {
		load(map[string]any{"routes": ld.routes})
		l.routesAppended = true
	}
	ld.applyEnv(k, load, l)
	raw := k.Raw()
	if len(ld.include) > 0 {
		inc := make([]any, len(ld.include))
		for i, s := range ld.include {
			inc[i] = s
		}
		raw["include"] = inc
	}
	l.Raw = raw
	l.sources = ld.sources
	if len(ld.errs) > 0 {
		return l, l.finish(ld.errs)
	}

	cfg, errs := decode(raw)
	cfg.Include = ld.include
	if len(errs) > 0 {
		errs = append(errs, validate(cfg, errs)...)
		errs = append(errs, l.laterStages(cfg, errs)...)
		return l, l.finish(errs)
	}
	if errs := validate(cfg, nil); len(errs) > 0 {
		errs = append(errs, l.laterStages(cfg, errs)...)
		return l, l.finish(errs)
	}
	if ld.tlsFiles(cfg, dir) {
		l.Files = ld.files
		l.Hash = ld.hash(mainName, data, onDisk)
	}
	v, err := version(cfg, l.Sections())
	if err != nil {
		return l, l.finish(Errors{{Msg: err.Error()}})
	}
	l.Config, l.Version = cfg, v
	return l, nil
}

// tlsFiles makes the file names of server.tls absolute (relative to dir,
// the main file's directory) and adds them to the files of the load, so
// that they are watched and hashed with the config: a renewed certificate
// is a reload. It reports whether it added any.
func (ld *loader) tlsFiles(cfg *Config, dir string) bool {
	t := &cfg.Server.TLS
	names := []*string{&t.CertFile, &t.KeyFile, &t.ClientCAFile}
	for i := range t.Certificates {
		names = append(names, &t.Certificates[i].CertFile, &t.Certificates[i].KeyFile)
	}
	added := false
	for _, n := range names {
		if *n == "" {
			continue
		}
		if !filepath.IsAbs(*n) {
			*n = filepath.Join(dir, *n)
		}
		if slices.Contains(ld.files, *n) {
			continue
		}
		data, err := ld.fs.ReadFile(*n)
		ld.files = append(ld.files, *n)
		ld.fileData[*n], ld.fileErr[*n] = data, err
		added = true
	}
	return added
}

// finish locates every error and sorts them.
func (l *Loaded) finish(errs Errors) error {
	for _, e := range errs {
		e.Key = normalizeKey(e.Key)
		if e.File == "" && e.Key != "" {
			e.File, e.Line = l.Locate(e.Key)
		} else if e.File == "" {
			e.File = l.mainName
		}
	}
	return sortErrors(errs, l.order())
}

// formatOf picks a format from a file name's extension.
func formatOf(name string) (string, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return formatYAML, true
	case ".toml":
		return formatTOML, true
	case ".json":
		return formatJSON, true
	}
	return "", false
}

// processFile parses one file, records it as a merge layer and loads what it
// includes. stack holds the chain of files that led here, for cycles.
func (ld *loader) processFile(name string, data []byte, dir string, stack []string, isMain bool) {
	m, src, err := parseFile(name, data)
	if err != nil {
		ld.errs = append(ld.errs, err)
		return
	}
	ld.sources = append(ld.sources, src)

	// include: taken out of the layer (it is resolved here, not merged).
	var includes []string
	incKey := "include"
	if isMain {
		for _, ov := range ld.env {
			if len(ov.path) == 1 && ov.path[0] == "include" {
				m["include"] = ov.value
				if s, ok := ov.value.(string); ok {
					m["include"] = []any{s}
				}
				incKey = ""
			}
		}
	}
	if v, ok := m["include"]; ok {
		delete(m, "include")
		var errs Errors
		includes, errs = stringList(v, "include")
		for _, e := range errs {
			if incKey == "" {
				e.File = ld.envName("include")
			} else {
				e.File, e.Line = src.name, src.index()[e.Key]
				if e.Line == 0 {
					e.Line = src.index()["include"]
				}
			}
		}
		ld.errs = append(ld.errs, errs...)
	}
	if isMain {
		ld.include = includes
	}

	// routes: concatenated across files rather than replaced.
	if v, ok := m["routes"]; ok {
		delete(m, "routes")
		if list, ok := v.([]any); !ok {
			ld.errs = append(ld.errs, &Error{File: src.name, Line: src.index()["routes"], Key: "routes",
				Msg: "expected a list of routes, got " + typeName(v)})
		} else {
			src.routeBase, src.routes = len(ld.routes), len(list)
			ld.routes = append(ld.routes, list...)
			ld.hasRoutes = true
		}
	}
	ld.layers = append(ld.layers, m)

	for i, pat := range includes {
		ld.include1(src, dir, pat, i, incKey, stack)
	}
}

// include1 resolves and loads one include pattern of the file src.
func (ld *loader) include1(src *source, dir, pat string, i int, incKey string, stack []string) {
	key := indexKey("include", i)
	errAt := func(msg string) {
		e := &Error{File: src.name, Line: src.index()[key], Key: key, Msg: msg}
		if incKey == "" {
			e.File, e.Line = ld.envName("include"), 0
		}
		ld.errs = append(ld.errs, e)
	}
	if strings.TrimSpace(pat) == "" {
		errAt("empty include pattern")
		return
	}
	abs := pat
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, pat)
	}
	abs = filepath.Clean(abs)
	if !contains(ld.globs, abs) {
		ld.globs = append(ld.globs, abs)
	}
	var matches []string
	if hasMeta(pat) {
		var err error
		matches, err = ld.fs.Glob(abs)
		if err != nil {
			errAt(fmt.Sprintf("bad include pattern %q: %v", pat, err))
			return
		}
		sort.Strings(matches)
	} else {
		matches = []string{abs}
	}
	for _, f := range matches {
		if contains(stack, f) {
			chain := append(append([]string{}, stack...), f)
			errAt("include cycle: " + strings.Join(chain, " -> "))
			continue
		}
		if len(stack) >= maxIncludeDepth {
			errAt(fmt.Sprintf("includes nested more than %d deep", maxIncludeDepth))
			return
		}
		if ld.seen[f] {
			// Included twice (not in a cycle): merged once, where first named.
			continue
		}
		ld.seen[f] = true
		if hasMeta(pat) && skipMatch(pat, f) {
			continue
		}
		ld.files = append(ld.files, f)
		data, err := ld.fs.ReadFile(f)
		ld.fileErr[f] = err
		if err != nil {
			errAt(fmt.Sprintf("cannot read included file %s: %s", f, cleanFSError(err)))
			continue
		}
		ld.fileData[f] = data
		ld.processFile(f, data, filepath.Dir(f), append(stack[:len(stack):len(stack)], f), false)
	}
}
