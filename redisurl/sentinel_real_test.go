package redisurl

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
)

// TestSentinelCredentialsGoWhereTheyBelong puts a password on the data
// nodes and an ACL user on the real sentinels, and checks that a sentinel
// URL sends the userinfo to the data nodes and the sentinel_* parameters
// to the sentinels, and that each wrong one fails without showing it.
func TestSentinelCredentialsGoWhereTheyBelong(t *testing.T) {
	const dataPw, sentinelUser, sentinelPw = "d4ta-pw-0123", "watcher", "s3ntinel-pw-4567"
	sn := redistest.StartSentinel(t)
	ctx := t.Context()
	do := func(addr string, args ...any) {
		t.Helper()
		c := redis.NewClient(&redis.Options{Addr: addr, Password: dataPw, MaxRetries: -1})
		defer c.Close()
		if err := c.Do(ctx, args...).Err(); err != nil {
			// Before requirepass is set, AUTH fails; then talk without it.
			c2 := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer c2.Close()
			if err2 := c2.Do(ctx, args...).Err(); err2 != nil {
				t.Fatalf("%v on %s: %v; without a password: %v", args, addr, err, err2)
			}
		}
	}
	master, replica := sn.Master(), sn.Data()[1]
	do(replica.Addr(), "CONFIG", "SET", "masterauth", dataPw)
	do(replica.Addr(), "CONFIG", "SET", "requirepass", dataPw)
	do(master.Addr(), "CONFIG", "SET", "requirepass", dataPw)
	for _, s := range sn.Sentinels() {
		do(s.Addr(), "SENTINEL", "SET", redistest.SentinelMaster, "auth-pass", dataPw)
		do(s.Addr(), "ACL", "SETUSER", sentinelUser, "on", ">"+sentinelPw, "allcommands", "allkeys", "allchannels")
		do(s.Addr(), "ACL", "SETUSER", "default", "off")
	}

	base := "redis+sentinel://:%s@" + strings.Join(sn.Addrs(), ",") + "/" + redistest.SentinelMaster +
		"?sentinel_username=" + sentinelUser + "&sentinel_password=%s"
	url := func(data, sentinel string) string {
		return strings.Replace(strings.Replace(base, "%s", data, 1), "%s", sentinel, 1)
	}
	open := func(u string) redis.UniversalClient {
		t.Helper()
		c, err := NewClient(u, Options{MaxRetries: -1, DialerRetries: 1})
		if err != nil {
			t.Fatalf("NewClient(%s): %v", Redact(u), err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	c := open(url(dataPw, sentinelPw))
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with both passwords right: %v", err)
	}
	direct := redis.NewClient(&redis.Options{Addr: master.Addr(), Password: dataPw})
	defer direct.Close()
	if v, err := direct.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("GET k on the master: %q, %v", v, err)
	}

	for name, u := range map[string]string{
		"a wrong sentinel password": url(dataPw, "wrong-sentinel-pw"),
		"a wrong data password":     url("wrong-data-pw", sentinelPw),
	} {
		err := open(u).Ping(ctx).Err()
		if err == nil {
			t.Errorf("%s: PING succeeded", name)
			continue
		}
		for _, pw := range []string{dataPw, sentinelPw, "wrong-sentinel-pw", "wrong-data-pw"} {
			if strings.Contains(err.Error(), pw) {
				t.Errorf("%s: error %q shows a password", name, err)
			}
		}
		t.Logf("%s: %v", name, err)
	}
}
