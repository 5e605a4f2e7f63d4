package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/redisurl"
)

// How the Redis store keeps a counter. Each key is a hash holding the
// counters of one identity (IdentityKey), or of a network and its clients
// (placement.go), and each counter's buckets are fields of it, counted
// with Redis's own HINCRBY:
//
//	lane@b      the lane's count in bucket b, floor(now_ms / window_ms)
//	lane@b#p    part p's (Counter.Part), for p > 0; part 0 is the lane's
//	lane@       the lane's marker, "b:mask": its newest bucket, and the
//	            parts that may hold fields (bit p: part p)
//
// where lane is the counter's field in its hash (placement.go: a client's
// lane carries its host, so that no lane can pose as another) and b is
// written in decimal. A bucket's field ends in "@", digits and perhaps
// "#" and digits, so whatever a lane is, a bucket of one lane is never a
// bucket of another, nor a lane's marker.
//
// A Hit costs Redis, per hash it touches, one HINCRBY per counted counter
// (its reply is the count including this hit), one HMGET of the counted
// counters' previous buckets and of the peeked counters' two buckets, and,
// if it counts in a hash the store does not know to have a TTL
// (hashTTLs), one PEXPIRE NX, which gives a hash its first TTL. Nothing
// else is sent on a Check's path. Native commands cost Redis a third to a
// half less than the Lua script of earlier versions did for the same
// Check, whose packed states Redis could only update atomically in Lua
// (BENCHMARKS.md, issue 17, eleventh session); a counter stays exact,
// since each HINCRBY is atomic, but the counters of one Hit are no longer
// counted in one atomic step.
//
// A HINCRBY that replies 1 created its field: the lane started a bucket.
// Only then is there housekeeping, once per lane and window, after the
// Hit has its counts (house.go): houseScript drops the lane's fields of
// buckets before the previous one, moves its marker, and extends the
// hash's TTL to cover the new bucket; a lane new to Redis only needs its
// marker set and the TTL extended, with Redis's own commands. So a lane
// holds at most its two newest buckets, and the marker, whatever the time
// between its hits; the fields of a lane left idle stay until it is
// counted again or the hash expires. A hit late by one bucket (a replica
// clock behind) counts in the previous bucket; a hit older still is
// counted in its own field, which reads as empty because the housekeeping
// dropped it, and is dropped again by the housekeeping its own creation
// calls for. On the Guard's path the housekeeping runs beside the Checks,
// so such a hit in the milliseconds before it has run may read what the
// old bucket held.
//
// The hash's TTL is extended, never shortened, to cover the longest need
// of its lanes: bucket b is kept until bucket b+1 ends, (b+2)*window
// after the epoch. PEXPIRE NX on a counting Hit makes sure a hash never
// lives without one, even if its housekeeping is lost; the housekeeping
// extends it as lanes start buckets. A Hit leaves the PEXPIRE NX out for
// a hash whose TTL the store itself set and which has not run out since
// (hashTTLs): such a hash can only be gone early (evicted, flushed), and
// then the Hit's HINCRBY re-creates it with a new bucket, whose
// housekeeping gives it its TTL.
//
// A peek is an HMGET of the lane's two buckets: it creates nothing and
// moves no TTL.
//
// Counts read above 2^32 - 1 are observed as 2^32 - 1, as the Memory
// store's stop there.
//
// Time comes from the caller rather than Redis TIME so that the Memory
// and Redis stores, and tests, agree on bucket edges. The TTL is set
// relative to that time, so a caller clock that is off only moves counts
// across a bucket edge instead of expiring keys early.
//
// Replicas of an earlier layout count in keys of their own (keyPrefix).

