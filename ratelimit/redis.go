package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/redisurl"
)

// hitScript counts one hit on every key in one round trip and returns the
// counts before the hit. Each key is a hash whose fields are bucket numbers
// (floor(now_ms / window_ms)); only the current and previous bucket matter.
//
// A peeked counter travels as its window negated (windowArg): windows are
// positive, so the sign is free to carry the flag without a further argument
// per counter. The script reads a peeked key exactly as a hit one and then
// skips every write: HMGET on a missing key creates nothing, and neither the
// fields nor the TTL of an existing key change.
//
// Redis caches and calls the script by its SHA1, so any change to its text
// or arguments is a new script: replicas of different versions each call
// their own during a rollout and can never send one script the other's
// arguments. What they share is the keys, so the key layout and the hash's
// fields are what keyPrefix versions; peeks changed neither.
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
-- ARGV[1]: now in unix ms; ARGV[1+i]: window of counter i in ms, negated if
-- counter i is only read (a peek).
-- Reply: prev_1, cur_1, prev_2, cur_2, ... (counts before this hit).
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local w = tonumber(ARGV[i + 1])
  local peek = w < 0
  if peek then w = -w end
  local b = math.floor(now / w)
  local v = redis.call('HMGET', key, tostring(b), tostring(b - 1))
  out[2 * i - 1] = tonumber(v[2]) or 0
  out[2 * i] = tonumber(v[1]) or 0
  -- A peek ends here: "and" skips the HINCRBY, and with it every write.
  if not peek and redis.call('HINCRBY', key, tostring(b), 1) == 1 then
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
// On standalone or Sentinel Redis, every Hit is one EVALSHA of a Lua script
// covering all its counters, so a request's counters are read and
// incremented atomically in one round trip. Peeked counters ride in the same
// script, which reads them and writes nothing for them.
//
// On Redis Cluster (the client is a *redis.ClusterClient) a script may only
// touch keys of one slot, so Hit groups the counters by hash tag (see Key:
// the ip and route_ip counters of a client share one), peeked or not, and
// sends one EVALSHA per group in a single pipeline. go-redis runs the
// per-node parts of the pipeline in parallel, so a Hit still costs about one
// round trip, but it is atomic per group only: if one group fails, the
// others may have counted.
//
// After a server loses its script cache (restart, failover, SCRIPT FLUSH)
// the first call gets NOSCRIPT, which executed nothing. Standalone, go-redis
// repeats it as EVAL; on a cluster, Hit loads the script on every master and
// re-sends only the groups that got NOSCRIPT. Either way no hit is counted
// twice.
type Redis struct {
	client  redis.UniversalClient
	cluster *redis.ClusterClient // client, if it is a cluster client
	owned   bool                 // Close closes client only if DialRedis created it
}

// NewRedis returns a Store using client. The caller keeps ownership of
// client: Close does not close it. Call LoadScript once at startup so the
// first Hit does not pay for sending the script.
func NewRedis(client redis.UniversalClient) *Redis {
	cluster, _ := client.(*redis.ClusterClient)
	return &Redis{client: client, cluster: cluster}
}

// LoadScript loads the hit script into Redis's script cache (SCRIPT LOAD), on
// every master of a cluster.
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
	// redisPoolSize is far above the connections a Check ever holds (the
	// Guard's MaxInFlight, 256, bounds those) because go-redis stops
	// dialling once PoolSize dials have failed and then redials only once
	// a second: with the default (10 per CPU) a Redis outage saturated the
	// pool before the breaker opened, and after a Sentinel failover the
	// client kept answering with the old master's dial error for up to a
	// second after the new master was named. The breaker lets about 0.3 s
	// of calls fail before it opens (Guard's 3-of-10-slots rule), so 4,096
	// holds past 10,000 Checks a second. An idle slot costs 8 bytes.
	redisPoolSize = 4096
	// A few MOVED/ASK hops cover a slot migration in progress; more would
	// only spend the Guard's budget on a cluster that is reconfiguring.
	redisMaxRedirects = 3
)

