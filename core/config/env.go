package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/knadh/koanf/v2"
	yaml "go.yaml.in/yaml/v3"
)

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
