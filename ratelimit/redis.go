package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// hitScript counts one hit on every key in one round trip and returns the
// counts before the hit. Each key is a hash whose fields are bucket numbers
// (floor(now_ms / window_ms)); only the current and previous bucket matter.
//
// Time comes from the caller (ARGV[1]) rather than Redis TIME so that the
// Memory and Redis stores, and tests, agree on bucket edges. The TTL is set
// relative to that time, so a caller clock that is off only moves counts
// across a bucket edge instead of expiring keys early.
//
// Lua numbers are doubles: unix-ms timestamps and bucket numbers are exact
// integers, and tostring prints them without an exponent below 1e14.
var hitScript = redis.NewScript(`
-- KEYS[i]: the hash of counter i.
-- ARGV[1]: now in unix ms; ARGV[1+i]: window of counter i in ms.
-- Reply: prev_1, cur_1, prev_2, cur_2, ... (counts before this hit).
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local w = tonumber(ARGV[i + 1])
  local b = math.floor(now / w)
  local v = redis.call('HMGET', key, tostring(b), tostring(b - 1))
  out[2 * i - 1] = tonumber(v[2]) or 0
  out[2 * i] = tonumber(v[1]) or 0
  if redis.call('HINCRBY', key, tostring(b), 1) == 1 then
    -- First hit of bucket b: b-2 has slid out of every window from now on.
    redis.call('HDEL', key, tostring(b - 2))
    -- Buckets even older exist only if the key outlived its TTL's intent
    -- (callers' clocks jumped); drop them so the hash stays small.
    if redis.call('HLEN', key) > 2 then
      for _, f in ipairs(redis.call('HKEYS', key)) do
        local fb = tonumber(f)
        if fb == nil or fb < b - 1 then redis.call('HDEL', key, f) end
      end
    end
    -- Keep the key until bucket b+1 ends, when b stops being "previous".
    -- Never shorten it: a late hit (b behind the newest bucket) must not
    -- expire the newer bucket early.
    local ttl = (b + 2) * w - now
    if redis.call('PTTL', key) < ttl then
      redis.call('PEXPIRE', key, ttl)
    end
  end
end
return out
`)

// Redis is a Store that keeps counters in Redis, shared by all replicas.
//
// Every Hit is one EVALSHA of a Lua script covering all its counters, so a
// request's counters are read and incremented atomically in one round trip.
// After the server loses its script cache (restart, failover, SCRIPT FLUSH)
// the first call gets NOSCRIPT, which executed nothing, and go-redis repeats
// it as EVAL; no hit is counted twice.
//
// Keys carry a Redis Cluster hash tag (see Key), but one script call still
// covers all keys, which is only valid on standalone or Sentinel Redis, where
// a script may touch any key. Cluster support (group the counters by hash
// tag and pipeline one EVALSHA per group) is future work.
type Redis struct {
	client redis.UniversalClient
	owned  bool // Close closes client only if DialRedis created it
}

// NewRedis returns a Store using client. The caller keeps ownership of
// client: Close does not close it. Call LoadScript once at startup so the
// first Hit does not pay for sending the script.
func NewRedis(client redis.UniversalClient) *Redis {
	return &Redis{client: client}
}

// LoadScript loads the hit script into Redis's script cache (SCRIPT LOAD).
// Failing is not fatal: Hit sends the script itself after a NOSCRIPT, so a
// replica that starts while Redis is down serves degraded and recovers by
// itself once Redis answers.
func (r *Redis) LoadScript(ctx context.Context) error {
	if err := hitScript.Load(ctx, r.client).Err(); err != nil {
		return fmt.Errorf("redis load hit script: %w", err)
	}
	return nil
}

// Client options for the inline authorization path. The Guard bounds what a
// request waits for; these bound what a connection waits for, so calls left
// behind by the Guard end soon and give their connection back.
const (
	redisPoolTimeout  = 50 * time.Millisecond // an exhausted pool fails fast instead of queueing
	redisIOTimeout    = 500 * time.Millisecond
	redisDialTimeout  = time.Second
	redisMinIdleConns = 4 // a burst after idling does not pay for dials
)