// DialRedis returns a Store for the Redis at rawURL that closes its client on
// Close. rawURL is one of
//
//	redis://[[user]:password@]host:port[/db]           a single server
//	rediss://...                                       the same over TLS
//	redis+cluster://[[user]:password@]host:port[,host:port...]
//	rediss+cluster://...                               the same over TLS
//	redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db]
//	rediss+sentinel://...                              the same over TLS
//
// A cluster URL lists one or more seed nodes (the client discovers the rest)
// and has no database: a cluster has only database 0, so the path may only be
// empty, "/" or "/0". Query parameters are go-redis's (redis.ParseURL,
// redis.ParseClusterURL). Over TLS, every cluster node's certificate is
// checked against the first host's name, as go-redis does. A sentinel URL
// lists sentinels and names the master they watch; the client asks them
// for the master and sends every script there (redisurl.ParseSentinel).
//
// DialRedis fails only on a bad URL: connections are made on use, so an
// unreachable Redis shows up in Ping, LoadScript and Hit (which a Guard turns
// into degraded decisions), never as a failure to start.
//
// Timeouts suit a request path: 50ms to get a pooled connection, 500ms to
// read or write, 1s and a single attempt to dial, 4 idle connections kept
// warm (per node on a cluster), a pool that a Redis outage cannot saturate
// (redisPoolSize). Retries are off because a retried script may
// already have counted (MaxRetries -1), and the request context does not set
// socket deadlines (ContextTimeoutEnabled false) because a deadline hit
// mid-command makes go-redis close the connection; Guard enforces the
// per-request budget instead. A cluster client follows at most 3 MOVED/ASK
// redirects; MaxRetries does not cover its pipelines, so Hit itself marks
// its script calls as never to be re-sent. These settings override the same
// options given as URL query parameters.
//
// Errors never contain the URL's password.
func DialRedis(rawURL string) (*Redis, error) {
	client, err := redisurl.NewClient(rawURL, redisurl.Options{
		PoolTimeout:  redisPoolTimeout,
		ReadTimeout:  redisIOTimeout,
		WriteTimeout: redisIOTimeout,
		DialTimeout:  redisDialTimeout,
		// The next request dials again; a retry loop here only holds a slot.
		DialerRetries: 1,
		MaxRetries:    -1,
		MaxRedirects:  redisMaxRedirects,
		MinIdleConns:  redisMinIdleConns,
		PoolSize:      redisPoolSize,
	})
	if err != nil {
		return nil, fmt.Errorf("dial redis: %w", err)
	}
	r := NewRedis(client)
	r.owned = true
	return r, nil
}

// Hit implements Store with one script call for all counters, or on a
// cluster one per hash-tag group, pipelined.
func (r *Redis) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	if err := checkHit(counters, obs); err != nil {
		return err
	}
	if len(counters) == 0 {
		return nil
	}
	nowMs := now.UnixMilli()
	if r.cluster != nil {
		return r.hitCluster(ctx, nowMs, counters, obs)
	}
	keys := make([]string, len(counters))
	args := make([]any, 1+len(counters))
	args[0] = nowMs
	for i, c := range counters {
		keys[i] = c.Key
		args[1+i] = windowArg(c)
	}
	counts, err := hitScript.Run(ctx, r.client, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("redis hit: %w", err)
	}
	if len(counts) != 2*len(counters) {
		return fmt.Errorf("redis hit: script returned %d counts for %d counters", len(counts), len(counters))
	}
	for i, c := range counters {
		obs[i] = observe(nowMs, c, counts[2*i], counts[2*i+1])
	}
	return nil
}

// windowArg is counter c's window argument to hitScript: its window in
// milliseconds, negated for a peek.
func windowArg(c Counter) int64 {
	if c.Peek {
		return -c.Window.Milliseconds()
	}
	return c.Window.Milliseconds()
}

// observe turns a counter's counts before the hit into its Observation.
func observe(nowMs int64, c Counter, prev, cur int64) Observation {
	_, elapsedMs := bucketOf(nowMs, c.Window.Milliseconds())
	return Observation{
		Prev:    prev,
		Cur:     cur,
		Elapsed: time.Duration(elapsedMs) * time.Millisecond,
		Window:  c.Window,
	}
}

// hashTag returns the part of key Redis Cluster hashes: the text between the
// first '{' and the next '}' if it is not empty, else the whole key. Keys
// with equal tags are in the same slot, so one script may cover them.
func hashTag(key string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			return key[open+1 : open+1+n]
		}
	}
	return key
}

// hitGroup is the counters of one Hit that share a hash tag.
type hitGroup struct {
	tag  string
	idx  []int // positions in the Hit's counters, in order
	args []any // "evalsha", sha, numkeys, keys..., now, windows... (see windowArg)
	cmd  *redis.Cmd
}

// onceCmd is a script call that a cluster pipeline must not re-send. After a
// read timeout or a dropped connection, go-redis re-sends a node's whole
// batch (up to MaxRedirects times; MaxRetries does not apply to cluster
// pipelines), although its scripts may already have run and counted.
// NoRetry turns that off. MOVED and ASK replies, which mean the script did
// not run, are still followed.
type onceCmd struct{ *redis.Cmd }

// NoRetry implements redis.Cmder.
func (onceCmd) NoRetry() bool { return true }

