package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMarshalRoundTrip(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"empty.yaml": "# defaults only\n"})
	for _, src := range []string{
		filepath.Join("testdata", "full.yaml"),
		filepath.Join("testdata", "full.toml"),
		filepath.Join("testdata", "roundtrip.yaml"),
		filepath.Join(dir, "empty.yaml"),
	} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			l := mustLoad(t, src, nil)
			out, err := Marshal(l.Config)
			if err != nil {
				t.Fatal(err)
			}
			back, err := LoadBytes("printed.yaml", out, dir, nil)
			if err != nil {
				t.Fatalf("printed config does not load: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back.Config, l.Config) {
				t.Errorf("round trip changed the config\nbefore %+v\nafter  %+v\nyaml:\n%s", l.Config, back.Config, out)
			}
			if back.Version != l.Version {
				t.Errorf("version %s after round trip, %s before", back.Version, l.Version)
			}
			again, err := Marshal(back.Config)
			if err != nil || string(again) != string(out) {
				t.Errorf("Marshal is not stable:\n%s\n---\n%s", out, again)
			}
		})
	}
}

func TestMarshalForms(t *testing.T) {
	l := mustLoad(t, filepath.Join("testdata", "full.yaml"), nil)
	out, err := Marshal(l.Config)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"read_timeout: 20s\n",
		"max_header_bytes: 64KiB\n",
		"max_body_bytes: 2MB\n",
		"debounce: 250ms\n",
		"handler: app.users\n",
		"  - path: /users/{id:int}\n",
		"        upstream: http://127.0.0.1:3000\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "include") {
		t.Error("include printed: the printed config is already merged")
	}

	// A config assembled from includes prints as one file.
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"main.yaml": "include: [more.yaml]\nroutes: [{path: /a, handler: app.a}]\n",
		"more.yaml": "routes: [{path: /b, handler: app.b}]\n",
	})
	l = mustLoad(t, filepath.Join(dir, "main.yaml"), nil)
	out, err = Marshal(l.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "printed.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	back := mustLoad(t, filepath.Join(dir, "printed.yaml"), nil)
	if len(back.Config.Routes) != 2 || back.Version != l.Version {
		t.Errorf("printed config: %d routes, version %s (want 2, %s)", len(back.Config.Routes), back.Version, l.Version)
	}
	if _, err := Marshal(nil); err == nil {
		t.Error("Marshal(nil) succeeded")
	}
}

func TestFormatDurationAndSize(t *testing.T) {
	durations := map[time.Duration]string{
		0: "0s", time.Hour: "1h", 90 * time.Minute: "90m", 60 * time.Second: "1m", 90 * time.Second: "90s",
		1500 * time.Millisecond: "1500ms", 250 * time.Microsecond: "250us", 7: "7ns",
	}
	for d, want := range durations {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%d) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v", FormatDuration(d), back, err)
		}
	}
	sizes := map[Size]string{
		0: "0", 1: "1", 1000: "1KB", 1024: "1KiB", 1536: "1536", 1_000_000: "1MB", 1 << 20: "1MiB",
		64 << 20: "64MiB", 3 << 30: "3GiB", 2_000_000_000: "2GB", 1_024_000: "1000KiB",
	}
	for s, want := range sizes {
		if got := FormatSize(s); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", s, got, want)
		}
	}
}
