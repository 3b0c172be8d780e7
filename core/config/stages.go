package config

import (
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/switchyard/switchyard/conditions"
	"github.com/switchyard/switchyard/registry"
)

// laterStages runs, on a configuration that has structural errors (errs),
// the checks that a build would run next and that need nothing the errors
// spoiled: each plugin instance's options decoded and validated by its type,
// the named conditions compiled, and each link's `when:` compiled. So one
// load reports every mistake it can find. A check under a key that already
// failed is left out, and so are link conditions when a named condition
// fails (they may refer to it). What needs the host (plugin factories, Go
// handler names) runs only once the structure is sound.
func (l *Loaded) laterStages(c *Config, errs Errors) Errors {
	var out Errors
	add := func(key string, err error) {
		for _, e := range l.keyedUnder(key, err) {
			if !overlaps(e.Key, errs) && !overlaps(e.Key, out) {
				out = append(out, e)
			}
		}
	}
	plugins, _ := l.Raw["plugins"].(map[string]any)
	sections := l.Sections()
	for _, name := range slices.Sorted(maps.Keys(plugins)) {
		raw, ok := plugins[name].(map[string]any)
		if !ok {
			continue
		}
		typ, _ := raw["type"].(string)
		t, found := registry.Lookup(typ)
		key := "plugins." + name
		if !found || overlaps(key, errs) {
			continue
		}
		keys := make(map[string]any, len(raw))
		for k, v := range raw {
			if k != "type" {
				keys[k] = v
			}
		}
		if _, err := t.Decode(registry.Section(sections[typ]), keys); err != nil {
			add(key, err)
		}
	}
	if overlaps("conditions", errs) {
		return out
	}
	comp, err := conditions.NewCompiler(c.Conditions, conditions.Options{})
	if err != nil {
		add("", err)
		return out
	}
	link := func(key string, ln Link) {
		if ln.When == nil || overlaps(key, errs) {
			return
		}
		if _, err := comp.Compile(key, ln.When); err != nil {
			add("", err)
		}
	}
	for j, ln := range c.Middleware {
		link("middleware["+strconv.Itoa(j)+"].when", ln)
	}
	for i, r := range c.Routes {
		for j, ln := range r.Middleware {
			link("routes["+strconv.Itoa(i)+"].middleware["+strconv.Itoa(j)+"].when", ln)
		}
	}
	return out
}

// keyedUnder annotates err, whose keys are relative to prefix.
func (l *Loaded) keyedUnder(prefix string, err error) Errors {
	var se *registry.SectionError
	if errors.As(err, &se) {
		return nil // the performance.response section: decoding reported it
	}
	var in registry.DecodeErrors
	var de registry.DecodeErrors
	var fe *registry.FieldError
	switch {
	case errors.As(err, &de):
		in = de
	case errors.As(err, &fe):
		in = registry.DecodeErrors{fe}
	case prefix != "":
		in = registry.DecodeErrors{{Msg: err.Error()}}
	default:
		var out Errors
		l.annotate(err, &out)
		return out
	}
	prefixed := make(registry.DecodeErrors, len(in))
	for i, e := range in {
		prefixed[i] = &registry.FieldError{Key: childKey(prefix, e.Key), Msg: e.Msg}
		if e.Key == "" {
			prefixed[i].Key = prefix
		}
	}
	var out Errors
	l.annotate(prefixed, &out)
	return out
}