// hitCluster runs Hit on a cluster: one EVALSHA per hash-tag group, all in
// one pipeline.
func (r *Redis) hitCluster(ctx context.Context, nowMs int64, counters []Counter, obs []Observation) error {
	groups := groupByTag(counters, nowMs)
	pending := make([]*hitGroup, len(groups))
	for i := range groups {
		pending[i] = &groups[i]
	}
	for attempt := 0; ; attempt++ {
		if err := r.runGroups(ctx, pending); err != nil {
			return err
		}
		var noScript []*hitGroup
		var firstErr error
		failed := 0
		for _, g := range pending {
			err := g.cmd.Err()
			switch {
			case err == nil:
				if err := g.fill(nowMs, counters, obs); err != nil {
					return err
				}
			case isNoScript(err):
				noScript = append(noScript, g)
			default:
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		if firstErr != nil {
			return fmt.Errorf("redis hit: %d of %d hash-tag groups failed: %w", failed, len(groups), firstErr)
		}
		if len(noScript) == 0 {
			return nil
		}
		if attempt > 0 {
			return fmt.Errorf("redis hit: script still missing after loading it: %w", noScript[0].cmd.Err())
		}
		// A NOSCRIPT group did not run, and the groups that ran are not
		// re-sent, so the retry counts every hit exactly once. The script
		// goes to every master: the cache may be gone from several.
		if err := hitScript.Load(ctx, r.cluster).Err(); err != nil {
			return fmt.Errorf("redis hit: reload script after NOSCRIPT: %w", err)
		}
		pending = noScript
	}
}

// groupByTag splits counters into hash-tag groups, in order of first
// appearance, each with its EVALSHA arguments ready. Hit is on the request
// path, so the groups share their backing arrays.
func groupByTag(counters []Counter, nowMs int64) []hitGroup {
	groups := make([]hitGroup, 0, len(counters))
	var groupBuf [8]int // a Hit has a handful of counters
	groupOf := groupBuf[:0]
	for _, c := range counters {
		tag := hashTag(c.Key)
		// Linear search: with a handful of groups it beats a map.
		g := slices.IndexFunc(groups, func(h hitGroup) bool { return h.tag == tag })
		if g < 0 {
			g = len(groups)
			groups = append(groups, hitGroup{tag: tag})
		}
		groupOf = append(groupOf, g)
	}

	// Per group: "evalsha", sha, numkeys, keys..., now, windows...
	idx := make([]int, 0, len(counters))
	args := make([]any, 0, 4*len(groups)+2*len(counters))
	sha, now := any(hitScript.Hash()), any(nowMs)
	for g := range groups {
		firstIdx, firstArg := len(idx), len(args)
		args = append(args, "evalsha", sha, 0)
		for i, c := range counters {
			if groupOf[i] == g {
				idx = append(idx, i)
				args = append(args, c.Key)
			}
		}
		gr := &groups[g]
		gr.idx = idx[firstIdx:len(idx):len(idx)]
		args[firstArg+2] = len(gr.idx)
		args = append(args, now)
		for _, i := range gr.idx {
			args = append(args, windowArg(counters[i]))
		}
		gr.args = args[firstArg:len(args):len(args)]
	}
	return groups
}

// runGroups sends one EVALSHA per group in one pipeline and leaves each
// group's reply in g.cmd. It fails only if the commands could not be
// queued; errors of the commands themselves are left in them.
func (r *Redis) runGroups(ctx context.Context, groups []*hitGroup) error {
	var queueErr error
	// Pipelined's own error is the first command's, which the caller reads
	// per group along with the others.
	_, _ = r.cluster.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, g := range groups {
			g.cmd = redis.NewCmd(ctx, g.args...)
			if err := pipe.Process(ctx, onceCmd{g.cmd}); err != nil {
				queueErr = fmt.Errorf("redis hit: queue script: %w", err)
				return queueErr
			}
		}
		return nil
	})
	return queueErr
}

// fill parses the group's script reply into obs.
func (g *hitGroup) fill(nowMs int64, counters []Counter, obs []Observation) error {
	counts, err := g.cmd.Int64Slice()
	if err != nil {
		return fmt.Errorf("redis hit: %w", err)
	}
	if len(counts) != 2*len(g.idx) {
		return fmt.Errorf("redis hit: script returned %d counts for %d counters", len(counts), len(g.idx))
	}
	for j, i := range g.idx {
		obs[i] = observe(nowMs, counters[i], counts[2*j], counts[2*j+1])
	}
	return nil
}

// isNoScript reports whether err is Redis's NOSCRIPT: the script is not in
// the server's cache and did not run.
func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
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
