package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/redisurl"
)

// hitScriptSrc counts one hit on every counted lane of one or more Hits in
// one round trip and returns, per Hit, what its lanes' fields held before
// the hit, from which the caller reads the counts (parseReply). A call
// carries one Hit as planHit builds it, or several as hitFold folds the Hits
// of a pipeline: each is a segment of the call, with its own time and keys,
// and its own reply. The segments run in order; a key of one that is not a
// hash (WRONGTYPE) fails that segment alone, through redis.pcall, and leaves
// its later keys uncounted, as a call of its own would. An error the script
// cannot catch (a write refused for memory) aborts the whole call after the
// segments before it have counted; every Hit of the call then gets that
// error and is never re-sent.
//
// Each key is a hash holding the counters of one identity (IdentityKey), or
// of a network and its clients (placement.go), each counter in one field:
// the lane itself, or for a client's lane its field in its network's hash,
// so that no lane can pose as another. The field's value is the lane's whole
// state, 12 bytes, three little-endian unsigned 32-bit integers (Lua's
// struct.pack "<I4I4I4"):
//
//	bucket  the lane's newest bucket, floor(now_ms / window_ms), modulo 2^32
//	cur     its count in that bucket
//	prev    its count in the bucket before
//
// Buckets are compared by their distance modulo 2^32, which tells the
// next bucket, the previous one and those further off apart for any window
// (a 1 ms window's bucket numbers pass 2^32; a minute's would in 8,000
// years). Counts stop at 2^32 - 1, as the Memory store's do.
//
// A lane with parts (Counter.Part) holds its parts' states end to end,
// part p at byte 12p, so a Check reads all of an identity's history
// counters as one field of its hash: one HMGET field, two arguments and
// one value in the reply, where a lane each cost nine of them. A part
// that never had a state, below one that has, holds none: twelve zero
// bytes, whose counts read 0 in any bucket (a state that counted holds a
// count of at least 1). A lane whose part 0 alone a Hit gives is sent as
// a lane without parts, and the script keeps the states of its other
// parts when it writes the first.
//
// 12 bytes keep every field, five parts' states included, within the 64
// bytes up to which Redis keeps a hash of few fields as a listpack
// (hash-max-listpack-value): one allocation that a Check's HMGET reads in
// a few cache lines, where a hash table costs a chain of them per field.
// With the 24-byte states of three doubles a history field held up to 120
// bytes, every hash that had one was a hash table, and the script cost
// Redis 6-10% more per Check (BENCHMARKS.md, issue 17, seventh session).
//
// The script does no reading of its own: Redis spends more on Lua than on
// anything else here, about a microsecond per counted lane and a third of
// one per peeked one when the script read the states and replied with
// counts, so it replies with the fields' values as HMGET gave them, and
// botauthz, which reads the counts from them by the same rules, unpacks
// and compares in compiled code. What the script still does per lane is
// write: unpack the state, pack the new one. Measured in
// BenchmarkRedisCheckScriptCost (BENCHMARKS.md, issue 17, fifth session).
//
// Per key the script costs one HMGET of all its lanes, then, if a lane is
// counted, one HSET of the counted lanes' new states (the script runs
// atomically, so writing the state read plus one hit is an increment),
// and, if one of them starts a bucket, one PTTL and at most one PEXPIRE;
// for a network's hash whose HSET added a field, an HLEN, and an HSET of
// the mark that keeps a large one a hash table (placement.go).
// Redis spends far more per command, per field and per Lua string than per
// byte, so an identity's counters share one key and each counter is one
// field: a Check touches at most two keys (placement.go) and one field
// per lane.
// Measured with BenchmarkRedisCheckScriptCost on variants of this script,
// a field per bucket and a marker field per lane cost Redis as much as a
// key per counter had (the fields' names built in Lua, three times the
// fields to find in each hash, the HDELs of old buckets), and a state in
// text up to 40% more than in doubles (parsing and formatting numbers in
// Lua); the packed state costs a half to two thirds of what a key per
// counter did.
//
// A lane cleans itself: a hit that starts a bucket rewrites the state, and
// with it every older bucket, so nothing is ever deleted and the hash is
// never scanned. A late hit (one bucket behind the lane's newest, a replica
// clock behind) counts in the previous bucket; a hit older still counts
// nothing and reads 0/0; a lane idle for two windows reads 0/0 because
// neither of its buckets is the one read. The key's TTL is extended, never
// shortened, to cover the longest need of the lanes that started a
// bucket: bucket b is kept until bucket b+1 ends, (b+2)*window after the
// epoch. A lane left idle thus reads 0/0 while the key lives on for its
// other lanes, and its stale state stays until it is counted again or the
// key expires.
//
// A peeked lane travels with its window negated (windowArg): windows are
// positive, so the sign is free to carry the flag. The script reads a
// peeked lane exactly as a counted one and then skips every write for it:
// HMGET creates nothing, so peeking a missing lane adds no field and
// peeking a missing key creates no key, and a key whose lanes are all
// peeked has neither its fields nor its TTL changed.
//
// Redis caches and calls the script by its SHA1, so any change to its text
// or arguments is a new script: replicas of different versions each call
// their own during a rollout and can never send one script the other's
// arguments. What they share is the keys, so the key layout and the hash's
// fields are what keyPrefix versions.
//
// Time comes from the caller (each segment's now) rather than Redis TIME so
// that the Memory and Redis stores, and tests, agree on bucket edges. The
// TTL is set relative to that time, so a caller clock that is off only moves
// counts across a bucket edge instead of expiring keys early.
//
// Lua numbers are doubles: unix-ms timestamps, bucket numbers and counts
// are exact integers in them. unpack bounds a key's lanes per call to a
// few thousand.
const hitScriptSrc = `
-- A call holds the Hits of one or more Checks (hitFold), each a segment:
-- its keys in KEYS, in order, and in ARGV its now in unix ms, its number of
-- keys, then per key its header, n + 65536 * k for n fields of which the
-- last k hold a lane's parts, negated if the hash holds clients' lanes (a
-- network's); then the n fields; then a spec per field: the lane's window
-- in ms, or for the last k fields the window in ms times 65536 plus the
-- mask of the parts to count (bit p: part p), each negated if the field is
-- only read (a peek). The fields come together so that HMGET takes them
-- straight from ARGV, with no table built for it.
-- Reply: per segment, per key, what each of its fields held before this
-- call (nil for nothing), field by field in argument order: the key's
-- HMGET reply as it came; or, if one of its keys could not be read as a
-- hash, that error, and the segment's later keys are left alone. The
-- caller reads its counts from the fields as the script does, so a read
-- costs the script nothing.
local floor, pack, unpack_state = math.floor, struct.pack, struct.unpack
local sub, concat = string.sub, table.concat
-- M: buckets are kept modulo M, counts below it; none: a state holding
-- nothing.
local M, none = 4294967296, string.rep('\0', 12)
local now

-- hit returns the lane state at byte at of v (none if v is shorter) after
-- a hit in bucket b of window w, and how long the hash must live for it:
-- 0 unless it starts bucket b, which the hash must outlive by a window.
-- A hit older than both of the lane's buckets has nowhere to count: the
-- state is then nil. A state keeps its bucket modulo 2^32 (so it fits in
-- four bytes whatever the window), and compares buckets by their distance
-- modulo 2^32; counts stop at 2^32 - 1. A state whose counts are both 0
-- holds nothing (a part kept in place below one that has a state).
local function hit(v, at, b, w)
  local b32 = b % M
  if v and #v >= at + 11 then
    -- m: the lane's newest bucket, mc and mp its counts.
    local m, mc, mp = unpack_state('<I4I4I4', v, at)
    if mc + mp > 0 then
      local d = (b32 - m) % M
      if d == 0 then
        if mc < M - 1 then mc = mc + 1 end
        return pack('<I4I4I4', m, mc, mp), 0
      end
      -- Late: b is the previous bucket.
      if d == M - 1 then
        if mp < M - 1 then mp = mp + 1 end
        return pack('<I4I4I4', m, mc, mp), 0
      end
      -- Two buckets or more ahead of b.
      if d >= M / 2 then return nil, 0 end
      if d == 1 then return pack('<I4I4I4', b32, 1, mc), (b + 2) * w - now end
    end
  end
  return pack('<I4I4I4', b32, 1, 0), (b + 2) * w - now
end

-- set holds a key's HSET arguments, reused from key to key: only its
-- first ns entries are sent.
local replies, r, a, first, set = {}, 0, 1, 1, {}
while first <= #KEYS do
  now = tonumber(ARGV[a])
  local last = first + tonumber(ARGV[a + 1]) - 1
  a = a + 2
  local out, failed = {}, nil
  for key = first, last do
    local h = tonumber(ARGV[a])
    local shared = h < 0
    if shared then h = -h end
    local n = h % 65536
    local plain = n - (h - n) / 65536
    local v = not failed and redis.pcall('HMGET', KEYS[key], unpack(ARGV, a + 1, a + n))
    if v and v.err then failed, v = v, nil end
    if v then
      out[key - first + 1] = v
      local ns, ttl = 0, 0
      for j = 1, n do
        local vj, state = v[j], nil
        local s = tonumber(ARGV[a + n + j])
        -- A peek (s < 0) writes nothing.
        if s > 0 and j <= plain then
          local st, t = hit(vj, 1, floor(now / s), s)
          if st then
            -- Counted as its part 0, a lane keeps its other parts.
            if vj and #vj > 12 then st = st .. sub(vj, 13) end
            state = st
            if t > ttl then ttl = t end
          end
        elseif s > 0 then
          -- A lane's parts are its states end to end, part p at byte 12p.
          local w = floor(s / 65536)
          local mask, b = s - w * 65536, floor(now / w)
          local parts, top, p = {}, -1, 0
          while mask > 0 do
            if mask % 2 == 1 then
              local st, t = hit(vj, 12 * p + 1, b, w)
              if st then
                parts[p], top = st, p
                if t > ttl then ttl = t end
              end
              mask = mask - 1
            end
            mask, p = mask / 2, p + 1
          end
          if top >= 0 then
            -- The parts not counted keep their states; a part below a
            -- counted one that never had a state gets none.
            local len, pieces = vj and #vj or 0, {}
            for q = 0, math.max(top, floor(len / 12) - 1) do
              local at = 12 * q
              pieces[q + 1] = parts[q] or (at + 12 <= len and sub(vj, at + 1, at + 12)) or none
            end
            state = concat(pieces)
          end
        end
        if state then
          set[ns + 1] = ARGV[a + j]
          set[ns + 2] = state
          ns = ns + 2
        end
      end
      local added = ns > 0 and redis.call('HSET', KEYS[key], unpack(set, 1, ns))
      if ttl > 0 then
        -- Never shorten the TTL: another lane, or a late hit's newer
        -- bucket, may need longer.
        if redis.call('PTTL', KEYS[key]) < ttl then
          redis.call('PEXPIRE', KEYS[key], ttl)
        end
      end
      -- A network's hash that grew past 64 fields gets a value longer
      -- than Redis keeps in a listpack, which makes Redis keep the hash as
      -- a hash table: a listpack is searched field by field, and a hash
      -- of a few hundred clients' lanes would cost each Check a scan. Only
      -- a field added can make it grow.
      if shared and added and added > 0 and redis.call('HLEN', KEYS[key]) > 64 then
        redis.call('HSET', KEYS[key], '{#}', string.rep('#', 256))
      end
    end
    a = a + 1 + 2 * n
  end
  r = r + 1
  replies[r] = failed or out
  first = last + 1
end
return replies
`

