package apikey

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/switchyard/switchyard/registry"
)

// Config is the apikey plugin's config.
type Config struct {
	// Keys are accepted API keys, each "NAME:KEY" (NAME identifies the
	// caller) or a bare "KEY" (the caller is then "key-" and the first 8 hex
	// digits of the key's SHA-256). Secret: shown as REDACTED wherever the
	// configuration is shown.
	Keys []string `koanf:"keys" json:"keys" secret:"true"`
	// KeysFile is a file of more keys, one a line in the same form; blank
	// lines and lines starting with # are ignored. A relative path is
	// relative to the main config file's directory. It is read when the
	// instance is built, and an edit of it rebuilds the instance at once
	// (with reload.watch on; SIGHUP and the admin API's reload see it too).
	KeysFile string `koanf:"keys_file" json:"keys_file"`
	// Header is the request header that carries the key. Default X-Api-Key.
	// With Authorization, the value is read after "Bearer ".
	Header string `koanf:"header" json:"header"`
	// Var is the name of the request value that carries the caller's NAME to
	// the rest of the chain (request.vars.NAME in conditions, key: var:NAME in
	// a ratelimit, registry.Value in Go). Default "user".
	Var string `koanf:"var" json:"var"`
	// Realm is the realm of the WWW-Authenticate header of a refusal.
	// Default "switchyard".
	Realm string `koanf:"realm" json:"realm"`
}

// SetDefaults sets the defaults of the keys a config leaves out.
func (c *Config) SetDefaults(registry.Section) error {
	c.Header = "X-Api-Key"
	c.Var = "user"
	c.Realm = "switchyard"
	return nil
}

// Validate checks the config; its errors name the key and never quote one.
func (c *Config) Validate() error {
	switch {
	case len(c.Keys) == 0 && c.KeysFile == "":
		return &registry.FieldError{Key: "keys", Msg: "give keys, keys_file or both"}
	case c.Header == "" || strings.Trim(c.Header, tokenChars) != "":
		return &registry.FieldError{Key: "header", Msg: "must be a header name such as X-Api-Key"}
	case c.Var == "":
		return &registry.FieldError{Key: "var", Msg: "must not be empty"}
	case strings.ContainsAny(c.Realm, "\"\\\r\n"):
		return &registry.FieldError{Key: "realm", Msg: "must not contain quotes, backslashes or line breaks"}
	}
	for i, k := range c.Keys {
		if _, _, err := parseKey(k); err != nil {
			return &registry.FieldError{Key: fmt.Sprintf("keys[%d]", i), Msg: err.Error()}
		}
	}
	return nil
}

// tokenChars are the characters of an RFC 9110 token, such as a header name.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// parseKey splits "NAME:KEY" or "KEY". Its errors never quote the key.
func parseKey(s string) (name, key string, err error) {
	s = strings.TrimSpace(s)
	if n, k, ok := strings.Cut(s, ":"); ok {
		name, key = strings.TrimSpace(n), strings.TrimSpace(k)
		if name == "" {
			return "", "", fmt.Errorf("empty NAME before the colon (want NAME:KEY or KEY)")
		}
	} else {
		key = s
	}
	if key == "" {
		return "", "", fmt.Errorf("empty key (want NAME:KEY or KEY)")
	}
	if strings.ContainsAny(key, " \t") {
		return "", "", fmt.Errorf("a key must not contain spaces")
	}
	return name, key, nil
}

// readKeysFile reads a keys file. Its errors name the line, never the key.
func readKeysFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, _, err := parseKey(line); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		keys = append(keys, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %v", path, err)
	}
	return keys, nil
}

// unwrapPath drops the path that an *os.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
