package registry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/registry"
)

// An auth link sets the caller for the rest of the chain; the handler reads
// it back.
func ExampleSetValue() {
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Api-Key") == "k1" {
				r = registry.SetValue(r, "user", "alice")
			}
			next.ServeHTTP(w, r)
		})
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, ok := registry.ValueOf[string](r, "user"); ok {
			fmt.Println("hello,", user)
			return
		}
		fmt.Println("hello, stranger")
	})
	h := auth(handler)

	r := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	r.Header.Set("X-Api-Key", "k1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output:
	// hello, stranger
	// hello, alice
}

// Secret fields are hidden wherever configuration is shown.
func ExampleType_Redact() {
	type Config struct {
		Addr     string `koanf:"addr"`
		Password string `koanf:"password" secret:"true"`
	}
	registry.Register("example-secret", func(*registry.Context, *Config) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler { return next }), nil
	})
	t, _ := registry.Lookup("example-secret")
	fmt.Println(t.SecretKeys())
	fmt.Println(t.Redact(map[string]any{"type": "example-secret", "addr": "db:6379", "password": "hunter22"}))
	// Output:
	// [password]
	// map[addr:db:6379 password:REDACTED type:example-secret]
}
