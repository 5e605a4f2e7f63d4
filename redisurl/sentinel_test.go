package redisurl

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseSentinel(t *testing.T) {
	cases := []struct {
		name                     string
		url                      string
		sentinels                []string
		master                   string
		db                       int
		user, password           string
		sentinelUser, sentinelPw string
		tls                      bool
	}{
		{
			name: "three sentinels, master, database", url: "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/2",
			sentinels: []string{"s1:26379", "s2:26379", "s3:26379"}, master: "mymaster", db: 2,
		},
		{
			name: "one sentinel, database 0 by default", url: "redis+sentinel://127.0.0.1:26379/mymaster",
			sentinels: []string{"127.0.0.1:26379"}, master: "mymaster",
		},
		{
			name:      "the userinfo is the data nodes', the query the sentinels'",
			url:       "redis+sentinel://app:data-pw@s1:26379,[::1]:26380/cache?sentinel_username=watcher&sentinel_password=sent%2Fpw",
			sentinels: []string{"s1:26379", "[::1]:26380"}, master: "cache",
			user: "app", password: "data-pw", sentinelUser: "watcher", sentinelPw: "sent/pw",
		},
		{
			name: "a password alone, escaped", url: "redis+sentinel://:p%40ss%3Aword@s1:26379/m",
			sentinels: []string{"s1:26379"}, master: "m", password: "p@ss:word",
		},
		{
			name:      "TLS, an escaped master name, go-redis options, the scheme in any case",
			url:       "REDISS+Sentinel://s1:26379,s2:26379/my%2Dmaster.v1/15?client_name=botauthz&dial_timeout=3s",
			sentinels: []string{"s1:26379", "s2:26379"}, master: "my-master.v1", db: 15, tls: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := ParseSentinel(c.url)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.SentinelAddrs, c.sentinels) || o.MasterName != c.master || o.DB != c.db {
				t.Errorf("sentinels %v, master %q, db %d; want %v, %q, %d", o.SentinelAddrs, o.MasterName, o.DB, c.sentinels, c.master, c.db)
			}
			if o.Username != c.user || o.Password != c.password || o.SentinelUsername != c.sentinelUser || o.SentinelPassword != c.sentinelPw {
				t.Errorf("data %q:%q, sentinels %q:%q; want %q:%q, %q:%q", o.Username, o.Password, o.SentinelUsername, o.SentinelPassword,
					c.user, c.password, c.sentinelUser, c.sentinelPw)
			}
			if (o.TLSConfig != nil) != c.tls {
				t.Fatalf("TLS %v, want %v", o.TLSConfig != nil, c.tls)
			}
			if c.tls && (o.TLSConfig.ServerName != "" || o.TLSConfig.InsecureSkipVerify) {
				t.Errorf("TLS ServerName %q, skip verify %v: want each server checked by the name it is dialed by",
					o.TLSConfig.ServerName, o.TLSConfig.InsecureSkipVerify)
			}
			if o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly || o.UseDisconnectedReplicas {
				t.Error("commands may go to replicas")
			}
		})
	}
}

func TestParseSentinelRefuses(t *testing.T) {
	cases := []struct {
		name, url string
		want      error // nil: only the context is checked
	}{
		{"no master", "redis+sentinel://s1:26379", ErrSentinelMaster},
		{"an empty master", "redis+sentinel://s1:26379/", ErrSentinelMaster},
		{"an empty master before a database", "redis+sentinel://s1:26379//0", ErrSentinelMaster},
		{"a master name with a space", "redis+sentinel://s1:26379/my%20master", ErrSentinelMaster},
		{"a path too long", "redis+sentinel://s1:26379/m/0/x", ErrSentinelMaster},
		{"a database that is not a number", "redis+sentinel://s1:26379/m/x", ErrSentinelDB},
		{"a negative database", "redis+sentinel://s1:26379/m/-1", ErrSentinelDB},
		{"a signed database", "redis+sentinel://s1:26379/m/+1", ErrSentinelDB},
		{"a trailing slash after the database", "redis+sentinel://s1:26379/m/0/", ErrSentinelMaster},
		{"a sentinel without a port", "redis+sentinel://s1:26379,s2/m", ErrSentinelAddress},
		{"an empty sentinel", "redis+sentinel://s1:26379,/m", ErrSentinelAddress},
		{"no sentinel", "redis+sentinel:///m", ErrSentinelAddress},
		{"a port out of range", "redis+sentinel://s1:65536/m", ErrSentinelAddress},
		{"a port that is not a number", "redis+sentinel://s1:http/m", ErrSentinelAddress},
		{"reads from replicas", "redis+sentinel://s1:26379/m?replica_only=true", ErrSentinelOption},
		{"routing by latency", "redis+sentinel://s1:26379/m?route_by_latency=true", ErrSentinelOption},
		{"routing randomly", "redis+sentinel://s1:26379/m?route_randomly=true", ErrSentinelOption},
		{"disconnected replicas", "redis+sentinel://s1:26379/m?use_disconnected_replicas=true", ErrSentinelOption},
		{"the master twice", "redis+sentinel://s1:26379/m?master_name=other", ErrSentinelOption},
		{"sentinels as addr", "redis+sentinel://s1:26379/m?addr=s2:26379", ErrSentinelOption},
		{"the database twice", "redis+sentinel://s1:26379/m?db=1", ErrSentinelOption},
		{"the data password in the query", "redis+sentinel://s1:26379/m?password=x", ErrSentinelOption},
		{"a sentinel password given twice", "redis+sentinel://s1:26379/m?sentinel_password=first-pw&sentinel_password=second-pw", ErrSentinelOption},
		{"an unknown option", "redis+sentinel://s1:26379/m?bogus=1", nil},
		{"skip_verify without TLS", "redis+sentinel://s1:26379/m?skip_verify=true", nil},
		{"a bad escape in the query", "redis+sentinel://s1:26379/m?sentinel_password=%zz", nil},
		{"a bad escape in the password", "redis+sentinel://:pw%zz@s1:26379/m", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSentinel(c.url)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %q does not wrap %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "redis URL ") {
				t.Errorf("error %q: want it to start with the redacted URL", err)
			}
		})
	}
}

