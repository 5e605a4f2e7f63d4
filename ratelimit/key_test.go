package ratelimit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
)

func TestDimensionStringAndParseRoundTrip(t *testing.T) {
	tests := []struct {
		dim  ratelimit.Dimension
		name string
	}{
		{ratelimit.DimIP, "ip"},
		{ratelimit.DimSubnet, "subnet"},
		{ratelimit.DimSession, "session"},
		{ratelimit.DimRouteIP, "route_ip"},
	}
	for _, tt := range tests {
		if got := tt.dim.String(); got != tt.name {
			t.Errorf("%d.String() = %q, want %q", tt.dim, got, tt.name)
		}
		got, err := ratelimit.ParseDimension(tt.name)
		if err != nil || got != tt.dim {
			t.Errorf("ParseDimension(%q) = %v, %v; want %v", tt.name, got, err, tt.dim)
		}
	}
}

func TestParseDimensionErrorNamesValueAndAllowed(t *testing.T) {
	for _, bad := range []string{"", "IP", "route", "Dimension(1)"} {
		_, err := ratelimit.ParseDimension(bad)
		if err == nil {
			t.Errorf("ParseDimension(%q) succeeded", bad)
			continue
		}
		msg := err.Error()
		for _, want := range []string{`"` + bad + `"`, "ip", "subnet", "session", "route_ip"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ParseDimension(%q) error %q does not mention %s", bad, msg, want)
			}
		}
	}
}

func TestUnknownDimensionStringIsDistinct(t *testing.T) {
	if got := ratelimit.Dimension(0).String(); got != "Dimension(0)" {
		t.Errorf("Dimension(0).String() = %q", got)
	}
}

func TestKeyLayout(t *testing.T) {
	tests := []struct {
		name   string
		dim    ratelimit.Dimension
		id     string
		route  string
		window time.Duration
		want   string
	}{
		{"ip", ratelimit.DimIP, "203.0.113.7", "", time.Minute, "ba:v1:{ip:203.0.113.7}:60s"},
		{"ipv6 /64", ratelimit.DimIP, "2001:db8:1:2::/64", "", time.Minute, "ba:v1:{ip:2001:db8:1:2::/64}:60s"},
		{"subnet", ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute, "ba:v1:{net:203.0.113.0/24}:60s"},
		{"session", ratelimit.DimSession, "9f86d081884c7d65", "", time.Minute, "ba:v1:{sid:9f86d081884c7d65}:60s"},
		{"route+ip shares the ip tag", ratelimit.DimRouteIP, "203.0.113.7", "login", time.Minute, "ba:v1:{ip:203.0.113.7}:rt:login:60s"},
		{"route is ignored outside route_ip", ratelimit.DimIP, "203.0.113.7", "login", time.Minute, "ba:v1:{ip:203.0.113.7}:60s"},
		{"window in whole seconds", ratelimit.DimIP, "203.0.113.7", "", time.Hour, "ba:v1:{ip:203.0.113.7}:3600s"},
		{"window not whole seconds in ms", ratelimit.DimIP, "203.0.113.7", "", 1500 * time.Millisecond, "ba:v1:{ip:203.0.113.7}:1500ms"},
		{"window below a second in ms", ratelimit.DimIP, "203.0.113.7", "", 250 * time.Millisecond, "ba:v1:{ip:203.0.113.7}:250ms"},
		{"window not whole ms in ns", ratelimit.DimIP, "203.0.113.7", "", 1500*time.Millisecond + 1, "ba:v1:{ip:203.0.113.7}:1500000001ns"},
		{"braces in id are escaped", ratelimit.DimSession, "a{b}c", "", time.Minute, "ba:v1:{sid:a%7Bb%7Dc}:60s"},
		{"percent in id is escaped", ratelimit.DimSession, "a%7Bb", "", time.Minute, "ba:v1:{sid:a%257Bb}:60s"},
		{"braces in route are escaped", ratelimit.DimRouteIP, "203.0.113.7", "{x}", time.Minute, "ba:v1:{ip:203.0.113.7}:rt:%7Bx%7D:60s"},
		{"empty id keeps a non-empty tag", ratelimit.DimIP, "", "", time.Minute, "ba:v1:{ip:}:60s"},
		{"unknown dimension gets its own tag", ratelimit.Dimension(9), "x", "", time.Minute, "ba:v1:{d9:x}:60s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.Key(tt.dim, tt.id, tt.route, tt.window); got != tt.want {
				t.Errorf("Key(%v, %q, %q, %v) = %q, want %q", tt.dim, tt.id, tt.route, tt.window, got, tt.want)
			}
		})
	}
}

func TestKeyEscapingKeepsDistinctIDsDistinct(t *testing.T) {
	ids := []string{"a{b", "a%7Bb", "a%257Bb", "a}b", "a%7Db", "a(b"}
	seen := map[string]string{}
	for _, id := range ids {
		k := ratelimit.Key(ratelimit.DimSession, id, "", time.Minute)
		if other, ok := seen[k]; ok {
			t.Errorf("ids %q and %q both map to %q", other, id, k)
		}
		seen[k] = id
	}
}

// FuzzKey checks that no input breaks the Redis Cluster hash tag: exactly one
// '{', one later '}', and a non-empty tag between them.
func FuzzKey(f *testing.F) {
	f.Add(uint8(1), "203.0.113.7", "", int64(60_000))
	f.Add(uint8(4), "203.0.113.7", "login", int64(1_500))
	f.Add(uint8(3), "}{", "{}", int64(0))
	f.Fuzz(func(t *testing.T, dim uint8, id, route string, windowMs int64) {
		k := ratelimit.Key(ratelimit.Dimension(dim), id, route, time.Duration(windowMs)*time.Millisecond)
		open, closing := strings.Count(k, "{"), strings.Count(k, "}")
		if open != 1 || closing != 1 {
			t.Fatalf("Key = %q has %d '{' and %d '}', want one each", k, open, closing)
		}
		i, j := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
		if j <= i+1 {
			t.Fatalf("Key = %q has an empty or inverted hash tag", k)
		}
		if !strings.HasPrefix(k, "ba:v1:{") {
			t.Fatalf("Key = %q lacks the versioned prefix", k)
		}
	})
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ratelimit.Key(ratelimit.DimRouteIP, "203.0.113.7", "login", time.Minute)
	}
}
