package apikey

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/registry"
)

// TypeName is the plugin type under which this package registers.
const TypeName = "apikey"

func init() { registry.Register(TypeName, New) }

// APIKey is one apikey instance. It is safe for concurrent use.
type APIKey struct {
	callers  map[[sha256.Size]byte]string // SHA-256 of a key -> caller name
	header   string
	bearer   bool
	varName  string
	authHdr  []string // WWW-Authenticate of a refusal, shared: never modified
	allowed  prometheus.Counter
	refused  prometheus.Counter
	nAllowed atomic.Int64
	nRefused atomic.Int64
}

// New builds an apikey instance from its validated config: the keys of the
// config and those of keys_file.
func New(ctx *registry.Context, cfg *Config) (registry.Instance, error) {
	keys := cfg.Keys
	if cfg.KeysFile != "" {
		more, err := readKeysFile(ctx.File(cfg.KeysFile))
		if err != nil {
			return nil, &registry.FieldError{Key: "keys_file", Msg: err.Error()}
		}
		keys = append(append([]string(nil), keys...), more...)
	}
	if len(keys) == 0 {
		return nil, &registry.FieldError{Key: "keys_file", Msg: "holds no key"}
	}
	a := &APIKey{
		callers: make(map[[sha256.Size]byte]string, len(keys)),
		header:  http.CanonicalHeaderKey(cfg.Header),
		varName: cfg.Var,
		authHdr: []string{`ApiKey realm="` + cfg.Realm + `"`},
	}
	a.bearer = a.header == "Authorization"
	if a.bearer {
		a.authHdr = []string{`Bearer realm="` + cfg.Realm + `"`}
	}
	for _, k := range keys {
		name, key, _ := parseKey(k) // validated
		sum := sha256.Sum256([]byte(key))
		if name == "" {
			name = "key-" + hex.EncodeToString(sum[:4])
		}
		a.callers[sum] = name
	}
	requests := ctx.Metrics().Counter("apikey_requests_total",
		"Requests through an apikey plugin, by result: allowed or refused.", "plugin", "result")
	a.allowed = requests.WithLabelValues(ctx.Name, "allowed")
	a.refused = requests.WithLabelValues(ctx.Name, "refused")
	return a, nil
}

// Wrap returns the middleware around next: a request with a known key goes
// on with the caller's name as the request value cfg.Var; any other gets
// 401.
func (a *APIKey) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := a.caller(r); ok {
			a.allowed.Inc()
			a.nAllowed.Add(1)
			next.ServeHTTP(w, registry.SetValue(r, a.varName, name))
			return
		}
		a.refused.Inc()
		a.nRefused.Add(1)
		h := w.Header()
		h["Www-Authenticate"] = a.authHdr
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(`{"error":"missing or unknown API key"}` + "\n"))
		}
	})
}

// caller finds the caller of the request's key. The key is compared by its
// SHA-256, so the time a lookup takes says nothing about the keys.
func (a *APIKey) caller(r *http.Request) (string, bool) {
	v := r.Header.Get(a.header)
	if a.bearer {
		const p = "Bearer "
		if len(v) <= len(p) || !strings.EqualFold(v[:len(p)], p) {
			return "", false
		}
		v = v[len(p):]
	}
	if v == "" {
		return "", false
	}
	name, ok := a.callers[sha256.Sum256([]byte(v))]
	return name, ok
}

// Stats reports the instance for the admin API and the dashboard: counts,
// never keys.
func (a *APIKey) Stats() map[string]any {
	return map[string]any{
		"keys":    len(a.callers),
		"allowed": a.nAllowed.Load(),
		"refused": a.nRefused.Load(),
	}
}

var (
	_ registry.Instance      = (*APIKey)(nil)
	_ registry.StatsReporter = (*APIKey)(nil)
)
