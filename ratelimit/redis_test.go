package ratelimit_test

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/ratelimit/storetest"
)

// adminClient is a plain client for inspecting and resetting the server,
// separate from the store under test.
func adminClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialStore(t testing.TB, srv *redistest.Server) *ratelimit.Redis {
	t.Helper()
	return dialURL(t, srv.URL())
}

// redisStored is storetest's Options for the keys admin reaches. Stored
// is a key's fields and its absolute expiry (PEXPIRETIME, which unlike
// PTTL stays put as time passes), or "" if the key does not exist; Size
// is its HLEN and TTL its PTTL.
func redisStored(admin redis.UniversalClient) storetest.Options {
	return storetest.Options{
		Stored: func(t *testing.T, key string) string {
			t.Helper()
			n, err := admin.Exists(t.Context(), key).Result()
			if err != nil {
				t.Fatalf("EXISTS %s: %v", key, err)
			}
			if n == 0 {
				return ""
			}
			fields, err := admin.HGetAll(t.Context(), key).Result()
			if err != nil {
				t.Fatalf("HGETALL %s: %v", key, err)
			}
			exp, err := admin.Do(t.Context(), "PEXPIRETIME", key).Int64()
			if err != nil {
				t.Fatalf("PEXPIRETIME %s: %v", key, err)
			}
			return fmt.Sprintf("fields %v expiring at %d ms", fields, exp) // fmt sorts the fields
		},
		Size: func(t *testing.T, key string) int {
			t.Helper()
			n, err := admin.HLen(t.Context(), key).Result()
			if err != nil {
				t.Fatalf("HLEN %s: %v", key, err)
			}
			return int(n)
		},
		TTL: func(t *testing.T, key string) time.Duration {
			t.Helper()
			ttl, err := admin.PTTL(t.Context(), key).Result()
			if err != nil {
				t.Fatalf("PTTL %s: %v", key, err)
			}
			return ttl
		},
	}
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	storetest.RunWith(t, func(t *testing.T) ratelimit.Store {
		if err := admin.FlushDB(t.Context()).Err(); err != nil {
			t.Fatalf("FLUSHDB: %v", err)
		}
		return dialStore(t, srv)
	}, redisStored(admin))
}

func TestRedisConformanceWithCallerOwnedClient(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	storetest.RunWith(t, func(t *testing.T) ratelimit.Store {
		if err := admin.FlushDB(t.Context()).Err(); err != nil {
			t.Fatalf("FLUSHDB: %v", err)
		}
		// No LoadScript: the first Hit must load the script itself.
		return ratelimit.NewRedis(redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr()}}))
	}, redisStored(admin))
}

const redisT0 = 1_700_000_040_000 // starts a 60s bucket

func redisAt(d time.Duration) time.Time { return time.UnixMilli(redisT0).Add(d) }

// fieldsOf returns key's fields and their values.
func fieldsOf(t testing.TB, admin redis.UniversalClient, key string) map[string]string {
	t.Helper()
	fields, err := admin.HGetAll(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", key, err)
	}
	return fields
}

// bucketField is the field of bucket b of a lane whose field is lane;
// marker its marker's value, for bucket b and the parts in mask.
func bucketField(lane string, b int64) string { return lane + "@" + strconv.FormatInt(b, 10) }
func marker(b int64, mask int) string         { return strconv.FormatInt(b, 10) + ":" + strconv.Itoa(mask) }

// bucketOf is the bucket of now for window w.
func bucketOf(now time.Time, w time.Duration) int64 { return now.UnixMilli() / w.Milliseconds() }

