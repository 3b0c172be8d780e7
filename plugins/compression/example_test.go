package compression_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugins/compression"
)

// Build an instance through the registry, as the host does for a
// `type: compression` entry of the plugins block, and serve through it.
func Example() {
	reg := instances.New(instances.Options{})
	defer reg.Close()
	set, err := reg.Build(nil, []instances.Spec{{
		Name:   "gzip",
		Type:   compression.TypeName,
		Config: map[string]any{"level": 6, "min_size": "1KB", "encodings": []any{"zstd", "br", "gzip"}},
	}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Release()
	inst, _ := set.Get("gzip")

	page := strings.Repeat("Hello, Switchyard! ", 100)
	h := inst.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))

	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate;q=0.5")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	zr, _ := gzip.NewReader(rec.Body)
	body, _ := io.ReadAll(zr)
	fmt.Println(rec.Header().Get("Content-Encoding"), rec.Header().Get("Vary"))
	fmt.Println("smaller:", rec.Body.Len() < len(page), "round trip:", string(body) == page)
	// Output:
	// gzip Accept-Encoding
	// smaller: true round trip: true
}

// A config error names the key.
func ExampleConfig_Validate() {
	reg := instances.New(instances.Options{})
	defer reg.Close()
	_, err := reg.Build(nil, []instances.Spec{{
		Name:   "gzip",
		Type:   compression.TypeName,
		Config: map[string]any{"level": 12, "encodings": []any{"gzip", "deflate"}},
	}}, nil)
	fmt.Println(err)
	// Output:
	// plugins.gzip.level: must be between 1 (fastest) and 9 (smallest), got 12
	// plugins.gzip.encodings[1]: unknown encoding "deflate": want gzip, zstd or br
}
