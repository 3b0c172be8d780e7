package quota

import (
	"strings"

	"github.com/switchyard/switchyard/registry"
)

// Config is the quota plugin's config.
type Config struct {
	// Limit is how many requests one client may make per day (UTC).
	// Required; must be > 0.
	Limit int `koanf:"limit" json:"limit"`
	// Header names the request header that identifies a client, such as
	// X-Api-Key. Empty (the default), or a request without the header: the
	// client IP identifies it.
	Header string `koanf:"header" json:"header"`
	// MaxClients bounds how many clients are counted per day; a client beyond
	// it is refused with 503 until the day ends. Default 100000.
	MaxClients int `koanf:"max_clients" json:"max_clients"`
	// StateFile, when set, is a JSON file that keeps the day's counts across
	// restarts: they are loaded when the plugin starts and saved when the
	// last instance sharing them closes (at shutdown, say). Its directory
	// must exist. Default "" (counts live in memory only).
	StateFile string `koanf:"state_file" json:"state_file"`
}

// SetDefaults sets the defaults of the keys a config leaves out.
func (c *Config) SetDefaults(registry.Section) error {
	c.MaxClients = 100000
	return nil
}

// Validate checks the config; its errors name the key.
func (c *Config) Validate() error {
	switch {
	case c.Limit <= 0:
		return &registry.FieldError{Key: "limit", Msg: "must be > 0 (requests per client per day)"}
	case c.MaxClients <= 0:
		return &registry.FieldError{Key: "max_clients", Msg: "must be > 0"}
	case c.Header != "" && strings.Trim(c.Header, tokenChars) != "":
		return &registry.FieldError{Key: "header", Msg: "must be a header name such as X-Api-Key"}
	}
	return nil
}

// tokenChars are the characters of an RFC 9110 token, such as a header name.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