func TestRedisSetsTTLBetweenOneAndTwoWindows(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const w = time.Minute
	c := ratelimit.Counter{Key: "ttl", Lane: "60s", Window: w}
	// At a bucket's start the TTL is exactly 2W, so the real time that passes
	// before PTTL cannot push it under W.
	mustHit(t, s, redisAt(0), c)
	ttl, err := admin.PTTL(t.Context(), c.Key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= w || ttl > 2*w {
		t.Errorf("PTTL = %v, want in (%v, %v]", ttl, w, 2*w)
	}

	// A hit late into the previous bucket (a replica clock behind) must not
	// shorten the TTL the newer bucket needs.
	mustHit(t, s, redisAt(w), c)
	before, _ := admin.PTTL(t.Context(), c.Key).Result()
	mustHit(t, s, redisAt(w-time.Millisecond), c)
	after, _ := admin.PTTL(t.Context(), c.Key).Result()
	if after < before-time.Second {
		t.Errorf("late hit shortened PTTL from %v to %v", before, after)
	}
}

func TestRedisLaneKeepsItsTwoNewestBuckets(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const w = time.Minute
	// Two lanes of one key: 60s is hit in every bucket, "other" only at
	// first, and its fields stay until it is hit again.
	c := ratelimit.Counter{Key: "buckets", Lane: "60s", Window: w}
	other := ratelimit.Counter{Key: "buckets", Lane: "other", Window: w}
	b := func(d time.Duration) int64 { return bucketOf(redisAt(d), w) }
	wantFields := func(what string, want map[string]string) {
		t.Helper()
		if got := fieldsOf(t, admin, c.Key); !maps.Equal(got, want) {
			t.Errorf("%s: fields %v, want %v", what, got, want)
		}
	}
	mustHit(t, s, redisAt(0), c, other)
	mustHit(t, s, redisAt(0), c)
	mustHit(t, s, redisAt(w), c)
	mustHit(t, s, redisAt(2*w), c)
	wantFields("after hits in buckets b, b, b+1, b+2", map[string]string{
		bucketField("60s", b(w)): "1", bucketField("60s", b(2*w)): "1", "60s@": marker(b(2*w), 1),
		bucketField("other", b(0)): "1", "other@": marker(b(0), 1),
	})

	// A jump of many windows (a clock jump, a lane left idle) drops the
	// lane's old buckets.
	mustHit(t, s, redisAt(10*w), c, other)
	wantFields("after a jump of 8 windows", map[string]string{
		bucketField("60s", b(10*w)): "1", "60s@": marker(b(10*w), 1),
		bucketField("other", b(10*w)): "1", "other@": marker(b(10*w), 1),
	})

	// A late hit, one bucket behind, counts in the previous bucket; a hit
	// older than both buckets keeps nothing.
	mustHit(t, s, redisAt(11*w), c)
	mustHit(t, s, redisAt(11*w-time.Millisecond), c)
	if got := mustHit(t, s, redisAt(9*w), c)[0]; got.Prev != 0 || got.Cur != 0 {
		t.Errorf("a hit older than both buckets observed %+v, want 0/0", got)
	}
	wantFields("after a hit, a late hit and one too late", map[string]string{
		bucketField("60s", b(10*w)): "2", bucketField("60s", b(11*w)): "1", "60s@": marker(b(11*w), 1),
		bucketField("other", b(10*w)): "1", "other@": marker(b(10*w), 1),
	})
}

func TestRedisTTLCoversTheLongestLane(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	long := ratelimit.Counter{Key: "ttl", Lane: "long", Window: time.Hour}
	short := ratelimit.Counter{Key: "ttl", Lane: "short", Window: time.Second}
	// redisAt(0) is 14 minutes into an hour: the long lane needs its key
	// for 2h-14m, the short one for 2s.
	mustHit(t, s, redisAt(0), long)
	for i := range 3 {
		mustHit(t, s, redisAt(time.Duration(i)*time.Second), short)
	}
	ttl, err := admin.PTTL(t.Context(), long.Key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= time.Hour {
		t.Errorf("PTTL = %v after the short lane's new buckets, want the long lane's 106m", ttl)
	}
}

// TestRedisNewLaneNeedsNoScript: the housekeeping of a lane Redis has
// never held is Redis's own commands (its marker's HSETNX and the hash's
// TTL), and a lane back after an idle bucket, whose previous bucket is
// empty too but whose marker is there, goes to the script, which drops its
// old bucket.
func TestRedisNewLaneNeedsNoScript(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const w = time.Minute
	c := ratelimit.Counter{Key: "new-lane", Lane: "60s", Window: w}
	b := func(d time.Duration) int64 { return bucketOf(redisAt(d), w) }
	calls := commandCalls(t, admin)
	mustHit(t, s, redisAt(0), c)
	after := commandCalls(t, admin)
	if n := after["evalsha"] - calls["evalsha"]; n != 0 {
		t.Errorf("a new lane's housekeeping ran EVALSHA %d times, want 0", n)
	}
	if n := after["hsetnx"] - calls["hsetnx"]; n != 1 {
		t.Errorf("a new lane's housekeeping ran HSETNX %d times, want 1", n)
	}
	// The Hit created the hash: its own PEXPIRE NX gave it its TTL.
	if n := after["pexpire"] - calls["pexpire"]; n != 1 {
		t.Errorf("a new hash's Hit and housekeeping ran PEXPIRE %d times, want 1", n)
	}
	want := map[string]string{bucketField("60s", b(0)): "1", "60s@": marker(b(0), 1)}
	if got := fieldsOf(t, admin, c.Key); !maps.Equal(got, want) {
		t.Errorf("a new lane's fields %v, want %v", got, want)
	}
	if ttl, err := admin.PTTL(t.Context(), c.Key).Result(); err != nil || ttl <= w || ttl > 2*w {
		t.Errorf("PTTL = %v, %v, want between one and two windows", ttl, err)
	}

	// A new lane in a hash that was there: the housekeeping's PEXPIRE NX
	// and GT, and none on the Hit's path, since the store gave the hash
	// its TTL (hashTTLs).
	other := ratelimit.Counter{Key: c.Key, Lane: "other", Window: 10 * time.Minute}
	mustHit(t, s, redisAt(0), other)
	calls, after = after, commandCalls(t, admin)
	if n := after["pexpire"] - calls["pexpire"]; n != 2 {
		t.Errorf("a new lane in an old hash: PEXPIRE ran %d times, want 2", n)
	}
	if ttl, err := admin.PTTL(t.Context(), c.Key).Result(); err != nil || ttl <= 10*w {
		t.Errorf("PTTL = %v, %v, want more than the new lane's window", ttl, err)
	}
	if n := after["evalsha"] - calls["evalsha"]; n != 0 {
		t.Errorf("a new lane in an old hash ran EVALSHA %d times, want 0", n)
	}

	calls = after
	if got := mustHit(t, s, redisAt(3*w), c)[0]; got.Prev != 0 || got.Cur != 0 {
		t.Errorf("a hit after two idle buckets observed %+v, want 0/0", got)
	}
	if n := commandCalls(t, admin)["evalsha"] - calls["evalsha"]; n != 1 {
		t.Errorf("a lane back after idle buckets ran EVALSHA %d times, want 1", n)
	}
	want = map[string]string{
		bucketField("60s", b(3*w)): "1", "60s@": marker(b(3*w), 1),
		bucketField("other", bucketOf(redisAt(0), 10*w)): "1", "other@": marker(bucketOf(redisAt(0), 10*w), 1),
	}
	if got := fieldsOf(t, admin, c.Key); !maps.Equal(got, want) {
		t.Errorf("fields after idle buckets %v, want %v", got, want)
	}
}

// TestRedisRecoversFromScriptFlush: the housekeeping script, once Redis
// has lost it, is loaded again, on the store and through a Guard, whose
// housekeeping runs on a goroutine of its own (Redis.hitWithin); the
// counts never depend on it.
func TestRedisRecoversFromScriptFlush(t *testing.T) {
	for _, guarded := range []bool{false, true} {
		t.Run(map[bool]string{false: "store", true: "guard"}[guarded], func(t *testing.T) {
			srv := redistest.Start(t)
			admin := adminClient(t, srv)
			var s ratelimit.Store = dialStore(t, srv)
			if guarded {
				s = ratelimit.NewGuard(s, ratelimit.GuardOptions{Budget: time.Minute})
			}
			defer s.Close()

			const w = time.Minute
			c := ratelimit.Counter{Key: "flush", Lane: "60s", Window: w}
			mustHit(t, s, redisAt(0), c)
			if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			calls := commandCalls(t, admin)
			if got := mustHit(t, s, redisAt(w), c)[0]; got.Prev != 1 || got.Cur != 0 {
				t.Errorf("hit after SCRIPT FLUSH observed %+v, want 1/0", got)
			}
			// The new bucket's housekeeping moved the marker and dropped
			// nothing yet: bucket b is the previous one.
			want := marker(bucketOf(redisAt(w), w), 1)
			ratelimit.WaitFor(t, "the housekeeping after SCRIPT FLUSH", func() bool {
				return fieldsOf(t, admin, c.Key)["60s@"] == want
			})
			if after := commandCalls(t, admin); after["script|load"]-calls["script|load"] != 1 {
				t.Errorf("SCRIPT LOAD ran %d times after the flush, want 1", after["script|load"]-calls["script|load"])
			}
			if got := mustHit(t, s, redisAt(w+time.Second), c)[0]; got.Prev != 1 || got.Cur != 1 {
				t.Errorf("next hit observed %+v, want 1/1: a hit was counted twice or lost", got)
			}
		})
	}
}

func TestRedisRecoversFromServerRestart(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, srv)
	defer s.Close()

	c := ratelimit.Counter{Key: "restart", Window: time.Minute}
	mustHit(t, s, redisAt(0), c)
	srv.Restart() // loses data, script cache and every pooled connection

	// Pooled connections to the old process fail once each; MaxRetries -1
	// means no hidden retry, so poll until a fresh connection serves.
	deadline := time.Now().Add(10 * time.Second)
	obs := make([]ratelimit.Observation, 1)
	for {
		err := s.Hit(t.Context(), redisAt(time.Second), []ratelimit.Counter{c}, obs)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Hit still failing after restart: %v", err)
		}
	}
	if obs[0].Cur != 0 {
		t.Errorf("first hit after restart observed Cur %d, want 0 (data is gone)", obs[0].Cur)
	}
}

