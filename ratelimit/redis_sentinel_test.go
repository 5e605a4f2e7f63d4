package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/ratelimit/storetest"
)

// TestRedisSentinel runs the store on a master with a replica behind three
// real sentinels, through a redis+sentinel URL: the client asks the
// sentinels for the master and sends every command there.
func TestRedisSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t)
	master := redis.NewClient(&redis.Options{Addr: sn.Master().Addr()})
	t.Cleanup(func() { _ = master.Close() })
	dial := func(t *testing.T) *ratelimit.Redis { return dialURL(t, sn.URL()) }

	t.Run("conformance", func(t *testing.T) {
		storetest.RunWith(t, func(t *testing.T) ratelimit.Store {
			if err := master.FlushDB(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHDB: %v", err)
			}
			return dial(t)
		}, redisStored(master))
	})

	t.Run("the counters are on the master", func(t *testing.T) {
		s := dial(t)
		defer s.Close()
		c := ratelimit.Counter{Key: "sentinel-where", Lane: "60s", Window: time.Minute}
		mustHit(t, s, redisAt(0), c)
		mustHit(t, s, redisAt(time.Second), c)
		if got := fieldsOf(t, master, c.Key)[bucketField(c.Lane, bucketOf(redisAt(0), time.Minute))]; got != "2" {
			t.Errorf("lane's count on the master: %q, want 2", got)
		}
	})

	t.Run("a lost script cache is reloaded and nothing counts twice", func(t *testing.T) {
		s := dial(t)
		defer s.Close()
		c := ratelimit.Counter{Key: "sentinel-flush", Window: time.Minute}
		mustHit(t, s, redisAt(0), c)
		if err := master.ScriptFlush(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		before := noScriptCount(t, master)
		// Each hit starts a bucket, whose housekeeping is the script.
		for i, want := range []int64{1, 1} {
			if got := mustHit(t, s, redisAt(time.Duration(i+1)*time.Minute), c)[0]; got.Prev != want || got.Cur != 0 {
				t.Errorf("hit %d after SCRIPT FLUSH observed %d/%d, want %d/0", i+1, got.Prev, got.Cur, want)
			}
		}
		if got := fieldsOf(t, master, c.Key)["@"]; got != marker(bucketOf(redisAt(2*time.Minute), time.Minute), 1) {
			t.Errorf("the lane's marker after SCRIPT FLUSH: %q: the housekeeping did not run", got)
		}
		if noScriptCount(t, master) == before {
			t.Error("no EVALSHA got NOSCRIPT: the flush did not test the recovery")
		}
	})
}

// noScriptCount returns how many NOSCRIPT errors c's server has answered.
func noScriptCount(t testing.TB, c *redis.Client) string {
	t.Helper()
	info, err := c.Info(t.Context(), "errorstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "errorstat_NOSCRIPT:"); ok {
			return rest
		}
	}
	return "count=0"
}

func TestDialRedisSentinelURLs(t *testing.T) {
	const password = "s3cr3t-pw"
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"three sentinels", "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381/mymaster", true},
		{"credentials for both, TLS, database", "rediss+sentinel://app:" + password + "@s1:26379/mymaster/1?sentinel_password=" + password, true},
		{"no master", "redis+sentinel://:" + password + "@127.0.0.1:26379", false},
		{"reads from replicas", "redis+sentinel://:" + password + "@127.0.0.1:26379/m?replica_only=true", false},
		{"a bad password escape", "redis+sentinel://:" + password + "%zz@127.0.0.1:26379/m", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ratelimit.DialRedis(tt.url)
			if tt.ok != (err == nil) {
				t.Fatalf("DialRedis error = %v, want ok %v", err, tt.ok)
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
