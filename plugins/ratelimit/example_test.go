package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/switchyard/switchyard/internal/instances"
	"github.com/switchyard/switchyard/plugins/ratelimit"
	"github.com/switchyard/switchyard/plugintest"
)

// A limiter of 2 requests per minute per client address, built through the
// registry as the host builds it, answering three requests of one client.
func Example() {
	reg := instances.New(instances.Options{})
	defer reg.Close()
	frozen := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	set, err := reg.Build(plugintest.NewServices(plugintest.WithNow(func() time.Time { return frozen })), []instances.Spec{{
		Name: "perip",
		Type: ratelimit.TypeName,
		Config: map[string]any{
			"rate": 2,
			"per":  "1m",
			"key":  "ip",
		},
	}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Release()
	inst, _ := set.Get("perip")
	h := inst.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))

	for i := 0; i < 3; i++ {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"))
		if w.Code == http.StatusTooManyRequests {
			fmt.Print("Retry-After: ", w.Header().Get("Retry-After"), " ", w.Body.String())
		}
	}
	// Output:
	// 200 "perip";q=2;w=60 "perip";r=1;t=30
	// 200 "perip";q=2;w=60 "perip";r=0;t=30
	// 429 "perip";q=2;w=60 "perip";r=0;t=30
	// Retry-After: 30 {"error":"rate limit exceeded","retry_after":30}
}

// A configuration error names the key.
func ExampleConfig_Validate() {
	cfg := &ratelimit.Config{}
	cfg.SetDefaults(nil)
	cfg.Store = "disk"
	fmt.Println(cfg.Validate())
	// Output:
	// rate: must be > 0, got 0; store: must be memory or redis, got "disk"
}
