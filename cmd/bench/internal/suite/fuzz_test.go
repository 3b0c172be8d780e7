package suite

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseProc feeds arbitrary /proc/PID/stat and status contents to the
// parsers: they must never panic, and what they accept must be well formed.
func FuzzParseProc(f *testing.F) {
	f.Add([]byte("4242 (bench serve (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 9 0 100 0 0\n"))
	f.Add([]byte("1 (a) R 0 0 0 0 0 0 0 0 0 0 -5 7"))
	f.Add([]byte("VmHWM:\t   18820 kB\nRssAnon:\t2868 kB\n"))
	f.Add([]byte("VmHWM: 12 MB\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseCPUTime(b); err == nil {
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 || len(strings.Fields(string(b[i+1:]))) < 13 {
				t.Fatalf("parseCPUTime accepted %q (%s)", b, d)
			}
		}
		for _, name := range []string{"VmHWM:", "RssAnon:"} {
			kb, err := statusField(b, name)
			if err != nil {
				continue
			}
			if !strings.Contains(string(b), name) || !strings.Contains(string(b), strconv.FormatInt(kb, 10)) {
				t.Fatalf("statusField(%q) = %d from %q", name, kb, b)
			}
		}
	})
}
