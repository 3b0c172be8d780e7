package config

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNormalizeValue(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	in := map[string]any{
		"i64": int64(5), "u8": uint8(7), "u64": uint64(math.MaxUint64), "f": 6.0, "frac": 0.5,
		"nan": math.NaN(), "inf": math.Inf(-1), "big": 1e300, "t": ts, "null": nil,
		"m":    map[any]any{1: "one", "x": nil, "n": map[string]any{"k": int32(3)}},
		"list": []any{int16(1), nil, []map[string]any{{"a": float32(2)}}},
	}
	got, err := normalizeValue(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"i64": 5, "u8": 7, "u64": uint64(math.MaxUint64), "f": 6, "frac": 0.5,
		"nan": "NaN", "inf": "-Inf", "big": 1e300, "t": "2024-01-02T03:04:05Z",
		"m":    map[string]any{"1": "one", "n": map[string]any{"k": 3}},
		"list": []any{1, nil, []any{map[string]any{"a": 2}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("normalizeValue =\n%#v\nwant\n%#v", got, want)
	}
	deep := any("x")
	for range maxDepth + 2 {
		deep = []any{deep}
	}
	if _, err := normalizeValue(deep, 0); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestEnvValue(t *testing.T) {
	for in, want := range map[string]any{
		"2000": 2000, "true": true, "5s": "5s", "1MB": "1MB", "0.5": 0.5, "": "",
		"[a, 1]": []any{"a", 1}, "a: b": "a: b", "[{a: 1}]": "[{a: 1}]", "~": "~",
		"'quoted'": "quoted", "127.0.0.1:8080": "127.0.0.1:8080", "[unclosed": "[unclosed",
	} {
		if got := envValue(in); !reflect.DeepEqual(got, want) {
			t.Errorf("envValue(%q) = %#v, want %#v", in, got, want)
		}
	}
}

func TestEnvInclude(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"main.yaml":  "include: [a.yaml]\n",
		"a.yaml":     "server: {addr: '127.0.0.1:1'}\n",
		"b/b.yaml":   "server: {addr: '127.0.0.1:2'}\n",
		"b/c.yaml":   "reload: {poll: 3s}\n",
		"other.yaml": "server: {addr: '127.0.0.1:3'}\n",
	})
	main := filepath.Join(dir, "main.yaml")
	l := mustLoad(t, main, []string{"SWITCHYARD_INCLUDE=[b/*.yaml]"})
	if l.Config.Server.Addr != "127.0.0.1:2" || l.Config.Reload.Poll != 3*time.Second {
		t.Errorf("SWITCHYARD_INCLUDE not applied: %+v %+v", l.Config.Server, l.Config.Reload)
	}
	if !slices.Equal(l.Globs, []string{filepath.Join(dir, "b/*.yaml")}) {
		t.Errorf("Globs = %v", l.Globs)
	}
	l = mustLoad(t, main, []string{"SWITCHYARD_INCLUDE=other.yaml"})
	if l.Config.Server.Addr != "127.0.0.1:3" {
		t.Errorf("a single glob: addr = %s", l.Config.Server.Addr)
	}
	es := loadErrors(t, main, []string{"SWITCHYARD_INCLUDE=[missing.yaml]"})
	if es[0].File != "env SWITCHYARD_INCLUDE" || !strings.Contains(es[0].Msg, "cannot read included file") {
		t.Errorf("error = %v", es)
	}
	es = loadErrors(t, main, []string{"SWITCHYARD_INCLUDE__X=1"})
	if es[0].File != "env SWITCHYARD_INCLUDE__X" {
		t.Errorf("error = %v", es)
	}
}

func TestErrorsUnwrap(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": "server: {addr: ''}\n"})
	_, err := Load(filepath.Join(dir, "c.yaml"), nil)
	var e *Error
	if !errors.As(err, &e) || e.Key != "server.addr" || e.Line != 1 {
		t.Errorf("errors.As(*Error) = %+v", e)
	}
}
