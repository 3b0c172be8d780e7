package reqvars

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestSetGet(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if _, ok := Get(r, "user"); ok {
		t.Fatal("a fresh request has a value")
	}
	r2 := Set(r, "user", "alice")
	if r2 == r {
		t.Fatal("the first Set did not copy the request")
	}
	if _, ok := Get(r, "user"); ok {
		t.Fatal("Set changed the original request")
	}
	if r3 := Set(r2, "tier", 2); r3 != r2 {
		t.Fatal("a later Set copied the request again")
	}
	Set(r2, "user", "bob")
	if v, _ := Get(r2, "user"); v != "bob" {
		t.Fatalf("user = %v, want bob (replaced)", v)
	}
	if vs := From(r2.Context()); vs.Len() != 2 {
		t.Fatalf("Len = %d", vs.Len())
	}
	var names []string
	From(r2.Context()).All(func(n string, _ any) { names = append(names, n) })
	if len(names) != 2 || names[0] != "user" || names[1] != "tier" {
		t.Fatalf("All = %q", names)
	}
}

func TestGetAllocatesNothing(t *testing.T) {
	plain := httptest.NewRequest("GET", "/", nil)
	for name, r := range map[string]*http.Request{"none": plain, "set": Set(plain, "user", "alice")} {
		if n := testing.AllocsPerRun(1000, func() { Get(r, "user") }); n != 0 {
			t.Errorf("%s: Get allocates %v", name, n)
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{"abc", "abc"}, {true, "true"}, {42, "42"}, {int64(-7), "-7"},
		{netip.MustParseAddr("10.0.0.1"), "10.0.0.1"}, {3.5, "3.5"}, {nil, "<nil>"},
	}
	for _, tc := range tests {
		if got := Text(tc.v); got != tc.want {
			t.Errorf("Text(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
