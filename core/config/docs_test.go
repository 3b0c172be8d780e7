package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// configKeys returns every key path the loader accepts, walking the koanf
// tags of t: lists of structs as name[], free-form maps as leaves.
func configKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := koanfTag(f)
		if tag == "" {
			continue
		}
		key := childKey(prefix, tag)
		*out = append(*out, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != durationType:
			configKeys(ft, key, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			configKeys(ft.Elem(), key+"[]", out)
		}
	}
}

// TestDocsListEveryKey fails when a key the loader accepts is missing from
// docs/configuration.md.
func TestDocsListEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var keys []string
	configKeys(reflect.TypeFor[Config](), "", &keys)
	if len(keys) < 80 {
		t.Fatalf("walked only %d keys: the walk is broken", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", k)
		}
	}
	// Every key with a default in Defaults() is a key the walk found.
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for k, v := range m {
			key := childKey(prefix, k)
			found := false
			for _, x := range keys {
				found = found || x == key
			}
			if !found {
				t.Errorf("Defaults() sets %s, which Config does not have", key)
			}
			if sub, ok := v.(map[string]any); ok {
				walk(sub, key)
			}
		}
	}
	walk(Defaults(), "")
}
