package config

import (
	"net/url"
	"strings"

	"github.com/switchyard/switchyard/registry"
)

// Redacted replaces secret values in Redact's output.
const Redacted = registry.Redacted

// secretWords mark a key whose value is a secret, wherever it appears.
var secretWords = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "private_key", "credential", "authorization"}

// IsSecretKey reports whether a key name marks a secret value (it contains
// password, secret, token, api_key, credential, authorization, …; any case).
func IsSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// Redact returns a deep copy of m in which the value of every key that marks
// a secret (see IsSecretKey) is replaced by "REDACTED", and so is the
// password of every URL with credentials (redis://user:pass@host becomes
// redis://user:REDACTED@host) and every secret-named query parameter. m is
// not changed.
//
// When m is a whole configuration (it has a `plugins:` map), the value of
// every plugin option that its type tags secret:"true" is replaced too,
// whatever its key is called (see [registry.Type.Redact]): the key-name
// rule above is the safety net, the tag is the contract.
func Redact(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := redactValue(m, 0).(map[string]any)
	if ps, ok := out["plugins"].(map[string]any); ok {
		for name, p := range ps {
			ps[name] = redactPlugin(p)
		}
	}
	return out
}

// RedactPlugins returns a copy of a `plugins:` block in which every option
// tagged secret:"true" by its type, and every value Redact hides, is
// replaced by "REDACTED".
func RedactPlugins(plugins map[string]map[string]any) map[string]map[string]any {
	if plugins == nil {
		return nil
	}
	out := make(map[string]map[string]any, len(plugins))
	for name, keys := range plugins {
		m, _ := redactPlugin(redactValue(map[string]any(keys), 1)).(map[string]any)
		out[name] = m
	}
	return out
}

// redactPlugin hides the secret-tagged options of one plugin instance's keys
// (already a copy).
func redactPlugin(p any) any {
	keys, ok := p.(map[string]any)
	if !ok {
		return p
	}
	typ, _ := keys["type"].(string)
	t, found := registry.Lookup(typ)
	if !found {
		return p
	}
	return t.Redact(keys)
}

func redactValue(v any, depth int) any {
	if depth > maxDepth {
		return Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if IsSecretKey(k) && e != nil && e != "" {
				out[k] = Redacted
				continue
			}
			out[k] = redactValue(e, depth+1)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if IsSecretKey(k) && e != "" {
				out[k] = Redacted
				continue
			}
			out[k] = redactString(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e, depth+1)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactString(e)
		}
		return out
	case string:
		return redactString(x)
	}
	return v
}

// redactString hides the credentials of a URL; other strings are returned
// as they are.
func redactString(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// A URL too broken to parse may still carry user:pass@.
		if i, j := strings.Index(s, "://"), strings.LastIndexByte(s, '@'); j > i && i >= 0 {
			return s[:i+3] + Redacted + s[j:]
		}
		return s
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
			changed = true
		} else if u.Scheme != "" && strings.Contains(u.Scheme, "redis") && u.User.Username() != "" {
			// redis://secret@host: Redis reads a lone user-info as the password.
			u.User = url.User(Redacted)
			changed = true
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		secret := false
		for k := range q {
			if IsSecretKey(k) {
				q.Set(k, Redacted)
				secret = true
			}
		}
		if secret {
			u.RawQuery = q.Encode()
			changed = true
		}
	}
	if !changed {
		return s
	}
	return u.String()
}
