package conditions

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/reqvars"
)

// TestRequestVars: request.vars in CEL and the vars matcher read the values
// that earlier links set, and a request without values matches neither.
func TestRequestVars(t *testing.T) {
	c, err := NewCompiler(nil, Options{Cache: newCountedCache(t, 100, time.Minute).Cache})
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewRequest("GET", "/", nil)
	alice := reqvars.Set(plain, "user", "alice")
	alice = reqvars.Set(alice, "admin", true)
	alice = reqvars.Set(alice, "tier", 3)
	bob := reqvars.Set(plain, "user", "bob")
	tests := []struct {
		name             string
		src              any
		plain, ali, bobs bool
	}{
		{"select", `request.vars.user == "alice"`, false, true, false},
		{"index", `request.vars["user"].startsWith("b")`, false, false, true},
		{"has", `has(request.vars.user)`, false, true, true},
		{"in", `"admin" in request.vars`, false, true, false},
		{"bool", `has(request.vars.admin) && request.vars.admin`, false, true, false},
		{"int", `has(request.vars.tier) && request.vars.tier > 2`, false, true, false},
		{"size", `size(request.vars) >= 2`, false, true, false},
		{"structured present", map[string]any{"vars": map[string]any{"user": ""}}, false, true, true},
		{"structured glob", map[string]any{"vars": map[string]any{"user": "al*"}}, false, true, false},
		{"structured non-string", map[string]any{"vars": map[string]any{"admin": "true", "tier": "3"}}, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, err := c.Compile("when", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			// Twice: a second answer must not come from a stale cache entry.
			for range 2 {
				for _, q := range []struct {
					name string
					got  bool
					want bool
				}{
					{"plain", cond.Match(plain), tt.plain},
					{"alice", cond.Match(alice), tt.ali},
					{"bob", cond.Match(bob), tt.bobs},
				} {
					if q.got != q.want {
						t.Errorf("%s: Match = %v, want %v", q.name, q.got, q.want)
					}
				}
			}
		})
	}
}

func TestRequestVarsInStringExpressions(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.CompileString("key", `has(request.vars.user) ? string(request.vars.user) : ""`)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	if got := f(r); got != "" {
		t.Errorf("no value: key = %q", got)
	}
	if got := f(reqvars.Set(r, "user", "alice")); got != "alice" {
		t.Errorf("key = %q, want alice", got)
	}
}

func TestVarsMatcherErrors(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []any{
		map[string]any{"vars": "user"},
		map[string]any{"vars": map[string]any{}},
		map[string]any{"vars": map[string]any{"user": 3}},
	} {
		if _, err := c.Compile("when", src); err == nil {
			t.Errorf("%v compiled", src)
		}
	}
}

// TestVarsMatcherAllocatesNothing: the structured vars matcher, on a request
// with values and on one without, allocates nothing.
func TestVarsMatcherAllocatesNothing(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cond, err := c.Compile("when", map[string]any{"vars": map[string]any{"user": "al*"}})
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewRequest("GET", "/", nil)
	alice := reqvars.Set(plain, "user", "alice")
	for name, r := range map[string]*http.Request{"no values": plain, "with values": alice} {
		if n := testing.AllocsPerRun(1000, func() { cond.Match(r) }); n != 0 {
			t.Errorf("%s: %v allocations per match, want 0", name, n)
		}
	}
}

func BenchmarkVarsMatcher(b *testing.B) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	cond, err := c.Compile("when", map[string]any{"vars": map[string]any{"user": "al*"}})
	if err != nil {
		b.Fatal(err)
	}
	plain := httptest.NewRequest("GET", "/", nil)
	for name, r := range map[string]*http.Request{"none": plain, "set": reqvars.Set(plain, "user", "alice")} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cond.Match(r)
			}
		})
	}
}