// Redis is a Store that keeps counters in Redis, shared by all replicas.
// Each key is one hash holding all the lanes a caller gives it, each
// bucket of a lane a field (see the top of this file), so the counters of
// one identity cost one key's worth of work; a client address's lanes are
// kept in its network's hash (placement.go), so a client and its network
// cost one key together.
//
// A Hit sends Redis's own commands, a few per hash, and never a script on
// its path: each counter is counted exactly once by its HINCRBY, and the
// counters of one Hit are counted one after another, not in one atomic
// step. If one command fails (a key that is not a hash), the Hit fails,
// and the others may have counted. On Redis Cluster each command goes to
// its key's node: go-redis runs the per-node parts of a pipeline in
// parallel, so a Hit still costs about one round trip.
//
// The commands of concurrent Hits share pipelines (batcher): a Hit that
// finds no pipeline waiting sends its commands at once, and those that
// come while pipelines are in flight go together in the next one. Under
// load, many Checks share one round trip and one write and read on each
// side, which costs Redis and botauthz far less per Check than a round
// trip each. No command is ever re-sent after it may have run.
//
// The housekeeping of the buckets a Hit started (house.go) runs after the
// Hit has its counts: on the Guard's path (hitWithin) on a goroutine of
// its own, which Close waits for. Its script is the store's only one;
// after a server loses its script cache (restart, failover, SCRIPT FLUSH)
// the housekeeping loads the script and runs again.
//
// Building a Hit's commands (planHit) and reading their replies
// (hitPlan.parseReplies) are kept apart from sending them.
//
// Redis 7.0 or later is expected (PEXPIRE NX). On an earlier server the
// PEXPIRE NX is refused, which fails nothing: the housekeeping gives each
// hash its TTL.
type Redis struct {
	client redis.UniversalClient
	batch  *batcher
	owned  bool // Close closes client only if DialRedis created it

	houseMu       sync.Mutex
	houseClosed   bool           // guarded by houseMu: Close has begun
	house         sync.WaitGroup // housekeeping goroutines (hitWithin)
	houseFailures atomic.Uint64  // housekeeping runs that failed
	marks         networkMarks   // network hashes lately seen marked
	ttls          *hashTTLs      // hashes known to have a TTL
	plans         sync.Pool      // *planBuf: the arrays of earlier Hits' plans
}

// houseTimeout bounds a housekeeping run, queueing for a pipeline
// included: a Redis too slow for it leaves the old fields to the next
// bucket's housekeeping rather than piling up goroutines.
const houseTimeout = 2 * time.Second

// NewRedis returns a Store using client. The caller keeps ownership of
// client: Close does not close it. Call LoadScript once at startup so the
// first housekeeping does not pay for sending the script.
func NewRedis(client redis.UniversalClient) *Redis {
	return &Redis{client: client, batch: newBatcher(client, batchOptions{}), ttls: newHashTTLs()}
}

// LoadScript loads the housekeeping script into Redis's script cache
// (SCRIPT LOAD), on every master of a cluster.
// Failing is not fatal: the housekeeping loads the script itself after a
// NOSCRIPT, so a replica that starts while Redis is down serves degraded
// and recovers by itself once Redis answers.
func (r *Redis) LoadScript(ctx context.Context) error {
	if err := houseScript.Load(ctx, r.client).Err(); err != nil {
		return fmt.Errorf("redis load housekeeping script: %w", err)
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
// for the master and sends every command there (redisurl.ParseSentinel).
//
// DialRedis fails only on a bad URL: connections are made on use, so an
// unreachable Redis shows up in Ping, LoadScript and Hit (which a Guard turns
// into degraded decisions), never as a failure to start.
//
// Timeouts suit a request path: 50ms to get a pooled connection, 500ms to
// read or write, 1s and a single attempt to dial, 4 idle connections kept
// warm (per node on a cluster), a pool that a Redis outage cannot saturate
// (redisPoolSize). Retries are off because a retried HINCRBY may
// already have counted (MaxRetries -1), and the request context does not set
// socket deadlines (ContextTimeoutEnabled false) because a deadline hit
// mid-command makes go-redis close the connection; Guard enforces the
// per-request budget instead. A cluster client follows at most 3 MOVED/ASK
// redirects; MaxRetries does not cover its pipelines, so Hit itself marks
// its commands as never to be re-sent. These settings override the same
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

// Hit implements Store: per hash, a HINCRBY per counted counter, an HMGET
// and, unless the hash's TTL is known, a PEXPIRE NX, in a pipeline shared
// with concurrent Hits (batcher), so that under load many Checks ride one
// round trip. It returns once the housekeeping of the buckets it started
// is done too. A housekeeping failure is counted (HousekeepingFailures),
// not returned: the counts are read and counted, and an error would tell
// the caller otherwise.
func (r *Redis) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	return r.hit(ctx, now, counters, obs, false, nil)
}

// hitWithin is Hit for a caller that waits only until stop delivers or ctx
// is done (Guard, with its budget): it then returns an error wrapping
// errStopped or ctx's error, and the commands already sent run without
// it. It returns as soon as it has the counts: the housekeeping of the
// buckets it started runs on a goroutine of its own, which Close waits
// for. obs may have been written when it fails.
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
	nowMs, mono := now.UnixMilli(), r.ttls.now()
	buf, _ := r.plans.Get().(*planBuf)
	plan := planHit(counters, nowMs, r.ttls, mono, buf)
	var err error
	if within {
		err = r.batch.doWithin(ctx, plan.cmds, stop)
	} else {
		err = r.batch.do(ctx, plan.cmds)
	}
	if err != nil {
		// A Hit the caller stopped waiting for says nothing of Redis's
		// keys; one Redis failed may follow a restart or a failover.
		if !errors.Is(err, errStopped) && ctx.Err() == nil {
			r.ttls.forget()
		}
		if !errors.Is(err, errStillRunning) {
			r.plans.Put(plan.release())
		}
		return fmt.Errorf("redis hit: %w", err)
	}
	if err := plan.parseReplies(nowMs, counters, obs); err != nil {
		r.ttls.forget()
		r.plans.Put(plan.release())
		return err
	}
	for h := range plan.hashes {
		if plan.created(h) {
			r.ttls.extend(plan.hashes[h].key, mono, time.Duration(plan.hashes[h].ttl)*time.Millisecond)
		}
	}
	house := plan.housekeeping(nowMs, counters)
	r.plans.Put(plan.release())
	if len(house) == 0 {
		return nil
	}
	if !within {
		if err := r.keepHouse(context.WithoutCancel(ctx), nowMs, house); err != nil {
			r.houseFailures.Add(1)
		}
		return nil
	}
	r.houseMu.Lock()
	defer r.houseMu.Unlock()
	if r.houseClosed {
		return nil
	}
	r.house.Add(1)
	go func() {
		defer r.house.Done()
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), houseTimeout)
		defer cancel()
		// Its failure costs no count: the fields it did not drop stay
		// until the next bucket's housekeeping or the hash's expiry.
		if err := r.keepHouse(hctx, nowMs, house); err != nil {
			r.houseFailures.Add(1)
		}
	}()
	return nil
}

