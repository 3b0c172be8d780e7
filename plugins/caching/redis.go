package caching

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisTier is the shared tier: entries and Vary records serialised into
// Redis under prefix+key with a TTL, so that several hosts share one cache.
// Every command is bounded by the configured timeout. After an error the tier
// is skipped for redisBackoff, so that a Redis outage costs at most one
// timeout per backoff period; errors are counted and logged once per outage.
// A failure never reaches the client: the memory tier and the upstream serve.
type redisTier struct {
	lazy      lazyClient
	prefix    string
	timeout   time.Duration
	errs      prometheus.Counter
	logger    *slog.Logger
	now       func() time.Time
	downUntil atomic.Int64 // Unix nanoseconds on the cache clock
	down      atomic.Bool
}

// redisBackoff is how long the tier is skipped after an error.
const redisBackoff = time.Second

func newRedisTier(cfg RedisConfig, name string, errs prometheus.Counter, logger *slog.Logger, now func() time.Time) *redisTier {
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultRedisPrefix + name + ":"
	}
	opts := &redis.Options{
		Addr:                  cfg.Addr,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		Protocol:              2,
		DisableIdentity:       true,
		MaxRetries:            -1,
		DialerRetries:         1, // one dial per command: the backoff below spaces them out
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		PoolTimeout:           cfg.Timeout,
		ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	return &redisTier{lazy: lazyClient{opts: opts}, prefix: prefix, timeout: cfg.Timeout, errs: errs, logger: logger, now: now}
}

func (t *redisTier) available() bool { return t.now().UnixNano() >= t.downUntil.Load() }

func (t *redisTier) fail(op string, err error) {
	t.errs.Inc()
	t.downUntil.Store(t.now().Add(redisBackoff).UnixNano())
	if !t.down.Swap(true) {
		t.logger.Warn("redis tier unavailable: serving from memory and upstream", "op", op, "err", err)
	}
}

func (t *redisTier) succeed() {
	if t.down.Load() && t.down.Swap(false) {
		t.logger.Info("redis tier available again")
	}
}

// get reads and decodes the value stored under key. A missing key, an
// unavailable tier and a corrupt value all read as a miss.
func (t *redisTier) get(ctx context.Context, key string) (decoded, bool) {
	if !t.available() {
		return decoded{}, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	b, err := t.client().Get(ctx, t.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		t.succeed()
		return decoded{}, false
	}
	if err != nil {
		t.fail("get", err)
		return decoded{}, false
	}
	t.succeed()
	d, err := decodeValue(b)
	if err != nil {
		t.logger.Warn("ignoring a malformed value in the redis tier", "key", key)
		return decoded{}, false
	}
	return d, true
}

// redisItem is one value to write.
type redisItem struct {
	key string
	val []byte
	ttl time.Duration
}

// set writes items in one round trip.
func (t *redisTier) set(ctx context.Context, items ...redisItem) {
	if !t.available() || len(items) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	_, err := t.client().Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, it := range items {
			// Redis expiry has millisecond resolution; round up so that
			// the value never goes before the memory tier would drop it.
			p.Set(ctx, t.prefix+it.key, it.val, max(it.ttl, time.Millisecond)+time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.fail("set", err)
		return
	}
	t.succeed()
}

// del deletes keys and returns how many existed.
func (t *redisTier) del(ctx context.Context, keys ...string) int {
	if !t.available() || len(keys) == 0 {
		return 0
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = t.prefix + k
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	n, err := t.client().Del(ctx, full...).Result()
	if err != nil {
		t.fail("del", err)
		return 0
	}
	t.succeed()
	return int(n)
}

// purge deletes every key whose URL key satisfies match and returns the URL
// keys it deleted. It walks the tier's keys with SCAN, so it costs time in
// proportion to the number of keys under the prefix; it gives up after
// purgeBudget. It tries Redis even while the tier is skipped after an error:
// a purge must not be lost to the backoff. The error is that of the first
// command that failed.
func (t *redisTier) purge(ctx context.Context, match func(urlKey string) bool) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeBudget(t.timeout))
	defer cancel()
	pattern := globEscape(t.prefix) + "*"
	var cursor uint64
	seen := map[string]bool{}
	var out []string
	for {
		keys, next, err := t.client().Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			t.fail("scan", err)
			return out, err
		}
		var del []string
		for _, k := range keys {
			key := strings.TrimPrefix(k, t.prefix)
			u := keyURL(key)
			if match(u) {
				del = append(del, k)
				if !seen[u] {
					seen[u] = true
					out = append(out, u)
				}
			}
		}
		if len(del) > 0 {
			if err := t.client().Del(ctx, del...).Err(); err != nil {
				t.fail("del", err)
				return out, err
			}
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	t.succeed()
	return out, nil
}

// purgeBudget is the time a purge may spend walking the shared tier.
func purgeBudget(timeout time.Duration) time.Duration { return max(5*time.Second, 100*timeout) }

// globEscape escapes the characters that are special in a Redis MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (t *redisTier) close() error { return t.lazy.close() }

// client is the tier's Redis client, created on first use.
func (t *redisTier) client() *redis.Client { return t.lazy.get() }

// lazyClient creates its Redis client (and its connection pool) on first
// use: a tier that is configured but never reached costs nothing.
type lazyClient struct {
	opts *redis.Options
	once sync.Once
	c    *redis.Client
}

func (l *lazyClient) get() *redis.Client {
	l.once.Do(func() { l.c = redis.NewClient(l.opts) })
	return l.c
}

// close closes the client if it was created. A use after close gets a closed
// client (redis.ErrClosed), as it would had it been created before.
func (l *lazyClient) close() error {
	created := true
	l.once.Do(func() {
		created = false
		l.c = redis.NewClient(l.opts)
		_ = l.c.Close()
	})
	if !created {
		return nil
	}
	return l.c.Close()
}
