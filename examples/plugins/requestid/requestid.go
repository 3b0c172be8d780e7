package requestid

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/switchyard/switchyard/registry"
)

// Config is the requestid plugin's config.
type Config struct {
	// Header is the request header an incoming ID is taken from and the
	// response header the ID is sent back in. Default X-Request-Id.
	Header string `koanf:"header" json:"header"`
}

// SetDefaults sets Header to chi's X-Request-Id.
func (c *Config) SetDefaults(registry.Section) error {
	c.Header = middleware.RequestIDHeader
	return nil
}

// Validate checks that Header is a valid header name.
func (c *Config) Validate() error {
	if !validHeaderName(c.Header) {
		return &registry.FieldError{Key: "header", Msg: "must be a header name such as X-Request-Id"}
	}
	return nil
}

func init() { registry.Register("requestid", New) }

// New builds a requestid instance: chi's middleware.RequestID, plus the
// configured header.
func New(_ *registry.Context, cfg *Config) (registry.Instance, error) {
	header := http.CanonicalHeaderKey(cfg.Header)
	return registry.MiddlewareFunc(func(next http.Handler) http.Handler {
		echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(header, middleware.GetReqID(r.Context()))
			next.ServeHTTP(w, r)
		})
		withID := middleware.RequestID(echo)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// chi reads an incoming ID from its own header only.
			if id := r.Header.Get(header); id != "" {
				echo.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), middleware.RequestIDKey, id)))
				return
			}
			withID.ServeHTTP(w, r)
		})
	}), nil
}

// tokenChars are the characters of an RFC 9110 token, such as a header name.
const tokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// validHeaderName reports whether s is a non-empty token.
func validHeaderName(s string) bool { return s != "" && strings.Trim(s, tokenChars) == "" }
