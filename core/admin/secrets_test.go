package admin

import (
	"fmt"
	"html"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/registry"
)

// vault is a test plugin type whose secrets sit under names that the
// key-name safety net does not know: only the secret tag hides them.
type vaultConfig struct {
	// Keys are secret.
	Keys []string `koanf:"keys" secret:"true"`
	// Backend has a secret pin.
	Backend vaultBackend `koanf:"backend"`
	// Strict makes Validate refuse the first key, quoting it.
	Strict bool `koanf:"strict"`
}

type vaultBackend struct {
	Addr string `koanf:"addr"`
	Pin  string `koanf:"pin" secret:"true"`
}

func (c *vaultConfig) Validate() error {
	if c.Strict && len(c.Keys) > 0 {
		return &registry.FieldError{Key: "keys", Msg: fmt.Sprintf("key %q is too short for strict mode", c.Keys[0])}
	}
	return nil
}

type vault struct{ n int }

func (v *vault) Wrap(next http.Handler) http.Handler { return next }
func (v *vault) Stats() map[string]any               { return map[string]any{"keys": v.n} }

func init() {
	registry.Register("vault", func(_ *registry.Context, cfg *vaultConfig) (registry.Instance, error) {
		return &vault{n: len(cfg.Keys)}, nil
	})
}

const (
	secretKey = "alpha-key-1-very-secret"
	secretPin = "pin-8675309"
)

const vaultYAML = `
reload: {watch: false}
server:
  admin: {enabled: true, prefix: /_sy, allow: [127.0.0.0/8]}
plugins:
  vault: {type: vault, keys: ["` + secretKey + `"], backend: {addr: "db:1", pin: "` + secretPin + `"}}
middleware:
  - use: vault
routes:
  - path: /hello
    handler: {respond: {body: hi}}
`

// TestSecretsNeverShown: a plugin option tagged secret appears in clear on
// no surface that shows configuration: /api/config, /api/plugins, the
// dashboard, -print-config, the reload history and error messages.
func TestSecretsNeverShown(t *testing.T) {
	h, path := newAdminHost(t, vaultYAML)
	leaks := func(surface, text string) {
		t.Helper()
		text = html.UnescapeString(text)
		for _, s := range []string{secretKey, secretPin} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q", surface, s)
			}
		}
	}
	cfg := admin(h, "GET", "/_sy/api/config", "", allowedPeer)
	if cfg.Code != 200 || !strings.Contains(cfg.Body.String(), registry.Redacted) || !strings.Contains(cfg.Body.String(), "db:1") {
		t.Errorf("/api/config: %d, want the config with REDACTED in place of the secrets:\n%s", cfg.Code, cfg.Body)
	}
	leaks("/api/config", cfg.Body.String())
	leaks("/api/plugins", admin(h, "GET", "/_sy/api/plugins", "", allowedPeer).Body.String())
	leaks("the dashboard", admin(h, "GET", "/_sy/", "", allowedPeer).Body.String())

	printed, err := h.Snapshot().Loaded.MarshalEffective()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(printed), "pin: REDACTED") {
		t.Errorf("-print-config does not show the pin as REDACTED:\n%s", printed)
	}
	leaks("-print-config", string(printed))

	// A rejected reload whose validation error would quote a key.
	bad := strings.Replace(vaultYAML, "backend:", "strict: true, backend:", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	res := h.Reload("admin")
	if res.Success || !strings.Contains(res.Error, "plugins.vault.keys") {
		t.Fatalf("reload %+v, want a rejection naming plugins.vault.keys", res)
	}
	leaks("the reload error", res.Error)
	leaks("/api/reloads", admin(h, "GET", "/_sy/api/reloads", "", allowedPeer).Body.String())
	leaks("the dashboard after a rejection", admin(h, "GET", "/_sy/", "", allowedPeer).Body.String())

	// A decoding error about a secret option.
	bad = strings.Replace(vaultYAML, `pin: "`+secretPin+`"`, `pin: ["`+secretPin+`"]`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	res = h.Reload("admin")
	if res.Success || !strings.Contains(res.Error, "plugins.vault.backend.pin") {
		t.Fatalf("reload %+v, want a rejection naming plugins.vault.backend.pin", res)
	}
	leaks("a decoding error", res.Error)
}
