package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/registry"
)

// Error is one configuration error: where it is (file, line, key path) and
// what is wrong.
type Error struct {
	// File is the config file (absolute path), "env NAME" for an environment
	// override, or empty when unknown.
	File string
	// Line is the 1-based line in File, or 0 when unknown.
	Line int
	// Key is the key path, such as plugins.gzip.level or routes[2].path.
	Key string
	// Msg says what is wrong and what was expected.
	Msg string
}

// Error renders "file:line: key: msg", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every error of one load, sorted by file (in merge order) and line.
type Errors []*Error

// MsgEmptyFile is the Msg of the error for a main config file that holds
// nothing but white space: what an in-place save leaves between its
// truncate and its write.
const MsgEmptyFile = "config file is empty"

// EmptyFile reports whether err is, or holds, the error for an empty main
// config file.
func EmptyFile(err error) bool {
	var es Errors
	if errors.As(err, &es) {
		for _, e := range es {
			if e.Msg == MsgEmptyFile {
				return true
			}
		}
	}
	var e *Error
	return errors.As(err, &e) && e.Msg == MsgEmptyFile
}

// Error joins the errors with newlines.
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap returns the errors, so that errors.As finds an *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders errors by the file's position in order (files not in it
// after those that are, then by name), then line, then key, and drops exact
// duplicates.
func sortErrors(es Errors, order []string) Errors {
	rank := make(map[string]int, len(order))
	for i, f := range order {
		if _, ok := rank[f]; !ok {
			rank[f] = i
		}
	}
	fileRank := func(f string) int {
		if r, ok := rank[f]; ok {
			return r
		}
		return len(order)
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if ra, rb := fileRank(a.File), fileRank(b.File); ra != rb {
			return ra < rb
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Key < b.Key
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && *e == *es[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// keyPather is implemented by errors that know the config key they are about.
type keyPather interface{ KeyPath() string }

// Annotate turns an error produced while building from this configuration
// into Errors that carry the file and line of each key, found with Locate. It
// understands errors.Join trees, *registry.FieldError, registry.DecodeErrors,
// *Error, Errors and any error with a KeyPath() string method (which may wrap
// errors that know a more precise key); other errors become an Error without
// a key. A nil err stays nil.
func (l *Loaded) Annotate(err error) error {
	if err == nil {
		return nil
	}
	var out Errors
	l.annotate(err, &out)
	return sortErrors(out, l.order())
}

func (l *Loaded) annotate(err error, out *Errors) {
	switch e := err.(type) {
	case Errors:
		for _, x := range e {
			l.annotate(x, out)
		}
		return
	case *Error:
		c := *e
		if c.File == "" && c.Key != "" {
			c.File, c.Line = l.Locate(c.Key)
		}
		*out = append(*out, &c)
		return
	case registry.DecodeErrors:
		for _, fe := range e {
			l.annotate(fe, out)
		}
		return
	case *registry.FieldError:
		*out = append(*out, l.errorAt(e.Key, e.Msg))
		return
	case keyPather:
		// A keyed error may wrap errors that know a more precise key.
		if inner := l.keyed(errors.Unwrap(err)); inner != nil {
			*out = append(*out, inner...)
			return
		}
		k := e.KeyPath()
		*out = append(*out, l.errorAt(k, trimKey(err.Error(), k)))
		return
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			l.annotate(x, out)
		}
		return
	}
	// A wrapped error (fmt.Errorf("...: %w")) may hold a keyed error inside.
	if inner := l.keyed(errors.Unwrap(err)); inner != nil {
		*out = append(*out, inner...)
		return
	}
	*out = append(*out, &Error{Msg: err.Error()})
}

// keyed annotates err when it (or what it wraps) carries a key path, and
// returns nil otherwise.
func (l *Loaded) keyed(err error) Errors {
	for err != nil {
		switch err.(type) {
		case Errors, *Error, registry.DecodeErrors, *registry.FieldError, keyPather:
			var out Errors
			l.annotate(err, &out)
			return out
		case interface{ Unwrap() []error }:
			var out Errors
			l.annotate(err, &out)
			for _, e := range out {
				if e.Key != "" {
					return out
				}
			}
			return nil
		}
		err = errors.Unwrap(err)
	}
	return nil
}

func (l *Loaded) errorAt(key, msg string) *Error {
	key = normalizeKey(key)
	file, line := l.Locate(key)
	if msg == "unknown key" {
		msg = l.explainPluginKey(key, msg)
	}
	return &Error{File: file, Line: line, Key: key, Msg: msg}
}

// explainPluginKey lists the valid keys of a plugin type next to an unknown
// key under plugins.NAME, with the closest one.
func (l *Loaded) explainPluginKey(key, msg string) string {
	segs := parseKey(key)
	if len(segs) < 3 || segs[0].key != "plugins" || segs[1].index >= 0 || segs[len(segs)-1].index >= 0 {
		return msg
	}
	var typ string
	if l.Config != nil {
		typ, _ = l.Config.Plugins[segs[1].key]["type"].(string)
	} else if p, ok := l.Raw["plugins"].(map[string]any); ok {
		if inst, ok := p[segs[1].key].(map[string]any); ok {
			typ, _ = inst["type"].(string)
		}
	}
	pt, ok := registry.Lookup(typ)
	if !ok {
		return msg
	}
	valid := keysAt(pt.ConfigType(), segs[2:len(segs)-1])
	if len(segs) == 3 {
		valid = append(valid, "type")
		sort.Strings(valid)
	}
	return unknownKeyMsg(segs[len(segs)-1].key, valid)
}

// trimKey drops a leading "key: " from msg, so that an error that already
// names its key does not name it twice.
func trimKey(msg, key string) string {
	if key == "" {
		return msg
	}
	if rest, ok := strings.CutPrefix(msg, key+": "); ok {
		return rest
	}
	return msg
}

// segment is one step of a key path: a map key or a list index.
type segment struct {
	key   string
	index int // -1 for a map key
}

// parseKey splits "routes[2].middleware[0].when" into its segments. A
// bracketed part that is not a number (as mapstructure writes map keys,
// plugins[gzip]) is a map key.
func parseKey(k string) []segment {
	var segs []segment
	i := 0
	for i < len(k) {
		switch k[i] {
		case '.':
			i++
		case '[':
			end := strings.IndexByte(k[i:], ']')
			if end < 0 {
				segs = append(segs, segment{key: k[i:], index: -1})
				return segs
			}
			in := k[i+1 : i+end]
			if n, err := strconv.Atoi(in); err == nil && n >= 0 {
				segs = append(segs, segment{index: n})
			} else {
				segs = append(segs, segment{key: in, index: -1})
			}
			i += end + 1
		default:
			j := i
			for j < len(k) && k[j] != '.' && k[j] != '[' {
				j++
			}
			segs = append(segs, segment{key: k[i:j], index: -1})
			i = j
		}
	}
	return segs
}

// joinSegments renders segments as a canonical key path.
func joinSegments(segs []segment) string {
	var b strings.Builder
	for i, s := range segs {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// normalizeKey rewrites a key path in the canonical form: map keys joined
// with dots, list indexes in brackets.
func normalizeKey(k string) string {
	if !strings.Contains(k, "[") {
		return k
	}
	return joinSegments(parseKey(k))
}

// childKey appends a map key to a path.
func childKey(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "." + k
}

// indexKey appends a list index to a path.
func indexKey(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}
