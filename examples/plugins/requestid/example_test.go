package requestid_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/internal/instances"
)

// Build the plugin through the registry, as a host does, and serve a request
// that brings its own ID.
func Example() {
	reg := instances.New(instances.Options{})
	defer reg.Close()
	set, err := reg.Build(nil, []instances.Spec{
		{Name: "reqid", Type: "requestid", Config: map[string]any{"header": "X-Trace-Id"}},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Release()
	inst, _ := set.Get("reqid")

	h := inst.Wrap(echoID)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Trace-Id", "trace-42")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Header().Get("X-Trace-Id"), rec.Body.String())
	// Output: trace-42 trace-42
}
