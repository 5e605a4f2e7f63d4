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

func TestIdentityKeyLayout(t *testing.T) {
	tests := []struct {
		name string
		dim  ratelimit.Dimension
		id   string
		want string
	}{
		{"ip", ratelimit.DimIP, "203.0.113.7", "ba:v4:{ip:203.0.113.7}"},
		{"ipv6 /64", ratelimit.DimIP, "2001:db8:1:2::/64", "ba:v4:{ip:2001:db8:1:2::/64}"},
		{"subnet", ratelimit.DimSubnet, "203.0.113.0/24", "ba:v4:{net:203.0.113.0/24}"},
		{"session", ratelimit.DimSession, "9f86d081884c7d65", "ba:v4:{sid:9f86d081884c7d65}"},
		{"route+ip is the ip's key", ratelimit.DimRouteIP, "203.0.113.7", "ba:v4:{ip:203.0.113.7}"},
		{"braces in id are escaped", ratelimit.DimSession, "a{b}c", "ba:v4:{sid:a%7Bb%7Dc}"},
		{"percent in id is escaped", ratelimit.DimSession, "a%7Bb", "ba:v4:{sid:a%257Bb}"},
		{"empty id keeps a non-empty tag", ratelimit.DimIP, "", "ba:v4:{ip:}"},
		{"unknown dimension gets its own tag", ratelimit.Dimension(9), "x", "ba:v4:{d9:x}"},
		{"a long id", ratelimit.DimSession, strings.Repeat("f", 100), "ba:v4:{sid:" + strings.Repeat("f", 100) + "}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.IdentityKey(tt.dim, tt.id); got != tt.want {
				t.Errorf("IdentityKey(%v, %q) = %q, want %q", tt.dim, tt.id, got, tt.want)
			}
			if got := string(ratelimit.AppendIdentityKey([]byte("x"), tt.dim, tt.id)); got != "x"+tt.want {
				t.Errorf("AppendIdentityKey(\"x\", %v, %q) = %q, want %q", tt.dim, tt.id, got, "x"+tt.want)
			}
		})
	}
}

func TestLaneLayout(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"ip", ratelimit.VelocityLane(ratelimit.DimIP, "", time.Minute), "60s"},
		{"subnet", ratelimit.VelocityLane(ratelimit.DimSubnet, "", time.Minute), "60s"},
		{"session", ratelimit.VelocityLane(ratelimit.DimSession, "", time.Minute), "60s"},
		{"route+ip", ratelimit.VelocityLane(ratelimit.DimRouteIP, "login", time.Minute), "rt:login:60s"},
		{"route is ignored outside route_ip", ratelimit.VelocityLane(ratelimit.DimIP, "login", time.Minute), "60s"},
		{"window in whole seconds", ratelimit.VelocityLane(ratelimit.DimIP, "", time.Hour), "3600s"},
		{"window not whole seconds in ms", ratelimit.VelocityLane(ratelimit.DimIP, "", 1500*time.Millisecond), "1500ms"},
		{"window below a second in ms", ratelimit.VelocityLane(ratelimit.DimIP, "", 250*time.Millisecond), "250ms"},
		{"window not whole ms in ns", ratelimit.VelocityLane(ratelimit.DimIP, "", 1500*time.Millisecond+1), "1500000001ns"},
		{"braces and percent in route are escaped", ratelimit.VelocityLane(ratelimit.DimRouteIP, "{x}%", time.Minute), "rt:%7Bx%7D%25:60s"},
		{"named", ratelimit.NamedLane("h.denied", 10*time.Minute), "h.denied:600s"},
		{"named with a subnet", ratelimit.NamedLane("h.seen.203.0.113.0/24", 20*time.Minute), "h.seen.203.0.113.0/24:1200s"},
		{"a name like a route's is escaped", ratelimit.NamedLane("rt:login", time.Minute), "%72t:login:60s"},
		{"a name like an escaped route's stays distinct", ratelimit.NamedLane("%72t:login", time.Minute), "%2572t:login:60s"},
		{"an empty name", ratelimit.NamedLane("", time.Minute), ":60s"},
		{"appended", string(ratelimit.AppendNamedLane([]byte("x"), "h.denied", time.Minute)), "xh.denied:60s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: lane %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestIdentityKeyEscapingKeepsDistinctIDsDistinct(t *testing.T) {
	ids := []string{"a{b", "a%7Bb", "a%257Bb", "a}b", "a%7Db", "a(b"}
	seen := map[string]string{}
	for _, id := range ids {
		k := ratelimit.IdentityKey(ratelimit.DimSession, id)
		if other, ok := seen[k]; ok {
			t.Errorf("ids %q and %q both map to %q", other, id, k)
		}
		seen[k] = id
	}
}

