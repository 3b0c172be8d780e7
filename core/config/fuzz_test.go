package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzFS holds the files a fuzzed main file may include.
var fuzzFS = memFS{
	"/fz/inc.yaml":      "server:\n  addr: 127.0.0.1:1\nroutes:\n  - {path: /inc, handler: app.inc}\n",
	"/fz/conf.d/a.json": `{"plugins": {"gzip": {"type": "compression"}}}`,
	"/fz/conf.d/b.toml": "[reload]\ndebounce = \"1s\"\n",
	"/fz/loop.yaml":     "include: [loop.yaml]\n",
}

// FuzzLoad feeds arbitrary bytes to the loader as a YAML main file. It must
// never panic; what loads must print and load back to the same version; what
// fails must fail with Errors.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"full.yaml", "roundtrip.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("include: [inc.yaml, 'conf.d/*']\nmiddleware: [gzip]\n"))
	f.Add([]byte("include: [loop.yaml]\n"))
	f.Add([]byte("routes:\n  - path: /a/{x:(}\n    handler: app.a\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("plugins: {p: {<<: {type: t}}}\n"))
	env := []string{"SWITCHYARD_PERFORMANCE__ROUTING__CACHE_SIZE=5", "SWITCHYARD_PLUGINS__GZIP__LEVEL=3"}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := loadBytes(fuzzFS, "fuzz.yaml", data, "/fz", env)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			for _, e := range es {
				if e.Msg == "" {
					t.Fatalf("error without a message: %+v", e)
				}
			}
			if l != nil {
				_ = l.Annotate(err)
			}
			return
		}
		if l.Config == nil || len(l.Version) != 12 {
			t.Fatalf("loaded without a config or version: %+v", l)
		}
		out, err := Marshal(l.Config)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := loadBytes(memFS{}, "printed.yaml", out, "/fz", nil)
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, out)
		}
		if back.Version != l.Version {
			t.Fatalf("version %s after printing, %s before\n%s", back.Version, l.Version, out)
		}
		_ = Redact(l.Raw)
	})
}
