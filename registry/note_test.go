package registry_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/registry"
)

// noting is a host writer: it has Note.
type noting struct {
	http.ResponseWriter
	notes map[string]string
}

func (n *noting) Note(key, value string) { n.notes[key] = value }

// wrapping is a middleware's writer: it hides the host's behind Unwrap.
type wrapping struct{ http.ResponseWriter }

func (w wrapping) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// opaque wraps without Unwrap.
type opaque struct{ http.ResponseWriter }

func TestNote(t *testing.T) {
	host := &noting{ResponseWriter: httptest.NewRecorder(), notes: map[string]string{}}
	for _, tc := range []struct {
		name string
		w    http.ResponseWriter
		want bool
	}{
		{"host writer", host, true},
		{"one wrapper", wrapping{host}, true},
		{"two wrappers", wrapping{wrapping{host}}, true},
		{"no Unwrap", opaque{host}, false},
		{"no host", wrapping{httptest.NewRecorder()}, false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clear(host.notes)
			registry.Note(tc.w, "cache", "HIT")
			if got := host.notes["cache"] == "HIT"; got != tc.want {
				t.Errorf("noted %v, want %v (%v)", got, tc.want, host.notes)
			}
		})
	}
}

func TestNoteAllocatesNothing(t *testing.T) {
	host := &noting{ResponseWriter: httptest.NewRecorder(), notes: map[string]string{"cache": ""}}
	var w http.ResponseWriter = wrapping{wrapping{host}}
	if n := testing.AllocsPerRun(100, func() { registry.Note(w, "cache", "HIT") }); n != 0 {
		t.Errorf("Note allocates %v times", n)
	}
}