// commandCalls is the internal tests' commandCalls.
var commandCalls = ratelimit.CommandCalls

// TestRedisKnownTTLSparesThePexpire: a Hit on a hash whose TTL its store
// set sends no PEXPIRE NX; another store, which does not know, does; a
// hash gone behind the store's back still gets its TTL, from the
// housekeeping of the bucket the Hit re-created; and a failed Hit makes
// the store forget what it knew.
func TestRedisKnownTTLSparesThePexpire(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const w = time.Minute
	c := ratelimit.Counter{Key: "known-ttl", Lane: "60s", Window: w}
	// pexpires checks that a Hit of c by store at at sends want PEXPIREs.
	pexpires := func(name string, want int64, store *ratelimit.Redis, at time.Duration) {
		t.Helper()
		calls := commandCalls(t, admin)
		mustHit(t, store, redisAt(at), c)
		if n := commandCalls(t, admin)["pexpire"] - calls["pexpire"]; n != want {
			t.Errorf("%s: PEXPIRE ran %d times, want %d", name, n, want)
		}
	}
	mustHit(t, s, redisAt(0), c) // creates the hash: its PEXPIRE NX sets the TTL
	pexpires("a Hit on a hash the store gave its TTL", 0, s, time.Second)

	other := dialStore(t, srv)
	defer other.Close()
	pexpires("a Hit from a store that does not know the TTL", 1, other, 2*time.Second)

	// Gone behind the store's back (evicted, flushed): the Hit re-creates
	// the hash without a PEXPIRE NX, and its new bucket's housekeeping
	// gives the hash its TTL before Hit returns.
	if err := admin.Del(t.Context(), c.Key).Err(); err != nil {
		t.Fatal(err)
	}
	if got := mustHit(t, s, redisAt(3*time.Second), c)[0]; got.Cur != 0 {
		t.Errorf("a hit on a hash gone observed %+v, want Cur 0", got)
	}
	if ttl, err := admin.PTTL(t.Context(), c.Key).Result(); err != nil || ttl <= w || ttl > 2*w {
		t.Errorf("a hash re-created by a Hit: PTTL = %v, %v, want between one and two windows", ttl, err)
	}

	// A failed Hit (here a key of the wrong type) forgets every TTL known.
	broken := ratelimit.Counter{Key: "known-ttl-broken", Lane: "60s", Window: w}
	if err := admin.Set(t.Context(), broken.Key, "a string", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Hit(t.Context(), redisAt(4*time.Second), []ratelimit.Counter{broken}, make([]ratelimit.Observation, 1)); err == nil {
		t.Fatal("a Hit on a string key succeeded, want WRONGTYPE")
	}
	pexpires("a Hit after a failed one", 1, s, 5*time.Second)
	// A PEXPIRE NX that finds a TTL says nothing of its length: the store
	// learns it again from the housekeeping of the hash's next bucket.
	mustHit(t, s, redisAt(w+5*time.Second), c)
	pexpires("a Hit after the next bucket's housekeeping", 0, s, w+6*time.Second)
}

func TestRedisPeeksRideWithTheHits(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	ip := ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7")
	subnet := ratelimit.IdentityKey(ratelimit.DimSubnet, "203.0.113.0/24")
	session := ratelimit.IdentityKey(ratelimit.DimSession, "9f86d081884c7d65")
	hits := []ratelimit.Counter{
		{Key: ip, Lane: "60s", Window: time.Minute},
		{Key: subnet, Lane: "60s", Window: time.Minute},
	}
	denied := ratelimit.Counter{Key: ip, Lane: ratelimit.NamedLane("h.denied", 10*time.Minute), Window: 10 * time.Minute}
	mustHit(t, s, redisAt(0), append(hits, denied)...) // the history, written earlier
	// The client's counters are fields of its network's hash.
	before := redisStored(admin).Stored(t, subnet)
	peeks := []ratelimit.Counter{
		{Key: ip, Lane: denied.Lane, Window: denied.Window, Peek: true},
		{Key: ip, Lane: ratelimit.NamedLane("h.ratelimited", 10*time.Minute), Window: 10 * time.Minute, Peek: true},
		{Key: session, Lane: ratelimit.NamedLane("h.denied", 10*time.Minute), Window: 10 * time.Minute, Peek: true},
	}
	counters := []ratelimit.Counter{peeks[0], hits[0], peeks[1], hits[1], peeks[2]}

	calls := commandCalls(t, admin)
	obs := mustHit(t, s, redisAt(time.Second), counters...)
	after := commandCalls(t, admin)

	for j, want := range []int64{1, 1, 0, 1, 0} {
		if obs[j].Cur != want {
			t.Errorf("counter %d (%s %s): %+v, want Cur %d", j, counters[j].Key, counters[j].Lane, obs[j], want)
		}
	}
	// A HINCRBY per hit and one read per hash (the network's, holding the
	// client's counters too, and the session's). No PEXPIRE NX: this store
	// gave the hash with hits its TTL when it wrote the history (hashTTLs).
	// No lane starts a bucket, so there is no housekeeping, and the TTL is
	// left alone.
	for cmd, want := range map[string]int64{"evalsha": 0, "eval": 0, "hmget": 2, "hset": 0, "hincrby": 2, "hdel": 0, "pttl": 0, "pexpire": 0} {
		if got := after[cmd] - calls[cmd]; got != want {
			t.Errorf("a Hit of 2 counters and 3 peeks over 3 keys in 2 hashes ran %s %d times, want %d", strings.ToUpper(cmd), got, want)
		}
	}
	if n, err := admin.Exists(t.Context(), session).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS %s = %d, %v: a peek created the key", session, n, err)
	}
	// The client's peeked lanes got no field, and the hash's expiry stayed.
	got := redisStored(admin).Stored(t, subnet)
	_, expBefore, _ := strings.Cut(before, " expiring at ")
	if _, exp, _ := strings.Cut(got, " expiring at "); exp != expBefore || strings.Contains(got, "h.ratelimited") {
		t.Errorf("network's hash after the Hit: %s (before: %s); want only its 60s counts moved", got, before)
	}
}