// HousekeepingFailures returns how many housekeeping runs of Hits have
// failed since r was created (Redis too slow or down,
// the script refused). A failed run loses no count; it leaves a lane's
// old buckets in Redis until the lane's next bucket or the key's expiry.
func (r *Redis) HousekeepingFailures() uint64 { return r.houseFailures.Load() }

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

// hitPlan is a Hit's commands and where each counter's counts are in
// their replies.
type hitPlan struct {
	// cmds holds, per hash in order of first appearance, a HINCRBY per
	// counted counter, an HMGET, and a PEXPIRE NX if it counts any and
	// its TTL is not known.
	cmds []redis.Cmder
	// reads holds, per counter, where its counts are.
	reads []laneRead
	// hashes holds, per hash, its key and whether it is a network's.
	hashes []planHash
	// buf holds the arrays above and those the commands' arguments are
	// in.
	buf *planBuf
}

// planHash is one hash a Hit touches.
type planHash struct {
	key    string
	shared bool // a network's hash, holding its clients' lanes
	// expire is the index in cmds of its PEXPIRE NX, or -1 if it counts
	// nothing or the store knows it has a TTL (hashTTLs).
	expire int32
	ttl    int64 // ms its counted buckets need it to live, 0 if none
}

// laneRead is where one counter's counts are in a Hit's replies. Its
// fields are small, since a Check's plan holds one per counter.
type laneRead struct {
	incr int32 // index in cmds of its HINCRBY, or -1 for a peek
	get  int32 // index in cmds of its hash's HMGET
	prev int32 // position in that HMGET's reply of its previous bucket
	cur  int32 // for a peek, position of its current bucket; else -1
	hash int32 // index in hashes
}

