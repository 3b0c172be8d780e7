package conditions

import (
	"testing"
)

// TestDocExamples compiles the examples of docs/conditions.md (as a YAML
// decoder hands them over) and checks that each does what the page says.
func TestDocExamples(t *testing.T) {
	named := map[string]any{
		"is_api":      `request.path.startsWith("/api/")`,
		"safe_method": map[string]any{"method": []any{"GET", "HEAD"}},
		"internal":    map[string]any{"remote_ip": []any{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}},
	}
	ua := func(v string) req { return req{header: map[string]string{"User-Agent": v}} }
	examples := []struct {
		name  string
		when  any
		hold  []req
		fails []req
	}{
		{"1 compress unless opted out", `!request.header.exists("X-No-Gzip")`,
			[]req{{}}, []req{{header: map[string]string{"X-No-Gzip": "1"}}}},
		{"2 safe methods", "safe_method",
			[]req{{}, {method: "HEAD"}}, []req{{method: "POST"}}},
		{"3 anonymous only", `!request.header.exists("Authorization")`,
			[]req{{}}, []req{{header: map[string]string{"Authorization": "Bearer t"}}}},
		{"4 not internal", map[string]any{"not": "internal"},
			[]req{{}, {remote: "[2001:db8::1]:1"}}, []req{{remote: "10.0.0.1:1"}, {remote: "[fd00::1]:1"}, {remote: "172.20.0.1:1"}}},
		{"5 admin writes from outside", map[string]any{
			"path":   "/admin/*",
			"method": []any{"POST", "PUT", "PATCH", "DELETE"},
			"not":    map[string]any{"remote_ip": []any{"203.0.113.0/24", "2001:db8:10::/48"}},
		}, []req{{method: "POST", target: "/admin/users"}}, []req{{method: "POST", target: "/admin/users", remote: "203.0.113.4:1"}, {target: "/admin/users"}, {method: "POST", target: "/api/x"}}},
		{"6 bypass cache for staging debug", map[string]any{"not": map[string]any{"host": "*.staging.example.com", "query": map[string]any{"debug": ""}}},
			[]req{{}, {target: "http://app.staging.example.com/"}, {target: "http://example.com/?debug"}}, []req{{target: "http://app.STAGING.example.com:8443/x?debug=1"}}},
		{"7 big uploads", `request.method in ["POST", "PUT"] && request.content_length > 1048576`,
			[]req{{method: "PUT", length: 5 << 20}}, []req{{method: "PUT", length: 1024}, {method: "GET", length: 5 << 20}}},
		{"8 crawlers", map[string]any{"any": []any{
			map[string]any{"header": map[string]any{"User-Agent": "*bot*"}},
			`request.header["User-Agent"].matches("(?i)crawler|spider|scraper")`,
		}}, []req{ua("Googlebot/2.1"), ua("FriendlySpider 1.0"), ua("x CRAWLER")}, []req{ua("Mozilla/5.0"), {}}},
		{"9 paying tenants on a route", `request.route == "/api/tenants/{tenant}/reports" && request.header["X-Tenant-Plan"] in ["pro", "enterprise"]`,
			[]req{{route: "/api/tenants/{tenant}/reports", header: map[string]string{"X-Tenant-Plan": "pro"}}},
			[]req{{route: "/api/tenants/{tenant}/reports", header: map[string]string{"X-Tenant-Plan": "free"}}, {route: "/api/tenants/{tenant}/reports"}, {header: map[string]string{"X-Tenant-Plan": "pro"}}}},
		{"10 compress over tls", `request.scheme == "https" && !path_match("/health*") && !ip_in(request.remote_ip, "10.20.0.0/16")`,
			[]req{{tls: true}}, []req{{}, {tls: true, target: "/healthz"}, {tls: true, remote: "10.20.3.4:1"}}},
		{"missing header idiom", `!request.header.exists("X-Env") || request.header["X-Env"] != "prod"`,
			[]req{{}, {header: map[string]string{"X-Env": "dev"}}}, []req{{header: map[string]string{"X-Env": "prod"}}}},
		{"host any case", `request.host.matches("(?i)^example\\.com$")`,
			[]req{{target: "http://EXAMPLE.COM/"}}, []req{{target: "http://example.org/"}}},
	}
	for _, c := range compilers(t, named, Options{}) {
		for _, ex := range examples {
			cond, err := c.Compile("when", ex.when)
			if err != nil {
				t.Fatalf("%s: %v", ex.name, err)
			}
			for _, q := range ex.hold {
				if !cond.Match(q.build(t)) {
					t.Errorf("%s: does not hold for %+v", ex.name, q)
				}
			}
			for _, q := range ex.fails {
				if cond.Match(q.build(t)) {
					t.Errorf("%s: holds for %+v", ex.name, q)
				}
			}
		}
	}
	c, err := NewCompiler(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		`request.header["User-Agent"]`,
		`request.header["X-Api-Key"]`,
		`request.header.exists("X-Api-Key") ? "key:" + request.header["X-Api-Key"] : "ip:" + request.remote_ip`,
	} {
		if _, err := c.CompileString("plugins.x.key", key); err != nil {
			t.Errorf("key %s: %v", key, err)
		}
	}
}