func TestRedisKeysFollowTheDocumentedLayout(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	velocity := func(d ratelimit.Dimension, id, route string, w time.Duration) ratelimit.Counter {
		return ratelimit.Counter{Key: ratelimit.IdentityKey(d, id), Lane: ratelimit.VelocityLane(d, route, w), Window: w}
	}
	counters := []ratelimit.Counter{
		velocity(ratelimit.DimIP, "203.0.113.7", "", time.Minute),
		velocity(ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute),
		velocity(ratelimit.DimSession, "9f86d081884c7d65", "", time.Minute),
		velocity(ratelimit.DimRouteIP, "203.0.113.7", "login", 1500*time.Millisecond),
		{Key: ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7"), Lane: ratelimit.NamedLane("h.denied", 10*time.Minute), Window: 10 * time.Minute},
		velocity(ratelimit.DimIP, "2001:db8:1:2::/64", "", time.Minute),
		velocity(ratelimit.DimSubnet, "2001:db8:1:2::/64", "", time.Minute),
		// A network's own lane that looks like a client's field.
		{Key: ratelimit.IdentityKey(ratelimit.DimSubnet, "203.0.113.0/24"), Lane: "{7}60s", Window: time.Minute},
		// Not an address in ClientID's form: a hash of its own.
		velocity(ratelimit.DimIP, "203.0.113.07", "", time.Minute),
		velocity(ratelimit.DimIP, "2001:db8:1:2::1/64", "", time.Minute),
	}
	now := redisAt(0)
	mustHit(t, s, now, counters...)

	keys, err := admin.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{
		"ba:v4:{ip:2001:db8:1:2::1/64}",
		"ba:v4:{ip:203.0.113.07}",
		"ba:v4:{net:2001:db8:1:2::/64}",
		"ba:v4:{net:203.0.113.0/24}",
		"ba:v4:{sid:9f86d081884c7d65}",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("KEYS * = %q, want %q", keys, want)
	}
	// Each lane: its bucket's field, counted once, and its marker.
	first := func(lane string, w time.Duration) map[string]string {
		b := bucketOf(now, w)
		return map[string]string{bucketField(lane, b): "1", lane + "@": marker(b, 1)}
	}
	merge := func(ms ...map[string]string) map[string]string {
		all := map[string]string{}
		for _, m := range ms {
			maps.Copy(all, m)
		}
		return all
	}
	wantFields := map[string]map[string]string{
		// A client's counters are fields of its network's hash, behind its
		// last octet (IPv4) or nothing (an IPv6 /64) in braces.
		"ba:v4:{net:203.0.113.0/24}": merge(
			first("60s", time.Minute),
			first("{7}60s", time.Minute),
			first("{7}rt:login:1500ms", 1500*time.Millisecond),
			first("{7}h.denied:600s", 10*time.Minute),
			first("{!{7}60s", time.Minute),
		),
		"ba:v4:{net:2001:db8:1:2::/64}": merge(first("60s", time.Minute), first("{}60s", time.Minute)),
		"ba:v4:{sid:9f86d081884c7d65}":  first("60s", time.Minute),
		"ba:v4:{ip:203.0.113.07}":       first("60s", time.Minute),
		"ba:v4:{ip:2001:db8:1:2::1/64}": first("60s", time.Minute),
	}
	for k, want := range wantFields {
		if got := fieldsOf(t, admin, k); !maps.Equal(got, want) {
			t.Errorf("fields of %s = %v, want %v", k, got, want)
		}
	}
}

func TestRedisLaneWithPartsHoldsAFieldPerPart(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	client := ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7")
	const w = 10 * time.Minute
	part := func(p uint8) ratelimit.Counter {
		return ratelimit.Counter{Key: client, Lane: "h:600s", Window: w, Part: p}
	}
	now := redisAt(0)
	mustHit(t, s, now, part(2), part(0))
	mustHit(t, s, now, part(2))
	hash, field := ratelimit.RedisField(client, "h:600s")
	b := bucketOf(now, w)
	// Part 0 is the lane's own field; part p's ends in "#p"; part 1,
	// never counted, has none. The marker lists the parts that have one.
	want := map[string]string{bucketField(field, b): "1", bucketField(field, b) + "#2": "2", field + "@": marker(b, 0b101)}
	if got := fieldsOf(t, admin, hash); !maps.Equal(got, want) {
		t.Errorf("fields of %s = %v, want %v", hash, got, want)
	}
	// In the next bucket, then one after, every part's old fields go.
	mustHit(t, s, now.Add(w), part(1))
	mustHit(t, s, now.Add(2*w), part(3))
	want = map[string]string{bucketField(field, b+1) + "#1": "1", bucketField(field, b+2) + "#3": "1", field + "@": marker(b+2, 0b1111)}
	if got := fieldsOf(t, admin, hash); !maps.Equal(got, want) {
		t.Errorf("two buckets on, fields of %s = %v, want %v", hash, got, want)
	}
	obs := make([]ratelimit.Observation, 4)
	if err := s.Hit(t.Context(), now.Add(2*w), []ratelimit.Counter{part(1), part(0), part(2), part(3)}, obs); err != nil {
		t.Fatal(err)
	}
	for i, want := range []ratelimit.Observation{{Prev: 1}, {}, {}, {Cur: 1}} {
		if obs[i].Prev != want.Prev || obs[i].Cur != want.Cur {
			t.Errorf("part %d: %+v, want %d/%d", i, obs[i], want.Prev, want.Cur)
		}
	}
}

func TestDialRedisErrorsNeverShowThePassword(t *testing.T) {
	srv := redistest.Start(t)
	if err := adminClient(t, srv).ConfigSet(t.Context(), "requirepass", "the-right-one").Err(); err != nil {
		t.Fatal(err)
	}
	const password = "s3cr3t-pw"
	tests := []struct {
		name, url string
		// badURL: DialRedis refuses it; otherwise the error comes on use.
		badURL bool
	}{
		{"wrong password", "redis://:" + password + "@" + srv.Addr() + "/0", false},
		{"unknown user", "redis://alice:" + password + "@" + srv.Addr() + "/0", false},
		{"unreachable server", "redis://:" + password + "@127.0.0.1:1/0", false},
		{"bad database", "redis://:" + password + "@" + srv.Addr() + "/x", true},
		{"unparseable URL", "redis://:" + password + "%zz@" + srv.Addr() + "/0", true},
		{"unparseable port", "redis://:" + password + "@127.0.0.1:port/0", true},
		{"bad scheme", "http://:" + password + "@" + srv.Addr(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ratelimit.DialRedis(tt.url)
			if tt.badURL != (err != nil) {
				t.Fatalf("DialRedis(%q) error = %v, want an error: %v", tt.url, err, tt.badURL)
			}
			if err == nil {
				defer s.Close()
				if err = s.LoadScript(t.Context()); err == nil {
					t.Fatal("LoadScript succeeded")
				}
				if herr := s.Hit(t.Context(), time.Now(), []ratelimit.Counter{{Key: "k", Window: time.Second}}, make([]ratelimit.Observation, 1)); herr == nil || strings.Contains(herr.Error(), password) {
					t.Errorf("Hit error %v: want an error without the password", herr)
				}
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), "redis") {
				t.Errorf("error lacks context: %v", err)
			}
		})
	}
}