// hitScript is hitScriptSrc as go-redis loads it, with its SHA1.
var hitScript = redis.NewScript(hitScriptSrc)

// hitScriptSHA is hitScript's SHA1 as a script call's argument, put in an
// interface once rather than per call.
var hitScriptSHA any = hitScript.Hash()

// Redis is a Store that keeps counters in Redis, shared by all replicas.
// Each key is one hash holding all the lanes a caller gives it (see
// hitScriptSrc for the fields), so the counters of one identity cost one
// key's worth of work; a client address's lanes are kept in its network's
// hash (placement.go), so a client and its network cost one key together.
//
// On standalone or Sentinel Redis, every Hit is one EVALSHA of a Lua script
// covering all its counters, so a request's counters are read and
// incremented atomically. Peeked counters ride in the same script, which
// reads them and writes nothing for them.
//
// On Redis Cluster (the client is a *redis.ClusterClient) a script may only
// touch keys of one slot, so Hit groups the counters by hash tag (see
// IdentityKey: all the lanes of a key share its tag, and a client's ip and
// route_ip counters are lanes of one key), peeked or not, and sends one
// EVALSHA per group. go-redis runs the per-node parts of a pipeline in
// parallel, so a Hit still costs about one round trip, but it is atomic per
// group only: if one group fails, the others may have counted.
//
// The scripts of concurrent Hits share pipelines (batcher): a Hit that
// finds no pipeline waiting sends its script at once, and those that come
// while pipelines are in flight go together in the next one. Under load,
// many Checks share one round trip and one write and read on each side,
// which costs Redis and botauthz far less per Check than a round trip each.
// No script is ever re-sent after it may have run.
//
// On standalone or Sentinel Redis the scripts of one pipeline go further:
// they are folded into one script call whose segments they are (hitFold),
// because Redis spends about as much on calling a script (parsing the
// command, pushing its arguments into Lua, setting up and converting the
// reply) as on one Check's counters. Each Hit keeps its own reply and its
// own errors; the pipeline's order is the order the segments run in.
//
// After a server loses its script cache (restart, failover, SCRIPT FLUSH)
// the first call gets NOSCRIPT, which executed nothing. Hit then loads the
// script (on every master of a cluster) and re-sends only the groups that
// got NOSCRIPT, so no hit is counted twice.
//
// Building a script call's arguments (planHit) and reading its reply
// (hitGroup.parseReply) are kept apart from sending it (runGroups).
type Redis struct {
	client  redis.UniversalClient
	cluster *redis.ClusterClient // client, if it is a cluster client
	batch   *batcher
	owned   bool // Close closes client only if DialRedis created it
}

