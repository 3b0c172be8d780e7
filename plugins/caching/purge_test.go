package caching

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/internal/redistest"
	"github.com/switchyard/switchyard/internal/wait"
)

// A purge while Redis stalls (SIGSTOP) says that the shared tier failed, and
// takes effect all the same: the entry is not served from Redis when it
// comes back, a purge sent right after it came back reaches it, and the
// failed one is retried until Redis confirms it.
func TestPurgeWhileRedisStalls(t *testing.T) {
	const prefix = "test:stall:"
	srv, e, up, a, hdr := redisPurgeEnv(t, prefix)
	if r := get(t, a, "GET", "/p", hdr); r.header.Get("Cache-Status") != "switchyard; fwd=uri-miss; stored" {
		t.Fatalf("first GET: Cache-Status %q", r.header.Get("Cache-Status"))
	}
	rc := e.cache.redis.client()
	inRedis := func() int64 {
		n, err := rc.Exists(context.Background(), prefix+"GET http://shop.example/p").Result()
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		return n
	}
	if inRedis() != 1 {
		t.Fatal("the entry did not reach Redis")
	}

	srv.Pause()
	n, err := e.cache.Purge("", "/p")
	var te *TierError
	if n != 1 || !errors.As(err, &te) || te.Tier != "redis" {
		t.Fatalf("purge while Redis stalls = %d, %v; want 1 and a redis TierError", n, err)
	}
	srv.Resume()

	// Within the tier's backoff after the failure, a purge still goes to
	// Redis, and it is not lost.
	if _, err := e.cache.Purge("", "/p"); err != nil {
		t.Fatalf("purge right after Redis came back: %v", err)
	}
	if inRedis() != 0 {
		t.Fatal("the purge right after Redis came back did not reach it")
	}
	wait.For(t, "the failed purge to be confirmed", func() bool { return e.cache.pendingN.Load() == 0 })
	if r := get(t, a, "GET", "/p", hdr); r.header.Get("X-Cache") != "MISS" || up.calls() != 2 {
		t.Fatalf("after the purge: X-Cache %q, upstream calls %d; want MISS and 2", r.header.Get("X-Cache"), up.calls())
	}
}

// While a purge of the shared tier is unconfirmed, what it covers is not
// served from Redis, even once Redis answers again.
func TestUnconfirmedPurgeHidesRedisEntries(t *testing.T) {
	const prefix = "test:mark:"
	_, e, _, a, hdr := redisPurgeEnv(t, prefix)
	get(t, a, "GET", "/m", hdr)
	// A purge that Redis did not confirm, as after a stall: the memory tier
	// is purged, Redis still holds the entry.
	e.cache.mem.del("GET http://shop.example/m")
	p := e.cache.markPurge(func(u string) bool { return keyPath(u) == "/m" })
	if r := get(t, a, "GET", "/m", hdr); r.header.Get("X-Cache") != "MISS" || r.body != "v2" {
		t.Fatalf("an entry covered by an unconfirmed purge was served: X-Cache %q body %q", r.header.Get("X-Cache"), r.body)
	}
	e.cache.unmarkPurge(p)
	e.cache.mem.del("GET http://shop.example/m")
	if r := get(t, a, "GET", "/m", hdr); r.header.Get("X-Cache") != "HIT" || r.body != "v2" {
		t.Fatalf("the response stored after the purge: X-Cache %q body %q, want a HIT of v2 from Redis", r.header.Get("X-Cache"), r.body)
	}
}

// redisPurgeEnv is a cache on a Redis store of its own (keys under prefix,
// a 100ms timeout) served by a test server in front of up, an upstream that
// answers "vN", cacheable for ten minutes; hdr names the host of the test
// requests.
func redisPurgeEnv(t *testing.T, prefix string) (*redistest.Server, *env, *counter, *httptest.Server, map[string]string) {
	t.Helper()
	srv := redistest.Start(t)
	cfg := map[string]any{"store": "redis", "redis": map[string]any{"addr": srv.Addr(), "prefix": prefix, "timeout": "100ms"}}
	e := newEnv(t, cfg, withRealClock())
	up := &counter{fn: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, "v", n)
	}}
	return srv, e, up, e.server(up), map[string]string{"Host": "shop.example"}
}