// planHit builds a Hit's commands. Counters go to Redis as fields of the
// hash that holds them (placement.go): a client's in its network's, any
// other in its key's; each of their buckets a field of its own (see the
// top of this file). Hit is on the request path: the arguments point into
// a few arrays of strings and numbers rather than each being put in an
// interface (go-redis writes an *int64 or *string as the value), the
// fields' names are built in one string, and a Hit's handful of counters
// is searched linearly, which beats a map. The arrays are buf's, or new
// ones where buf has too little room or is nil.
func planHit(counters []Counter, nowMs int64, ttls *hashTTLs, mono int64, buf *planBuf) hitPlan {
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

	// The names: per counter its current bucket's field and its previous
	// bucket's, end to end in one string; spans holds, per counter, where
	// they begin and end.
	var namesBuf [512]byte
	var laneBuf [128]byte
	names := namesBuf[:0]
	var spansBuf [16]nameSpan
	spans := spansBuf[:0]
	for i, c := range counters {
		p := &places[placeOf[i]]
		lane := appendField(laneBuf[:0], p.folded, p.host, c.Lane)
		b, _ := bucketOf(nowMs, c.Window.Milliseconds())
		start := len(names)
		names = appendBucketField(names, lane, b, c.Part)
		cur := len(names)
		names = appendBucketField(names, lane, b-1, c.Part)
		spans = append(spans, nameSpan{start, cur, len(names)})
	}
	all := string(names)
	curField := func(i int) string { return all[spans[i].start:spans[i].cur] }
	prevField := func(i int) string { return all[spans[i].cur:spans[i].prev] }

	if buf == nil {
		buf = new(planBuf)
	}
	plan := hitPlan{reads: room(buf.reads, len(counters))[:len(counters)], hashes: room(buf.hashes, len(places)), buf: buf}
	clear(plan.reads)
	// hashOf, per counter, the index of its hash in plan.hashes.
	var hashOfBuf [16]int
	hashOf := hashOfBuf[:0]
	for i := range counters {
		h := slices.IndexFunc(plan.hashes, func(h planHash) bool { return h.key == places[placeOf[i]].hash })
		if h < 0 {
			h = len(plan.hashes)
			plan.hashes = append(plan.hashes, planHash{key: places[placeOf[i]].hash, shared: places[placeOf[i]].folded, expire: -1})
		}
		hashOf = append(hashOf, h)
		plan.hashes[h].shared = plan.hashes[h].shared || places[placeOf[i]].folded
	}

	// Sizes, so each array has room enough from the start (str hands out
	// pointers into strs): per counted counter a HINCRBY of 4 arguments;
	// per hash an HMGET of 2 arguments and its fields, and a PEXPIRE NX
	// of 4.
	counted, nCmds, nArgs := 0, 0, 0
	for _, c := range counters {
		if !c.Peek {
			counted++
		}
	}
	nCmds = counted + 2*len(plan.hashes)
	nArgs = 4*counted + 6*len(plan.hashes) + 2*len(counters)
	args := room(buf.args, nArgs)
	strs := room(buf.strs, 1+len(plan.hashes)+2*len(counters))
	nums := room(buf.nums, len(plan.hashes))
	str := func(v string) any {
		strs = append(strs, v)
		return &strs[len(strs)-1]
	}
	plan.cmds = room(buf.cmds, nCmds)
	cmd := func(from int) {
		plan.cmds = append(plan.cmds, redis.NewCmd(context.Background(), args[from:len(args):len(args)]...))
	}
	for h := range plan.hashes {
		key := str(plan.hashes[h].key)
		var ttl int64
		for i, c := range counters {
			if hashOf[i] != h {
				continue
			}
			rd := &plan.reads[i]
			rd.hash, rd.cur = int32(h), -1
			if c.Peek {
				rd.incr = -1
				continue
			}
			rd.incr = int32(len(plan.cmds))
			from := len(args)
			args = append(args, "hincrby", key, str(curField(i)), 1)
			cmd(from)
			w := c.Window.Milliseconds()
			b, _ := bucketOf(nowMs, w)
			ttl = max(ttl, (b+2)*w-nowMs)
		}
		get, from, field := len(plan.cmds), len(args), 0
		args = append(args, "hmget", key)
		for i, c := range counters {
			if hashOf[i] != h {
				continue
			}
			rd := &plan.reads[i]
			rd.get = int32(get)
			if c.Peek {
				rd.cur = int32(field)
				args = append(args, str(curField(i)))
				field++
			}
			rd.prev = int32(field)
			args = append(args, str(prevField(i)))
			field++
		}
		cmd(from)
		plan.hashes[h].ttl = ttl
		if ttl > 0 && !ttls.covers(plan.hashes[h].key, mono) {
			nums = append(nums, ttl)
			from := len(args)
			plan.hashes[h].expire = int32(len(plan.cmds))
			args = append(args, "pexpire", key, &nums[len(nums)-1], "nx")
			cmd(from)
		}
	}
	buf.args, buf.strs, buf.nums, buf.cmds, buf.reads, buf.hashes = args, strs, nums, plan.cmds, plan.reads, plan.hashes
	return plan
}

