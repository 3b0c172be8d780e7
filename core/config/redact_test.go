package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestRedact(t *testing.T) {
	in := map[string]any{
		"plugins": map[string]any{
			"shared": map[string]any{
				"type":           "caching",
				"redis_url":      "redis://app:s3cret@cache:6379/0",
				"password":       "hunter2",
				"redis_password": "",
				"api_token":      []any{"a", "b"},
				"ttl":            "60s",
				"addrs":          []any{"redis://:pw@r1:6379", "redis://r2:6379"},
				"sentinel":       map[string]any{"ClientSecret": map[string]any{"x": 1}},
				"dsn":            "postgres://u:p@db/app?sslmode=disable&password=x",
				"bare":           "rediss://onlysecret@cache:6380",
				"plain_user":     "https://user@example.com/",
			},
		},
		"server": map[string]any{"addr": "127.0.0.1:8080"},
		"routes": []any{map[string]any{"handler": map[string]any{"respond": map[string]any{
			"headers": map[string]string{"Authorization": "Bearer x", "Content-Type": "text/plain"},
		}}}},
	}
	want := map[string]any{
		"plugins": map[string]any{
			"shared": map[string]any{
				"type":           "caching",
				"redis_url":      "redis://app:REDACTED@cache:6379/0",
				"password":       "REDACTED",
				"redis_password": "",
				"api_token":      "REDACTED",
				"ttl":            "60s",
				"addrs":          []any{"redis://:REDACTED@r1:6379", "redis://r2:6379"},
				"sentinel":       map[string]any{"ClientSecret": "REDACTED"},
				"dsn":            "postgres://u:REDACTED@db/app?password=REDACTED&sslmode=disable",
				"bare":           "rediss://REDACTED@cache:6380",
				"plain_user":     "https://user@example.com/",
			},
		},
		"server": map[string]any{"addr": "127.0.0.1:8080"},
		"routes": []any{map[string]any{"handler": map[string]any{"respond": map[string]any{
			"headers": map[string]any{"Authorization": "REDACTED", "Content-Type": "text/plain"},
		}}}},
	}
	before := Redact(in) // also checks that in is left alone below
	if !reflect.DeepEqual(before, want) {
		t.Errorf("Redact =\n%#v\nwant\n%#v", before, want)
	}
	if in["plugins"].(map[string]any)["shared"].(map[string]any)["password"] != "hunter2" {
		t.Error("Redact changed its input")
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) != nil")
	}
}

func TestRedactLoadedRaw(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": "plugins:\n  c: {type: caching, store: redis, redis: {url: 'redis://:topsecret@h:6379'}}\n"})
	l := mustLoad(t, filepath.Join(dir, "c.yaml"), nil)
	r := Redact(l.Raw)
	got := r["plugins"].(map[string]any)["c"].(map[string]any)["redis"].(map[string]any)["url"]
	if got != "redis://:REDACTED@h:6379" {
		t.Errorf("url = %v", got)
	}
}

func TestIsSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"password": true, "RedisPassword": true, "client_secret": true, "token": true, "API_KEY": true,
		"Authorization": true, "credentials_file": true, "key": false, "ttl": false, "passthrough": false,
	} {
		if IsSecretKey(k) != want {
			t.Errorf("IsSecretKey(%q) = %v", k, !want)
		}
	}
}
