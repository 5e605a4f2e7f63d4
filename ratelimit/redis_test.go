package ratelimit_test

import (
	"fmt"
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

// redisStored is storetest's Options.Stored for the keys admin reaches: a
// key's fields and its absolute expiry (PEXPIRETIME, which unlike PTTL
// stays put as time passes), or "" if the key does not exist.
func redisStored(admin redis.UniversalClient) storetest.Options {
	return storetest.Options{Stored: func(t *testing.T, key string) string {
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
	}}
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

func bucketField(now time.Time, w time.Duration) string {
	return strconv.FormatInt(now.UnixMilli()/w.Milliseconds(), 10)
}

func TestRedisSetsTTLBetweenOneAndTwoWindows(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const w = time.Minute
	c := ratelimit.Counter{Key: "ttl", Window: w}
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

func TestRedisDeletesTheBucketTwoBack(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	const w = time.Minute
	c := ratelimit.Counter{Key: "buckets", Window: w}
	mustHit(t, s, redisAt(0), c)
	mustHit(t, s, redisAt(w), c)
	mustHit(t, s, redisAt(2*w), c)

	fields, err := admin.HKeys(t.Context(), c.Key).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(fields)
	want := []string{bucketField(redisAt(w), w), bucketField(redisAt(2*w), w)}
	if !slices.Equal(fields, want) {
		t.Errorf("fields after hits in buckets b, b+1, b+2 = %v, want %v", fields, want)
	}

	// Buckets further back than two (left by a clock jump) are dropped too.
	mustHit(t, s, redisAt(10*w), c)
	fields, _ = admin.HKeys(t.Context(), c.Key).Result()
	if want := []string{bucketField(redisAt(10*w), w)}; !slices.Equal(fields, want) {
		t.Errorf("fields after a jump of 8 windows = %v, want %v", fields, want)
	}
}

func TestRedisRecoversFromScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	c := ratelimit.Counter{Key: "flush", Window: time.Minute}
	mustHit(t, s, redisAt(0), c)
	if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	// NOSCRIPT executed nothing; the fallback runs the script once.
	if got := mustHit(t, s, redisAt(time.Second), c)[0]; got.Cur != 1 {
		t.Errorf("hit after SCRIPT FLUSH observed Cur %d, want 1", got.Cur)
	}
	if got := mustHit(t, s, redisAt(2*time.Second), c)[0]; got.Cur != 2 {
		t.Errorf("next hit observed Cur %d, want 2: a hit was counted twice or lost", got.Cur)
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

// commandCalls returns, per command, how many times c's server has run it
// (INFO commandstats), commands run by scripts included.
func commandCalls(t testing.TB, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := make(map[string]int64)
	for l := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatalf("INFO commandstats line %q: %v", l, err)
		}
		calls[strings.TrimPrefix(name, "cmdstat_")] = v
	}
	return calls
}

func TestRedisPeeksRideInTheHitsScript(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	hits := []ratelimit.Counter{
		{Key: ratelimit.Key(ratelimit.DimIP, "203.0.113.7", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute), Window: time.Minute},
	}
	history := ratelimit.Counter{Key: "ba:v1:{ip:203.0.113.7}:h:denied:600s", Window: 10 * time.Minute}
	mustHit(t, s, redisAt(0), append(hits, history)...) // the history, written earlier
	peeks := []ratelimit.Counter{
		{Key: history.Key, Window: history.Window, Peek: true},
		{Key: "ba:v1:{ip:203.0.113.7}:h:429:600s", Window: 10 * time.Minute, Peek: true},
	}
	counters := []ratelimit.Counter{peeks[0], hits[0], peeks[1], hits[1]}

	before := commandCalls(t, admin)
	obs := mustHit(t, s, redisAt(time.Second), counters...)
	after := commandCalls(t, admin)

	for j, want := range []int64{1, 1, 0, 1} {
		if obs[j].Cur != want {
			t.Errorf("counter %d (%s): %+v, want Cur %d", j, counters[j].Key, obs[j], want)
		}
	}
	// One EVALSHA; inside it, every counter read and only the hits written.
	for cmd, want := range map[string]int64{"evalsha": 1, "eval": 0, "hmget": 4, "hincrby": 2, "pexpire": 0} {
		if got := after[cmd] - before[cmd]; got != want {
			t.Errorf("a Hit of 2 counters and 2 peeks ran %s %d times, want %d", strings.ToUpper(cmd), got, want)
		}
	}
	if n, err := admin.Exists(t.Context(), peeks[1].Key).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS %s = %d, %v: a peek created the key", peeks[1].Key, n, err)
	}
}

func TestRedisKeysFollowTheDocumentedLayout(t *testing.T) {
	srv := redistest.Start(t)
	admin := adminClient(t, srv)
	s := dialStore(t, srv)
	defer s.Close()

	counters := []ratelimit.Counter{
		{Key: ratelimit.Key(ratelimit.DimIP, "203.0.113.7", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSession, "9f86d081884c7d65", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimRouteIP, "203.0.113.7", "login", 1500*time.Millisecond), Window: 1500 * time.Millisecond},
	}
	mustHit(t, s, redisAt(0), counters...)

	keys, err := admin.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{
		"ba:v1:{ip:203.0.113.7}:60s",
		"ba:v1:{ip:203.0.113.7}:rt:login:1500ms",
		"ba:v1:{net:203.0.113.0/24}:60s",
		"ba:v1:{sid:9f86d081884c7d65}:60s",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("KEYS * = %q, want %q", keys, want)
	}
	for _, k := range want {
		if typ, _ := admin.Type(t.Context(), k).Result(); typ != "hash" {
			t.Errorf("TYPE %s = %q, want hash", k, typ)
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
	counters := []ratelimit.Counter{
		{Key: ratelimit.Key(ratelimit.DimIP, "203.0.113.7", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSession, "9f86d081884c7d65", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimRouteIP, "203.0.113.7", "login", 10*time.Second), Window: 10 * time.Second},
	}
	obs := make([]ratelimit.Observation, len(counters))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Hit(ctx, time.Now(), counters, obs); err != nil {
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
