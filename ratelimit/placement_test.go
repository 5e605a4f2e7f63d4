package ratelimit

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
)

func TestNetworkHashOfAClient(t *testing.T) {
	tests := []struct {
		key, hash, host string // hash "": kept in a hash of its own
	}{
		{IdentityKey(DimIP, "203.0.113.7"), "ba:v4:{net:203.0.113.0/24}", "7"},
		{IdentityKey(DimRouteIP, "203.0.113.255"), "ba:v4:{net:203.0.113.0/24}", "255"},
		{IdentityKey(DimIP, "0.0.0.0"), "ba:v4:{net:0.0.0.0/24}", "0"},
		{IdentityKey(DimIP, "2001:db8:1:2::/64"), "ba:v4:{net:2001:db8:1:2::/64}", ""},
		{IdentityKey(DimIP, ClientID(netip.MustParseAddr("::ffff:198.51.100.9"))), "ba:v4:{net:198.51.100.0/24}", "9"},
		// Not in ClientID's form: another spelling, host bits, another
		// prefix length, an IPv6 address rather than its /64, a mapped
		// address, garbage.
		{IdentityKey(DimIP, "203.0.113.07"), "", ""},
		{IdentityKey(DimIP, "2001:0db8:1:2::/64"), "", ""},
		{IdentityKey(DimIP, "2001:db8:1:2::1/64"), "", ""},
		{IdentityKey(DimIP, "2001:db8:1::/48"), "", ""},
		{IdentityKey(DimIP, "2001:db8:1:2::1"), "", ""},
		{IdentityKey(DimIP, "::ffff:198.51.100.0/64"), "", ""},
		{IdentityKey(DimIP, "203.0.113.0/24"), "", ""},
		{IdentityKey(DimIP, ""), "", ""},
		{IdentityKey(DimIP, "a{b}"), "", ""},
		{IdentityKey(DimIP, "203.0.113.7") + ":x", "", ""},
		// Other identities keep their keys.
		{IdentityKey(DimSubnet, "203.0.113.0/24"), "", ""},
		{IdentityKey(DimSession, "203.0.113.7"), "", ""},
		{"storetest:a", "", ""},
	}
	for _, tt := range tests {
		hash, host, ok := appendNetworkHash(nil, tt.key)
		if ok != (tt.hash != "") || string(hash) != tt.hash || host != tt.host {
			t.Errorf("appendNetworkHash(%q) = %q, %q, %v; want %q, %q", tt.key, hash, host, ok, tt.hash, tt.host)
		}
	}
}

func TestRedisField(t *testing.T) {
	tests := []struct{ key, lane, hash, field string }{
		{IdentityKey(DimIP, "203.0.113.7"), "60s", "ba:v4:{net:203.0.113.0/24}", "{7}60s"},
		{IdentityKey(DimIP, "2001:db8:1:2::/64"), "rt:login:10s", "ba:v4:{net:2001:db8:1:2::/64}", "{}rt:login:10s"},
		{IdentityKey(DimSubnet, "203.0.113.0/24"), "60s", "ba:v4:{net:203.0.113.0/24}", "60s"},
		{IdentityKey(DimSubnet, "203.0.113.0/24"), "{7}60s", "ba:v4:{net:203.0.113.0/24}", "{!{7}60s"},
		{IdentityKey(DimSession, "9f86d081884c7d65"), "", "ba:v4:{sid:9f86d081884c7d65}", ""},
	}
	for _, tt := range tests {
		if hash, field := RedisField(tt.key, tt.lane); hash != tt.hash || field != tt.field {
			t.Errorf("RedisField(%q, %q) = %q, %q; want %q, %q", tt.key, tt.lane, hash, field, tt.hash, tt.field)
		}
	}
}

