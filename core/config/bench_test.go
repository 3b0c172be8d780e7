package config

import (
	"path/filepath"
	"sync"
	"testing"
)

func BenchmarkLoad(b *testing.B) {
	for _, f := range []string{"full.yaml", "full.toml", "full.json"} {
		b.Run(f, func(b *testing.B) {
			path := filepath.Join("testdata", f)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(path, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLocate(b *testing.B) {
	l, err := Load(filepath.Join("testdata", "full.yaml"), nil)
	if err != nil {
		b.Fatal(err)
	}
	l.Locate("server.addr") // builds the index
	b.ReportAllocs()
	for b.Loop() {
		l.Locate("routes[2].middleware[0].when.path")
	}
}

// TestLocateConcurrent runs Locate from many goroutines on a fresh Loaded,
// whose key indexes are built lazily (run with -race).
func TestLocateConcurrent(t *testing.T) {
	for _, f := range []string{"full.yaml", "full.toml", "full.json"} {
		l := mustLoad(t, filepath.Join("testdata", f), nil)
		var wg sync.WaitGroup
		lines := make([]int, 8)
		for i := range lines {
			wg.Go(func() { _, lines[i] = l.Locate("plugins.apicache.ratio") })
		}
		wg.Wait()
		for _, ln := range lines {
			if ln == 0 || ln != lines[0] {
				t.Errorf("%s: lines %v", f, lines)
				break
			}
		}
	}
}
