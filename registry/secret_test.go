package registry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type secretInner struct {
	Addr     string `koanf:"addr"`
	Password string `koanf:"password" secret:"true"`
}

type secretConfig struct {
	User     string            `koanf:"user"`
	Keys     []string          `koanf:"keys" secret:"true"`
	Redis    secretInner       `koanf:"redis"`
	Backends []secretInner     `koanf:"backends"`
	Tenants  map[string]secret `koanf:"tenants"`
	Limit    int               `koanf:"limit"`
	Fail     bool              `koanf:"fail"`
}

type secret struct {
	Token string `koanf:"token" secret:"true"`
}

func (c *secretConfig) Validate() error {
	if c.Fail {
		return &FieldError{Key: "keys", Msg: fmt.Sprintf("key %q is refused", c.Keys[0])}
	}
	return nil
}

func init() {
	Register("secret-probe", func(ctx *Context, cfg *secretConfig) (Instance, error) {
		if cfg.Limit < 0 {
			return nil, fmt.Errorf("cannot log in to %s with %s", cfg.Redis.Addr, cfg.Redis.Password)
		}
		if cfg.Limit == 13 {
			panic("bad key " + cfg.Keys[0])
		}
		return MiddlewareFunc(nil), nil
	})
}

func TestSecretKeys(t *testing.T) {
	pt, _ := Lookup("secret-probe")
	got := pt.SecretKeys()
	want := []string{"backends[].password", "keys", "redis.password", "tenants.*.token"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SecretKeys = %q, want %q", got, want)
	}
}

func TestRedactHidesTaggedFields(t *testing.T) {
	pt, _ := Lookup("secret-probe")
	keys := map[string]any{
		"type":     "secret-probe",
		"user":     "alice",
		"keys":     []any{"alpha-key-1", "beta-key-2"},
		"redis":    map[string]any{"addr": "db:6379", "password": "hunter22"},
		"backends": []any{map[string]any{"addr": "a", "password": "pw-one"}},
		"tenants":  map[string]any{"acme": map[string]any{"token": "tok-acme"}},
	}
	out := pt.Redact(keys)
	want := map[string]any{
		"type":     "secret-probe",
		"user":     "alice",
		"keys":     Redacted,
		"redis":    map[string]any{"addr": "db:6379", "password": Redacted},
		"backends": []any{map[string]any{"addr": "a", "password": Redacted}},
		"tenants":  map[string]any{"acme": map[string]any{"token": Redacted}},
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("Redact = %v\nwant %v", out, want)
	}
	if keys["keys"].([]any)[0] != "alpha-key-1" {
		t.Fatal("Redact changed its input")
	}
}

// TestErrorsNeverQuoteSecrets: decoding, validation, factory errors and
// factory panics name the key but never show a tagged value.
func TestErrorsNeverQuoteSecrets(t *testing.T) {
	pt, _ := Lookup("secret-probe")
	tests := []struct {
		name    string
		keys    map[string]any
		wantKey string
	}{
		{"decode", map[string]any{"redis": map[string]any{"password": []any{"hunter22"}}}, "redis.password"},
		{"validate", map[string]any{"keys": []any{"alpha-key-1"}, "fail": true}, "keys"},
		{"factory", map[string]any{"redis": map[string]any{"addr": "db", "password": "hunter22"}, "limit": -1}, ""},
		{"panic", map[string]any{"keys": []any{"alpha-key-1"}, "limit": 13}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := pt.Decode(nil, tt.keys)
			if err == nil {
				_, err = pt.New(NewContext(context.Background(), "p", "secret-probe", nil, nil), cfg)
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, s := range []string{"hunter22", "alpha-key-1"} {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q shows the secret %q", msg, s)
				}
			}
			if !strings.Contains(msg, Redacted) {
				t.Errorf("error %q does not say what was hidden", msg)
			}
			if tt.wantKey != "" {
				var fe *FieldError
				var de DecodeErrors
				switch {
				case errors.As(err, &de):
					fe = de[0]
				case errors.As(err, &fe):
				default:
					t.Fatalf("error %T has no key", err)
				}
				if fe.Key != tt.wantKey {
					t.Errorf("key = %q, want %q", fe.Key, tt.wantKey)
				}
			}
		})
	}
}

func TestUnderSecret(t *testing.T) {
	n := secretsOf(reflect.TypeFor[secretConfig]())
	for key, want := range map[string]bool{
		"keys": true, "keys[0]": true, "redis.password": true, "redis.addr": false,
		"backends[2].password": true, "backends[2].addr": false, "tenants.x.token": true, "user": false,
	} {
		if got := underSecret(n, key); got != want {
			t.Errorf("underSecret(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestDecodeWordsTypeMismatches(t *testing.T) {
	var c struct {
		L []string          `koanf:"l"`
		M map[string]string `koanf:"m"`
		S struct {
			A int `koanf:"a"`
		} `koanf:"s"`
	}
	for in, want := range map[string]map[string]any{
		"l: expected list, got string": {"l": "x"},
		"l: expected list, got map":    {"l": map[string]any{"a": 1}},
		"m: expected map, got string":  {"m": "x"},
		"m: expected map, got list":    {"m": []any{1}},
		"s: expected map, got string":  {"s": "x"},
	} {
		if err := Decode(want, &c); err == nil || err.Error() != in {
			t.Errorf("Decode(%v) = %v, want %q", want, err, in)
		}
	}
}