// FuzzNetworkHash: a key folds into a network's hash only if it is the
// key of an address's ClientID, and then into that address's network's
// (SubnetID) under its last octet, so no two client keys share a field.
func FuzzNetworkHash(f *testing.F) {
	for _, id := range []string{"203.0.113.7", "2001:db8:1:2::/64", "203.0.113.07", "::ffff:1.2.3.4", "1.2.3.4/24", "", "{}"} {
		f.Add(id, false)
	}
	f.Add(IdentityKey(DimIP, "1.2.3.4")+"}", true)
	f.Fuzz(func(t *testing.T, s string, raw bool) {
		key := IdentityKey(DimIP, s)
		if raw {
			key = s
		}
		hash, host, ok := appendNetworkHash(nil, key)
		if !ok {
			return
		}
		id, _ := strings.CutPrefix(key, clientKeyStart)
		id, _ = strings.CutSuffix(id, "}")
		ip, err := netip.ParseAddr(id)
		if err != nil {
			p, err := netip.ParsePrefix(id)
			if err != nil {
				t.Fatalf("%q folded, but %q is neither an address nor a prefix", key, id)
			}
			ip = p.Addr()
		}
		if ClientID(ip) != id {
			t.Fatalf("%q folded, but ClientID of %v is %q", key, ip, ClientID(ip))
		}
		if want := IdentityKey(DimSubnet, SubnetID(ip)); string(hash) != want {
			t.Fatalf("%q folded into %q, want its network's %q", key, hash, want)
		}
		want := ""
		if ip.Is4() {
			want = strconv.Itoa(int(ip.As4()[3]))
		}
		if host != want {
			t.Fatalf("%q folded as host %q, want %q", key, host, want)
		}
	})
}

// TestRedisPlacementAgreesWithMemory runs the same random Hits on Redis,
// where clients' counters are fields of their networks' hashes, and on
// Memory, where each key is apart: every observation must agree. The
// counters mix clients of one network, the network itself (with lanes
// that look like a client's fields), IPv6 clients and their /64s,
// sessions, lanes' parts, peeks and late hits.
func TestRedisPlacementAgreesWithMemory(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(client)
	m := NewMemory(MemoryOptions{})

	keys := []string{
		IdentityKey(DimIP, "203.0.113.7"),
		IdentityKey(DimIP, "203.0.113.70"),
		IdentityKey(DimRouteIP, "203.0.113.8"),
		IdentityKey(DimSubnet, "203.0.113.0/24"),
		IdentityKey(DimIP, "198.51.100.7"),
		IdentityKey(DimIP, "2001:db8:1:2::/64"),
		IdentityKey(DimSubnet, "2001:db8:1:2::/64"),
		IdentityKey(DimIP, "203.0.113.07"),
		IdentityKey(DimSession, "9f86d081884c7d65"),
	}
	lanes := []string{"60s", "{7}60s", "{!60s", "{}60s", "{70}60s", "rt:login:10s", "", "{"}
	windows := []time.Duration{time.Second, 10 * time.Second, time.Minute}
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.UnixMilli(1_700_000_040_000)
	now := t0
	// A window is part of a counter: each (key, lane) keeps the one it
	// draws first.
	windowOf := map[[2]string]time.Duration{}
	for step := range 1000 {
		// Mostly forward in steps under a window, sometimes up to half a
		// second back (a replica whose clock is behind).
		now = now.Add(time.Duration(rng.IntN(4000)-500) * time.Millisecond)
		n := 1 + rng.IntN(8)
		type part struct {
			key, lane string
			part      uint8
		}
		seen := map[part]bool{}
		// The parts of a lane are all peeked or all counted in one Hit.
		peeked := map[[2]string]bool{}
		var cs []Counter
		for len(cs) < n {
			c := Counter{Key: keys[rng.IntN(len(keys))], Lane: lanes[rng.IntN(len(lanes))]}
			if rng.IntN(2) == 0 {
				c.Part = uint8(rng.IntN(4))
			}
			if seen[part{c.Key, c.Lane, c.Part}] {
				continue
			}
			seen[part{c.Key, c.Lane, c.Part}] = true
			kl := [2]string{c.Key, c.Lane}
			if _, ok := windowOf[kl]; !ok {
				windowOf[kl] = windows[rng.IntN(len(windows))]
			}
			c.Window = windowOf[kl]
			if _, ok := peeked[kl]; !ok {
				peeked[kl] = rng.IntN(3) == 0
			}
			c.Peek = peeked[kl]
			cs = append(cs, c)
		}
		got, want := make([]Observation, n), make([]Observation, n)
		if err := r.Hit(t.Context(), now, cs, got); err != nil {
			t.Fatalf("step %d: Redis Hit: %v", step, err)
		}
		if err := m.Hit(t.Context(), now, cs, want); err != nil {
			t.Fatalf("step %d: Memory Hit: %v", step, err)
		}
		for i := range cs {
			if got[i] != want[i] {
				t.Fatalf("step %d at %v, counter %q lane %q part %d (peek %v): Redis %+v, Memory %+v",
					step, now.Sub(t0), cs[i].Key, cs[i].Lane, cs[i].Part, cs[i].Peek, got[i], want[i])
			}
		}
	}
}
