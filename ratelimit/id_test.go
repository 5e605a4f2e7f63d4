package ratelimit_test

import (
	"net/netip"
	"strings"
	"testing"

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
