package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/switchyard/switchyard/registry"
)

var (
	configType   = reflect.TypeFor[Config]()
	routeType    = reflect.TypeFor[Route]()
	durationType = reflect.TypeFor[time.Duration]()
)

// decode turns the merged map into a Config, strictly. Routes and chain
// links are decoded one by one, so that one bad route does not hide the
// errors of the next.
func decode(raw map[string]any) (*Config, Errors) {
	cfg := &Config{}
	var errs Errors
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := raw[k]
		switch k {
		case "include":
			// Resolved while reading the files.
		case "routes", "middleware":
			list, ok := v.([]any)
			if !ok {
				if v != nil {
					errs = append(errs, &Error{Key: k, Msg: "expected a list, got " + typeName(v)})
				}
				continue
			}
			if k == "routes" {
				cfg.Routes = make([]Route, len(list))
			} else {
				cfg.Middleware = make([]Link, len(list))
			}
			for i, item := range list {
				key := indexKey(k, i)
				if k == "routes" {
					rm, ok := item.(map[string]any)
					if !ok {
						errs = append(errs, &Error{Key: key, Msg: "expected a route (a map with path and handler), got " + typeName(item)})
						continue
					}
					rm = normalizeRoute(rm)
					errs = append(errs, checkSchema(rm, routeType, key, 0)...)
					errs = append(errs, decodeInto(rm, &cfg.Routes[i], key)...)
					continue
				}
				lm, err := normalizeLink(item, key)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, checkSchema(lm, reflect.TypeFor[Link](), key, 0)...)
				errs = append(errs, decodeInto(lm, &cfg.Middleware[i], key)...)
			}
		default:
			m := map[string]any{k: v}
			errs = append(errs, checkSchema(m, configType, "", 0)...)
			errs = append(errs, decodeInto(m, cfg, "")...)
		}
	}
	return cfg, errs
}

// normalizeRoute returns a copy of a route map with the short forms
// expanded: `handler: NAME` and bare-string chain links.
func normalizeRoute(rm map[string]any) map[string]any {
	out := make(map[string]any, len(rm))
	for k, v := range rm {
		out[k] = v
	}
	if h, ok := out["handler"].(string); ok {
		out["handler"] = map[string]any{"name": h}
	}
	if list, ok := out["middleware"].([]any); ok {
		links := make([]any, len(list))
		for i, item := range list {
			if s, ok := item.(string); ok {
				links[i] = map[string]any{"use": s}
			} else {
				links[i] = item
			}
		}
		out["middleware"] = links
	}
	return out
}

// normalizeLink expands a bare-string chain link into {use: NAME}.
func normalizeLink(item any, key string) (map[string]any, *Error) {
	switch x := item.(type) {
	case string:
		return map[string]any{"use": x}, nil
	case map[string]any:
		return x, nil
	}
	return nil, &Error{Key: key, Msg: "expected a chain link (a plugin name, or a map with use and when), got " + typeName(item)}
}

// decodeInto decodes in into out with registry.Decode and turns its errors
// into Errors under prefix.
func decodeInto(in map[string]any, out any, prefix string) Errors {
	err := registry.Decode(in, out)
	if err == nil {
		return nil
	}
	var errs Errors
	if des, ok := err.(registry.DecodeErrors); ok {
		for _, fe := range des {
			key := normalizeKey(fe.Key)
			if prefix != "" {
				if key == "" {
					key = prefix
				} else if strings.HasPrefix(key, "[") {
					key = prefix + key
				} else {
					key = prefix + "." + key
				}
			}
			errs = append(errs, &Error{Key: key, Msg: explain(key, fe.Msg)})
		}
		return errs
	}
	return Errors{{Key: prefix, Msg: err.Error()}}
}

// explain adds what a config author needs to an unknown-key error: the keys
// that are valid there and the closest one.
func explain(key, msg string) string {
	if msg != "unknown key" {
		return msg
	}
	segs := parseKey(key)
	if len(segs) == 0 {
		return msg
	}
	valid := keysAt(configType, segs[:len(segs)-1])
	return unknownKeyMsg(segs[len(segs)-1].key, valid)
}

func unknownKeyMsg(bad string, valid []string) string {
	if len(valid) == 0 {
		return "unknown key"
	}
	msg := "unknown key"
	if s := closest(bad, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; valid keys here: " + strings.Join(valid, ", ")
}

// keysAt returns the koanf keys of the struct reached from t through segs,
// or nil when segs lead into a free-form map.
func keysAt(t reflect.Type, segs []segment) []string {
	for _, s := range segs {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, s.key)
			if !ok {
				return nil
			}
			t = f.Type
		case reflect.Slice:
			if s.index < 0 {
				return nil
			}
			t = t.Elem()
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag := koanfTag(t.Field(i)); tag != "" {
			keys = append(keys, tag)
		}
	}
	sort.Strings(keys)
	return keys
}

func koanfTag(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("koanf"), ",")
	if tag == "-" {
		return ""
	}
	return tag
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); koanfTag(f) == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// closest returns the candidate nearest to s by edit distance, when it is
// near enough to be a likely typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) && bestD < len(s) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkSchema reports what decoding would let through silently: a key
// that matches a field only when case is ignored (keys are case-sensitive:
// `Addr:` is not `addr:`), and a fractional number for an integer key (which
// decoding would truncate: rate: 1.5 is not 1).
func checkSchema(v any, t reflect.Type, path string, depth int) Errors {
	if depth > maxDepth {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		var errs Errors
		for _, k := range sortedKeys(m) {
			if f, ok := fieldByTag(t, k); ok {
				errs = append(errs, checkSchema(m[k], f.Type, childKey(path, k), depth+1)...)
				continue
			}
			for i := range t.NumField() {
				if tag := koanfTag(t.Field(i)); tag != "" && strings.EqualFold(tag, k) {
					errs = append(errs, &Error{Key: childKey(path, k), Msg: fmt.Sprintf("unknown key (did you mean %q? keys are case-sensitive)", tag)})
					break
				}
			}
		}
		return errs
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		var errs Errors
		for i, e := range list {
			errs = append(errs, checkSchema(e, t.Elem(), indexKey(path, i), depth+1)...)
		}
		return errs
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if f, ok := v.(float64); ok && t != durationType {
			return Errors{{Key: path, Msg: fmt.Sprintf("expected a whole number, got %v", f)}}
		}
	}
	return nil
}
