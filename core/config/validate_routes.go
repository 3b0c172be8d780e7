package config

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

func (v *validator) routes() {
	type seen struct {
		route   int
		methods map[string]bool // nil = every method
	}
	byShape := map[string][]seen{}
	for i, r := range v.c.Routes {
		key := indexKey("routes", i)
		expanded, err := ExpandPattern(r.Path)
		if err != nil {
			v.add(key+".path", "%v", err)
		}
		var listed map[string]bool
		if len(r.Methods) > 0 {
			listed = map[string]bool{}
		}
		for j, m := range r.Methods {
			mk := indexKey(key+".methods", j)
			switch {
			case !knownMethod(m):
				msg := fmt.Sprintf("unknown HTTP method %q; methods are %s", m, strings.Join(methods, ", "))
				if knownMethod(strings.ToUpper(m)) {
					msg = fmt.Sprintf("unknown HTTP method %q: methods are upper-case, write %q", m, strings.ToUpper(m))
				}
				v.add(mk, "%s", msg)
			case listed[m]:
				v.add(mk, "method %s is listed twice", m)
			default:
				listed[m] = true
			}
		}
		v.handler(key+".handler", &r.Handler)
		if err != nil {
			continue
		}
		shape := routeKey(expanded)
		for _, s := range byShape[shape] {
			if clash := overlap(listed, s.methods); clash != "" {
				v.add(key+".path", "%s %s is already routed by routes[%d] (path %q)", clash, r.Path, s.route, v.c.Routes[s.route].Path)
				break
			}
		}
		byShape[shape] = append(byShape[shape], seen{route: i, methods: listed})
	}
}

// overlap names what two method sets share ("" when nothing); nil is every
// method.
func overlap(a, b map[string]bool) string {
	switch {
	case a == nil && b == nil:
		return "every method of"
	case a == nil:
		return strings.Join(sortedKeys(b), ",")
	case b == nil:
		return strings.Join(sortedKeys(a), ",")
	}
	var both []string
	for m := range a {
		if b[m] {
			both = append(both, m)
		}
	}
	sort.Strings(both)
	return strings.Join(both, ",")
}

func knownMethod(m string) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

func (v *validator) handler(key string, h *Handler) {
	var kinds []string
	if h.Name != "" {
		kinds = append(kinds, "name")
	}
	if h.Respond != nil {
		kinds = append(kinds, "respond")
	}
	if h.Static != nil {
		kinds = append(kinds, "static")
	}
	if h.Proxy != nil {
		kinds = append(kinds, "proxy")
	}
	switch len(kinds) {
	case 0:
		v.add(key, "a route needs a handler: respond, static, proxy, or the name of a handler registered in code")
		return
	case 1:
	default:
		v.add(key, "a route has exactly one handler, this one has %d (%s); keep one", len(kinds), strings.Join(kinds, " and "))
		return
	}
	switch {
	case h.Respond != nil:
		if s := h.Respond.Status; s != 0 && (s < 100 || s > 599) {
			v.add(key+".respond.status", "must be an HTTP status from 100 to 599, got %d", s)
		}
		for _, name := range sortedKeys(h.Respond.Headers) {
			hk := childKey(key+".respond.headers", name)
			if !validHeaderName(name) {
				v.add(hk, "%q is not a valid header name", name)
			} else if strings.ContainsAny(h.Respond.Headers[name], "\r\n\x00") {
				v.add(hk, "header values must not contain CR, LF or NUL")
			}
		}
	case h.Static != nil:
		if h.Static.Root == "" {
			v.add(key+".static.root", "must name the directory to serve")
		}
	case h.Proxy != nil:
		u, err := url.Parse(h.Proxy.Upstream)
		switch {
		case h.Proxy.Upstream == "":
			v.add(key+".proxy.upstream", "must be the upstream's base URL, such as http://127.0.0.1:3000")
		case err != nil:
			v.add(key+".proxy.upstream", "%q is not a URL: %v", h.Proxy.Upstream, err)
		case u.Scheme != "http" && u.Scheme != "https":
			v.add(key+".proxy.upstream", "%q: the scheme must be http or https", h.Proxy.Upstream)
		case u.Host == "":
			v.add(key+".proxy.upstream", "%q has no host", h.Proxy.Upstream)
		}
	}
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
