package ratelimit

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// Acceptance 10: the plugin page documents every key, the header format,
// the proxy trust rules and the Redis set-up.
func TestAcceptance10Docs(t *testing.T) {
	b, err := os.ReadFile("../../docs/plugins/ratelimit.md")
	if err != nil {
		t.Fatalf("plugin page: %v", err)
	}
	doc := string(b)
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			name := prefix + f.Tag.Get("koanf")
			if f.Type.Kind() == reflect.Struct && f.Type.Name() != "Duration" {
				walk(name+".", f.Type)
				continue
			}
			keys = append(keys, name)
		}
	}
	walk("", reflect.TypeFor[Config]())
	if len(keys) < 16 {
		t.Fatalf("found only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("key %s has no row in the keys table", k)
		}
	}
	for _, want := range []string{
		`RateLimit-Policy: "perip";q=100;w=60`,
		`RateLimit: "perip";r=42;t=17`,
		"Retry-After",
		`{"error":"rate limit exceeded","retry_after":2}`,
		"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
		"server.trusted_proxies", "X-Forwarded-For", "right to left", "/64",
		"EVALSHA", "TIME", "hash tag", "ACL SETUSER", "on_error",
		"switchyard_ratelimit_requests_total", "switchyard_ratelimit_redis_errors_total",
		"```yaml",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("plugin page does not mention %q", want)
		}
	}
}
