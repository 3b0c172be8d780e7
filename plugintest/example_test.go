package plugintest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"time"

	"github.com/switchyard/switchyard/plugintest"
	"github.com/switchyard/switchyard/registry"
)

// StampConfig is the config of the example plugin type "stamp".
type StampConfig struct {
	// Header is the response header that receives the time.
	Header string `koanf:"header" json:"header"`
}

// SetDefaults sets the default header.
func (c *StampConfig) SetDefaults(registry.Section) error {
	c.Header = "X-Stamp"
	return nil
}

// Validate checks the header name.
func (c *StampConfig) Validate() error {
	if c.Header == "" {
		return &registry.FieldError{Key: "header", Msg: "must not be empty"}
	}
	return nil
}

func init() {
	registry.Register("stamp", func(ctx *registry.Context, cfg *StampConfig) (registry.Instance, error) {
		stamped := ctx.Metrics().Counter("stamp_responses_total", "Responses stamped.", "plugin")
		return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(cfg.Header, ctx.Now().UTC().Format(time.TimeOnly))
				stamped.WithLabelValues(ctx.Name).Inc()
				next.ServeHTTP(w, r)
			})
		}), nil
	})
}

// exampleT stands in for the *testing.T of a test function, so that the
// examples run; in a test, pass t.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Name() string                      { return "example" }
func (t *exampleT) Logf(format string, args ...any)   {}
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf("FAIL: "+format+"\n", args...) }
func (t *exampleT) Fatalf(format string, args ...any) { t.Errorf(format, args...); runtime.Goexit() }
func (t *exampleT) Failed() bool                      { return false }
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) done() {
	for k := len(t.cleanups) - 1; k >= 0; k-- {
		t.cleanups[k]()
	}
}

// Build an instance from YAML, serve a request through it with a fake
// clock, and read the metric it counts into.
func ExampleNew() {
	t := &exampleT{}
	defer t.done()

	inst := plugintest.New(t, "stamp", "header: X-Served-At")
	inst.Clock().Advance(90 * time.Minute)
	rec := inst.Serve(httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("X-Served-At"))
	fmt.Println(inst.CounterValue("stamp_responses_total", "plugin", "stamp"))
	// Output:
	// 200 01:30:00
	// 1
}

// Build returns the config error, naming the key, for validation tests.
func ExampleBuild() {
	t := &exampleT{}
	defer t.done()

	_, err := plugintest.Build(t, "stamp", `header: ""`)
	fmt.Println(err)
	_, err = plugintest.Build(t, "stamp", `heder: X-Typo`)
	fmt.Println(err)
	// Output:
	// plugins.stamp.header: must not be empty
	// plugins.stamp.heder: unknown key
}

// Rebuild with the same config keeps the instance, as a reload does.
func ExampleInstance_Rebuild() {
	t := &exampleT{}
	defer t.done()

	inst := plugintest.New(t, "stamp", "header: X-A")
	fmt.Println(inst.Rebuild("header: X-A"))
	fmt.Println(inst.Rebuild("header: X-B"))
	fmt.Println(inst.Serve(httptest.NewRequest("GET", "/", nil)).Header().Get("X-B"))
	// Output:
	// true
	// false
	// 00:00:00
}

// The conformance suite, in one line of a plugin's tests.
func ExampleConformance() {
	t := &exampleT{}
	defer t.done()

	plugintest.Conformance(t, "stamp", "header: X-Stamp")
	fmt.Println("passed")
	// Output: passed
}

func ExampleClock() {
	c := plugintest.NewClock(time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC))
	c.Advance(2 * time.Minute)
	fmt.Println(c.Now().Format(time.DateTime))
	// Output: 2026-03-02 00:01:00
}
