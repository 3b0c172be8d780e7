package caching_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/internal/instances"

	"github.com/switchyard/switchyard/plugins/caching"
)

// A caching instance built through the registry, in front of a handler whose
// responses may be cached for a minute.
func Example() {
	reg := instances.New(instances.Options{})
	set, err := reg.Build(nil, []instances.Spec{{
		Name: "apicache", Type: "caching",
		Config: map[string]any{"ttl": "300s", "max_size": "64MB"},
	}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Release()
	inst, _ := set.Get("apicache")

	calls := 0
	h := inst.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintln(w, "hello")
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/greeting", nil))
		fmt.Println(rec.Header().Get("X-Cache"), rec.Header().Get("Cache-Status"), rec.Body.String() == "hello\n")
	}
	fmt.Println("upstream calls:", calls)
	n, err := inst.(*caching.Cache).Purge("", "/greet")
	fmt.Println("purged:", n, err)
	// Output:
	// MISS switchyard; fwd=uri-miss; stored true
	// HIT switchyard; hit true
	// upstream calls: 1
	// purged: 1 <nil>
}
