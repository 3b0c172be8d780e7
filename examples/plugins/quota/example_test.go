package quota_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/internal/instances"
)

// Two requests against a limit of one: the second is refused until
// midnight UTC.
func Example() {
	reg := instances.New(instances.Options{})
	defer reg.Close()
	set, err := reg.Build(nil, []instances.Spec{
		{Name: "apiquota", Type: "quota", Config: map[string]any{"limit": 1, "header": "X-Api-Key"}},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Release()
	inst, _ := set.Get("apiquota")
	h := inst.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 2 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Api-Key", "k1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("X-Quota-Remaining"))
	}
	// Output:
	// 200 0
	// 429 0
}
