package scenario

import (
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/internal/wait"
)

// TestCachedGzipHits checks that both servers of the cached gzip scenario
// answer from their cache with the gzip-encoded document.
func TestCachedGzipHits(t *testing.T) {
	sc, _ := Lookup(CachedGzip)
	for _, kind := range []string{Switchyard, Chi} {
		t.Run(kind, func(t *testing.T) {
			in, err := Build(CachedGzip, kind, Env{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var last string
			wait.For(t, "X-Cache: HIT", func() bool { // the cache admits entries asynchronously
				w := serve(t, in.Handler, "/api/doc", sc.Header)
				last = w.Header().Get("X-Cache")
				if last != "HIT" {
					return false
				}
				if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" {
					t.Fatalf("hit: status %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
				}
				if b := body(t, w); b != docBody {
					t.Fatalf("hit: %d bytes decoded, want the %d-byte document", len(b), len(docBody))
				}
				return true
			})
		})
	}
}
