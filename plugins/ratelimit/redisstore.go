package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is the whole decision, run atomically by Redis with its own
// clock, so that every host sharing the server agrees. It is the Lua twin
// of policy.take, in microseconds. The key is a hash holding the TAT and the
// tau it was computed with: a key written under another policy (after a
// reload changed rate, burst or per) is rescaled to keep the fraction of the
// bucket in use, as policy.carry does for the memory store. The key expires
// when its bucket is full again.
//
// KEYS[1] bucket key; ARGV[1] interval (µs); ARGV[2] tau (µs).
// Returns {allowed (0|1), remaining, reset (µs), wait (µs)}.
const gcraScript = `
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'tat', 'tau')
local tat = tonumber(st[1])
if tat == nil or tat < now then
  tat = now
else
  local old = tonumber(st[2])
  if old ~= nil and old > 0 and old ~= tau then
    local debt = tat - now
    if debt > old then debt = old end
    tat = now + math.floor(debt * tau / old)
  end
end
local debt = tat - now + interval
if debt > tau then
  return {0, 0, tat - now, debt - tau}
end
redis.call('HSET', KEYS[1], 'tat', tat + interval, 'tau', tau)
redis.call('PEXPIRE', KEYS[1], math.ceil(debt / 1000) + 1)
local remaining = math.floor((tau - debt) / interval)
local wait = 0
if remaining == 0 then wait = debt - (tau - interval) end
return {1, remaining, debt, wait}
`

var script = redis.NewScript(gcraScript)

// redisStore keeps bucket state in Redis, shared by every instance with the
// same key prefix.
type redisStore struct {
	opts     *redis.Options
	once     sync.Once
	c        *redis.Client // created on first use: see client
	prefix   string
	timeout  time.Duration
	interval int64 // µs
	tau      int64 // µs
	v6bits   int
}

func newRedisStore(cfg RedisConfig, prefix string, pol policy, v6bits int) *redisStore {
	opts := &redis.Options{
		Addr:                  cfg.Addr,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		PoolTimeout:           cfg.Timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // a retry would outlive the timeout; on_error decides
		DialerRetries:         1,
		DisableIdentity:       true,
	}
	iv := pol.interval / int64(time.Microsecond)
	return &redisStore{
		opts:     opts,
		prefix:   prefix,
		timeout:  cfg.Timeout,
		interval: iv,
		tau:      iv * (pol.tau / pol.interval),
		v6bits:   v6bits,
	}
}

// redisKey is the Redis key of a bucket, hash-tagged so that Redis Cluster
// places it by the whole name: {prefix:key}.
func (s *redisStore) redisKey(k *bucketKey) string {
	return "{" + s.prefix + ":" + k.render(s.v6bits) + "}"
}

// take runs the script for one request. The call ends after the configured
// timeout whatever the request's own context does, and a client that goes
// away does not cancel it (which would be counted as a Redis failure).
func (s *redisStore) take(ctx context.Context, k *bucketKey) (decision, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	res, err := script.Run(ctx, s.client(), []string{s.redisKey(k)}, s.interval, s.tau).Int64Slice()
	if err != nil {
		return decision{}, err
	}
	if len(res) != 4 {
		return decision{}, fmt.Errorf("ratelimit script returned %d values, want 4", len(res))
	}
	us := int64(time.Microsecond)
	return decision{allowed: res[0] == 1, remaining: res[1], reset: res[2] * us, wait: res[3] * us}, nil
}

// client returns the Redis client, creating it (and its connection pool) on
// the first decision: a limiter that never decides costs no client.
func (s *redisStore) client() *redis.Client {
	s.once.Do(func() { s.c = redis.NewClient(s.opts) })
	return s.c
}

func (s *redisStore) close() error {
	created := true
	s.once.Do(func() { // closed before any use: later uses get redis.ErrClosed
		created = false
		s.c = redis.NewClient(s.opts)
		_ = s.c.Close()
	})
	if !created {
		return nil
	}
	if err := s.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
