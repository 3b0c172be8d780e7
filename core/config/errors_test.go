package config

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/registry"
)

// plugins is a valid plugins block the error cases build on.
const plugins = `plugins:
  gzip: {type: compression}
  cache: {type: caching}
`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		line int
		key  string
		msg  string
	}{
		{"syntax error", "server:\n  addr: [oops\n", 2, "", "syntax error"},
		{"syntax error mapping", "server:\n  addr: a: b\n", 2, "", "mapping values are not allowed"},
		{"duplicate key", "server: {}\nreload: {}\nserver: {}\n", 3, "", `"server" already defined at line 1`},
		{"top level not a map", "- a\n- b\n", 1, "", "top level must be a map"},
		{"unknown top-level key", "server: {}\nsevrer: {}\n", 2, "sevrer", `unknown key (did you mean "server"?)`},
		{"unknown nested key", "server:\n  admin:\n    enabled: true\n    prefx: /x\n", 4, "server.admin.prefx", `did you mean "prefix"`},
		{"unknown key in a route", plugins + "routes:\n  - path: /a\n    handler: app.a\n    method: [GET]\n", 7, "routes[0].method", `did you mean "methods"`},
		{"unknown key in a handler", "routes:\n  - path: /a\n    handler:\n      respond: {body: x}\n      redirect: /b\n", 5, "routes[0].handler.redirect", "unknown key"},
		{"unknown key in respond", "routes:\n  - path: /a\n    handler:\n      respond:\n        code: 201\n", 5, "routes[0].handler.respond.code", "valid keys here: body, headers, status"},
		{"unknown key in a link", plugins + "middleware:\n  - use: gzip\n    if: x\n", 6, "middleware[0].if", "valid keys here: use, when"},
		{"key in the wrong case", "server:\n  Addr: 127.0.0.1:1\n", 2, "server.Addr", `did you mean "addr"? keys are case-sensitive`},
		{"route key in the wrong case", "routes:\n  - Path: /a\n    handler: app.a\n", 2, "routes[0].Path", "case-sensitive"},
		{"link key in the wrong case", plugins + "middleware:\n  - Use: gzip\n", 5, "middleware[0].Use", "case-sensitive"},
		{"wrong type", "performance:\n  cpu:\n    thread_pool:\n      queue_size: \"fast\"\n", 4, "performance.cpu.thread_pool.queue_size", "expected int, got string"},
		{"wrong type bool", "reload:\n  watch: sometimes\n", 2, "reload.watch", "expected bool"},
		{"bad duration", "server:\n  read_timeout: 5 seconds\n", 2, "server.read_timeout", "invalid duration"},
		{"duration without unit", "server:\n  read_timeout: 5\n", 2, "server.read_timeout", "with a unit"},
		{"bad size", "server:\n  max_body_bytes: 10 furlongs\n", 2, "server.max_body_bytes", "invalid size"},
		{"fractional integer", "performance:\n  memory:\n    buffer_pool: {count: 1.5}\n", 3, "performance.memory.buffer_pool.count", "whole number"},
		{"plugin without type", "plugins:\n  gzip:\n    level: 5\n", 2, "plugins.gzip", "has no type"},
		{"plugin type not a string", "plugins:\n  gzip:\n    type: [compression]\n", 3, "plugins.gzip.type", "expected the name of a plugin type"},
		{"plugin not a map", "plugins:\n  gzip: compression\n", 2, "plugins.gzip", "expected map"},
		{"plugin name with a dot", "plugins:\n  gz.ip: {type: compression}\n", 2, "plugins.gz.ip", "must not contain '.'"},
		{"condition name with a dot", "conditions:\n  is.api: 'true'\n", 2, "conditions.is.api", "must not contain '.'"},
		{"condition of the wrong type", "conditions:\n  n: 5\n", 2, "conditions.n", "expected a CEL expression"},
		{"undefined plugin in the global chain", plugins + "middleware:\n  - gzip\n  - gzipp\n", 6, "middleware[1].use", `"gzipp" is not defined in plugins: (did you mean "gzip"?)`},
		{"undefined plugin in a route chain", plugins + "routes:\n  - path: /a\n    middleware:\n      - use: ratelimit\n    handler: app.a\n", 7, "routes[0].middleware[0].use", `"ratelimit" is not defined`},
		{"link without use", plugins + "middleware:\n  - when: x\n", 5, "middleware[0].use", "needs `use:`"},
		{"duplicate plugin global and route", plugins + "middleware: [gzip]\nroutes:\n  - path: /a\n    middleware: [cache, gzip]\n    handler: app.a\n", 7, "routes[0].middleware[1].use", "already in the global chain"},
		{"duplicate plugin in a route", plugins + "routes:\n  - path: /a\n    middleware:\n      - cache\n      - use: cache\n        when: x\n    handler: app.a\n", 8, "routes[0].middleware[1].use", "already in this route's chain"},
		{"duplicate plugin in the global chain", plugins + "middleware:\n  - gzip\n  - cache\n  - gzip\n", 7, "middleware[2].use", "already in the global chain at middleware[0]"},
		{"routes not a list", "server: {}\nroutes:\n  a: {path: /a}\n", 2, "routes", "expected a list of routes, got a map"},
		{"route not a map", "routes:\n  - /a\n", 2, "routes[0]", "expected a route"},
		{"route without handler", "routes:\n  - path: /a\n", 2, "routes[0].handler", "needs a handler"},
		{"route with two handlers", "routes:\n  - path: /a\n    handler:\n      respond: {body: x}\n      proxy: {upstream: 'http://h'}\n", 3, "routes[0].handler", "exactly one handler, this one has 2 (respond and proxy)"},
		{"route with name and respond", "routes:\n  - path: /a\n    handler: {name: app.a, respond: {}}\n", 3, "routes[0].handler", "has 2"},
		{"bad route regexp", "routes:\n  - path: /a/{id:[0-9}\n    handler: app.a\n", 2, "routes[0].path", "invalid regexp in {id}: missing closing ]"},
		{"route without leading slash", "routes:\n  - path: a\n    handler: app.a\n", 2, "routes[0].path", "must start with /"},
		{"route with unbalanced brace", "routes:\n  - path: /a/{id\n    handler: app.a\n", 2, "routes[0].path", "no closing '}'"},
		{"route with a star in the middle", "routes:\n  - path: /a/*/b\n    handler: app.a\n", 2, "routes[0].path", "'*' may only end"},
		{"route with a repeated param", "routes:\n  - path: /a/{id}/{id}\n    handler: app.a\n", 2, "routes[0].path", "appears twice"},
		{"unknown method", "routes:\n  - path: /a\n    methods: [GET, FETCH]\n    handler: app.a\n", 3, "routes[0].methods[1]", `unknown HTTP method "FETCH"`},
		{"lower-case method", "routes:\n  - path: /a\n    methods:\n      - get\n    handler: app.a\n", 4, "routes[0].methods[0]", `write "GET"`},
		{"duplicate route", "routes:\n  - path: /a/{id}\n    methods: [GET, POST]\n    handler: app.a\n  - path: /a/{name}\n    methods: [POST]\n    handler: app.b\n", 5, "routes[1].path", "POST /a/{name} is already routed by routes[0]"},
		{"duplicate route without methods", "routes:\n  - path: /a\n    handler: app.a\n  - path: /a\n    methods: [GET]\n    handler: app.b\n", 4, "routes[1].path", "already routed by routes[0]"},
		{"bad respond status", "routes:\n  - path: /a\n    handler:\n      respond: {status: 42}\n", 4, "routes[0].handler.respond.status", "from 100 to 599"},
		{"bad header name", "routes:\n  - path: /a\n    handler:\n      respond:\n        headers: {'Bad Header': x}\n", 5, "routes[0].handler.respond.headers.Bad Header", "not a valid header name"},
		{"bad proxy upstream", "routes:\n  - path: /a\n    handler:\n      proxy: {upstream: 'ftp://h'}\n", 4, "routes[0].handler.proxy.upstream", "http or https"},
		{"bad trusted proxy", "server:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n", 4, "server.trusted_proxies[1]", `"10.0.0.0/33": not a valid CIDR`},
		{"bad admin allow", "server:\n  admin:\n    allow: [localhost]\n", 3, "server.admin.allow[0]", `"localhost": not a valid IP address`},
		{"admin host with port", "server:\n  admin:\n    hosts: [admin.example.org:8080]\n", 3, "server.admin.hosts[0]", "without scheme, port or path"},
		{"empty admin host", "server:\n  admin:\n    hosts:\n      - ok.example.org\n      - ''\n", 5, "server.admin.hosts[1]", "empty host name"},
		{"bad admin prefix", "server:\n  admin: {prefix: admin}\n", 2, "server.admin.prefix", "starting with /"},
		{"bad addr", "server:\n  addr: localhost\n", 2, "server.addr", "not host:port"},
		{"negative duration", "reload:\n  debounce: -1s\n", 2, "reload.debounce", "must not be negative"},
		{"negative count", "performance:\n  cpu:\n    thread_pool: {queue_size: -1}\n", 3, "performance.cpu.thread_pool.queue_size", "must not be negative"},
		{"negative size", "server:\n  max_body_bytes: -1\n", 2, "server.max_body_bytes", "must not be negative"},
		{"min above max", "performance:\n  memory:\n    connection_pool: {min_size: 50, max_size: 10}\n", 3, "performance.memory.connection_pool.min_size", "more than max_size"},
		{"no workers", "performance:\n  cpu:\n    thread_pool: {min_workers: 0, max_workers: 0}\n", 3, "performance.cpu.thread_pool.max_workers", "at least 1"},
		{"bad compression level", "performance:\n  response:\n    compression: {level: 12}\n", 3, "performance.response.compression.level", "from 1"},
		{"bad fast path", "performance:\n  routing:\n    fast_paths: [/ok, nope]\n", 3, "performance.routing.fast_paths[1]", "must start with /"},
		{"bad when", plugins + "middleware:\n  - use: gzip\n    when: 5\n", 6, "middleware[0].when", "expected a condition name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": tc.yaml})
			file := filepath.Join(dir, "c.yaml")
			_, err := Load(file, nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not Errors", err)
			}
			e := findError(es, tc.key)
			if e == nil {
				t.Fatalf("no error at key %q; got:\n%v", tc.key, err)
			}
			if e.File != file || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got  %s\nwant %s:%d: %s: …%s…", e, file, tc.line, tc.key, tc.msg)
			}
			prefix := fmt.Sprintf("%s:%d: ", file, tc.line)
			if tc.key != "" {
				prefix += tc.key + ": "
			}
			if !strings.Contains(err.Error(), prefix) {
				t.Errorf("message %q lacks %q", err.Error(), prefix)
			}
		})
	}
}

