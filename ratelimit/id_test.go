package ratelimit_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
)

func TestIDs(t *testing.T) {
	for _, tt := range []struct {
		ip, client, subnet string
	}{
		{"203.0.113.7", "203.0.113.7", "203.0.113.0/24"},
		{"::ffff:203.0.113.7", "203.0.113.7", "203.0.113.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1:2::/64"},
	} {
		ip := netip.MustParseAddr(tt.ip)
		if got := ratelimit.ClientID(ip); got != tt.client {
			t.Errorf("ClientID(%s) = %q, want %q", tt.ip, got, tt.client)
		}
		if got := ratelimit.SubnetID(ip); got != tt.subnet {
			t.Errorf("SubnetID(%s) = %q, want %q", tt.ip, got, tt.subnet)
		}
	}
	if ratelimit.ClientID(netip.Addr{}) != "" || ratelimit.SubnetID(netip.Addr{}) != "" || ratelimit.SessionID("") != "" {
		t.Error("an unknown identity is not empty")
	}
	a, b := ratelimit.SessionID("secret-a"), ratelimit.SessionID("secret-b")
	if len(a) != 16 || a == b || strings.Contains(a, "secret") {
		t.Errorf("SessionID = %q, %q: want 16 hex digits, distinct, without the secret", a, b)
	}
}

func TestNamedKey(t *testing.T) {
	key := func(d ratelimit.Dimension, id, name string, w time.Duration) string {
		return string(ratelimit.AppendNamedKey(nil, d, id, name, w))
	}
	for _, tt := range []struct{ got, want string }{
		{key(ratelimit.DimIP, "203.0.113.7", "h.denied", 10*time.Minute), "ba:v1:{ip:203.0.113.7}:h.denied:600s"},
		{key(ratelimit.DimSession, "9f86d081884c7d65", "h.seen.203.0.113.0/24", time.Minute), "ba:v1:{sid:9f86d081884c7d65}:h.seen.203.0.113.0/24:60s"},
		{key(ratelimit.DimIP, "a{b}", "n%{}", 1500*time.Millisecond), "ba:v1:{ip:a%7Bb%7D}:n%25%7B%7D:1500ms"},
		// A name cannot pose as a route counter's.
		{key(ratelimit.DimIP, "203.0.113.7", "rt:login", time.Minute), "ba:v1:{ip:203.0.113.7}:_rt:login:60s"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// Same slot as the identity's velocity counters.
	named := key(ratelimit.DimIP, "203.0.113.7", "h.denied", time.Minute)
	plain := ratelimit.Key(ratelimit.DimIP, "203.0.113.7", "", time.Minute)
	if tag := plain[:strings.IndexByte(plain, '}')+1]; !strings.HasPrefix(named, tag) {
		t.Errorf("%q does not share %q's hash tag", named, plain)
	}
	if named == plain || key(ratelimit.DimRouteIP, "203.0.113.7", "rt:login", time.Minute) == ratelimit.Key(ratelimit.DimRouteIP, "203.0.113.7", "login", time.Minute) {
		t.Error("a named key equals a velocity key")
	}
}
