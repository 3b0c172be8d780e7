package registry_test

import (
	"context"
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

// SetDefaults fills in defaults before the user's keys are decoded. The
// host section (performance.response.greet) is not used by this type.
func (c *GreetConfig) SetDefaults(registry.Section) error {
	c.Greeting = "hello"
	return nil
}

// Validate checks the decoded config.
func (c *GreetConfig) Validate() error {
	if c.Greeting == "" {
		return &registry.FieldError{Key: "greeting", Msg: "must not be empty"}
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

// Build an instance of a registered type from config keys, as the host does,
// and serve through it.
func Example() {
	typ, _ := registry.Lookup("greet")
	cfg, err := typ.Decode(nil, map[string]any{"greeting": "bonjour"})
	if err != nil {
		fmt.Println(err)
		return
	}
	inst, err := typ.New(registry.NewContext(context.Background(), "hi", "greet", nil, nil), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := inst.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Header().Get("X-Greeting"))
	// Output: bonjour from hi
}

// A config key the plugin type does not declare is an error naming the key.
func ExampleType_Decode_unknownKey() {
	typ, _ := registry.Lookup("greet")
	_, err := typ.Decode(nil, map[string]any{"greting": "typo"})
	fmt.Println(err)
	// Output: greting: unknown key
}

// A plugin's background work ends when its Context is done: the host
// cancels it once the instance is retired.
func ExampleContext_Done() {
	life, retire := context.WithCancel(context.Background())
	ctx := registry.NewContext(life, "ticker", "greet", nil, nil)
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done() // a real plugin selects on this beside its ticker
		close(stopped)
	}()
	retire()
	<-stopped
	fmt.Println("background work stopped:", ctx.Err())
	// Output: background work stopped: context canceled
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