func TestValidConfigsLoad(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{"only a comment", "# all defaults\n"},
		{"skip_global allows the same plugin", plugins + "middleware: [gzip]\nroutes:\n  - path: /a\n    skip_global: true\n    middleware: [gzip]\n    handler: app.a\n"},
		{"same path, other methods", "routes:\n  - {path: /a, methods: [GET], handler: app.a}\n  - {path: /a, methods: [POST], handler: app.b}\n"},
		{"bare address as CIDR", "server:\n  trusted_proxies: [10.1.2.3, '::1']\n"},
		{"yaml anchors and merge keys", "plugins:\n  base: &b {type: compression, level: 5}\n  other:\n    <<: *b\n    level: 7\n"},
		{"addr with any host", "server: {addr: ':0'}\n"},
		{"empty blocks keep their defaults", "server:\n  # addr: x\nreload:\nperformance: {memory: ~}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": tc.yaml})
			mustLoad(t, filepath.Join(dir, "c.yaml"), nil)
		})
	}
}

func TestSyntaxErrorsOtherFormats(t *testing.T) {
	tests := []struct {
		name, file, content string
		line                int
		msg                 string
	}{
		{"toml", "c.toml", "[server]\naddr = \"x\"\nread_timeout = \n", 3, "syntax error"},
		{"toml duplicate", "c.toml", "[server]\naddr = \"a\"\naddr = \"b\"\n", 3, "syntax error"},
		{"toml duplicate table", "c.toml", "[server]\naddr = \"a\"\n\n[reload]\n[server]\n", 5, "already exists"},
		{"json", "c.json", "{\n  \"server\": {\n    \"addr\": \"x\",\n  }\n}\n", 4, "syntax error"},
		{"json top-level list", "c.json", "[1]\n", 1, "top level must be an object"},
		{"unknown extension", "c.conf", "a=1\n", 0, "unknown config format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), map[string]string{tc.file: tc.content})
			file := filepath.Join(dir, tc.file)
			es := loadErrors(t, file, nil)
			if e := es[0]; e.File != file || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s, want line %d and %q", e, tc.line, tc.msg)
			}
		})
	}
}

