package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/instances"
)

func TestConfigDefaults(t *testing.T) {
	e := newEnv(t)
	l := e.limiter("d", map[string]any{"rate": 100})
	want := Config{
		Rate: 100, Per: time.Second, Key: "ip", IPv6Prefix: 64, Store: "memory",
		MaxKeys: 1_000_000, OnError: "allow",
		Redis: RedisConfig{Addr: "localhost:6379", Timeout: 50 * time.Millisecond},
	}
	if l.cfg != want {
		t.Fatalf("defaults\n got %+v\nwant %+v", l.cfg, want)
	}
	if l.pol.interval != int64(10*time.Millisecond) || l.pol.tau != int64(time.Second) {
		t.Fatalf("policy %+v", l.pol)
	}
	if l.policyHdr[0] != `"d";q=100;w=1` {
		t.Fatalf("policy header %q", l.policyHdr[0])
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]any
		want []string
	}{
		{"rate missing", map[string]any{}, []string{"plugins.x.rate: must be > 0"}},
		{"negative values", map[string]any{"rate": 1, "per": "-1s", "burst": -1, "max_keys": 0},
			[]string{"plugins.x.per: must be > 0", "plugins.x.burst: must be >= 0", "plugins.x.max_keys: must be > 0"}},
		{"unknown key", map[string]any{"rate": 1, "brust": 3}, []string{"plugins.x.brust: unknown key"}},
		{"wrong type", map[string]any{"rate": "fast"}, []string{"plugins.x.rate"}},
		{"bare number duration", map[string]any{"rate": 1, "per": 60}, []string{"plugins.x.per"}},
		{"bad store", map[string]any{"rate": 1, "store": "disk"}, []string{"plugins.x.store: must be memory or redis"}},
		{"bad on_error", map[string]any{"rate": 1, "on_error": "maybe"}, []string{"plugins.x.on_error: must be allow or deny"}},
		{"bad ipv6_prefix", map[string]any{"rate": 1, "ipv6_prefix": 0}, []string{"plugins.x.ipv6_prefix: must be between 1 and 128"}},
		{"header without name", map[string]any{"rate": 1, "key": "header:"}, []string{"plugins.x.key: header: needs a header name"}},
		{"bad header name", map[string]any{"rate": 1, "key": "header:X Api"}, []string{"plugins.x.key: invalid header name"}},
		{"empty key", map[string]any{"rate": 1, "key": " "}, []string{"plugins.x.key: must not be empty"}},
		{"too fast", map[string]any{"rate": 10, "per": "5ns"}, []string{"plugins.x.rate: 10 per 5ns is more than one request per nanosecond"}},
		{"too fast for redis", map[string]any{"rate": 10_000_000, "per": "1s", "store": "redis"}, []string{"resolution of the Redis store"}},
		{"bucket overflow", map[string]any{"rate": 1, "per": "1000h", "burst": 1 << 40}, []string{"plugins.x.burst: a bucket of"}},
		{"redis settings", map[string]any{"rate": 1, "store": "redis", "redis": map[string]any{"addr": "", "db": -1, "timeout": "0s"}},
			[]string{"plugins.x.redis.addr: must be set", "plugins.x.redis.db: must be >= 0", "plugins.x.redis.timeout: must be > 0"}},
		{"unknown redis key", map[string]any{"rate": 1, "redis": map[string]any{"adr": "x"}}, []string{"plugins.x.redis.adr: unknown key"}},
		{"name not printable", map[string]any{"rate": 1, "name": "a\nb"}, []string{"plugins.x.name: must be printable ASCII"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.reg.Build(e.services(), []instances.Spec{{Name: "x", Type: TypeName, Config: tc.cfg}}, nil)
			if err == nil {
				t.Fatalf("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in   string
		want keySpec
		err  bool
	}{
		{"ip", keySpec{source: sourceIP}, false},
		{" route ", keySpec{source: sourceRoute}, false},
		{"header:x-api-key", keySpec{source: sourceHeader, header: "X-Api-Key"}, false},
		{"header: Authorization ", keySpec{source: sourceHeader, header: "Authorization"}, false},
		{`request.header["X-User"]`, keySpec{source: sourceExpr, expr: `request.header["X-User"]`}, false},
		{"", keySpec{}, true},
		{"header:", keySpec{}, true},
		{"header:a:b", keySpec{}, true},
	}
	for _, tc := range tests {
		got, err := parseKey(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseKey(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"ip", "route", "header:X-Api-Key", "header:", "request.host", "header:\x00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseKey(s)
		if err != nil {
			return
		}
		switch spec.source {
		case sourceHeader:
			if spec.header == "" {
				t.Fatalf("header key without a name from %q", s)
			}
			for i := 0; i < len(spec.header); i++ {
				if !isTokenChar(spec.header[i]) {
					t.Fatalf("header name %q has a non-token byte", spec.header)
				}
			}
		case sourceExpr:
			if strings.TrimSpace(spec.expr) == "" {
				t.Fatalf("empty expression from %q", s)
			}
		}
	})
}

func FuzzPolicyName(f *testing.F) {
	for _, s := range []string{"perip", `a"b`, `a\b`, "\x7f", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkPolicyName(s) != nil {
			return
		}
		v := sfString(s)
		// A valid sf-string: quoted, and unescaping gives s back.
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			t.Fatalf("sfString(%q) = %s", s, v)
		}
		var out []byte
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' {
				i++
				if v[i] != '"' && v[i] != '\\' {
					t.Fatalf("bad escape in %s", v)
				}
				c = v[i]
			} else if c == '"' {
				t.Fatalf("unescaped quote in %s", v)
			}
			out = append(out, c)
		}
		if string(out) != s {
			t.Fatalf("round trip %q -> %s -> %q", s, v, out)
		}
	})
}
