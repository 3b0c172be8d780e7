package admin

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// count is a test plugin type that tags every response with X-Count.
type countConfig struct {
	Tag string `koanf:"tag"`
}

type counter struct{ tag string }

func (c *counter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Count", c.tag)
		next.ServeHTTP(w, r)
	})
}

func init() {
	registry.Register("count", func(_ *registry.Context, cfg *countConfig) (registry.Instance, error) {
		return &counter{tag: cfg.Tag}, nil
	})
}

// do sends one request from the test client address and returns the recorder.
func do(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}