func TestErrorsFromSeveralPhases(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": plugins + `server:
  bogus: 1
routes:
  - path: /a/{x:(}
    handler: app.a
  - path: /b
    handler: {respond: {status: nope}}
middleware: [missing]
`})
	file := filepath.Join(dir, "c.yaml")
	es := loadErrors(t, file, nil)
	want := []string{
		file + ":5: server.bogus: unknown key",
		file + ":7: routes[0].path: ",
		file + ":10: routes[1].handler.respond.status: expected int",
		file + ":11: middleware[0].use: plugin \"missing\" is not defined",
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), es)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, es[i].Error(), w)
		}
	}
}

func TestErrorRendering(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "c.yaml", Line: 3, Key: "a.b", Msg: "bad"}, "c.yaml:3: a.b: bad"},
		{Error{File: "c.yaml", Key: "a.b", Msg: "bad"}, "c.yaml: a.b: bad"},
		{Error{Key: "a.b", Msg: "bad"}, "a.b: bad"},
		{Error{File: "c.yaml", Line: 1, Msg: "bad"}, "c.yaml:1: bad"},
		{Error{Msg: "bad"}, "bad"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
	es := Errors{{Msg: "a"}, {Msg: "b"}}
	if es.Error() != "a\nb" {
		t.Errorf("Errors.Error() = %q", es.Error())
	}
}

// annotTestConfig is the config type of the plugin type registered for
// TestAnnotate.
type annotTestConfig struct {
	Rate  int           `koanf:"rate"`
	Per   time.Duration `koanf:"per"`
	Inner struct {
		Level int `koanf:"level"`
	} `koanf:"inner"`
}

type keyedErr struct{ key, msg string }

func (e keyedErr) Error() string   { return e.key + ": " + e.msg }
func (e keyedErr) KeyPath() string { return e.key }

func init() {
	registry.Register("config_annot_test", func(_ *registry.Context, _ *annotTestConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler { return next }), nil
	})
}

func TestAnnotate(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": `plugins:
  limiter:
    type: config_annot_test
    rate: "fast"
    per: 1s
  other:
    type: config_annot_test
    inner:
      levle: 3
  third:
    type: config_annot_tset
routes:
  - path: /a
    middleware:
      - use: limiter
        when: 'request.path.bogus()'
    handler: app.a
`})
	file := filepath.Join(dir, "c.yaml")
	l := mustLoad(t, file, nil)

	// The registry reports plugin key errors as keyed errors.
	reg := instances.New(instances.Options{})
	defer reg.Close()
	_, buildErr := reg.Build(nil, instances.Specs(l.Config.Plugins), l.Sections())
	if buildErr == nil {
		t.Fatal("registry accepted bad plugin configs")
	}
	err := l.Annotate(errors.Join(
		buildErr,
		fmt.Errorf("compiling conditions: %w", keyedErr{"routes[0].middleware[0].when", "undeclared reference to 'bogus' (column 14)"}),
		errors.New("something without a key"),
	))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Annotate returned %T", err)
	}
	want := []string{
		file + ":4: plugins.limiter.rate: expected int, got string",
		file + ":9: plugins.other.inner.levle: unknown key (did you mean \"level\"?); valid keys here: level",
		file + ":11: plugins.third.type: unknown plugin type \"config_annot_tset\"",
		file + ":16: routes[0].middleware[0].when: undeclared reference to 'bogus' (column 14)",
		"something without a key",
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d = %q\nwant prefix  %q", i, es[i].Error(), w)
		}
	}
	if l.Annotate(nil) != nil {
		t.Error("Annotate(nil) != nil")
	}
	// A plain FieldError and an already located Error pass through.
	err = l.Annotate(&registry.FieldError{Key: "plugins[limiter].per", Msg: "too short"})
	if got := err.Error(); got != file+":5: plugins.limiter.per: too short" {
		t.Errorf("FieldError annotated as %q", got)
	}
	err = l.Annotate(&Error{File: "x.yaml", Line: 1, Key: "k", Msg: "m"})
	if got := err.Error(); got != "x.yaml:1: k: m" {
		t.Errorf("Error annotated as %q", got)
	}
}
