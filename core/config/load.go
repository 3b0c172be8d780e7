package config

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	kjson "github.com/knadh/koanf/parsers/json"
	ktoml "github.com/knadh/koanf/parsers/toml/v2"
	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
	yaml "go.yaml.in/yaml/v3"
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

// parseFile parses a config file into a map, returning its source (with
// what Locate needs) or a located syntax error.
func parseFile(name string, data []byte) (map[string]any, *source, *Error) {
	format, ok := formatOf(name)
	if !ok {
		return nil, nil, &Error{File: name, Msg: "unknown config format: the file name must end in .yaml, .yml, .toml or .json"}
	}
	src := &source{name: name, format: format, data: data}
	var (
		m   map[string]any
		err error
	)
	switch format {
	case formatYAML:
		var node yaml.Node
		if err := yaml.Unmarshal(data, &node); err != nil {
			return nil, nil, yamlError(name, data, err)
		}
		src.node = &node
		if root := docRoot(&node); root != nil && root.Kind != yaml.MappingNode {
			return nil, nil, &Error{File: name, Line: root.Line, Msg: "the top level must be a map of keys"}
		}
		m, err = kyaml.Parser().Unmarshal(data)
		if err != nil {
			return nil, nil, yamlError(name, data, err)
		}
	case formatTOML:
		m, err = ktoml.Parser().Unmarshal(data)
		if err != nil {
			var de *gotoml.DecodeError
			if errors.As(err, &de) {
				row, _ := de.Position()
				return nil, nil, &Error{File: name, Line: row, Msg: "syntax error: " + de.Error()}
			}
			return nil, nil, &Error{File: name, Line: tomlErrorLine(data, err.Error()), Msg: "syntax error: " + err.Error()}
		}
	case formatJSON:
		m, err = kjson.Parser().Unmarshal(data)
		if err != nil {
			return nil, nil, jsonError(name, data, err)
		}
	}
	if m == nil {
		m = map[string]any{}
	}
	nm, err := normalizeValue(m, 0)
	if err != nil {
		return nil, nil, &Error{File: name, Msg: err.Error()}
	}
	return nm.(map[string]any), src, nil
}

func docRoot(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return nil
}

func yamlError(name string, data []byte, err error) *Error {
	msg := err.Error()
	line := yamlErrorLine(msg)
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimSpace(strings.TrimPrefix(msg, "unmarshal errors:"))
	if rest, ok := strings.CutPrefix(msg, fmt.Sprintf("line %d: ", yamlReportedLine(msg))); ok {
		msg = rest
	}
	if strings.Contains(msg, "found a tab character") && line > 0 {
		// The library reports the line of the token before the tab; the tab
		// is on the first line from there whose indentation holds one.
		line = tabLine(data, line)
	}
	if a, ok := strings.CutPrefix(msg, "unknown anchor '"); ok && line == 0 {
		// The library gives no line here; the first use of the alias is it.
		if a, _, ok := strings.Cut(a, "'"); ok {
			if i := bytes.Index(data, []byte("*"+a)); i >= 0 {
				line = newLineIndex(data).line(i)
			}
		}
	}
	msg = strings.ReplaceAll(msg, "\n", " ")
	return &Error{File: name, Line: line, Msg: "syntax error: " + strings.Join(strings.Fields(msg), " ")}
}

// tabLine returns the first line from line on (1-based) whose indentation
// holds a tab, or line when there is none.
func tabLine(data []byte, line int) int {
	for n, l := range bytes.Split(data, []byte("\n")) {
		if n+1 < line {
			continue
		}
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return n + 1
		}
	}
	return line
}

func jsonError(name string, data []byte, err error) *Error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		if te.Field == "" {
			return &Error{File: name, Line: newLineIndex(data).line(int(off) - 1), Msg: "the top level must be an object of keys"}
		}
	}
	line := 0
	if off > 0 {
		line = newLineIndex(data).line(int(off) - 1)
	}
	return &Error{File: name, Line: line, Msg: "syntax error: " + err.Error()}
}

// tomlErrorLine finds the line of a TOML redefinition error ("key x is
// already defined", "table x already exists"), which the TOML library
// reports without a position: the last definition of that key is the one
// that failed.
func tomlErrorLine(data []byte, msg string) int {
	msg = strings.TrimPrefix(msg, "toml: ")
	var key string
	for _, p := range []string{"key ", "table "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			key, _, _ = strings.Cut(rest, " ")
		}
	}
	if key == "" {
		return 0
	}
	line := 0
	for path, ln := range tomlLines(data) {
		segs := parseKey(path)
		if len(segs) > 0 && (path == key || segs[len(segs)-1].key == key || strings.HasSuffix(path, "."+key)) && ln > line {
			line = ln
		}
	}
	return line
}

