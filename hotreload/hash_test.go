package hotreload

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHash(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	empty := filepath.Join(dir, "empty.yaml")
	missing := filepath.Join(dir, "missing.yaml")
	writeFile(t, a, "x: 1\n")
	writeFile(t, b, "y: 2\n")
	writeFile(t, empty, "")
	base := Hash([]string{a, b})

	tests := []struct {
		name  string
		edit  func(t *testing.T)
		files []string
		same  bool
	}{
		{"deterministic", nil, []string{a, b}, true},
		{"order matters", nil, []string{b, a}, false},
		{"one file fewer", nil, []string{a}, false},
		{"missing differs from empty", nil, []string{a, b, missing}, false},
		{"chmod keeps it", func(t *testing.T) { chmod(t, a, 0o600) }, []string{a, b}, true},
		{"touch keeps it", func(t *testing.T) { touch(t, b) }, []string{a, b}, true},
		{"content changes it", func(t *testing.T) { writeFile(t, a, "x: 2\n") }, []string{a, b}, false},
		{"same bytes at another path differ", func(t *testing.T) {
			writeFile(t, a, "x: 1\n")
			writeFile(t, filepath.Join(dir, "c.yaml"), "x: 1\n")
		}, []string{filepath.Join(dir, "c.yaml"), b}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.edit != nil {
				tt.edit(t)
			}
			got := Hash(tt.files)
			if (got == base) != tt.same {
				t.Fatalf("Hash(%v) == base: %v, want %v", tt.files, got == base, tt.same)
			}
		})
	}

	if Hash([]string{empty}) == Hash([]string{missing}) {
		t.Error("an empty file and a missing file hash the same")
	}
	if Hash([]string{dir}) == Hash([]string{missing}) {
		t.Error("an unreadable path (a directory) and a missing file hash the same")
	}
	if len(Hash(nil)) != 64 {
		t.Errorf("Hash(nil) = %q, want 64 hex digits", Hash(nil))
	}
}

// TestHashFollowsSymlinks: a ConfigMap swap changes the hash of the file
// reached through the links.
func TestHashFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	file := k8sSetup(t, dir)
	before := Hash([]string{file})
	k8sSave(t, file, configContent(1))
	if Hash([]string{file}) == before {
		t.Fatal("the ..data swap left the hash unchanged")
	}
}

// FuzzHashFraming: two different (path, content) lists never share a hash
// input; in particular moving bytes between a path and a content, or between
// two files, changes the hash.
func FuzzHashFraming(f *testing.F) {
	f.Add("a", "bc", "d", "e")
	f.Add("ab", "c", "d", "e")
	f.Add("a", "", "", "b")
	f.Fuzz(func(t *testing.T, p1, c1, p2, c2 string) {
		if !validName(p1) || !validName(p2) || p1 == p2 {
			return
		}
		dir := t.TempDir()
		write := func(name, content string) string {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Skip(err)
			}
			return path
		}
		f1, f2 := write(p1, c1), write(p2, c2)
		h := Hash([]string{f1, f2})
		if c1+c2 != "" && c1 != c2 {
			// Swapping the contents changes the input.
			write(p1, c2)
			write(p2, c1)
			if Hash([]string{f1, f2}) == h {
				t.Fatalf("swapping contents kept the hash")
			}
			write(p1, c1)
			write(p2, c2)
		}
		if len(c1) > 0 {
			// Moving the last byte of c1 to the front of c2.
			write(p1, c1[:len(c1)-1])
			write(p2, c1[len(c1)-1:]+c2)
			if Hash([]string{f1, f2}) == h {
				t.Fatalf("moving a byte between files kept the hash")
			}
		}
	})
}

func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if r == '/' || r == 0 || r == '\\' {
			return false
		}
	}
	return true
}

func chmod(t *testing.T, name string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, name string) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	later := fi.ModTime().Add(1e9)
	if err := os.Chtimes(name, later, later); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkHash(b *testing.B) {
	dir := b.TempDir()
	var files []string
	for _, n := range []string{"a.yaml", "b.yaml", "c.yaml"} {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		Hash(files)
	}
}