// NewRedis returns a Store using client. The caller keeps ownership of
// client: Close does not close it. Call LoadScript once at startup so the
// first Hit does not pay for sending the script.
func NewRedis(client redis.UniversalClient) *Redis {
	cluster, _ := client.(*redis.ClusterClient)
	opts := batchOptions{}
	if cluster == nil {
		opts.fold = hitFold{sha: hitScript.Hash(), max: defaultFoldHits}
	}
	return &Redis{client: client, cluster: cluster, batch: newBatcher(client, opts)}
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
// cluster one per hash-tag group. The calls of concurrent Hits share
// pipelines (batcher): under load many Checks ride one round trip.
func (r *Redis) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	return r.hit(ctx, now, counters, obs, false, nil)
}

// hitWithin is Hit for a caller that waits only until stop delivers or ctx
// is done (Guard, with its budget): it then returns an error wrapping
// errStopped or ctx's error, and the scripts already sent run without it.
// It needs no goroutine of its own, except to reload the script and re-send
// after a NOSCRIPT (resendWithin). obs may have been written when it fails.
func (r *Redis) hitWithin(ctx context.Context, now time.Time, counters []Counter, obs []Observation, stop <-chan time.Time) error {
	return r.hit(ctx, now, counters, obs, true, stop)
}

