package ratelimit

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard/switchyard/internal/redistest"
)

// redisCfg is limit5 on the Redis server at addr. The timeout is generous
// where a test checks exact counts under the race detector, so that a slow
// scheduler is never mistaken for an unreachable Redis.
func redisCfg(addr string, timeout string, extra ...any) map[string]any {
	cfg := limit5(extra...)
	cfg["store"] = "redis"
	r := map[string]any{"addr": addr, "timeout": timeout}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "redis.prefix" {
			r["prefix"] = extra[i+1]
			delete(cfg, "redis.prefix")
		}
	}
	cfg["redis"] = r
	return cfg
}

func redisErrors(e *env, plugin string) float64 {
	return testutil.ToFloat64(e.metrics.Counter("ratelimit_redis_errors_total", "", "plugin").WithLabelValues(plugin))
}

func TestRedisSequenceAndHeaders(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	h := e.limiter("seq", redisCfg(srv.Addr(), "2s")).Wrap(okHandler)
	for i, wantR := range []int64{4, 3, 2, 1, 0} {
		w := do(h, "192.0.2.1:1")
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
		if _, r, _ := rl(t, w); r != wantR {
			t.Fatalf("request %d: r=%d, want %d", i+1, r, wantR)
		}
	}
	w := do(h, "192.0.2.1:1")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("6th: %d", w.Code)
	}
	if ra := retryAfter(t, w); ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %d, want 1..2 (one unit every 2 s)", ra)
	}
	// IPv6 /64 grouping and the key layout in Redis.
	do(h, "[2001:db8::1]:1")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	for _, k := range []string{"{switchyard:ratelimit:seq:ip:192.0.2.1}", "{switchyard:ratelimit:seq:ip:2001:db8::/64}"} {
		n, err := c.Exists(bgCtx, k).Result()
		if err != nil || n != 1 {
			t.Fatalf("key %s: exists=%d err=%v", k, n, err)
		}
		ttl, err := c.PTTL(bgCtx, k).Result()
		if err != nil || ttl <= 0 || ttl > 11*time.Second {
			t.Fatalf("key %s: PTTL %v %v, want (0, 10s]", k, ttl, err)
		}
	}
}

// Acceptance 2 (Redis): 50 parallel requests admit exactly 5.
func TestAcceptance2ParallelRedis(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	h := e.limiter("par", redisCfg(srv.Addr(), "5s")).Wrap(okHandler)
	if got := parallel(h, 50); got != 5 {
		t.Fatalf("%d of 50 parallel requests succeeded on Redis, want exactly 5", got)
	}
	if n := redisErrors(e, "par"); n != 0 {
		t.Fatalf("%v Redis errors", n)
	}
}

// Acceptance 5: two hosts sharing one Redis admit 5 in total; with Redis
// gone, on_error decides and no request waits past the timeout.
func TestAcceptance5SharedRedisAndOutage(t *testing.T) {
	srv := redistest.Start(t)
	// Long enough that a loaded machine under the race detector never turns
	// a slow reply into an error (which on_error: allow would let through);
	// with Redis stopped the connection is refused at once, so the bound
	// checked below is the timeout plus scheduling slack. The timeout itself
	// is checked against a silent Redis in TestRedisTimeoutBlackHole.
	const timeout = time.Second
	// Half the timeout: a request that waited for it would exceed this
	// however busy the machine, one that was refused at once does not.
	const slack = timeout / 2
	type host struct {
		e *env
		h http.Handler
	}
	var hosts []host
	for _, onError := range []string{"allow", "deny"} {
		e := newEnv(t)
		hosts = append(hosts, host{e, e.limiter("shared", redisCfg(srv.Addr(), timeout.String(), "on_error", onError)).Wrap(okHandler)})
	}
	// Warm both connection pools so the first decisions do not pay for a dial.
	for _, hs := range hosts {
		do(hs.h, "192.0.2.200:1")
	}
	ok := 0
	for i := 0; i < 12; i++ {
		if w := do(hosts[i%2].h, "192.0.2.1:1"); w.Code == http.StatusOK {
			ok++
		}
	}
	if ok != 5 {
		t.Fatalf("two hosts admitted %d requests of one client, want 5 in total", ok)
	}
	for i, hs := range hosts {
		if n := redisErrors(hs.e, "shared"); n != 0 {
			t.Fatalf("host %d: %v Redis errors while Redis was up", i, n)
		}
	}

	srv.Stop()
	for i, hs := range hosts {
		for j := 0; j < 5; j++ {
			start := time.Now()
			w := do(hs.h, "192.0.2.1:1")
			took := time.Since(start)
			if took > slack {
				t.Fatalf("host %d: request took %v with Redis down (connection refused)", i, took)
			}
			want := http.StatusOK
			if i == 1 {
				want = http.StatusServiceUnavailable
			}
			if w.Code != want {
				t.Fatalf("host %d (on_error %s): status %d, want %d", i, []string{"allow", "deny"}[i], w.Code, want)
			}
			if w.Header().Get("RateLimit-Policy") == "" || w.Header().Get("RateLimit") != "" {
				t.Fatalf("with Redis down: RateLimit-Policy %q RateLimit %q; want the policy only",
					w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"))
			}
			if i == 1 && (w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "rate limiter unavailable")) {
				t.Fatalf("deny: Retry-After %q body %q", w.Header().Get("Retry-After"), w.Body.String())
			}
		}
		if n := redisErrors(hs.e, "shared"); n != 5 {
			t.Fatalf("host %d: ratelimit_redis_errors_total %v, want 5", i, n)
		}
		if n := hs.e.logs.Count("Redis unavailable"); n != 1 {
			t.Fatalf("host %d: %d log lines for 5 failures within 10 s, want 1", i, n)
		}
		hs.e.clock.Advance(10 * time.Second)
		do(hs.h, "192.0.2.1:1")
		if n := hs.e.logs.Count("Redis unavailable"); n != 2 {
			t.Fatalf("host %d: %d log lines after 10 s, want 2", i, n)
		}
	}
}