func TestSkipVerifyOverTLS(t *testing.T) {
	o, err := ParseSentinel("rediss+sentinel://s1:26379/m?skip_verify=true")
	if err != nil {
		t.Fatal(err)
	}
	if o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify {
		t.Errorf("TLS config %+v: want InsecureSkipVerify", o.TLSConfig)
	}
}

func TestNewClientFromASentinelURL(t *testing.T) {
	client, err := NewClient("redis+sentinel://u:pw@s1:26379,s2:26379/m/3?sentinel_password=spw", Options{
		PoolSize: 7, MinIdleConns: 2, PoolTimeout: 50 * time.Millisecond, DialTimeout: time.Second,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 400 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, ok := client.(*redis.Client)
	if !ok {
		t.Fatalf("got a %T, want the *redis.Client of NewFailoverClient", client)
	}
	o := c.Options()
	// The failover client dials whatever master the sentinels name.
	if o.Addr != "FailoverClient" {
		t.Errorf("Addr %q: not a failover client", o.Addr)
	}
	if o.DB != 3 || o.Username != "u" || o.Password != "pw" {
		t.Errorf("db %d, user %q, password %q", o.DB, o.Username, o.Password)
	}
	if o.PoolSize != 7 || o.MinIdleConns != 2 || o.PoolTimeout != 50*time.Millisecond || o.ReadTimeout != 500*time.Millisecond ||
		o.WriteTimeout != 400*time.Millisecond || o.MaxRetries != 0 || o.DialerRetries != 1 || o.ContextTimeoutEnabled {
		t.Errorf("the caller's options must win: %+v", o)
	}
}

func TestSentinelPasswordsNeverShow(t *testing.T) {
	const dataPw, sentinelPw = "d4ta-secret", "s3ntinel-secret"
	for _, u := range []string{
		"redis+sentinel://:" + dataPw + "@s1:26379/m?sentinel_password=" + sentinelPw + "&bogus=1",
		"redis+sentinel://:" + dataPw + "%zz@s1:26379/m?sentinel_password=" + sentinelPw,
		"redis+sentinel://:" + dataPw + "@s1:26379/m/x?sentinel_password=" + sentinelPw,
		"redis+sentinel://:" + dataPw + "@s1:26379/m?sentinel_password=" + sentinelPw + "%zz",
		"redis+sentinel://:" + dataPw + "@s1:26379/m?sentinel_password=" + sentinelPw + "&sentinel_password=" + sentinelPw,
		"redis+sentinel://s1:26379/m?sentinel_password=" + url.QueryEscape(sentinelPw+" &x") + "&replica_only=1",
	} {
		_, err := NewClient(u, Options{})
		if err == nil {
			t.Errorf("%s: accepted", Redact(u))
			continue
		}
		for _, s := range []string{err.Error(), Redact(u)} {
			if strings.Contains(s, dataPw) || strings.Contains(s, sentinelPw) {
				t.Errorf("a password shows: %s", s)
			}
		}
	}
	want := "redis+sentinel://u:xxxxx@s1:26379,s2:26379/m?client_name=a&sentinel_password=xxxxx&sentinel_username=w"
	if got := Redact("redis+sentinel://u:" + dataPw + "@s1:26379,s2:26379/m?client_name=a&sentinel_password=" + sentinelPw + "&sentinel_username=w"); got != want {
		t.Errorf("Redact = %s, want %s", got, want)
	}
}

// FuzzSentinelURL builds sentinel URLs around a data password and a
// sentinel password and checks that parsing never panics, never shows
// either password in an error or in Redact, and when it succeeds, reads
// both passwords back and leaves every command on the master.
func FuzzSentinelURL(f *testing.F) {
	f.Add("app", "data-password", "sentinel-password", "s1:26379,s2:26379,s3:26379", "/mymaster/0", "client_name=x")
	f.Add("", "pa:ss@word/", "p%w&d", "[::1]:26379", "/m", "")
	f.Add("u", "secret", "other", "s1:26379", "/m/x", "replica_only=1")
	f.Add("u", "secret", "other", "s1", "/m", "bogus=%zz")
	f.Fuzz(func(t *testing.T, user, password, sentinelPassword, hosts, path, query string) {
		build := func(password, sentinelPassword string) string {
			raw := "redis+sentinel://" + url.UserPassword(user, password).String() + "@" + hosts + path +
				"?sentinel_password=" + url.QueryEscape(sentinelPassword)
			if query != "" {
				raw += "&" + query
			}
			return raw
		}
		raw := build(password, sentinelPassword)
		o, err := ParseSentinel(raw)
		redactedURL := Redact(raw)
		// The same URL with its secrets replaced by two other fillers: what
		// both redactions (and errors) still spell comes from the parts
		// that are not secret (a host that spells a password, an escape
		// that makes one up), which must be shown as what they are. A
		// leaked secret would print the filler, not pw, so this never hides
		// a leak.
		spelledElsewhere := func(pw string) bool {
			for _, filler := range []string{"q", "z"} {
				masked := build(strings.Repeat(filler, len(password)), strings.Repeat(filler, len(sentinelPassword)))
				_, maskedErr := ParseSentinel(masked)
				if !strings.Contains(Redact(masked), pw) && (maskedErr == nil || !strings.Contains(maskedErr.Error(), pw)) {
					return false
				}
			}
			return true
		}
		// The redaction mark and its neighbours can spell a password
		// ("1xxxxx" or "xxxx1x" from a host "\x010" whose "0" is another
		// password), so the marks are set apart before looking: a leaked
		// password is printed whole, never made of a mark.
		shows := func(s, pw string) bool {
			return strings.Contains(strings.ReplaceAll(s, redacted, "\x00"), pw)
		}
		for _, pw := range []string{password, sentinelPassword} {
			if len(pw) < 6 || strings.ContainsAny(pw, "\x00") || strings.Contains(pw, redacted) || spelledElsewhere(pw) {
				continue
			}
			if shows(redactedURL, pw) {
				t.Errorf("Redact(%q) = %q shows %q", raw, redactedURL, pw)
			}
			if err != nil && shows(err.Error(), pw) {
				t.Errorf("ParseSentinel(%q): error %q shows %q", raw, err, pw)
			}
		}
		if err != nil {
			return
		}
		if o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly || o.UseDisconnectedReplicas {
			t.Fatalf("%q: commands may go to replicas", raw)
		}
		if o.MasterName == "" || len(o.SentinelAddrs) == 0 || o.DB < 0 {
			t.Fatalf("%q: master %q, sentinels %v, db %d", raw, o.MasterName, o.SentinelAddrs, o.DB)
		}
		for _, a := range o.SentinelAddrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("%q: sentinel %q: %v", raw, a, err)
			}
		}
		if !strings.ContainsAny(hosts+path+query, "@/?#&") && (o.Password != password || o.SentinelPassword != sentinelPassword) {
			t.Fatalf("%q: passwords %q and %q, want %q and %q", raw, o.Password, o.SentinelPassword, password, sentinelPassword)
		}
	})
}

func TestARedactedErrorStillNamesItsCause(t *testing.T) {
	// "a" is in every word of the message, so the message is mangled, but
	// the cause is still there for errors.Is, and the password is not.
	_, err := ParseSentinel("redis+sentinel://s1:26379/m?sentinel_password=a&sentinel_password=a")
	if !errors.Is(err, ErrSentinelOption) {
		t.Errorf("error %q does not wrap ErrSentinelOption", err)
	}
	redactedErr := errors.Unwrap(err)
	if redactedErr == nil || errors.Unwrap(redactedErr) != nil {
		t.Errorf("the redacted error %v unwraps to %v: the original text would show", redactedErr, errors.Unwrap(redactedErr))
	}
}
