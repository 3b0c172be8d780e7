package config

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2/unstable"
	yaml "go.yaml.in/yaml/v3"
)

// Formats a source can have.
const (
	formatYAML = "yaml"
	formatTOML = "toml"
	formatJSON = "json"
	formatEnv  = "env"
)

// maxLocatedKeys bounds the key index built for one file, so that a
// pathological file cannot make Locate expensive.
const maxLocatedKeys = 1 << 20

// maxDepth bounds the nesting the locators and normalisers walk.
const maxDepth = 200

// source is one layer of the merge: a file or one environment override.
type source struct {
	name   string // absolute path, or "env NAME"
	format string
	data   []byte
	node   *yaml.Node // YAML only

	// routes is how many routes the file appended to the effective list,
	// and routeBase the index of the first one.
	routeBase, routes int

	once  sync.Once
	lines map[string]int // key path -> line (0 for env)
	// weak holds the maps an environment override creates on its way to
	// its key: they locate a key only where no file reaches as deep.
	weak map[string]bool
}

// index returns the source's key index, building it on first use.
func (s *source) index() map[string]int {
	s.once.Do(func() {
		if s.lines != nil {
			return
		}
		switch s.format {
		case formatYAML:
			s.lines = map[string]int{}
			if s.node != nil {
				yamlLines(s.node, "", s.lines, 0)
			}
		case formatJSON:
			s.lines = jsonLines(s.data)
		case formatTOML:
			s.lines = tomlLines(s.data)
		default:
			s.lines = map[string]int{}
		}
	})
	return s.lines
}

// Locate returns the file and line where the key path (such as
// "plugins.gzip.level" or "routes[2].middleware[0].when") was set: the last
// source that set it wins, as in the merge. When no source set the key
// itself, the deepest enclosing key that one did set is used (a route without
// a handler is located at the route). An environment override is reported as
// the file "env SWITCHYARD_…" with line 0. A key that only the defaults set
// is located in the main file with line 0. Lines are exact for YAML, JSON and
// TOML; a key whose position cannot be found has line 0.
func (l *Loaded) Locate(key string) (file string, line int) {
	if l == nil {
		return "", 0
	}
	segs := parseKey(normalizeKey(key))
	if len(segs) == 0 {
		return l.mainName, 0
	}
	bestDepth, bestSrc, bestLine := 0, (*source)(nil), 0
	weakDepth, weakSrc := 0, (*source)(nil)
	for i := len(l.sources) - 1; i >= 0; i-- {
		s := l.sources[i]
		local := segs
		if segs[0].key == "routes" && segs[0].index < 0 && len(segs) > 1 && segs[1].index >= 0 && l.routesAppended {
			// routes[i] lives in the file that appended it, at its own index.
			n := segs[1].index
			if n < s.routeBase || n >= s.routeBase+s.routes {
				continue
			}
			local = append([]segment{segs[0], {index: n - s.routeBase}}, segs[2:]...)
		}
		idx := s.index()
		for d := len(local); d > bestDepth; d-- {
			if ln, ok := idx[joinSegments(local[:d])]; ok {
				bestDepth, bestSrc, bestLine = d, s, ln
				break
			}
		}
		for d := len(local); d > weakDepth && s.weak != nil; d-- {
			if s.weak[joinSegments(local[:d])] {
				weakDepth, weakSrc = d, s
				break
			}
		}
		if bestDepth == len(segs) {
			break
		}
	}
	if weakDepth > bestDepth {
		// Only an environment override reaches this deep (it created the
		// enclosing maps).
		return weakSrc.name, 0
	}
	if bestSrc == nil {
		return l.mainName, 0
	}
	return bestSrc.name, bestLine
}

// yamlLines records the line of every key path under n. A mapping entry is
// located at its key, a list item at the item.
func yamlLines(n *yaml.Node, path string, out map[string]int, depth int) {
	if n == nil || depth > maxDepth || len(out) > maxLocatedKeys {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			yamlLines(c, path, out, depth+1)
		}
	case yaml.AliasNode:
		yamlLines(n.Alias, path, out, depth+1)
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := indexKey(path, i)
			out[p] = c.Line
			yamlLines(c, p, out, depth+1)
		}
	case yaml.MappingNode:
		// Merge keys (<<) first, so that the mapping's own keys win.
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Tag == "!!merge" {
				v := n.Content[i+1]
				if v.Kind == yaml.SequenceNode {
					for _, c := range v.Content {
						yamlLines(c, path, out, depth+1)
					}
				} else {
					yamlLines(v, path, out, depth+1)
				}
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				continue
			}
			p := childKey(path, k.Value)
			out[p] = k.Line
			yamlLines(v, p, out, depth+1)
		}
	}
}

// lineIndex maps byte offsets to 1-based lines.
type lineIndex []int // offsets of each '\n'

func newLineIndex(data []byte) lineIndex {
	var li lineIndex
	for i, c := range data {
		if c == '\n' {
			li = append(li, i)
		}
	}
	return li
}

