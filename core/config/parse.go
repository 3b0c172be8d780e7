package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	kjson "github.com/knadh/koanf/parsers/json"
	ktoml "github.com/knadh/koanf/parsers/toml/v2"
	kyaml "github.com/knadh/koanf/parsers/yaml"
	gotoml "github.com/pelletier/go-toml/v2"
	yaml "go.yaml.in/yaml/v3"
)

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