// DialRedis returns a Store for the Redis at rawURL,
// redis://[[user]:password@]host:port/db or rediss:// for TLS, that closes its
// client on Close. It fails only on a bad URL: connections are made on use,
// so an unreachable Redis shows up in Ping, LoadScript and Hit (which a Guard
// turns into degraded decisions), never as a failure to start.
//
// Timeouts suit a request path: 50ms to get a pooled connection, 500ms to
// read or write, 1s and a single attempt to dial, 4 idle connections kept
// warm. Retries are off because a retried script may already have counted
// (MaxRetries -1), and the request context does not set socket deadlines
// (ContextTimeoutEnabled false) because a deadline hit mid-command makes
// go-redis close the connection; Guard enforces the per-request budget
// instead. These settings override the same options given as URL query
// parameters.
//
// Errors never contain the URL's password.
func DialRedis(rawURL string) (*Redis, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("dial redis %s: %w", redactURL(rawURL), redactError(err, rawURL))
	}
	opts.PoolTimeout = redisPoolTimeout
	opts.ReadTimeout = redisIOTimeout
	opts.WriteTimeout = redisIOTimeout
	opts.DialTimeout = redisDialTimeout
	opts.DialerRetries = 1 // the next request dials again; a retry loop here only holds a slot
	opts.MaxRetries = -1
	opts.ContextTimeoutEnabled = false
	opts.MinIdleConns = redisMinIdleConns

	r := NewRedis(redis.NewClient(opts))
	r.owned = true
	return r, nil
}

// Hit implements Store with one script call for all counters.
func (r *Redis) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	if err := checkHit(counters, obs); err != nil {
		return err
	}
	if len(counters) == 0 {
		return nil
	}
	nowMs := now.UnixMilli()
	keys := make([]string, len(counters))
	args := make([]any, 1+len(counters))
	args[0] = nowMs
	for i, c := range counters {
		keys[i] = c.Key
		args[1+i] = c.Window.Milliseconds()
	}
	counts, err := hitScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("redis hit: %w", err)
	}
	if len(counts) != 2*len(counters) {
		return fmt.Errorf("redis hit: script returned %d counts for %d counters", len(counts), len(counters))
	}
	for i, c := range counters {
		_, elapsedMs := bucketOf(nowMs, c.Window.Milliseconds())
		obs[i] = Observation{
			Prev:    counts[2*i],
			Cur:     counts[2*i+1],
			Elapsed: time.Duration(elapsedMs) * time.Millisecond,
			Window:  c.Window,
		}
	}
	return nil
}

// Ping implements Store with a Redis PING.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close implements Store. It closes the client only if DialRedis created it.
func (r *Redis) Close() error {
	if !r.owned {
		return nil
	}
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("redis close: %w", err)
	}
	return nil
}

const redacted = "xxxxx"

// urlPassword returns the password part of rawURL's userinfo as written,
// found textually so that it works even for a URL url.Parse rejects.
func urlPassword(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return ""
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, password, _ := strings.Cut(rest[:at], ":")
	return password
}

// redactURL returns rawURL with its password replaced, for error messages.
func redactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	if p := urlPassword(rawURL); p != "" {
		return strings.Replace(rawURL, ":"+p+"@", ":"+redacted+"@", 1)
	}
	return rawURL
}

// redactError returns err, or if its text contains rawURL's password in any
// form an error would print it (as written, decoded, or Go-quoted), an error
// with the same text minus the password. The replacement does not unwrap: the
// original would print the password again.
func redactError(err error, rawURL string) error {
	password := urlPassword(rawURL)
	if password == "" {
		return err
	}
	forms := []string{password}
	if decoded, derr := url.PathUnescape(password); derr == nil && decoded != password {
		forms = append(forms, decoded)
	}
	if quoted := strconv.Quote(password); quoted[1:len(quoted)-1] != password {
		forms = append(forms, quoted[1:len(quoted)-1])
	}
	msg := err.Error()
	leaked := false
	for _, f := range forms {
		if strings.Contains(msg, f) {
			msg = strings.ReplaceAll(msg, f, redacted)
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	return errors.New(msg)
}