func (li lineIndex) line(off int) int {
	return sort.SearchInts(li, off) + 1
}

// jsonLines records the line of every key path in a JSON document; with
// duplicate keys the last one wins, as in the parse.
func jsonLines(data []byte) map[string]int {
	out := map[string]int{}
	li := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return out
	}
	var walk func(tok json.Token, path string, depth int) bool
	walk = func(tok json.Token, path string, depth int) bool {
		d, ok := tok.(json.Delim)
		if !ok {
			return true
		}
		if depth > maxDepth || len(out) > maxLocatedKeys {
			return false
		}
		switch d {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return false
				}
				k, _ := kt.(string)
				p := childKey(path, k)
				out[p] = li.line(int(dec.InputOffset()) - 1)
				vt, err := dec.Token()
				if err != nil || !walk(vt, p, depth+1) {
					return false
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				vt, err := dec.Token()
				if err != nil {
					return false
				}
				p := indexKey(path, i)
				out[p] = li.line(int(dec.InputOffset()) - 1)
				if !walk(vt, p, depth+1) {
					return false
				}
			}
		default:
			return true
		}
		_, err := dec.Token() // the closing delimiter
		return err == nil
	}
	walk(tok, "", 0)
	return out
}

// tomlLines records the line of every key path in a TOML document, following
// [tables], [[arrays of tables]], dotted keys, inline tables and arrays.
func tomlLines(data []byte) (out map[string]int) {
	out = map[string]int{}
	defer func() {
		// The parser's AST accessors panic on shapes they do not expect;
		// locating is best effort, so keep what was found.
		_ = recover()
	}()
	var p unstable.Parser
	p.Reset(data)
	arrays := map[string]int{} // resolved path of an array of tables -> elements so far
	cur := ""
	for p.NextExpression() && len(out) <= maxLocatedKeys {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, line := tomlKey(&p, e.Key())
			path := ""
			for i, part := range parts {
				path = childKey(path, part)
				last := i == len(parts)-1
				if last && e.Kind == unstable.ArrayTable {
					n := arrays[path]
					arrays[path] = n + 1
					if _, ok := out[path]; !ok {
						out[path] = line
					}
					path = indexKey(path, n)
					out[path] = line
					continue
				}
				if _, ok := out[path]; !ok || last {
					out[path] = line
				}
				if n := arrays[path]; n > 0 {
					path = indexKey(path, n-1)
				}
			}
			cur = path
		case unstable.KeyValue:
			tomlKeyValue(&p, e, cur, out, 0)
		}
	}
	return out
}

func tomlKey(p *unstable.Parser, it unstable.Iterator) (parts []string, line int) {
	for it.Next() {
		k := it.Node()
		parts = append(parts, string(k.Data))
		line = p.Shape(k.Raw).Start.Line
	}
	return parts, line
}

func tomlKeyValue(p *unstable.Parser, e *unstable.Node, base string, out map[string]int, depth int) {
	if depth > maxDepth || len(out) > maxLocatedKeys {
		return
	}
	parts, line := tomlKey(p, e.Key())
	path := base
	for _, part := range parts {
		path = childKey(path, part)
		out[path] = line
	}
	tomlValue(p, e.Value(), path, line, out, depth)
}

func tomlValue(p *unstable.Parser, v *unstable.Node, path string, line int, out map[string]int, depth int) {
	if v == nil || depth > maxDepth {
		return
	}
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				tomlKeyValue(p, c, path, out, depth+1)
			}
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			c := it.Node()
			ep := indexKey(path, i)
			ln := tomlNodeLine(p, c, line)
			out[ep] = ln
			tomlValue(p, c, ep, ln, out, depth+1)
		}
	}
}

// tomlNodeLine returns the line of a value node, or fallback when the parser
// kept no position for it.
func tomlNodeLine(p *unstable.Parser, n *unstable.Node, fallback int) int {
	for ; n != nil; n = n.Child() {
		if n.Raw.Length > 0 {
			return p.Shape(n.Raw).Start.Line
		}
		if n.Kind == unstable.Bool && len(n.Data) > 0 {
			return p.Shape(p.Range(n.Data)).Start.Line
		}
		if n.Kind == unstable.KeyValue {
			if it := n.Key(); it.Next() {
				return p.Shape(it.Node().Raw).Start.Line
			}
		}
	}
	return fallback
}

// yamlParserProblems are the YAML parser's (not scanner's) errors, for which
// the YAML library reports the 0-based line: one less than the 1-based line
// it reports for scanner errors.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// yamlErrorLine extracts the 1-based line from a YAML error message.
func yamlErrorLine(msg string) int {
	line := yamlReportedLine(msg)
	for _, p := range yamlParserProblems {
		if strings.Contains(msg, p) {
			return line + 1
		}
	}
	return line
}

// yamlReportedLine extracts "line N" from a YAML error message.
func yamlReportedLine(msg string) int {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range msg[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > 1<<30 {
			return 0
		}
	}
	return n
}