func TestRedisPing(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, srv)
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Stop()
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping of a stopped server succeeded")
	}
}

func BenchmarkRedisHit(b *testing.B) {
	srv := redistest.Start(b)
	s := dialStore(b, srv)
	defer s.Close()
	benchmarkHit(b, s)
}

func benchmarkHit(b *testing.B, s ratelimit.Store) {
	obs := make([]ratelimit.Observation, len(benchCounters))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Hit(ctx, time.Now(), benchCounters, obs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisHitPeek is BenchmarkRedisHit with three peeked history
// counters in the same script call.
func BenchmarkRedisHitPeek(b *testing.B) {
	srv := redistest.Start(b)
	s := dialStore(b, srv)
	defer s.Close()
	benchmarkHitPeek(b, s, time.Now)
}

// BenchmarkRedisPing is the round-trip floor BenchmarkRedisHit is read against.
func BenchmarkRedisPing(b *testing.B) {
	srv := redistest.Start(b)
	s := dialStore(b, srv)
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisCheckCost reports what a Check's commands cost Redis
// itself, in µs of its CPU per Check (INFO cpu, the commands' parsing and
// replies included): the client's ip and subnet 60s counters hit (and its
// session's, with one), and the history counters peeked, 3 parts of the
// client's lane without a session and 9 of two lanes with one, over 1,000
// clients, their history empty or written. The Checks run one at a time,
// so each pays a round trip of its own. Run it with -benchtime 20000x.
func BenchmarkRedisCheckCost(b *testing.B) {
	// The history counters as package history lays them out: parts of
	// one lane per identity.
	history := ratelimit.NamedLane("h", 10*time.Minute)
	clientParts := []uint8{0, 1, 2}
	sessionClientParts := []uint8{3, 4}
	sessionParts := []uint8{0, 1, 2, 3}
	for _, withSession := range []bool{false, true} {
		for _, written := range []bool{false, true} {
			name := map[bool]string{false: "no-session", true: "session"}[withSession] +
				map[bool]string{false: "/history-empty", true: "/history-written"}[written]
			b.Run(name, func(b *testing.B) {
				srv := redistest.Start(b)
				admin := adminClient(b, srv)
				s := dialStore(b, srv)
				defer s.Close()
				const clients = 1000
				checks := make([][]ratelimit.Counter, clients)
				for i := range checks {
					net := "10.1." + strconv.Itoa(i>>8)
					ip := ratelimit.IdentityKey(ratelimit.DimIP, net+"."+strconv.Itoa(i&255))
					peek := func(key string, part uint8) ratelimit.Counter {
						return ratelimit.Counter{Key: key, Lane: history, Window: 10 * time.Minute, Peek: true, Part: part}
					}
					cs := []ratelimit.Counter{
						{Key: ip, Lane: "60s", Window: time.Minute},
						{Key: ratelimit.IdentityKey(ratelimit.DimSubnet, net+".0/24"), Lane: "60s", Window: time.Minute},
					}
					for _, p := range clientParts {
						cs = append(cs, peek(ip, p))
					}
					if withSession {
						sid := ratelimit.IdentityKey(ratelimit.DimSession, "s"+strconv.Itoa(i))
						cs = append(cs, ratelimit.Counter{Key: sid, Lane: "60s", Window: time.Minute})
						for _, p := range sessionClientParts {
							cs = append(cs, peek(ip, p))
						}
						for _, p := range sessionParts {
							cs = append(cs, peek(sid, p))
						}
					}
					checks[i] = cs
					if written {
						counted := slices.Clone(cs)
						for j := range counted {
							counted[j].Peek = false
						}
						mustHit(b, s, time.Now(), counted...)
					}
				}
				obs := make([]ratelimit.Observation, len(checks[0]))
				before := redisCPU(b, admin)
				i := 0
				for b.Loop() {
					if err := s.Hit(b.Context(), time.Now(), checks[i%clients], obs); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.StopTimer()
				b.ReportMetric(float64(redisCPU(b, admin)-before)/float64(b.N)/1e3, "redis-cpu-µs/op")
			})
		}
	}
}

// TestRedisLargeNetworkHashIsAHashTable: a network's hash that holds more
// than 64 fields gets the "{#}" mark, which makes Redis keep it as a hash
// table rather than a listpack searched field by field, once; a small one
// stays a listpack; and the mark is never read as a counter.
func TestRedisLargeNetworkHashIsAHashTable(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	client := func(network string, host int) ratelimit.Counter {
		return ratelimit.Counter{Key: ratelimit.IdentityKey(ratelimit.DimIP, network+"."+strconv.Itoa(host)), Lane: "60s", Window: time.Minute}
	}
	calls := commandCalls(t, admin)
	for host := range 60 {
		mustHit(t, s, redisAt(0), client("203.0.113", host))
	}
	// Marked by now (two fields a client): the store remembers it, and a
	// new client's housekeeping no longer asks.
	later := commandCalls(t, admin)
	for host := 60; host < 70; host++ {
		mustHit(t, s, redisAt(0), client("203.0.113", host))
	}
	after := commandCalls(t, admin)
	if n := after["hlen"] - later["hlen"]; n != 0 {
		t.Errorf("10 new clients in a marked network: HLEN ran %d times, want 0", n)
	}
	if n := after["hset"] - calls["hset"]; n != 1 {
		t.Errorf("the network was marked %d times, want once", n)
	}
	for host := range 5 {
		mustHit(t, s, redisAt(0), client("198.51.100", host))
	}
	// A small hash is a listpack (a ziplist before Redis 7).
	for network, table := range map[string]bool{"203.0.113": true, "198.51.100": false} {
		key := ratelimit.IdentityKey(ratelimit.DimSubnet, network+".0/24")
		enc, err := admin.ObjectEncoding(t.Context(), key).Result()
		if err != nil {
			t.Fatalf("OBJECT ENCODING %s: %v", key, err)
		}
		mark, err := admin.HExists(t.Context(), key, "{#}").Result()
		if err != nil {
			t.Fatalf("HEXISTS %s: %v", key, err)
		}
		if (enc == "hashtable") != table || mark != table {
			t.Errorf("%s: encoding %s, mark %v; want a hash table %v", key, enc, mark, table)
		}
	}
	// Every client still reads its own count, and the network's own lanes
	// are untouched by the mark.
	net := ratelimit.IdentityKey(ratelimit.DimSubnet, "203.0.113.0/24")
	obs := mustHit(t, s, redisAt(time.Second), client("203.0.113", 69), client("203.0.113", 0),
		ratelimit.Counter{Key: net, Lane: "{#}", Window: time.Minute, Peek: true},
		ratelimit.Counter{Key: net, Lane: "#", Window: time.Minute, Peek: true})
	for i, want := range []int64{1, 1, 0, 0} {
		if obs[i].Cur != want || obs[i].Prev != 0 {
			t.Errorf("counter %d: %+v, want Cur %d", i, obs[i], want)
		}
	}
}

// TestRedisHashesStayListpacks checks that a network's and a session's
// hashes, holding what a Check and the history writer count in them, stay
// within what Redis keeps as a listpack by default (hash-max-listpack-value
// 64): a history field of five parts (an address's: denials, breaches,
// failed challenges, new and returning sessions) included.
func TestRedisHashesStayListpacks(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	client := ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7")
	subnet := ratelimit.IdentityKey(ratelimit.DimSubnet, "203.0.113.0/24")
	session := ratelimit.IdentityKey(ratelimit.DimSession, "9f86d081884c7d65")
	var counters []ratelimit.Counter
	for _, k := range []string{client, subnet, session} {
		counters = append(counters,
			ratelimit.Counter{Key: k, Lane: "60s", Window: time.Minute},
			ratelimit.Counter{Key: k, Lane: "rt:login:10s", Window: 10 * time.Second})
		for p := range uint8(5) {
			counters = append(counters, ratelimit.Counter{Key: k, Lane: "h:600s", Window: 10 * time.Minute, Part: p})
		}
	}
	mustHit(t, s, redisAt(0), counters...)
	for _, key := range []string{subnet, session} {
		enc, err := admin.ObjectEncoding(t.Context(), key).Result()
		if err != nil {
			t.Fatalf("OBJECT ENCODING %s: %v", key, err)
		}
		if enc != "listpack" {
			t.Errorf("%s is a %s, want a listpack", key, enc)
		}
	}
	// The client's fields, with its network's, stay below the 64 fields
	// at which a network's hash is made a hash table.
	if n := len(fieldsOf(t, admin, subnet)); n > 64 {
		t.Errorf("%s holds %d fields, want at most 64", subnet, n)
	}
}

// TestRedisCountsStopShortOfOverflowing checks that a count above
// 2^32 - 1 is observed as 2^32 - 1, as the Memory store's counts stop
// there.
func TestRedisCountsStopShortOfOverflowing(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const most = math.MaxUint32
	c := ratelimit.Counter{Key: ratelimit.IdentityKey(ratelimit.DimSubnet, "203.0.113.0/24"), Lane: "60s", Window: time.Minute}
	now := redisAt(time.Second)
	b := bucketOf(now, time.Minute)
	if err := admin.HSet(t.Context(), c.Key, bucketField(c.Lane, b), most, bucketField(c.Lane, b-1), int64(1)<<40).Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got := mustHit(t, s, now, c)[0]
		if got.Cur != most || got.Prev != most {
			t.Errorf("hit on a full lane observed %d/%d, want %d/%d", got.Prev, got.Cur, most, most)
		}
	}
	// A late hit into the previous bucket stops there too.
	if got := mustHit(t, s, now.Add(-time.Minute), c)[0]; got.Cur != most {
		t.Errorf("late hit on a full lane observed Cur %d, want %d", got.Cur, most)
	}
}

// TestRedisHousekeepingFailureLosesNoCount runs the store as a Redis user
// that may not run scripts (an ACL that forgot them), on its own and
// through a Guard: every Hit still counts, gets its counts and no error,
// each key still gets a TTL (the Check's own PEXPIRE NX), and the failed
// housekeeping is counted, for botauthz_store_housekeeping_failures_total.
func TestRedisHousekeepingFailureLosesNoCount(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "noscripts", "on", ">pw", "~*", "+@all", "-@scripting").Err(); err != nil {
		t.Fatal(err)
	}
	for _, guarded := range []bool{false, true} {
		t.Run(map[bool]string{false: "store", true: "guard"}[guarded], func(t *testing.T) {
			r, err := ratelimit.DialRedis("redis://noscripts:pw@" + srv.Addr() + "/0")
			if err != nil {
				t.Fatal(err)
			}
			if err := r.LoadScript(t.Context()); err == nil {
				t.Fatal("LoadScript succeeded for a user that may not load scripts")
			}
			var s ratelimit.Store = r
			if guarded {
				s = ratelimit.NewGuard(r, ratelimit.GuardOptions{Budget: time.Minute})
			}
			defer s.Close()

			c := ratelimit.Counter{Key: "no-housekeeping-" + strconv.FormatBool(guarded), Lane: "60s", Window: time.Minute}
			// Buckets 0, 0, 1 and 2: the new lane's housekeeping needs no
			// script; buckets 1 and 2 follow a count, and theirs does.
			for i, want := range []ratelimit.Observation{{}, {Cur: 1}, {Prev: 2}, {Prev: 1}} {
				now := redisAt(time.Duration(max(i-1, 0)) * time.Minute)
				if got := mustHit(t, s, now, c)[0]; got.Prev != want.Prev || got.Cur != want.Cur {
					t.Errorf("hit %d: %d/%d, want %d/%d", i, got.Prev, got.Cur, want.Prev, want.Cur)
				}
			}
			// Two scripts refused.
			ratelimit.WaitFor(t, "2 housekeeping failures", func() bool { return r.HousekeepingFailures() == 2 })
			if ttl, err := admin.PTTL(t.Context(), c.Key).Result(); err != nil || ttl <= 0 {
				t.Errorf("PTTL = %v, %v: the key has no TTL without its housekeeping", ttl, err)
			}
			// The marker is the new lane's, which no script moved.
			if m, want := fieldsOf(t, admin, c.Key)["60s@"], marker(bucketOf(redisAt(0), time.Minute), 1); m != want {
				t.Errorf("marker %q, want %q: the housekeeping's script ran", m, want)
			}
		})
	}
}
