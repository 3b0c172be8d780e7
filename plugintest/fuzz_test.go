package plugintest

import (
	"strings"
	"testing"
)

// FuzzParseSnippet feeds arbitrary snippets to the parser: it never
// panics, and what it accepts is a spec of the requested type and name
// whose keys do not include type.
func FuzzParseSnippet(f *testing.F) {
	for _, s := range []string{
		"", "label: x", "{label: x, level: 2}", "type: plugintest-probe\nlabel: y",
		"type: other", "- a\n- b", "label: [", "when: {method: [GET]}", "a: {b: {c: 1}}",
		"size: 1MB\nttl: 5s", "n: 1.5", "n: 1.0", "key: ~", "? [a]\n: b", "t: 2026-01-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, snippet string) {
		spec, _, err := parseSnippet("plugintest-probe", "fz", snippet)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		if spec.Name != "fz" || spec.Type != "plugintest-probe" {
			t.Fatalf("spec %s/%s", spec.Name, spec.Type)
		}
		if _, ok := spec.Config["type"]; ok {
			t.Fatalf("type left in the config: %v", spec.Config)
		}
	})
}