// laneInput is what a lane is built from: a velocity limit's dimension,
// route and window, or a name and window (named).
type laneInput struct {
	named bool
	dim   ratelimit.Dimension
	s     string // route or name
	ms    int64
}

func (in laneInput) lane() string {
	w := time.Duration(in.ms) * time.Millisecond
	if in.named {
		return ratelimit.NamedLane(in.s, w)
	}
	return ratelimit.VelocityLane(in.dim, in.s, w)
}

// same reports whether a and b must give one lane: the same counter.
func (in laneInput) same(other laneInput) bool {
	if in.named != other.named || in.ms != other.ms {
		return false
	}
	if in.named {
		return in.s == other.s
	}
	// ip, subnet and session lanes are told apart by their keys, and
	// ignore the route.
	return (in.dim == ratelimit.DimRouteIP) == (other.dim == ratelimit.DimRouteIP) &&
		(in.dim != ratelimit.DimRouteIP || in.s == other.s)
}

// FuzzKey checks that no input breaks the Redis Cluster hash tag of an
// identity key (exactly one '{', one later '}', a non-empty tag between
// them, nothing after it) and that lanes are unambiguous: two lanes of a
// key are equal only when they are built from the same counter.
func FuzzKey(f *testing.F) {
	f.Add(uint8(1), "203.0.113.7", false, "", int64(60_000), true, "h.denied", int64(600_000))
	f.Add(uint8(4), "203.0.113.7", false, "login", int64(1_500), true, "rt:login", int64(1_500))
	f.Add(uint8(3), "}{", true, "%72t:x", int64(0), true, "rt:x", int64(0))
	f.Fuzz(func(t *testing.T, dim uint8, id string, namedA bool, a string, msA int64, namedB bool, b string, msB int64) {
		k := ratelimit.IdentityKey(ratelimit.Dimension(dim), id)
		open, closing := strings.Count(k, "{"), strings.Count(k, "}")
		if open != 1 || closing != 1 {
			t.Fatalf("IdentityKey = %q has %d '{' and %d '}', want one each", k, open, closing)
		}
		i, j := strings.IndexByte(k, '{'), strings.IndexByte(k, '}')
		if j <= i+1 || j != len(k)-1 {
			t.Fatalf("IdentityKey = %q has an empty, inverted or not final hash tag", k)
		}
		if !strings.HasPrefix(k, "ba:v4:{") {
			t.Fatalf("IdentityKey = %q lacks the versioned prefix", k)
		}

		// Windows stay positive whole milliseconds, as Stores require.
		msA, msB = 1+abs(msA)%(1<<40), 1+abs(msB)%(1<<40)
		x := laneInput{namedA, ratelimit.Dimension(dim), a, msA}
		y := laneInput{namedB, ratelimit.Dimension(dim ^ 7), b, msB}
		if x.dim == 0 {
			x.dim = ratelimit.DimRouteIP
		}
		if la, lb := x.lane(), y.lane(); (la == lb) != x.same(y) {
			t.Fatalf("%+v gives lane %q and %+v lane %q: equal %v, same counter %v", x, la, y, lb, la == lb, x.same(y))
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -(n + 1)
	}
	return n
}