// stringList checks that v is a list of strings.
func stringList(v any, key string) ([]string, Errors) {
	list, ok := v.([]any)
	if !ok {
		return nil, Errors{{Key: key, Msg: fmt.Sprintf("expected a list of file globs, got %s", typeName(v))}}
	}
	out := make([]string, 0, len(list))
	var errs Errors
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			errs = append(errs, &Error{Key: indexKey(key, i), Msg: fmt.Sprintf("expected a file glob (string), got %s", typeName(x))})
			continue
		}
		out = append(out, s)
	}
	return out, errs
}

// skipMatch says whether a glob match is left out: a glob such as conf.d/*
// also matches editor backups, lock files and swap files; only config files
// take part, and hidden files only when the pattern asks for them.
func skipMatch(pat, match string) bool {
	if _, ok := formatOf(match); !ok {
		return true
	}
	return strings.HasPrefix(filepath.Base(match), ".") && !strings.HasPrefix(filepath.Base(pat), ".")
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cleanFSError drops the path that os errors repeat.
func cleanFSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseEnv finds the SWITCHYARD_ variables that name config keys.
func (ld *loader) parseEnv(env []string) []envOverride {
	byName := map[string]envOverride{}
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		rest := strings.ToLower(name[len(EnvPrefix):])
		path := strings.Split(rest, "__")
		if !topLevelKeys[path[0]] {
			continue // not a config key, such as SWITCHYARD_REQUIRE_REDIS
		}
		if contains(path, "") {
			ld.errs = append(ld.errs, &Error{File: "env " + name, Msg: "empty key segment: separate levels with exactly two underscores (__)"})
			continue
		}
		if path[0] == "include" && len(path) > 1 {
			ld.errs = append(ld.errs, &Error{File: "env " + name, Key: "include", Msg: "include is a list of globs and has no sub-keys"})
			continue
		}
		byName[name] = envOverride{name: name, raw: val, path: path, value: envValue(val)}
	}
	out := make([]envOverride, 0, len(byName))
	for _, ov := range byName {
		out = append(out, ov)
	}
	// Shallower keys first, so that SWITCHYARD_SERVER__ADMIN__PREFIX refines
	// what a SWITCHYARD_SERVER__ADMIN override set.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].path) != len(out[j].path) {
			return len(out[i].path) < len(out[j].path)
		}
		return out[i].name < out[j].name
	})
	return out
}

// envValue parses an override's value as a YAML scalar (or a flow list of
// scalars), so that numbers, booleans and lists get their types; anything
// else stays the string as written.
func envValue(s string) any {
	if strings.TrimSpace(s) == "" {
		return s
	}
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	switch x := v.(type) {
	case string, bool, int, float64:
		n, err := normalizeValue(x, 0)
		if err != nil {
			return s
		}
		return n
	case []any:
		for _, e := range x {
			switch e.(type) {
			case string, bool, int, float64:
			default:
				return s
			}
		}
		n, err := normalizeValue(x, 0)
		if err != nil {
			return s
		}
		return n
	}
	return s
}

func (ld *loader) envName(key string) string {
	for _, ov := range ld.env {
		if strings.Join(ov.path, ".") == key {
			return "env " + ov.name
		}
	}
	return "env"
}