// planBuf is the room a Hit's plan is built in: its arrays, which the
// store hands from one Hit to the next (Redis.plans), so that a Check's
// commands cost go-redis's commands and their fields' names rather than
// six arrays more, a kilobyte a Check for the collector to reclaim.
// Arrays go back only when no pipeline can still touch the plan's
// commands (hitPlan.release).
type planBuf struct {
	args   []any
	strs   []string
	nums   []int64
	cmds   []redis.Cmder
	reads  []laneRead
	hashes []planHash
}

// room returns s emptied if it holds at least n, else a new slice of
// capacity n.
func room[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s[:0]
}

// release clears the plan's arrays, so that they hold on to no command,
// reply or key, and returns them for the next plan. A plan must not be
// released while a pipeline may still write its commands' replies: after
// a Hit whose caller stopped waiting (errStillRunning), it is left to
// the collector.
func (p *hitPlan) release() *planBuf {
	b := p.buf
	clear(b.args)
	clear(b.strs)
	clear(b.cmds)
	clear(b.hashes)
	*p = hitPlan{}
	return b
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

// nameSpan is where one counter's names are in planHit's string: its
// current bucket's field from start to cur, its previous bucket's to prev.
type nameSpan struct{ start, cur, prev int }

// appendBucketField appends the field of bucket b of part p of a lane
// whose field is lane: "lane@b", or "lane@b#p" for p > 0.
func appendBucketField(dst []byte, lane []byte, b int64, p uint8) []byte {
	dst = append(dst, lane...)
	dst = append(dst, '@')
	dst = strconv.AppendInt(dst, b, 10)
	if p > 0 {
		dst = append(dst, '#')
		dst = strconv.AppendUint(dst, uint64(p), 10)
	}
	return dst
}

// maxCount is the most a count is observed as, as the Memory store's
// counts stop there.
const maxCount = math.MaxUint32

// parseReplies fills obs from the plan's replies: a counted counter's
// count before this hit is its HINCRBY's reply less one, and its previous
// bucket's is in its hash's HMGET reply, as both of a peeked counter's.
// A command's error (a key that is not a hash) fails the Hit; the other
// commands of the Hit have run and counted.
func (p *hitPlan) parseReplies(nowMs int64, counters []Counter, obs []Observation) error {
	for i := range counters {
		rd := &p.reads[i]
		get, ok := p.cmds[rd.get].(*redis.Cmd)
		if !ok {
			return fmt.Errorf("redis hit: command %d is a %T", rd.get, p.cmds[rd.get])
		}
		vs, err := get.Slice()
		if err != nil {
			return fmt.Errorf("redis hit: HMGET %s: %w", p.hashes[rd.hash].key, err)
		}
		prev, err := countAt(vs, int(rd.prev))
		if err != nil {
			return fmt.Errorf("redis hit: HMGET %s: %w", p.hashes[rd.hash].key, err)
		}
		var cur int64
		if rd.incr >= 0 {
			n, err := p.cmds[rd.incr].(*redis.Cmd).Int64()
			if err != nil {
				return fmt.Errorf("redis hit: HINCRBY %s: %w", p.hashes[rd.hash].key, err)
			}
			cur = n - 1
		} else if cur, err = countAt(vs, int(rd.cur)); err != nil {
			return fmt.Errorf("redis hit: HMGET %s: %w", p.hashes[rd.hash].key, err)
		}
		obs[i] = observe(nowMs, counters[i], min(max(prev, 0), maxCount), min(max(cur, 0), maxCount))
	}
	return nil
}

// countAt reads the count at position at of an HMGET reply: nil is 0.
func countAt(vs []any, at int) (int64, error) {
	if at >= len(vs) {
		return 0, fmt.Errorf("%d fields in the reply, want at least %d", len(vs), at+1)
	}
	switch v := vs[at].(type) {
	case nil:
		return 0, nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d holds %q, not a count", at, v)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("field %d is a %T, want a string or nil", at, v)
	}
}

// Ping implements Store with a Redis PING.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close implements Store. It waits for the housekeeping still running,
// and closes the client only if DialRedis created it.
func (r *Redis) Close() error {
	r.houseMu.Lock()
	r.houseClosed = true
	r.houseMu.Unlock()
	r.house.Wait()
	if !r.owned {
		return nil
	}
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("redis close: %w", err)
	}
	return nil
}
