package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/instances"
)

func TestFormatsYieldSameConfig(t *testing.T) {
	var loaded []*Loaded
	for _, f := range []string{"full.yaml", "full.toml", "full.json"} {
		loaded = append(loaded, mustLoad(t, filepath.Join("testdata", f), nil))
	}
	want := loaded[0]
	for i, l := range loaded[1:] {
		name := []string{"full.toml", "full.json"}[i]
		if !reflect.DeepEqual(want.Config, l.Config) {
			t.Errorf("%s: config differs from full.yaml\nyaml: %+v\n%s:  %+v", name, want.Config, name, l.Config)
		}
		if l.Version != want.Version {
			t.Errorf("%s: version %s, full.yaml %s", name, l.Version, want.Version)
		}
		if l.Hash == want.Hash {
			t.Errorf("%s: same content hash as full.yaml, but the files differ", name)
		}
	}
	if len(want.Version) != 12 {
		t.Errorf("version %q: want 12 hex digits", want.Version)
	}

	c := want.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.addr", c.Server.Addr, "127.0.0.1:9090"},
		{"server.read_timeout", c.Server.ReadTimeout, 20 * time.Second},
		{"server.write_timeout (default)", c.Server.WriteTimeout, 30 * time.Second},
		{"server.max_header_bytes", c.Server.MaxHeaderBytes, Size(64 << 10)},
		{"server.max_body_bytes", c.Server.MaxBodyBytes, Size(2_000_000)},
		{"server.admin.allow", c.Server.Admin.Allow, []string{"127.0.0.0/8"}},
		{"reload.debounce", c.Reload.Debounce, 250 * time.Millisecond},
		{"buffer_pool.size", c.Performance.Memory.BufferPool.Size, Size(512 << 10)},
		{"buffer_pool.prealloc", c.Performance.Memory.BufferPool.Prealloc, false},
		{"object_pool.size (default)", c.Performance.Memory.ObjectPool.Size, 10000},
		{"keepalive", c.KeepaliveTimeout(), 15 * time.Second},
		{"plugin level stays free-form", c.Plugins["gzip"]["level"], 6},
		{"plugin float", c.Plugins["apicache"]["ratio"], 0.75},
		{"bare link", c.Middleware[1], Link{Use: "gzip"}},
		{"link with named condition", c.Routes[0].Middleware[0], Link{Use: "apicache", When: "safe_method"}},
		{"link with matcher map", c.Routes[2].Middleware[0].When, map[string]any{"path": "/files/*.txt", "method": []any{"GET"}}},
		{"handler string form", c.Routes[3].Handler, Handler{Name: "app.users"}},
		{"respond", *c.Routes[1].Handler.Respond, Respond{Status: 200, Body: "Hello, World!", Headers: map[string]string{"Content-Type": "text/plain"}}},
		{"proxy", c.Routes[0].Handler.Proxy.Upstream, "http://127.0.0.1:3000"},
		{"skip_global", c.Routes[2].SkipGlobal, true},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"empty.yaml": "# nothing\n"})
	l := mustLoad(t, filepath.Join(dir, "empty.yaml"), nil)
	c := l.Config
	want := Server{
		Addr: "127.0.0.1:8080", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 1_000_000,
		MaxBodyBytes: 10_000_000, ShutdownTimeout: 10 * time.Second, TrustedProxies: []string{},
		Admin:     Admin{Enabled: false, Prefix: "/_switchyard", Allow: []string{"127.0.0.0/8", "::1/128"}, Hosts: []string{}},
		TLS:       TLS{MinVersion: "1.2"},
		AccessLog: AccessLog{Format: "text", Output: "stderr", Sample: 1, SkipPaths: []string{}},
		Tracing:   Tracing{ServiceName: "switchyard", Sample: 1},
	}
	if !reflect.DeepEqual(c.Server, want) {
		t.Errorf("server defaults:\n got %+v\nwant %+v", c.Server, want)
	}
	if c.Reload != (Reload{Watch: true, Debounce: 100 * time.Millisecond, History: 20}) {
		t.Errorf("reload defaults: %+v", c.Reload)
	}
	p := c.Performance
	wantPerf := Performance{
		Memory: Memory{
			BufferPool:     BufferPool{Size: 1_000_000, Count: 100, Prealloc: true},
			ObjectPool:     ObjectPool{Size: 10000, TTL: 60 * time.Second},
			ConnectionPool: ConnectionPool{MinSize: 10, MaxSize: 100, TTL: 300 * time.Second},
		},
		CPU: CPU{
			ThreadPool:  ThreadPool{MinWorkers: 4, MaxWorkers: 16, QueueSize: 1000},
			ProcessPool: ProcessPool{Workers: 0, MaxTasksPerChild: 1000},
		},
		Network: Network{
			TCP:  TCP{Keepalive: true, NoDelay: true, Backlog: 2048},
			HTTP: HTTP{Pipeline: true, MaxRequests: 10000},
		},
		Routing: Routing{CacheSize: 10000, PatternCache: true, FastPaths: []string{"/static/*", "/health", "/metrics"}},
		Middleware: MWPerf{
			Registry:   CacheSettings{CacheSize: 1000, TTL: 60 * time.Second},
			Conditions: CacheSettings{CacheSize: 5000, TTL: 30 * time.Second},
		},
		Response: Response{
			Compression: CompressionDefaults{Level: 6, MinSize: 1024},
			Caching:     CachingDefaults{Enabled: true, Size: 1000, TTL: 300 * time.Second},
		},
	}
	if !reflect.DeepEqual(p, wantPerf) {
		t.Errorf("performance defaults:\n got %+v\nwant %+v", p, wantPerf)
	}
	if c.Static.Root != "./public" {
		t.Errorf("static.root = %q", c.Static.Root)
	}
	if got := c.KeepaliveTimeout(); got != 60*time.Second {
		t.Errorf("KeepaliveTimeout() = %s, want server.idle_timeout 60s", got)
	}

	// Defaults returns a fresh map each time.
	d := Defaults()
	d["server"].(map[string]any)["addr"] = "changed"
	if Defaults()["server"].(map[string]any)["addr"] != "127.0.0.1:8080" {
		t.Error("Defaults shares its maps between calls")
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": `
server:
  addr: 127.0.0.1:8080
plugins:
  gzip: {type: compression, level: 6}
routes:
  - path: /a
    handler: app.a
`})
	main := filepath.Join(dir, "c.yaml")
	base := mustLoad(t, main, nil)
	env := []string{
		"SWITCHYARD_PERFORMANCE__ROUTING__CACHE_SIZE=2000",
		"SWITCHYARD_PERFORMANCE__ROUTING__FAST_PATHS=[/ping, /ready]",
		"SWITCHYARD_SERVER__READ_TIMEOUT=45s",
		"SWITCHYARD_SERVER__ADMIN__ENABLED=true",
		"SWITCHYARD_PLUGINS__GZIP__LEVEL=9",
		"SWITCHYARD_REQUIRE_REDIS=1", // not a config key: ignored
		"SWITCHYARD_=x",              // no key: ignored
		"HOME=/root",
	}
	l := mustLoad(t, main, env)
	c := l.Config
	if c.Performance.Routing.CacheSize != 2000 {
		t.Errorf("cache_size = %d, want 2000", c.Performance.Routing.CacheSize)
	}
	if !slices.Equal(c.Performance.Routing.FastPaths, []string{"/ping", "/ready"}) {
		t.Errorf("fast_paths = %v", c.Performance.Routing.FastPaths)
	}
	if c.Server.ReadTimeout != 45*time.Second || !c.Server.Admin.Enabled {
		t.Errorf("server = %+v", c.Server)
	}
	if c.Plugins["gzip"]["level"] != 9 {
		t.Errorf("plugins.gzip.level = %#v, want int 9", c.Plugins["gzip"]["level"])
	}
	if c.Server.Addr != "127.0.0.1:8080" {
		t.Errorf("unrelated key changed: addr = %q", c.Server.Addr)
	}
	if l.Hash == base.Hash || l.Version == base.Version {
		t.Error("env overrides left hash or version unchanged")
	}
	if f, line := l.Locate("performance.routing.cache_size"); f != "env SWITCHYARD_PERFORMANCE__ROUTING__CACHE_SIZE" || line != 0 {
		t.Errorf("Locate(cache_size) = %s:%d", f, line)
	}
	if f, _ := l.Locate("performance.routing.fast_paths[1]"); f != "env SWITCHYARD_PERFORMANCE__ROUTING__FAST_PATHS" {
		t.Errorf("Locate(fast_paths[1]) = %s", f)
	}
	if f, line := l.Locate("server.addr"); f != main || line != 3 {
		t.Errorf("Locate(server.addr) = %s:%d", f, line)
	}
	// Only overrides count: an unrelated variable leaves the hash alone.
	if l2 := mustLoad(t, main, append(env, "SWITCHYARD_REQUIRE_BROWSER=1")); l2.Hash != l.Hash {
		t.Error("a non-config SWITCHYARD_ variable changed the hash")
	}

	bad := []struct {
		name, env, key, msg string
	}{
		{"wrong type", "SWITCHYARD_PERFORMANCE__ROUTING__CACHE_SIZE=lots", "performance.routing.cache_size", "expected int"},
		{"into a list", "SWITCHYARD_ROUTES__0__PATH=/b", "routes", "not a map"},
		{"empty segment", "SWITCHYARD_SERVER____ADDR=x", "", "two underscores"},
		{"negative", "SWITCHYARD_SERVER__IDLE_TIMEOUT=-1s", "server.idle_timeout", "negative"},
		{"plugin without type", "SWITCHYARD_PLUGINS__NEW__LEVEL=1", "plugins.new", "no type"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			es := loadErrors(t, main, []string{tc.env})
			e := es[0]
			name, _, _ := strings.Cut(tc.env, "=")
			if e.File != "env "+name || e.Key != tc.key || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %q, want file %q key %q msg containing %q", e.Error(), "env "+name, tc.key, tc.msg)
			}
		})
	}
}

func TestIncludes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.yaml": `
include: ["conf.d/*.yaml", "extra/more.toml"]
server:
  addr: 127.0.0.1:1001
  read_timeout: 11s
plugins:
  gzip: {type: compression, level: 1}
routes:
  - path: /main
    handler: app.main
`,
		"conf.d/10-first.yaml": `
server:
  addr: 127.0.0.1:1002
plugins:
  gzip: {level: 2}
  cache: {type: caching}
routes:
  - path: /first
    handler: app.first
`,
		"conf.d/20-second.yaml": `
server:
  addr: 127.0.0.1:1003
routes:
  - path: /second
    middleware: [cache]
    handler: app.second
`,
		"conf.d/.hidden.yaml":     "not: [valid\n",
		"conf.d/notes.txt":        "ignored: true\n",
		"conf.d/30-backup.yaml~":  "broken: [\n",
		"extra/more.toml":         "include = [\"nested/*.json\"]\n[server]\nwrite_timeout = \"7s\"\n",
		"extra/nested/deep.json":  `{"server": {"addr": "127.0.0.1:1004"}, "routes": [{"path": "/deep", "handler": "app.deep"}]}`,
		"unrelated/ignored.yaml":  "server: {addr: nope}\n",
		"conf.d/sub/skipped.yaml": "server: {addr: nope}\n",
	})
	main := filepath.Join(dir, "main.yaml")
	l := mustLoad(t, main, nil)
	c := l.Config

	wantFiles := []string{
		main,
		filepath.Join(dir, "conf.d/10-first.yaml"),
		filepath.Join(dir, "conf.d/20-second.yaml"),
		filepath.Join(dir, "extra/more.toml"),
		filepath.Join(dir, "extra/nested/deep.json"),
	}
	if !slices.Equal(l.Files, wantFiles) {
		t.Errorf("Files =\n%v\nwant\n%v", l.Files, wantFiles)
	}
	wantGlobs := []string{
		filepath.Join(dir, "conf.d/*.yaml"),
		filepath.Join(dir, "extra/more.toml"),
		filepath.Join(dir, "extra/nested/*.json"),
	}
	if !slices.Equal(l.Globs, wantGlobs) {
		t.Errorf("Globs = %v, want %v", l.Globs, wantGlobs)
	}
	if c.Server.Addr != "127.0.0.1:1004" {
		t.Errorf("addr = %q: the last file in merge order must win", c.Server.Addr)
	}
	if c.Server.ReadTimeout != 11*time.Second || c.Server.WriteTimeout != 7*time.Second {
		t.Errorf("keys set once must survive the merge: %+v", c.Server)
	}
	if c.Plugins["gzip"]["level"] != 2 || c.Plugins["gzip"]["type"] != "compression" {
		t.Errorf("plugins.gzip = %v: maps merge key by key", c.Plugins["gzip"])
	}
	var paths []string
	for _, r := range c.Routes {
		paths = append(paths, r.Path)
	}
	if want := []string{"/main", "/first", "/second", "/deep"}; !slices.Equal(paths, want) {
		t.Errorf("routes = %v, want %v (concatenated in merge order)", paths, want)
	}
	if !slices.Equal(c.Include, []string{"conf.d/*.yaml", "extra/more.toml"}) {
		t.Errorf("Include = %v", c.Include)
	}
	// Locate follows a route to the file that holds it.
	for key, want := range map[string]string{
		"routes[0].path":           main + ":9",
		"routes[2].middleware[0]":  filepath.Join(dir, "conf.d/20-second.yaml") + ":6",
		"routes[3].handler":        filepath.Join(dir, "extra/nested/deep.json") + ":1",
		"plugins.gzip.level":       filepath.Join(dir, "conf.d/10-first.yaml") + ":5",
		"plugins.gzip.type":        main + ":7",
		"server.write_timeout":     filepath.Join(dir, "extra/more.toml") + ":3",
		"performance.routing":      main + ":0",
		"routes[1].handler.name":   filepath.Join(dir, "conf.d/10-first.yaml") + ":9",
		"include[1]":               main + ":2",
		"server.admin.allow[0]":    filepath.Join(dir, "extra/nested/deep.json") + ":1", // defaults: the last file with server
		"routes[9].does_not_exist": main + ":0",
	} {
		f, line := l.Locate(key)
		if got := f + ":" + strconv.Itoa(line); got != want {
			t.Errorf("Locate(%s) = %s, want %s", key, got, want)
		}
	}
	if h := hotreload.Hash(l.Files); h != l.Hash {
		t.Errorf("Hash %s differs from hotreload.Hash(Files) %s", l.Hash, h)
	}

	// A new file matching a glob is read by the next load.
	writeFiles(t, dir, map[string]string{"conf.d/15-new.yaml": "server:\n  idle_timeout: 3s\nroutes:\n  - path: /new\n    handler: app.new\n"})
	l2 := mustLoad(t, main, nil)
	if l2.Config.Server.IdleTimeout != 3*time.Second {
		t.Errorf("new included file not read: idle_timeout = %s", l2.Config.Server.IdleTimeout)
	}
	if l2.Config.Routes[2].Path != "/new" {
		t.Errorf("new file's routes not merged in glob order: %v", l2.Config.Routes)
	}
	if l2.Hash == l.Hash || l2.Version == l.Version {
		t.Error("a new included file left hash or version unchanged")
	}
	if !slices.Contains(l2.Files, filepath.Join(dir, "conf.d/15-new.yaml")) {
		t.Errorf("Files = %v", l2.Files)
	}
}

func TestIncludeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		file  string // relative to the temp dir
		line  int
		key   string
		msg   string
	}{
		{
			name:  "cycle",
			files: map[string]string{"main.yaml": "include: [a.yaml]\n", "a.yaml": "server: {}\ninclude: [b.yaml]\n", "b.yaml": "include:\n  - a.yaml\n"},
			file:  "b.yaml", line: 2, key: "include[0]", msg: "include cycle",
		},
		{
			name:  "self by glob",
			files: map[string]string{"main.yaml": "include: ['*.yaml']\n"},
			file:  "main.yaml", line: 1, key: "include[0]", msg: "include cycle",
		},
		{
			name:  "missing file",
			files: map[string]string{"main.yaml": "server: {}\ninclude:\n  - missing.yaml\n"},
			file:  "main.yaml", line: 3, key: "include[0]", msg: "cannot read included file",
		},
		{
			name:  "not a list",
			files: map[string]string{"main.yaml": "include: conf.d/*.yaml\n"},
			file:  "main.yaml", line: 1, key: "include", msg: "expected a list",
		},
		{
			name:  "syntax error in an included file",
			files: map[string]string{"main.yaml": "include: [inc.yaml]\n", "inc.yaml": "server:\n  addr: [oops\n"},
			file:  "inc.yaml", line: 2, msg: "syntax error",
		},
		{
			name:  "unknown key in an included file",
			files: map[string]string{"main.yaml": "include: [inc.json]\n", "inc.json": "{\n  \"server\": {\n    \"adr\": \"x\"\n  }\n}\n"},
			file:  "inc.json", line: 3, key: "server.adr", msg: `did you mean "addr"`,
		},
		{
			name:  "unknown format",
			files: map[string]string{"main.yaml": "include: [inc.ini]\n", "inc.ini": "x=1\n"},
			file:  "inc.ini", msg: "unknown config format",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), tc.files)
			es := loadErrors(t, filepath.Join(dir, "main.yaml"), nil)
			e := es[0]
			if e.File != filepath.Join(dir, tc.file) || e.Line != tc.line || e.Key != tc.key || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s\nwant %s:%d: %s: …%s…", es, tc.file, tc.line, tc.key, tc.msg)
			}
		})
	}
}

func TestFailedLoadStillListsFiles(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"main.yaml": "include: [inc.yaml]\nserver: {addr: 'x'}\n",
		"inc.yaml":  "server: {bogus: 1}\n",
	})
	main := filepath.Join(dir, "main.yaml")
	l, err := Load(main, nil)
	if err == nil {
		t.Fatal("want errors")
	}
	if l == nil || l.Config != nil || len(l.Files) != 2 || l.Hash == "" {
		t.Fatalf("failed load returned %+v", l)
	}
	if l.Hash != hotreload.Hash(l.Files) {
		t.Error("failed load's Hash differs from hotreload.Hash(Files)")
	}
	// A missing main file: listed, hashed as missing.
	missing := filepath.Join(dir, "gone.yaml")
	l, err = Load(missing, nil)
	if err == nil || l == nil || !slices.Equal(l.Files, []string{missing}) || l.Hash != hotreload.Hash([]string{missing}) {
		t.Fatalf("missing main file: %+v, %v", l, err)
	}
	if !strings.Contains(err.Error(), missing+": cannot read config file") {
		t.Errorf("error %q", err)
	}
}

func TestHashAndVersion(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "c.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(main, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server:\n  addr: 127.0.0.1:1\n")
	a := mustLoad(t, main, nil)
	b := mustLoad(t, main, nil)
	if a.Hash != b.Hash || a.Version != b.Version {
		t.Error("same content, different hash or version")
	}
	now := time.Now().Add(time.Hour)
	if err := os.Chtimes(main, now, now); err != nil {
		t.Fatal(err)
	}
	if c := mustLoad(t, main, nil); c.Hash != a.Hash {
		t.Error("a touch changed the hash")
	}
	write("# a comment\nserver:\n  addr: \"127.0.0.1:1\"\n")
	c := mustLoad(t, main, nil)
	if c.Hash == a.Hash {
		t.Error("new content, same hash")
	}
	if c.Version != a.Version {
		t.Error("same effective config, different version")
	}
	write("server:\n  addr: 127.0.0.1:2\n")
	if d := mustLoad(t, main, nil); d.Version == a.Version {
		t.Error("different config, same version")
	}
}

func TestLoadBytes(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"inc/extra.yaml": "server: {addr: '127.0.0.1:7'}\n"})
	l, err := LoadBytes("default.yaml", []byte("include: [inc/*.yaml]\nroutes:\n  - {path: /hello, handler: {respond: {body: hi}}}\n"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Server.Addr != "127.0.0.1:7" || l.Config.Routes[0].Handler.Respond.Body != "hi" {
		t.Errorf("config %+v", l.Config)
	}
	if !slices.Equal(l.Files, []string{filepath.Join(dir, "inc/extra.yaml")}) {
		t.Errorf("Files = %v: the in-memory main file is not a file", l.Files)
	}
	if f, line := l.Locate("routes[0].handler.respond.body"); f != "default.yaml" || line != 3 {
		t.Errorf("Locate = %s:%d", f, line)
	}
	_, err = LoadBytes("default.toml", []byte("[server]\naddr = 1\n"), dir, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "default.toml:2: server.addr: expected string") {
		t.Errorf("error = %v", err)
	}
}

func TestRawAndSpecs(t *testing.T) {
	l := mustLoad(t, filepath.Join("testdata", "full.yaml"), []string{"SWITCHYARD_SERVER__ADDR=127.0.0.1:1"})
	srv := l.Raw["server"].(map[string]any)
	if srv["addr"] != "127.0.0.1:1" || srv["write_timeout"] != "30s" {
		t.Errorf("Raw server = %v", srv)
	}
	specs := instances.Specs(l.Config.Plugins)
	if len(specs) != 3 || specs[0].Name != "apicache" || specs[0].Type != "caching" {
		t.Fatalf("specs = %+v", specs)
	}
	if _, has := specs[0].Config["type"]; has || specs[0].Config["ttl"] != "300s" {
		t.Errorf("spec config = %v", specs[0].Config)
	}
	chain := l.Config.Chain(0)
	var uses []string
	for _, cl := range chain {
		uses = append(uses, cl.Use+"@"+cl.Key)
	}
	if want := []string{"perip@middleware[0]", "gzip@middleware[1]", "apicache@routes[0].middleware[0]"}; !slices.Equal(uses, want) {
		t.Errorf("Chain(0) = %v, want %v", uses, want)
	}
	if got := l.Config.Chain(2); len(got) != 1 || got[0].Use != "gzip" {
		t.Errorf("Chain(2) with skip_global = %+v", got)
	}
	if p, err := l.Config.RoutePattern(0); err != nil || p != "/api/users/{id:"+PresetUUID+"}" {
		t.Errorf("RoutePattern(0) = %q, %v", p, err)
	}
	sec := l.Sections()
	if c := sec["compression"]; c["level"] != 5 || c["min_size"] != 2048 {
		t.Errorf("Sections compression = %v", c)
	}
	if c := sec["caching"]; c["ttl"] != "300s" {
		t.Errorf("Sections caching = %v", c)
	}
}

// TestEmptyMainFile: a main file with nothing in it (what a save that
// truncates first leaves for a moment) is an error; one that says "all
// defaults" with a comment or {} is not.
func TestEmptyMainFile(t *testing.T) {
	tests := []struct {
		name, content string
		wantErr       bool
	}{
		{"empty.yaml", "", true},
		{"blank.yaml", " \n\t\n", true},
		{"empty.json", "", true},
		{"empty.toml", "\n", true},
		{"comment.yaml", "# all defaults\n", false},
		{"braces.yaml", "{}\n", false},
		{"object.json", "{}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), map[string]string{tt.name: tt.content})
			l, err := Load(filepath.Join(dir, tt.name), nil)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.name+":1: config file is empty") {
				t.Fatalf("Load error = %v, want %q", err, tt.name+":1: config file is empty")
			}
			if l == nil || len(l.Files) != 1 || l.Config != nil {
				t.Fatalf("Loaded = %+v, want the file listed (for the watcher) and no Config", l)
			}
		})
	}
}
