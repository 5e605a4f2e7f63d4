package ratelimit_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/ratelimit/storetest"
)

// clusterAdmin is a cluster client for inspecting and resetting the cluster,
// separate from the store under test.
func clusterAdmin(t testing.TB, cl *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialClusterStore(t testing.TB, cl *redistest.Cluster) *ratelimit.Redis {
	t.Helper()
	return dialURL(t, cl.URL())
}

// dialURL dials the store at url (any form redisurl reads) and loads its
// script.
func dialURL(t testing.TB, url string) *ratelimit.Redis {
	t.Helper()
	s, err := ratelimit.DialRedis(url)
	if err != nil {
		t.Fatalf("DialRedis(%s): %v", url, err)
	}
	if err := s.LoadScript(t.Context()); err != nil {
		t.Fatalf("LoadScript: %v", err)
	}
	return s
}

func flushCluster(t testing.TB, admin *redis.ClusterClient) {
	t.Helper()
	err := admin.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		return c.FlushDB(ctx).Err()
	})
	if err != nil {
		t.Fatalf("FLUSHDB on every master: %v", err)
	}
}

// perMaster runs fn on every master and returns its results by address.
func perMaster[T any](t testing.TB, admin *redis.ClusterClient, fn func(ctx context.Context, c *redis.Client) (T, error)) map[string]T {
	t.Helper()
	var mu sync.Mutex
	out := make(map[string]T)
	err := admin.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		v, err := fn(ctx, c)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		out[c.Options().Addr] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// infoCount sums, over all masters, the integer after "<line>:<field>=" in
// INFO section (for example commandstats, cmdstat_evalsha, calls).
func infoCount(t testing.TB, admin *redis.ClusterClient, section, line, field string) int64 {
	t.Helper()
	counts := perMaster(t, admin, func(ctx context.Context, c *redis.Client) (int64, error) {
		info, err := c.Info(ctx, section).Result()
		if err != nil {
			return 0, err
		}
		for l := range strings.Lines(info) {
			rest, ok := strings.CutPrefix(strings.TrimSpace(l), line+":")
			if !ok {
				continue
			}
			for kv := range strings.SplitSeq(rest, ",") {
				if v, ok := strings.CutPrefix(kv, field+"="); ok {
					return strconv.ParseInt(v, 10, 64)
				}
			}
		}
		return 0, nil // no such line yet: never called, never failed
	})
	var sum int64
	for _, n := range counts {
		sum += n
	}
	return sum
}

// slotOwner returns the address of the master serving key.
func slotOwner(t testing.TB, admin *redis.ClusterClient, key string) string {
	t.Helper()
	slot, err := admin.ClusterKeySlot(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	slots, err := admin.ClusterSlots(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("no master serves slot %d", slot)
	return ""
}

// ipPerMaster returns one IP counter per master: IPs whose counters live
// in slots served by distinct masters, found by trying 10.0.0.7,
// 10.0.1.7, ..., and the key of each IP's network, whose hash holds its
// counters (placement.go).
func ipPerMaster(t testing.TB, admin *redis.ClusterClient, masters int) (counters []ratelimit.Counter, owners, nets []string) {
	t.Helper()
	seen := make(map[string]bool)
	for i := 0; len(counters) < masters; i++ {
		if i > 1000 {
			t.Fatalf("1000 networks cover only %d of %d masters", len(counters), masters)
		}
		network := "10." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
		net := ratelimit.IdentityKey(ratelimit.DimSubnet, network+".0/24")
		owner := slotOwner(t, admin, net)
		if !seen[owner] {
			seen[owner] = true
			key := ratelimit.IdentityKey(ratelimit.DimIP, network+".7")
			counters = append(counters, ratelimit.Counter{Key: key, Lane: "60s", Window: time.Minute})
			owners = append(owners, owner)
			nets = append(nets, net)
		}
	}
	return counters, owners, nets
}

func TestRedisCluster(t *testing.T) {
	const masters = 3
	cl := redistest.StartCluster(t, masters)
	admin := clusterAdmin(t, cl)

	t.Run("conformance", func(t *testing.T) {
		storetest.RunWith(t, func(t *testing.T) ratelimit.Store {
			flushCluster(t, admin)
			return dialClusterStore(t, cl)
		}, redisStored(admin))
	})

	t.Run("a hit spans every master, each command on its key's", func(t *testing.T) {
		flushCluster(t, admin)
		// No LoadScript, and a client from NewUniversalClient: new lanes
		// need no script.
		if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { _ = client.Close() })
		s := ratelimit.NewRedis(client)

		counters, owners, nets := ipPerMaster(t, admin, masters)
		// The route counter is a lane of the first IP's key, so it is a
		// field of the first IP's network's hash. A key of the tag of the
		// first IP's network but another key goes to the same master.
		route := ratelimit.Counter{Key: counters[0].Key, Lane: ratelimit.VelocityLane(ratelimit.DimRouteIP, "login", 10*time.Second), Window: 10 * time.Second}
		sameTag := ratelimit.Counter{Key: nets[0] + ":other", Lane: "60s", Window: time.Minute}
		counters = append([]ratelimit.Counter{route, sameTag}, counters...)

		// Every lane is new: its housekeeping needs no script.
		evals := infoCount(t, admin, "commandstats", "cmdstat_evalsha", "calls")
		mustHit(t, s, redisAt(0), counters...)
		calls := infoCount(t, admin, "commandstats", "cmdstat_hincrby", "calls")
		if got := infoCount(t, admin, "commandstats", "cmdstat_evalsha", "calls") - evals; got != 0 {
			t.Errorf("the new lanes' housekeeping ran EVALSHA %d times, want 0", got)
		}
		for i := 1; i <= 2; i++ {
			obs := mustHit(t, s, redisAt(time.Duration(i)*time.Second), counters...)
			for j, o := range obs {
				if o.Cur != int64(i) || o.Window != counters[j].Window {
					t.Errorf("hit %d, counter %d (%s): got %+v, want Cur %d", i+1, j, counters[j].Key, o, i)
				}
			}
		}
		if got := infoCount(t, admin, "commandstats", "cmdstat_hincrby", "calls") - calls; got != 2*int64(len(counters)) {
			t.Errorf("2 hits of %d counters ran HINCRBY %d times, want %d", len(counters), got, 2*len(counters))
		}
		// Within their buckets, the hits start none: no housekeeping.
		if got := infoCount(t, admin, "commandstats", "cmdstat_evalsha", "calls") - evals; got != 0 {
			t.Errorf("2 hits within their buckets ran EVALSHA %d times, want 0", got)
		}
		for _, n := range nets {
			if ttl, err := admin.PTTL(t.Context(), n).Result(); err != nil || ttl <= 0 {
				t.Errorf("PTTL %s = %v, %v: the housekeeping left it without a TTL", n, ttl, err)
			}
		}

		// The keys really live on different nodes: each master holds its IP's
		// network's hash, and the first also the other key of its tag.
		sizes := perMaster(t, admin, func(ctx context.Context, c *redis.Client) (int64, error) {
			return c.DBSize(ctx).Result()
		})
		want := map[string]int64{owners[0]: 2}
		for _, o := range owners[1:] {
			want[o] = 1
		}
		if len(sizes) != masters {
			t.Fatalf("DBSIZE answered by %d masters, want %d", len(sizes), masters)
		}
		for addr, n := range sizes {
			if n != want[addr] {
				t.Errorf("DBSIZE on %s = %d, want %d (all: %v)", addr, n, want[addr], sizes)
			}
		}
	})

	t.Run("peeks ride with the hits and create no key", func(t *testing.T) {
		flushCluster(t, admin)
		s := dialClusterStore(t, cl)
		defer s.Close()

		ips, owners, _ := ipPerMaster(t, admin, masters)
		// Per IP a peeked history counter on its tag, and one peek on a tag
		// of its own, which makes a hash of peeks only.
		var counters []ratelimit.Counter
		for _, c := range ips {
			counters = append(counters, c, ratelimit.Counter{Key: c.Key, Lane: ratelimit.NamedLane("h.denied", 10*time.Minute), Window: 10 * time.Minute, Peek: true})
		}
		loner := ratelimit.Counter{Key: ratelimit.IdentityKey(ratelimit.DimSession, "peek-only"), Lane: "60s", Window: time.Minute, Peek: true}
		counters = append(counters, loner)

		mustHit(t, s, redisAt(0), counters...)
		calls := infoCount(t, admin, "commandstats", "cmdstat_hmget", "calls")
		obs := mustHit(t, s, redisAt(time.Second), counters...)
		if got := infoCount(t, admin, "commandstats", "cmdstat_hmget", "calls") - calls; got != masters+1 {
			t.Errorf("a hit over %d hashes ran HMGET %d times, want %d", masters+1, got, masters+1)
		}
		for j, o := range obs {
			want := int64(1) // the hit before
			if counters[j].Peek {
				want = 0
			}
			if o.Cur != want || o.Prev != 0 {
				t.Errorf("counter %d (%s): got %+v, want Cur %d", j, counters[j].Key, o, want)
			}
		}
		// Only the hit counters exist: one per master.
		sizes := perMaster(t, admin, func(ctx context.Context, c *redis.Client) (int64, error) {
			return c.DBSize(ctx).Result()
		})
		for _, o := range owners {
			if sizes[o] != 1 {
				t.Errorf("DBSIZE on %s = %d, want 1 (all: %v)", o, sizes[o], sizes)
			}
		}
	})

	t.Run("an identity key's slot is its id's", func(t *testing.T) {
		for _, ip := range []string{"203.0.113.7", "2001:db8:1:2::/64", "odd{id}%"} {
			ipKey := ratelimit.IdentityKey(ratelimit.DimIP, ip)
			if routeKey := ratelimit.IdentityKey(ratelimit.DimRouteIP, ip); routeKey != ipKey {
				t.Errorf("route_ip key %s, want the ip key %s", routeKey, ipKey)
			}
			a, errA := admin.ClusterKeySlot(t.Context(), ipKey).Result()
			b, errB := admin.ClusterKeySlot(t.Context(), ipKey+":anything").Result()
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if a != b {
				t.Errorf("CLUSTER KEYSLOT %s = %d but with a suffix %d: the key is not all hash tag", ipKey, a, b)
			}
		}
	})

	t.Run("a lost script cache is reloaded and nothing counts twice", func(t *testing.T) {
		s := dialClusterStore(t, cl)
		defer s.Close()
		counters, owners, _ := ipPerMaster(t, admin, masters)
		tests := []struct {
			name  string
			flush func(t *testing.T)
		}{
			{"on every master", func(t *testing.T) {
				err := admin.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
					return c.ScriptFlush(ctx).Err()
				})
				if err != nil {
					t.Fatal(err)
				}
			}},
			// The other masters' housekeeping runs in the first attempt.
			{"on one master", func(t *testing.T) {
				c := redis.NewClient(&redis.Options{Addr: owners[1]})
				defer c.Close()
				if err := c.ScriptFlush(t.Context()).Err(); err != nil {
					t.Fatal(err)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				flushCluster(t, admin)
				mustHit(t, s, redisAt(0), counters...)
				tt.flush(t)
				noScript := infoCount(t, admin, "errorstats", "errorstat_NOSCRIPT", "count")
				// Each hit starts a bucket, whose housekeeping is the script.
				for i := range 2 {
					now := redisAt(time.Duration(i+1) * time.Minute)
					for j, o := range mustHit(t, s, now, counters...) {
						if o.Prev != 1 || o.Cur != 0 {
							t.Errorf("hit %d after SCRIPT FLUSH, counter %d: %d/%d, want 1/0", i+1, j, o.Prev, o.Cur)
						}
					}
				}
				if got := infoCount(t, admin, "errorstats", "errorstat_NOSCRIPT", "count") - noScript; got == 0 {
					t.Error("no EVALSHA got NOSCRIPT: the flush did not test the recovery")
				}
				// The housekeeping ran on every master: each lane holds
				// its two newest buckets and its marker.
				for j, c := range counters {
					hash, field := ratelimit.RedisField(c.Key, c.Lane)
					if n := len(fieldsOf(t, admin, hash)); n != 3 {
						t.Errorf("counter %d: %s holds %d fields, want 3", j, hash, n)
					}
					b := bucketOf(redisAt(2*time.Minute), time.Minute)
					if got := fieldsOf(t, admin, hash)[field+"@"]; got != marker(b, 1) {
						t.Errorf("counter %d: marker %q, want %q", j, got, marker(b, 1))
					}
				}
			})
		}
	})

	// Last: it pauses a master, which the others notice.
	t.Run("a timed-out hit is not sent again", func(t *testing.T) {
		flushCluster(t, admin)
		// DialRedis's timeouts, on a client the test can reach into.
		client := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:        cl.Addrs(),
			ReadTimeout:  500 * time.Millisecond,
			MaxRetries:   -1,
			MaxRedirects: 3,
		})
		t.Cleanup(func() { _ = client.Close() })
		s := ratelimit.NewRedis(client)
		if err := s.LoadScript(t.Context()); err != nil {
			t.Fatal(err)
		}
		counters, owners, _ := ipPerMaster(t, admin, masters)
		var paused *redistest.Server
		for _, n := range cl.Nodes() {
			if n.Addr() == owners[0] {
				paused = n
			}
		}
		if paused == nil {
			t.Fatalf("no node has address %s", owners[0])
		}
		// A fresh connection cannot reach a paused server (its handshake
		// waits), so a re-send could only go out on a connection already
		// set up. Leave several in the pool, so that a re-send would happen
		// and show.
		err := client.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
			if c.Options().Addr != owners[0] {
				return nil
			}
			conns := make([]*redis.Conn, 4)
			for i := range conns {
				conns[i] = c.Conn()
				if err := conns[i].Ping(ctx).Err(); err != nil {
					return err
				}
			}
			for _, cn := range conns {
				if err := cn.Close(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		paused.Pause()
		obs := make([]ratelimit.Observation, len(counters))
		err = s.Hit(t.Context(), redisAt(0), counters, obs)
		paused.Resume()
		if err == nil {
			t.Fatal("Hit with a paused master succeeded")
		}

		// The HINCRBY sent to the paused master may have run once it
		// resumed, but only once: go-redis must not have re-sent it after
		// the read timeout.
		got := mustHit(t, s, redisAt(time.Second), counters...)
		if got[0].Cur > 1 {
			t.Errorf("counter on the paused master: Cur %d after one timed-out hit, want at most 1", got[0].Cur)
		}
		for j, o := range got[1:] {
			if o.Cur != 1 {
				t.Errorf("counter %d on a live master: Cur %d, want 1", j+1, o.Cur)
			}
		}
	})
}

func TestDialRedisClusterURLs(t *testing.T) {
	const password = "s3cr3t-pw"
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"one seed", "redis+cluster://127.0.0.1:7000", true},
		{"several seeds, user, slash", "redis+cluster://alice:" + password + "@127.0.0.1:7000,127.0.0.1:7001,[::1]:7002/", true},
		{"TLS, database 0, options", "REDISS+CLUSTER://:" + password + "@redis.example:6380/0?client_name=botauthz", true},
		{"a database other than 0", "redis+cluster://:" + password + "@127.0.0.1:7000/1", false},
		{"an address without a port", "redis+cluster://:" + password + "@127.0.0.1:7000,127.0.0.1", false},
		{"an empty address", "redis+cluster://:" + password + "@127.0.0.1:7000,/", false},
		{"an unknown option", "redis+cluster://:" + password + "@127.0.0.1:7000?bogus=1", false},
		{"a bad password escape", "redis+cluster://:" + password + "%zz@127.0.0.1:7000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ratelimit.DialRedis(tt.url)
			if tt.ok != (err == nil) {
				t.Fatalf("DialRedis(%q) error = %v, want ok %v", tt.url, err, tt.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "redis") {
					t.Errorf("error %q: want context and no password", err)
				}
				return
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func BenchmarkRedisClusterHit(b *testing.B) {
	cl := redistest.StartCluster(b, 3)
	s := dialClusterStore(b, cl)
	defer s.Close()
	benchmarkHit(b, s) // 4 counters over 3 hash tags
}

// BenchmarkRedisClusterHitPeek is BenchmarkRedisClusterHit with three peeked
// history counters on the client IP's hash tag, so in an existing script.
func BenchmarkRedisClusterHitPeek(b *testing.B) {
	cl := redistest.StartCluster(b, 3)
	s := dialClusterStore(b, cl)
	defer s.Close()
	benchmarkHitPeek(b, s, time.Now)
}

// BenchmarkRedisClusterPing is the one-node round-trip floor
// BenchmarkRedisClusterHit is read against.
func BenchmarkRedisClusterPing(b *testing.B) {
	cl := redistest.StartCluster(b, 3)
	s := dialClusterStore(b, cl)
	defer s.Close()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