// hit is Hit, and with within hitWithin.
func (r *Redis) hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation, within bool, stop <-chan time.Time) error {
	if err := checkHit(counters, obs); err != nil {
		return err
	}
	if len(counters) == 0 {
		return nil
	}
	nowMs := now.UnixMilli()
	groups := planHit(counters, nowMs, r.cluster != nil)
	var pendingBuf [4]*hitGroup
	pending := pendingBuf[:0]
	for i := range groups {
		pending = append(pending, &groups[i])
	}
	if err := r.runGroups(ctx, pending, within, stop); err != nil {
		return err
	}
	noScript, err := parseGroups(nowMs, counters, obs, pending, len(groups))
	if err != nil || len(noScript) == 0 {
		return err
	}
	if within {
		return r.resendWithin(ctx, nowMs, counters, obs, noScript, len(groups), stop)
	}
	return r.resend(ctx, nowMs, counters, obs, noScript, len(groups))
}

// parseGroups reads each group's reply into obs and returns the groups
// that got NOSCRIPT, which did not run. Any other error of a group fails
// the Hit; total is the Hit's number of groups, for the message.
func parseGroups(nowMs int64, counters []Counter, obs []Observation, groups []*hitGroup, total int) ([]*hitGroup, error) {
	var noScript []*hitGroup
	var firstErr error
	failed := 0
	for _, g := range groups {
		reply, err := g.cmd.Slice()
		if err == nil {
			reply, err = segment(reply)
		}
		switch {
		case err == nil:
			if err := g.parseReply(nowMs, counters, obs, reply); err != nil {
				return nil, err
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
		if total == 1 {
			return nil, fmt.Errorf("redis hit: %w", firstErr)
		}
		return nil, fmt.Errorf("redis hit: %d of %d hash-tag groups failed: %w", failed, total, firstErr)
	}
	return noScript, nil
}

// segment returns the one segment of a Hit's script reply
// (hitScriptSrc): its fields' values, or the error Redis gave for it.
func segment(reply []any) ([]any, error) {
	if len(reply) != 1 {
		return nil, fmt.Errorf("script returned %d segments for one Hit", len(reply))
	}
	switch v := reply[0].(type) {
	case []any:
		return v, nil
	case error:
		return nil, v
	default:
		return nil, fmt.Errorf("script returned %T for a Hit, want an array", v)
	}
}

// resend loads the script and sends again the groups that got NOSCRIPT.
// A NOSCRIPT group did not run, and the groups that ran are not re-sent,
// so the retry counts every hit exactly once. The script goes to every
// master of a cluster: the cache may be gone from several.
func (r *Redis) resend(ctx context.Context, nowMs int64, counters []Counter, obs []Observation, groups []*hitGroup, total int) error {
	if err := hitScript.Load(ctx, r.client).Err(); err != nil {
		return fmt.Errorf("redis hit: reload script after NOSCRIPT: %w", err)
	}
	if err := r.runGroups(ctx, groups, false, nil); err != nil {
		return err
	}
	noScript, err := parseGroups(nowMs, counters, obs, groups, total)
	if err != nil {
		return err
	}
	if len(noScript) > 0 {
		return fmt.Errorf("redis hit: script still missing after loading it: %w", noScript[0].cmd.Err())
	}
	return nil
}

// resendWithin is resend on a goroutine of its own, waited for as
// hitWithin waits. The goroutine works on copies of counters and obs, so a
// caller that stopped waiting may reuse them at once.
func (r *Redis) resendWithin(ctx context.Context, nowMs int64, counters []Counter, obs []Observation,
	groups []*hitGroup, total int, stop <-chan time.Time) error {
	cs := slices.Clone(counters)
	own := make([]Observation, len(obs))
	done := make(chan error, 1)
	go func() {
		done <- r.resend(context.WithoutCancel(ctx), nowMs, cs, own, groups, total)
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		for _, g := range groups {
			for _, i := range g.idx {
				obs[i] = own[i]
			}
		}
		return nil
	case <-stop:
		return fmt.Errorf("redis hit: %w: %w", errStillRunning, errStopped)
	case <-ctx.Done():
		return fmt.Errorf("redis hit: %w: %w", errStillRunning, ctx.Err())
	}
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

// hitGroup is one script call of a Hit: all its counters, or on a cluster
// those whose keys share a hash tag.
type hitGroup struct {
	tag string
	// idx holds the positions in the Hit's counters of the group's
	// counters, and fieldAt, for each, the position in the script's reply
	// of its lane's field.
	idx, fieldAt []int
	// args is the whole command: "evalsha", sha, numkeys, keys..., now,
	// then per key its header, its fields, then their specs (windowArg,
	// or for a lane's parts its window and mask; hitScriptSrc). The keys,
	// fields, time, headers and specs are held as *string and *int64.
	args []any
	cmd  *redis.Cmd
}

// planHit builds the script calls of a Hit: one for all counters, or with
// byTag (a cluster) one per hash tag of their hashes, in order of first
// appearance, each with its EVALSHA arguments ready. Counters go to the
// script as fields of the hash that holds them (placement.go): a client's
// in its network's, any other in its key's. Hit is on the request path,
// so the groups share their backing arrays, a Hit's handful of counters
// is searched linearly, which beats a map, and the fields that are not
// the lanes themselves are built in one string.
func planHit(counters []Counter, nowMs int64, byTag bool) []hitGroup {
	// places holds, per distinct key, where its lanes go; placeOf, per
	// counter, its key's place.
	var placesBuf [8]keyPlace
	var placeOfBuf [16]int
	places, placeOf := placesBuf[:0], placeOfBuf[:0]
	var hashBuf [64]byte
	for _, c := range counters {
		p := slices.IndexFunc(places, func(p keyPlace) bool { return p.key == c.Key })
		if p < 0 {
			p = len(places)
			places = append(places, placeKey(hashBuf[:0], c.Key, counters, places))
		}
		placeOf = append(placeOf, p)
	}

	var fieldsBuf [16]string
	fields := fieldsBuf[:0]
	var builtBuf [256]byte
	built := builtBuf[:0] // the fields that are not lanes, end to end
	var endsBuf [16]int
	ends := endsBuf[:0] // per counter, the end of its field in built, or -1
	for i, c := range counters {
		p := &places[placeOf[i]]
		fields = append(fields, c.Lane)
		if fieldIsLane(p.folded, c.Lane) {
			ends = append(ends, -1)
			continue
		}
		built = appendField(built, p.folded, p.host, c.Lane)
		ends = append(ends, len(built))
	}
	if len(built) > 0 { // no such field is empty
		all, start := string(built), 0
		for i, end := range ends {
			if end >= 0 {
				fields[i], start = all[start:end], end
			}
		}
	}

	// firsts holds, per distinct hash, the position of its first counter;
	// firstOf, per counter, the position of its hash's first counter.
	var firstsBuf, firstOfBuf, groupOfBuf [16]int
	firsts, firstOf := firstsBuf[:0], firstOfBuf[:0]
	for i := range counters {
		f := i
		for _, k := range firsts {
			if places[placeOf[k]].hash == places[placeOf[i]].hash {
				f = k
				break
			}
		}
		if f == i {
			firsts = append(firsts, i)
		}
		firstOf = append(firstOf, f)
	}

	groups := make([]hitGroup, 0, len(firsts))
	groupOf := groupOfBuf[:0] // per distinct hash, as firsts
	for _, k := range firsts {
		var tag string
		if byTag {
			tag = hashTag(places[placeOf[k]].hash)
		}
		g := slices.IndexFunc(groups, func(h hitGroup) bool { return h.tag == tag })
		if g < 0 {
			g = len(groups)
			groups = append(groups, hitGroup{tag: tag})
		}
		groupOf = append(groupOf, g)
	}

	// With parts, the counters of one lane are one field: fieldOf holds,
	// per counter, the position of its lane's first counter, and masks, at
	// that position, the parts the Hit gives of the lane. A lane given as
	// its part 0 alone is a field like any lane without parts.
	var fieldOfBuf [16]int
	var masksBuf [16]uint16
	fieldOf, masks := fieldOfBuf[:0], masksBuf[:0]
	parts := slices.ContainsFunc(counters, func(c Counter) bool { return c.Part != 0 })
	nFields := 0
	for i, c := range counters {
		f := i
		if parts {
			for j := range i {
				if counters[j].Lane == c.Lane && counters[j].Key == c.Key {
					f = fieldOf[j]
					break
				}
			}
		}
		fieldOf = append(fieldOf, f)
		masks = append(masks, 0)
		masks[f] |= 1 << c.Part
		if f == i {
			nFields++
		}
	}

	// idx and fieldAt hold, per group, its counters and where their fields
	// are in its reply.
	idxAt := make([]int, 0, 2*len(counters))
	idx, fieldAt := idxAt[:0:len(counters)], idxAt[len(counters):len(counters)]
	// The arguments point into nums and strs rather than holding their
	// values: go-redis writes an *int64 or *string as the value, and a
	// value put in an interface costs an allocation each, a dozen per
	// Check. Their capacities are what a plan needs (a number per field
	// and per hash, its header, and the time; a string per field and per
	// hash), so each is one allocation. (Were one to grow, the arguments
	// taken before would still point to their values, in the old array.)
	nums := make([]int64, 0, 1+len(firsts)+nFields)
	strs := make([]string, 0, len(firsts)+nFields)
	num := func(v int64) any {
		nums = append(nums, v)
		return &nums[len(nums)-1]
	}
	str := func(v string) any {
		strs = append(strs, v)
		return &strs[len(strs)-1]
	}
	// Per group "evalsha", the SHA, the number of keys, the time and the
	// number of keys again; per hash its key and header; per field its
	// name and spec.
	args := make([]any, 0, 5*len(groups)+2*len(firsts)+2*nFields)
	now := num(nowMs)
	for g := range groups {
		firstIdx, firstArg, field := len(idx), len(args), 0
		args = append(args, "evalsha", hitScriptSHA, 0)
		numKeys := 0
		for j, k := range firsts {
			if groupOf[j] == g {
				args = append(args, str(places[placeOf[k]].hash))
				numKeys++
			}
		}
		// Small ints go into an interface without an allocation, and the
		// folding (hitFold) reads this one as an int.
		args[firstArg+2] = numKeys
		args = append(args, now, numKeys)
		for j, k := range firsts {
			if groupOf[j] != g {
				continue
			}
			// The hash's fields: those of lanes without parts, then those
			// of lanes with parts (hitScriptSrc).
			headerArg := len(args)
			args = append(args, nil)
			fieldsStart := len(args)
			shared := false
			for _, withParts := range [2]bool{false, true} {
				for i := k; i < len(counters); i++ { // none of hash k's comes before k
					if firstOf[i] == k && fieldOf[i] == i && (masks[i] != 1) == withParts {
						args = append(args, str(fields[i]))
						shared = shared || places[placeOf[i]].folded
					}
				}
			}
			lanes, withParts := len(args)-fieldsStart, 0
			for i := k; i < len(counters); i++ {
				if firstOf[i] == k && fieldOf[i] == i && masks[i] == 1 {
					idx = append(idx, i)
					fieldAt = append(fieldAt, field)
					field++
					args = append(args, num(windowArg(counters[i])))
				}
			}
			for i := k; i < len(counters); i++ {
				if firstOf[i] != k || fieldOf[i] != i || masks[i] == 1 {
					continue
				}
				withParts++
				spec := counters[i].Window.Milliseconds()<<16 | int64(masks[i])
				if counters[i].Peek {
					spec = -spec
				}
				args = append(args, num(spec))
				for c := i; c < len(counters); c++ {
					if fieldOf[c] == i {
						idx = append(idx, c)
						fieldAt = append(fieldAt, field)
					}
				}
				field++
			}
			header := int64(lanes + withParts<<16)
			if shared {
				header = -header
			}
			args[headerArg] = num(header)
		}
		gr := &groups[g]
		gr.idx = idx[firstIdx:len(idx):len(idx)]
		gr.fieldAt = fieldAt[firstIdx:len(fieldAt):len(fieldAt)]
		gr.args = args[firstArg:len(args):len(args)]
	}
	return groups
}

// keyPlace is where the lanes of one key of a Hit go.
type keyPlace struct {
	key    string // the counters' Key
	hash   string // the Redis hash their lanes are fields of
	host   string // the client's part of its network, if folded
	folded bool   // key is a client's, kept in its network's hash
}

// placeKey returns key's place. The network's key is usually a key of
// the same Hit (a client counted with its subnet), whose string is then
// shared rather than built again; buf is scratch room for building it.
func placeKey(buf []byte, key string, counters []Counter, places []keyPlace) keyPlace {
	hash, host, ok := appendNetworkHash(buf, key)
	if !ok {
		return keyPlace{key: key, hash: key}
	}
	p := keyPlace{key: key, host: host, folded: true}
	for _, c := range counters {
		if c.Key == string(hash) {
			p.hash = c.Key
			return p
		}
	}
	for _, q := range places {
		if q.hash == string(hash) {
			p.hash = q.hash
			return p
		}
	}
	p.hash = string(hash)
	return p
}

// runGroups sends one EVALSHA per group, in a pipeline shared with the
// scripts of concurrent Hits (batcher), and leaves each group's reply in
// g.cmd. It fails only if the scripts were not answered (the connection
// failed or timed out, or none could be had); a group's own error, such as
// NOSCRIPT, is left in its command.
//
// With within, it waits as batcher.doWithin does.
func (r *Redis) runGroups(ctx context.Context, groups []*hitGroup, within bool, stop <-chan time.Time) error {
	var cmdsBuf [4]redis.Cmder
	cmds := cmdsBuf[:0]
	for _, g := range groups {
		g.cmd = redis.NewCmd(ctx, g.args...)
		cmds = append(cmds, g.cmd)
	}
	var err error
	if within {
		err = r.batch.doWithin(ctx, cmds, stop)
	} else {
		err = r.batch.do(ctx, cmds)
	}
	if err != nil {
		return fmt.Errorf("redis hit: %w", err)
	}
	return nil
}

// parseReply fills obs for the group's counters from the script's reply:
// per key, per field, in the order the plan gave them, what it held before
// the call, a string or nil. A counter's state is its part's 12 bytes,
// read as the script reads it (hitScriptSrc), so the script spends nothing
// on a read.
func (g *hitGroup) parseReply(nowMs int64, counters []Counter, obs []Observation, reply []any) error {
	// The plan numbers the fields across the group's keys, in order.
	var fieldsBuf [32]any
	fields := fieldsBuf[:0]
	for k, r := range reply {
		vs, ok := r.([]any)
		if !ok {
			return fmt.Errorf("redis hit: script returned %T for key %d, want an array", r, k)
		}
		fields = append(fields, vs...)
	}
	for j, i := range g.idx {
		at := g.fieldAt[j]
		if at >= len(fields) {
			return fmt.Errorf("redis hit: script returned %d fields, counter %d is in field %d", len(fields), i, at)
		}
		var state string
		switch v := fields[at].(type) {
		case string:
			state = v
		case nil:
		default:
			return fmt.Errorf("redis hit: script returned %T for field %d, want a string or nil", v, at)
		}
		c := &counters[i]
		prev, cur := laneCounts(state, int(c.Part), nowMs, c.Window.Milliseconds())
		obs[i] = observe(nowMs, *c, prev, cur)
	}
	return nil
}

// laneCounts returns the counts before a hit at nowMs of part p of a
// field's state: its previous bucket's and its current one's, as
// hitScriptSrc keeps them, buckets modulo 2^32. A part the state does not
// hold reads 0/0.
func laneCounts(state string, p int, nowMs, windowMs int64) (prev, cur int64) {
	if len(state) < stateSize*(p+1) {
		return 0, 0
	}
	st := state[stateSize*p:]
	m, mc, mp := stateUint32(st[0:4]), int64(stateUint32(st[4:8])), int64(stateUint32(st[8:12]))
	b, _ := bucketOf(nowMs, windowMs)
	switch uint32(b) - m {
	case 0:
		return mp, mc
	case 1:
		return mc, 0
	case math.MaxUint32:
		// A late hit: b is the lane's previous bucket.
		return 0, mp
	}
	return 0, 0
}

// stateSize is the bytes of one lane's state (hitScriptSrc).
const stateSize = 12

// stateUint32 reads a little-endian unsigned 32-bit integer, as
// struct.pack "<I4" writes it, from 4 bytes.
func stateUint32(b string) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
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
