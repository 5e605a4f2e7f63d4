package redisurl

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNewClient(t *testing.T) {
	cases := []struct {
		name    string
		url     string
		cluster bool
		addrs   []string
		wantErr string
	}{
		{"one node", "redis://127.0.0.1:6379/2", false, []string{"127.0.0.1:6379"}, ""},
		{"one node over TLS", "rediss://:pw@redis.example:6380/0", false, []string{"redis.example:6380"}, ""},
		{"a cluster from its seeds", "redis+cluster://a:7000,b:7001,c:7002", true, []string{"a:7000", "b:7001", "c:7002"}, ""},
		{"a cluster with credentials and database 0", "rediss+cluster://u:pw@a:7000,b:7001/0", true, []string{"a:7000", "b:7001"}, ""},
		{"the scheme ignores case", "REDIS+CLUSTER://a:7000", true, []string{"a:7000"}, ""},
		{"a cluster has no other database", "redis+cluster://a:7000/3", false, nil, "only database 0"},
		{"a seed without a port", "redis+cluster://a:7000,b", false, nil, "not host:port"},
		{"an unknown scheme", "http://a:7000", false, nil, "redis URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			client, err := NewClient(c.url, Options{MaxRetries: -1})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			switch cl := client.(type) {
			case *redis.ClusterClient:
				if !c.cluster {
					t.Fatal("got a cluster client")
				}
				if got := strings.Join(cl.Options().Addrs, ","); got != strings.Join(c.addrs, ",") {
					t.Errorf("seeds %s, want %s", got, strings.Join(c.addrs, ","))
				}
				if cl.Options().MaxRetries != -1 {
					t.Errorf("MaxRetries %d: the caller's options must win", cl.Options().MaxRetries)
				}
			case *redis.Client:
				if c.cluster {
					t.Fatal("got a single-node client")
				}
				// go-redis turns -1 (no retries) into 0; a 0 from us would
				// have become its default of 3.
				if cl.Options().Addr != c.addrs[0] || cl.Options().MaxRetries != 0 {
					t.Errorf("addr %s, MaxRetries %d", cl.Options().Addr, cl.Options().MaxRetries)
				}
			}
		})
	}
}

func TestErrorsNeverShowThePassword(t *testing.T) {
	const pw = "s3cr3t-pw"
	for _, u := range []string{
		"redis://:" + pw + "@127.0.0.1:port/0",
		"redis://:" + pw + "%zz@127.0.0.1:6379/0",
		"redis+cluster://:" + pw + "@a:7000/5",
		"redis+cluster://:" + pw + "@a:7000,b",
	} {
		_, err := NewClient(u, Options{})
		if err == nil {
			t.Errorf("%s: accepted", Redact(u))
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
