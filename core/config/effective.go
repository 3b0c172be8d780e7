package config

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"

	yaml "go.yaml.in/yaml/v3"

	"github.com/switchyard/switchyard/registry"
)

// MarshalEffective renders the configuration in effect as YAML, as
// `-print-config` prints it: Marshal's output with every default written
// out, including each plugin instance's options as its type fills them in
// (SetDefaults and the performance.response section), `type` first and the
// other options in the order of the type's config struct, and a respond
// handler's status as served (200 when left out).
//
// Plugin options tagged secret:"true" are printed as "REDACTED" (a list or
// map keeps its shape, each string replaced), so the output can be shared;
// put the secrets back before serving it. The output round-trips: loading
// it and printing again gives the same bytes.
//
// A plugin type that is not registered in the binary is printed as written.
func (l *Loaded) MarshalEffective() ([]byte, error) {
	if l == nil || l.Config == nil {
		return nil, fmt.Errorf("config: MarshalEffective of a configuration that did not load")
	}
	c := *l.Config
	c.Include = nil
	c.Routes = respondDefaults(c.Routes)
	plugins := c.Plugins
	if len(plugins) > 0 {
		// A stand-in that keeps the key's place; its value is replaced below.
		c.Plugins = map[string]map[string]any{"": nil}
	}
	n, err := toNode(reflect.ValueOf(c))
	if err != nil {
		return nil, err
	}
	if len(plugins) > 0 {
		pn, err := l.pluginsNode(plugins)
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "plugins" {
				n.Content[i+1] = pn
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pluginsNode renders the plugins block with each instance's decoded,
// defaulted config.
func (l *Loaded) pluginsNode(plugins map[string]map[string]any) (*yaml.Node, error) {
	sections := l.Sections()
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, name := range slices.Sorted(maps.Keys(plugins)) {
		raw := plugins[name]
		typ, _ := raw["type"].(string)
		keys := make(map[string]any, len(raw))
		for k, v := range raw {
			if k != "type" {
				keys[k] = v
			}
		}
		var inst *yaml.Node
		t, ok := registry.Lookup(typ)
		if !ok {
			n, err := toNode(reflect.ValueOf(raw))
			if err != nil {
				return nil, err
			}
			inst = n
		} else {
			cfg, err := t.Decode(registry.Section(sections[typ]), keys)
			if err != nil {
				return nil, fmt.Errorf("plugins.%s: %w", name, err)
			}
			body, err := toNode(reflect.ValueOf(cfg))
			if err != nil {
				return nil, err
			}
			redactNode(body, reflect.ValueOf(cfg).Elem().Type())
			inst = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			tn, err := scalar(typ)
			if err != nil {
				return nil, err
			}
			inst.Content = append(inst.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "type"}, tn)
			inst.Content = append(inst.Content, body.Content...)
		}
		out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, inst)
	}
	return out, nil
}

// redactNode replaces, in the mapping n rendered from a struct of type t,
// the values of the fields tagged secret:"true", keeping their shape: every
// string scalar under them becomes "REDACTED".
func redactNode(n *yaml.Node, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
	case reflect.Map:
		for i := 1; i < len(n.Content); i += 2 {
			redactNode(n.Content[i], t.Elem())
		}
		return
	default:
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		f, ok := fieldByTag(t, n.Content[i].Value)
		if !ok {
			continue
		}
		v := n.Content[i+1]
		if registry.IsSecret(f) {
			redactScalars(v)
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct || ft.Kind() == reflect.Map:
			redactNode(v, ft)
		case (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array) && v.Kind == yaml.SequenceNode:
			for _, e := range v.Content {
				redactNode(e, ft.Elem())
			}
		}
	}
}

// redactScalars replaces every non-empty string scalar under n.
func redactScalars(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" && n.Value != "" {
			n.Value = registry.Redacted
			n.Style = 0
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			redactScalars(e)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			redactScalars(n.Content[i])
		}
	}
}

// effectiveForVersion returns a copy of c with the defaults that
// MarshalEffective writes out filled in the same way: a respond status of 0
// as 200, and each plugin instance's keys replaced by its decoded, defaulted
// config (as canonical JSON) when its type is registered and decodes them.
// An instance that does not decode keeps its keys as written: the build
// reports its error.
func effectiveForVersion(c *Config, sections map[string]map[string]any) Config {
	cc := *c
	cc.Include = nil
	cc.Routes = respondDefaults(cc.Routes)
	if len(cc.Plugins) == 0 {
		return cc
	}
	plugins := make(map[string]map[string]any, len(cc.Plugins))
	for name, raw := range cc.Plugins {
		plugins[name] = raw
		typ, _ := raw["type"].(string)
		t, ok := registry.Lookup(typ)
		if !ok {
			continue
		}
		keys := make(map[string]any, len(raw))
		for k, v := range raw {
			if k != "type" {
				keys[k] = v
			}
		}
		cfg, err := t.Decode(registry.Section(sections[typ]), keys)
		if err != nil {
			continue
		}
		plugins[name] = map[string]any{"type": typ, "config": cfg}
	}
	cc.Plugins = plugins
	return cc
}

// respondDefaults returns routes with a respond status of 0 written as the
// 200 it serves (a copy when one changes; routes itself otherwise).
func respondDefaults(routes []Route) []Route {
	if !slices.ContainsFunc(routes, func(r Route) bool { return r.Handler.Respond != nil && r.Handler.Respond.Status == 0 }) {
		return routes
	}
	routes = slices.Clone(routes)
	for i := range routes {
		if r := routes[i].Handler.Respond; r != nil && r.Status == 0 {
			rr := *r
			rr.Status = http.StatusOK
			routes[i].Handler.Respond = &rr
		}
	}
	return routes
}