// applyEnv merges the overrides into k, each one checked against what is
// already there: an override cannot reach inside a list or a scalar.
func (ld *loader) applyEnv(k *koanf.Koanf, load func(map[string]any), l *Loaded) {
	for _, ov := range ld.env {
		if ov.path[0] == "include" {
			continue // applied when the main file's includes were read
		}
		cur := any(k.Raw())
		ok := true
		for i, seg := range ov.path[:len(ov.path)-1] {
			m, isMap := cur.(map[string]any)
			if !isMap {
				break
			}
			next, exists := m[seg]
			if !exists {
				break
			}
			if _, isMap := next.(map[string]any); !isMap {
				key := strings.Join(ov.path[:i+1], ".")
				ld.errs = append(ld.errs, &Error{File: "env " + ov.name, Key: key,
					Msg: fmt.Sprintf("%s is %s, not a map: an environment override cannot set a key inside it", key, typeName(next))})
				ok = false
				break
			}
			cur = next
		}
		if !ok {
			continue
		}
		m := map[string]any{ov.path[len(ov.path)-1]: ov.value}
		for i := len(ov.path) - 2; i >= 0; i-- {
			m = map[string]any{ov.path[i]: m}
		}
		load(m)
		src := &source{name: "env " + ov.name, format: formatEnv, lines: map[string]int{}, weak: map[string]bool{}}
		indexValue(ov.value, strings.Join(ov.path, "."), src.lines)
		for i := 1; i < len(ov.path); i++ {
			src.weak[strings.Join(ov.path[:i], ".")] = true
		}
		ld.sources = append(ld.sources, src)
		if ov.path[0] == "routes" {
			l.routesAppended = false
		}
	}
}

// indexValue records every key path under v (with line 0).
func indexValue(v any, path string, out map[string]int) {
	out[path] = 0
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			indexValue(e, childKey(path, k), out)
		}
	case []any:
		for i, e := range x {
			indexValue(e, indexKey(path, i), out)
		}
	}
}

// hash computes Loaded.Hash: the scheme of hotreload.Hash over the files
// (the in-memory main file of LoadBytes first, under its name), then the
// environment overrides.
func (ld *loader) hash(mainName string, mainData []byte, onDisk bool) string {
	outer := sha256.New()
	var buf [8]byte
	writeStr := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		outer.Write(buf[:])
		io.WriteString(outer, s)
	}
	writeFile := func(name string, data []byte, err error) {
		writeStr(name)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			outer.Write([]byte{'M'})
		case err != nil:
			outer.Write([]byte{'U'})
		default:
			sum := sha256.Sum256(data)
			outer.Write([]byte{'P'})
			outer.Write(sum[:])
		}
	}
	if !onDisk {
		writeFile(mainName, mainData, nil)
	}
	for _, f := range ld.files {
		writeFile(f, ld.fileData[f], ld.fileErr[f])
	}
	for _, ov := range ld.env {
		writeStr("env " + ov.name + "=" + ov.raw)
	}
	return hex.EncodeToString(outer.Sum(nil))
}

// normalizeValue makes parsed values uniform across formats: keys set to
// null are dropped (null means "not set"), map keys are strings, integers are int (a float with an integral value too, as JSON
// gives every number as a float), and timestamps, TOML dates and other
// exotic scalars become strings. So the same config in YAML, TOML and JSON
// decodes to the same Config.
func normalizeValue(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("values nested more than %d levels deep", maxDepth)
	}
	switch x := v.(type) {
	case nil, string, bool, int:
		return v, nil
	case map[string]any:
		for k, e := range x {
			if e == nil {
				// A key set to null, or left empty (`server:`), is not set:
				// it must not wipe out a default or an earlier file's value.
				delete(x, k)
				continue
			}
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = n
		}
		return m, nil
	case []any:
		for i, e := range x {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case int8:
		return int(x), nil
	case int16:
		return int(x), nil
	case int32:
		return int(x), nil
	case int64:
		return int(x), nil
	case uint8:
		return int(x), nil
	case uint16:
		return int(x), nil
	case uint32:
		return int(x), nil
	case uint:
		if x <= math.MaxInt {
			return int(x), nil
		}
		return x, nil
	case uint64:
		if x <= math.MaxInt {
			return int(x), nil
		}
		return x, nil
	case float32:
		return normalizeFloat(float64(x)), nil
	case float64:
		return normalizeFloat(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		if err != nil {
			return fmt.Sprint(v), nil
		}
		return string(b), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return fmt.Sprint(v), nil
}

func normalizeFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == math.Trunc(f) && math.Abs(f) <= 1<<53:
		return int(f)
	}
	return f
}

// typeName describes a parsed value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, uint:
		return "an integer"
	case float64, float32:
		return "a number"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// version hashes the canonical JSON of the config (Include left out: what
// counts is the merged result, not how it was split into files). Defaults
// written out count as left out (see effectiveForVersion), so that what
// MarshalEffective prints has the version of the config it came from.
func version(c *Config, sections map[string]map[string]any) (string, error) {
	cc := effectiveForVersion(c, sections)
	b, err := json.Marshal(&cc)
	if err != nil {
		return "", fmt.Errorf("config cannot be hashed: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6]), nil
}
