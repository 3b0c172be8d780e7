package core

import (
	"fmt"
	"slices"

	"github.com/switchyard/switchyard/hotreload"
)

// diff says what a reload changed, for the history and the log line.
func diff(old, s *Snapshot) hotreload.Changes {
	var c hotreload.Changes
	c.PluginsCreated = s.plugins.Created()
	c.PluginsKept = s.plugins.Kept()
	if old == nil {
		for _, r := range s.routes {
			c.RoutesAdded = append(c.RoutesAdded, r.Path)
		}
		return c
	}
	for _, n := range old.plugins.Names() {
		if !slices.Contains(s.plugins.Kept(), n) {
			c.PluginsRetired = append(c.PluginsRetired, n)
		}
	}
	was := map[string]string{}
	for _, r := range old.routes {
		was[r.Path] = fmt.Sprint(r)
	}
	now := map[string]bool{}
	for _, r := range s.routes {
		now[r.Path] = true
		prev, ok := was[r.Path]
		switch {
		case !ok:
			c.RoutesAdded = append(c.RoutesAdded, r.Path)
		case prev != fmt.Sprint(r) || usesAny(r, c.PluginsCreated):
			c.RoutesChanged = append(c.RoutesChanged, r.Path)
		}
	}
	for _, r := range old.routes {
		if !now[r.Path] {
			c.RoutesRemoved = append(c.RoutesRemoved, r.Path)
		}
	}
	slices.Sort(c.RoutesAdded)
	slices.Sort(c.RoutesRemoved)
	slices.Sort(c.RoutesChanged)
	return c
}

// usesAny reports whether r's chain uses one of the plugins named.
func usesAny(r RouteInfo, plugins []string) bool {
	for _, l := range r.Chain {
		if slices.Contains(plugins, l.Plugin) {
			return true
		}
	}
	return false
}
