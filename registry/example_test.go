package registry_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/registry"
)

// GreetConfig is the config of the example plugin type "greet".
type GreetConfig struct {
	// Greeting is the value of the X-Greeting header.
	Greeting string `koanf:"greeting"`
}

// SetDefaults fills in defaults before the user's keys are decoded.
func (c *GreetConfig) SetDefaults(registry.Defaults) { c.Greeting = "hello" }

// Validate checks the decoded config.
func (c *GreetConfig) Validate() error {
	if c.Greeting == "" {
		return fmt.Errorf("greeting: must not be empty")
	}
	return nil
}

func init() {
	registry.Register("greet", func(ctx *registry.Context, cfg *GreetConfig) (registry.Instance, error) {
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Greeting", cfg.Greeting+" from "+ctx.Name)
				next.ServeHTTP(w, r)
			})
		}), nil
	})
}

// Register a plugin type, build an instance from config keys, and serve
// through it.
func Example() {
	reg := registry.New(registry.Options{})
	defer reg.Close()
	set, err := reg.Build(registry.Context{}, []registry.Spec{
		{Name: "hi", Type: "greet", Config: map[string]any{"greeting": "bonjour"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Release()

	inst, _ := set.Get("hi")
	h := inst.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Header().Get("X-Greeting"))
	// Output: bonjour from hi
}

// A config key the plugin type does not declare is an error naming the key.
func ExampleRegistry_Build_unknownKey() {
	reg := registry.New(registry.Options{})
	defer reg.Close()
	_, err := reg.Build(registry.Context{}, []registry.Spec{
		{Name: "hi", Type: "greet", Config: map[string]any{"greting": "typo"}},
	})
	fmt.Println(err)
	// Output: plugins.hi.greting: unknown key
}

// An unchanged config gives back the same instance, so its state survives a
// reload.
func ExampleRegistry_Build_reuse() {
	reg := registry.New(registry.Options{})
	defer reg.Close()
	specs := []registry.Spec{{Name: "hi", Type: "greet"}}
	first, _ := reg.Build(registry.Context{}, specs)
	second, _ := reg.Build(registry.Context{}, specs)
	fmt.Println("created:", first.Created(), "then kept:", second.Kept())
	first.Release()
	second.Release()
	// Output: created: [hi] then kept: [hi]
}

func ExampleParseSize() {
	for _, s := range []string{"1024", "64MB", "1MiB"} {
		n, _ := registry.ParseSize(s)
		fmt.Println(s, int64(n))
	}
	// Output:
	// 1024 1024
	// 64MB 64000000
	// 1MiB 1048576
}
