// Package mapcache is the response cache a chi user writes by hand: the
// baseline that the bench suite and the caching plugin's benchmarks measure
// the caching plugin against.
package mapcache

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Cache is the response cache one writes by hand: a map under an
// RWMutex, keyed by method, host, URI and Accept-Encoding, holding 200
// responses without no-store or private for a fixed TTL, dropping an
// arbitrary entry when full.
type Cache struct {
	mu      sync.RWMutex
	entries map[string]*cacheEntry
	max     int
	ttl     time.Duration
}

type cacheEntry struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// New returns a cache of at most maxEntries responses, each kept for ttl.
func New(maxEntries int, ttl time.Duration) *Cache {
	return &Cache{entries: map[string]*cacheEntry{}, max: maxEntries, ttl: ttl}
}

// Handler serves GET and HEAD from the cache and stores next's 200
// responses.
func (c *Cache) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		key := r.Method + " " + r.Host + r.URL.RequestURI() + " " + r.Header.Get("Accept-Encoding")
		c.mu.RLock()
		e := c.entries[key]
		c.mu.RUnlock()
		if e != nil && time.Now().Before(e.expires) {
			h := w.Header()
			for k, v := range e.header {
				h[k] = v
			}
			h.Set("X-Cache", "HIT")
			w.WriteHeader(e.status)
			_, _ = w.Write(e.body)
			return
		}
		w.Header().Set("X-Cache", "MISS")
		cw := &captureWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cc := w.Header().Get("Cache-Control")
		if cw.status != http.StatusOK || strings.Contains(cc, "no-store") || strings.Contains(cc, "private") {
			return
		}
		e = &cacheEntry{status: cw.status, header: w.Header().Clone(), body: cw.body.Bytes(), expires: time.Now().Add(c.ttl)}
		c.mu.Lock()
		if len(c.entries) >= c.max {
			for k := range c.entries {
				delete(c.entries, k)
				break
			}
		}
		c.entries[key] = e
		c.mu.Unlock()
	})
}

// captureWriter writes through and keeps a copy of the body.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (cw *captureWriter) WriteHeader(code int) {
	if cw.status == 0 {
		cw.status = code
	}
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	cw.body.Write(p)
	return cw.ResponseWriter.Write(p)
}

func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }
