package conditions

import (
	"errors"
	"strings"
	"testing"
)

func asError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	return e
}

func TestCompileErrors(t *testing.T) {
	named := map[string]any{"is_api": `request.path.startsWith("/api/")`}
	c, err := NewCompiler(named, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const key = "routes[2].middleware[0].when"
	tests := []struct {
		name    string
		src     any
		wantKey string
		wantCol int
		wantMsg string // a substring
	}{
		{"type error", `request.method == 1`, key, 16, "no matching overload for '_==_' applied to '(string, int)'"},
		{"unknown field", `request.methd == "GET"`, key, 8, "undefined field 'methd' (request has content_length, header"},
		{"unknown named condition", `is_apii`, key, 1, `unknown condition "is_apii"`},
		{"unknown named condition indented", `  is_apii`, key, 3, `unknown condition "is_apii"`},
		{"syntax error", `request.method == "GET" &&`, key, 27, "Syntax error"},
		{"unclosed string", `request.path == "/api`, key, 17, "Syntax error"},
		{"undeclared identifier", `req.method == "GET"`, key, 1, "undeclared reference to 'req'"},
		{"not bool", `request.path`, key, 1, "expected an expression of type bool, got string"},
		{"bad cidr constant", `ip_in(request.remote_ip, "10.0.0.0/33")`, key, 26, `ip_in: "10.0.0.0/33" is not a CIDR`},
		{"bad ip constant", `ip_in(request.remote_ip, "ten")`, key, 26, `"ten" is not a CIDR or an IP address`},
		{"bad regexp constant", `request.path.matches("(")`, key, 22, "matches: error parsing regexp: missing closing )"},
		{"bad regexp constant global", `matches(request.path, "[a")`, key, 23, "matches: error parsing regexp"},
		{"wrong helper arity", `path_match("/a", "/b", "/c")`, key, 11, "found no matching overload for 'path_match'"},
		{"empty string", ``, key, 0, "empty expression"},
		{"blank string", "  ", key, 0, "empty expression"},
		{"nil", nil, key, 0, "empty condition"},
		{"number", 42, key, 0, "got an integer"},
		{"list", []any{"a"}, key, 0, "got a list"},

		{"unknown matcher", map[string]any{"pth": "/x"}, key + ".pth", 0, `unknown matcher "pth"`},
		{"empty map", map[string]any{}, key, 0, "empty condition"},
		{"method not a token", map[string]any{"method": []any{"GET", "GE T"}}, key + ".method[1]", 0, `"GE T" is not an HTTP method`},
		{"method wrong type", map[string]any{"method": 1}, key + ".method", 0, "expected a string or a list of strings"},
		{"method empty list", map[string]any{"method": []any{}}, key + ".method", 0, "at least one"},
		{"path empty", map[string]any{"path": ""}, key + ".path", 0, "non-empty"},
		{"path list item", map[string]any{"path": []any{"/a", 3}}, key + ".path[1]", 0, "expected a non-empty string, got an integer"},
		{"header not map", map[string]any{"header": "X-A"}, key + ".header", 0, "expected a map of header names"},
		{"header value number", map[string]any{"header": map[string]any{"X-Debug": 1}}, key + ".header.X-Debug", 0, "quote the value"},
		{"header bad name", map[string]any{"header": map[string]any{"X A": ""}}, key + ".header.X A", 0, "not a header name"},
		{"query value bool", map[string]any{"query": map[string]any{"debug": true}}, key + ".query.debug", 0, "got a boolean"},
		{"remote_ip bad", map[string]any{"remote_ip": []any{"10.0.0.0/8", "10.0.0.0/99"}}, key + ".remote_ip[1]", 0, "is not a CIDR"},
		{"remote_ip bad single", map[string]any{"remote_ip": "nope"}, key + ".remote_ip", 0, "is not a CIDR or an IP address"},
		{"all not list", map[string]any{"all": map[string]any{"path": "/"}}, key + ".all", 0, "expected a list of conditions"},
		{"any empty", map[string]any{"any": []any{}}, key + ".any", 0, "at least one condition"},
		{"nested expression error", map[string]any{"any": []any{map[string]any{"path": "/"}, `request.method == 1`}}, key + ".any[1]", 16, "no matching overload"},
		{"nested unknown name", map[string]any{"not": map[string]any{"all": []any{"is_api", "nope"}}}, key + ".not.all[1]", 1, `unknown condition "nope"`},
		{"not a list", map[string]any{"not": []any{"is_api"}}, key + ".not", 0, "got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, err := c.Compile(key, tt.src)
			if cond != nil {
				t.Errorf("got a condition %q with the error", cond)
			}
			e := asError(t, err)
			if e.Key != tt.wantKey || e.Column != tt.wantCol || !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("got key %q column %d msg %q; want key %q column %d msg containing %q", e.Key, e.Column, e.Msg, tt.wantKey, tt.wantCol, tt.wantMsg)
			}
		})
	}
}

func TestCompileErrorLines(t *testing.T) {
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Compile("conditions.x", "request.method == \"GET\" &&\n  request.pth == \"/\"")
	e := asError(t, err)
	if e.Line != 2 || e.Column != 10 {
		t.Errorf("got line %d column %d, want line 2 column 10 (%v)", e.Line, e.Column, err)
	}
	if got := err.Error(); !strings.HasPrefix(got, "conditions.x: line 2, column 10: undefined field 'pth'") {
		t.Errorf("Error() = %q", got)
	}
}

func TestNewCompilerErrors(t *testing.T) {
	tests := []struct {
		name    string
		named   map[string]any
		wantKey string
		wantMsg string
	}{
		{"bad name", map[string]any{"is api": "true"}, "conditions.is api", "a condition name is"},
		{"name starts with digit", map[string]any{"1st": "true"}, "conditions.1st", "a condition name is"},
		{"bad expression", map[string]any{"a": `request.nope`}, "conditions.a", "undefined field"},
		{"bad reference", map[string]any{"a": map[string]any{"any": []any{"b"}}}, "conditions.a.any[0]", `unknown condition "b"`},
		{"bad structured", map[string]any{"a": map[string]any{"method": 3}}, "conditions.a.method", "expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCompiler(tt.named, Options{})
			if c != nil {
				t.Error("got a compiler with the error")
			}
			e := asError(t, err)
			if e.Key != tt.wantKey || !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("got %v; want key %q msg containing %q", err, tt.wantKey, tt.wantMsg)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Key: "routes[0].middleware[1].when", Column: 16, Msg: "bad"}, "routes[0].middleware[1].when: column 16: bad"},
		{Error{Key: "conditions.a", Line: 3, Column: 2, Msg: "bad"}, "conditions.a: line 3, column 2: bad"},
		{Error{Key: "when.path", Msg: "bad"}, "when.path: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
