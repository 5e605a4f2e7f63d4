package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dimension names what a counter counts by.
type Dimension uint8

// The dimensions a counter can count by.
const (
	DimIP      Dimension = iota + 1 // client IP (IPv6: the /64)
	DimSubnet                       // IPv4 /24, IPv6 /64
	DimSession                      // hash of the session cookie
	DimRouteIP                      // route + client IP
)

var dimensionNames = [...]string{
	DimIP:      "ip",
	DimSubnet:  "subnet",
	DimSession: "session",
	DimRouteIP: "route_ip",
}

// String returns the dimension's configuration name: "ip", "subnet",
// "session" or "route_ip".
func (d Dimension) String() string {
	if d >= DimIP && int(d) < len(dimensionNames) {
		return dimensionNames[d]
	}
	return "Dimension(" + strconv.Itoa(int(d)) + ")"
}

// ParseDimension returns the Dimension whose String is s.
func ParseDimension(s string) (Dimension, error) {
	for d := DimIP; int(d) < len(dimensionNames); d++ {
		if dimensionNames[d] == s {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown dimension %q (want one of %s)", s, strings.Join(dimensionNames[DimIP:], ", "))
}

// keyPrefix versions the key layout: a change of layout bumps v1 so old and
// new replicas never read each other's counters as their own.
const keyPrefix = "ba:v1:"

// tagName is the name inside the hash tag. DimRouteIP shares the ip tag so a
// route+IP counter lands in the same Redis Cluster slot as the IP counter.
func (d Dimension) tagName() string {
	switch d {
	case DimIP, DimRouteIP:
		return "ip"
	case DimSubnet:
		return "net"
	case DimSession:
		return "sid"
	}
	return "d" + strconv.Itoa(int(d))
}

// Key builds the versioned, Redis-Cluster-ready storage key. id is the IP /
// subnet / session id as given by the caller; route is used only by
// DimRouteIP. Window formats as whole seconds ("60s") or, if not whole,
// milliseconds ("1500ms"). A window that is not whole milliseconds, which no
// Store accepts, formats in nanoseconds ("1500001ns") so that distinct windows
// never share a key.
//
//	DimIP:      ba:v1:{ip:203.0.113.7}:60s
//	DimSubnet:  ba:v1:{net:203.0.113.0/24}:60s
//	DimSession: ba:v1:{sid:9f86d081884c7d65}:60s
//	DimRouteIP: ba:v1:{ip:203.0.113.7}:rt:login:60s
//
// Redis Cluster hashes only what lies between the first '{' and the next '}',
// so a brace inside id or route would move or split the tag. Key therefore
// percent-encodes '{' as %7B, '}' as %7D and, to keep distinct inputs
// distinct, '%' as %25, in both id and route; nothing else is changed.
func Key(d Dimension, id, route string, window time.Duration) string {
	tag := d.tagName()
	var num [24]byte
	win := appendWindow(num[:0], window)

	n := len(keyPrefix) + len("{:}:") + len(tag) + escapedLen(id) + len(win)
	if d == DimRouteIP {
		n += len("rt::") + escapedLen(route)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(keyPrefix)
	b.WriteByte('{')
	b.WriteString(tag)
	b.WriteByte(':')
	writeEscaped(&b, id)
	b.WriteString("}:")
	if d == DimRouteIP {
		b.WriteString("rt:")
		writeEscaped(&b, route)
		b.WriteByte(':')
	}
	b.Write(win)
	return b.String()
}

func appendWindow(b []byte, w time.Duration) []byte {
	switch {
	case w%time.Second == 0:
		return append(strconv.AppendInt(b, int64(w/time.Second), 10), 's')
	case w%time.Millisecond == 0:
		return append(strconv.AppendInt(b, int64(w/time.Millisecond), 10), "ms"...)
	}
	return append(strconv.AppendInt(b, int64(w), 10), "ns"...)
}

func needsEscape(c byte) bool { return c == '{' || c == '}' || c == '%' }

func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i]) {
			n += 2
		}
	}
	return n
}

func writeEscaped(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, "{}%") {
		b.WriteString(s)
		return
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
}

// AppendNamedKey appends the storage key of a counter that is not a
// velocity limit's to dst: a named counter of an identity, such as a
// client's recent denials (package history). name must be non-empty and
// is escaped as Key escapes ids; it shares the dimension's hash tag, so a
// named counter lands in the same Redis Cluster slot as the identity's
// velocity counters and one script serves both.
//
//	ba:v1:{ip:203.0.113.7}:h.denied:600s
//
// A name never begins with "rt:", which Key's route counters use, so the
// two never share a key.
func AppendNamedKey(dst []byte, d Dimension, id, name string, window time.Duration) []byte {
	dst = append(dst, keyPrefix...)
	dst = append(dst, '{')
	dst = append(dst, d.tagName()...)
	dst = append(dst, ':')
	dst = appendEscaped(dst, id)
	dst = append(dst, "}:"...)
	if len(name) >= 3 && name[:3] == "rt:" {
		dst = append(dst, '_')
	}
	dst = appendEscaped(dst, name)
	dst = append(dst, ':')
	return appendWindow(dst, window)
}

func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