// A Redis that accepts connections but never answers must not hold a
// request past the timeout.
func TestRedisTimeoutBlackHole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	})
	defer func() {
		ln.Close()
		conns.Wait()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()

	// The bound allows for scheduling on a loaded machine; without the
	// timeout a call would wait for go-redis's defaults (seconds, retried).
	const timeout = 100 * time.Millisecond
	// Far below go-redis's own defaults (a 3s read timeout, retried), so
	// that a busy machine's scheduling never decides the test.
	const slack = 900 * time.Millisecond
	e := newEnv(t)
	l, set := e.build("hole", redisCfg(ln.Addr().String(), timeout.String()))
	defer set.Release()
	h := l.Wrap(okHandler)
	for i := 0; i < 4; i++ {
		start := time.Now()
		w := do(h, "192.0.2.1:1")
		took := time.Since(start)
		if w.Code != http.StatusOK {
			t.Fatalf("on_error allow: %d", w.Code)
		}
		if took < timeout/2 || took > timeout+slack {
			t.Fatalf("request %d took %v against a silent Redis, timeout %v", i+1, took, timeout)
		}
	}
	// A cancelled client does not shorten or fail the decision on a
	// healthy path: the request context is detached from the Redis call.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.1:1"
	start := time.Now()
	h.ServeHTTP(&nopWriter{h: http.Header{}}, r)
	if took := time.Since(start); took < timeout/2 {
		t.Fatalf("cancelled request context cut the Redis call short (%v)", took)
	}
}

// A reload that changes the rate rescales Redis state too.
func TestRedisReloadRescales(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	l1, s1 := e.build("resc", redisCfg(srv.Addr(), "2s"))
	h1 := l1.Wrap(okHandler)
	for i := 0; i < 5; i++ {
		do(h1, "192.0.2.1:1")
	}
	for i := 0; i < 2; i++ {
		do(h1, "192.0.2.2:1")
	}
	l2, s2 := e.build("resc", redisCfg(srv.Addr(), "2s", "rate", 10))
	s1.Release()
	defer s2.Release()
	h2 := l2.Wrap(okHandler)
	if w := do(h2, "192.0.2.1:1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("exhausted client refilled by a rate change on Redis: %d", w.Code)
	}
	// 2 of 5 used is 4 of 10: the first request leaves 5.
	if _, r, _ := rl(t, do(h2, "192.0.2.2:1")); r != 5 {
		t.Fatalf("partly used client: r=%d, want 5", r)
	}
	// The first instance was closed when its set was released.
	if _, err := l1.rds.take(bgCtx, &bucketKey{kind: kindIP}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("retired instance's client not closed: %v", err)
	}
}

func TestRedisStats(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	l := e.limiter("st", redisCfg(srv.Addr(), "2s"))
	h := l.Wrap(okHandler)
	for i := 0; i < 7; i++ {
		do(h, "192.0.2.1:1")
	}
	st := l.Stats()
	if st["store"] != "redis" || st["allowed"] != uint64(5) || st["limited"] != uint64(2) || st["redis_errors"] != uint64(0) {
		t.Fatalf("Stats %v", st)
	}
}

// The script's EVALSHA falls back to EVAL after the script cache is flushed.
func TestRedisScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	h := e.limiter("fl", redisCfg(srv.Addr(), "2s")).Wrap(okHandler)
	do(h, "192.0.2.1:1")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	if err := c.ScriptFlush(bgCtx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := rl(t, do(h, "192.0.2.1:1")); r != 3 {
		t.Fatalf("after SCRIPT FLUSH: r=%d, want 3", r)
	}
	if n := redisErrors(e, "fl"); n != 0 {
		t.Fatalf("%v errors", n)
	}
}

// The permissions the documentation lists are enough: the default user is
// cut down to them, behind a password.
func TestRedisMinimalPermissions(t *testing.T) {
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	err := admin.Do(bgCtx, "ACL", "SETUSER", "default", "resetpass", ">s3cret", "resetkeys", "~{switchyard:ratelimit:*",
		"-@all", "+evalsha", "+eval", "+time", "+hmget", "+hset", "+pexpire").Err()
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	cfg := redisCfg(srv.Addr(), "2s")
	cfg["redis"].(map[string]any)["password"] = "s3cret"
	h := e.limiter("acl", cfg).Wrap(okHandler)
	for i := 0; i < 5; i++ {
		if w := do(h, "192.0.2.1:1"); w.Code != http.StatusOK || w.Header().Get("RateLimit") == "" {
			t.Fatalf("request %d: %d %q", i+1, w.Code, w.Header().Get("RateLimit"))
		}
	}
	if w := do(h, "192.0.2.1:1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("6th: %d", w.Code)
	}
	if n := redisErrors(e, "acl"); n != 0 {
		t.Fatalf("%v Redis errors with the documented permissions", n)
	}
}
