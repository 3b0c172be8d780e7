package caching

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/dunglas/httpsfv"
)

// Targeted cache control, RFC 9213. A targeted field (CDN-Cache-Control by
// default, then any the config adds, in precedence order) is a Structured
// Field Dictionary with the directives of Cache-Control. The first one that a
// response carries and that parses governs this cache: Cache-Control and
// Expires are then ignored for storing and freshness. A field that does not
// parse, or is empty, is ignored as a whole. The fields are stored and
// forwarded as they came, so that downstream caches still see them.

// responseCC returns the directives that govern this cache for a response
// header h, and whether they came from a targeted field (then Expires does
// not count).
func responseCC(h http.Header, targeted []string) (cc cacheControl, fromTargeted bool) {
	for _, f := range targeted {
		lines, ok := h[f]
		if !ok {
			continue
		}
		if s, ok := renderTargeted(lines); ok {
			return parseCacheControl([]string{s}), true
		}
	}
	return parseCacheControl(h["Cache-Control"]), false
}

// renderTargeted parses a targeted field's lines as a Dictionary and renders
// its directives in Cache-Control syntax. ok is false when the field is empty
// or does not parse.
func renderTargeted(lines []string) (string, bool) {
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil || len(d.Names()) == 0 {
		return "", false
	}
	var b strings.Builder
	for _, name := range d.Names() {
		m, _ := d.Get(name)
		item, isItem := m.(httpsfv.Item)
		var val string
		switch v := item.Value.(type) {
		case bool:
			if !v {
				continue // ?0: the directive is absent
			}
		case int64:
			if v < 0 {
				val = "invalid"
			} else {
				val = strconv.FormatInt(v, 10)
			}
		case httpsfv.Token:
			val = string(v)
		case string:
			val = strconv.Quote(v)
		default:
			val = "invalid" // a value of a type no directive takes
		}
		if !isItem {
			val = "invalid" // an inner list
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		if val != "" {
			b.WriteByte('=')
			b.WriteString(val)
		}
	}
	return b.String(), true
}
