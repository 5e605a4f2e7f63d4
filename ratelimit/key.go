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

// keyPrefix versions the key layout: a change of layout bumps the version
// so old and new replicas never read each other's counters as their own.
// v2 kept all the counters of an identity in one hash, as lanes, each
// lane's state in 24 bytes, and v3 in 12, both updated by a Lua script;
// v4 keeps a field per bucket, counted with HINCRBY (redis.go).
const keyPrefix = "ba:v4:"

// tagName is the name inside the hash tag. DimRouteIP shares the ip tag:
// route+IP counters are lanes of the client's IP key.
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

// IdentityKey returns the storage key of an identity: the hash that holds
// all of its counters, each as a lane (see Counter). id is the IP, subnet
// or session id as given by the caller. DimRouteIP counts by the client's
// IP and so has DimIP's key; its counters differ by lane (VelocityLane).
//
//	DimIP, DimRouteIP: ba:v4:{ip:203.0.113.7}
//	DimSubnet:         ba:v4:{net:203.0.113.0/24}
//	DimSession:        ba:v4:{sid:9f86d081884c7d65}
//
// The whole key is the Redis Cluster hash tag, so every counter of an
// identity is in one slot, on one node. Redis Cluster
// hashes only what lies between the first '{' and the next '}', so a
// brace inside id would move or split the tag: IdentityKey percent-encodes
// '{' as %7B, '}' as %7D and, to keep distinct ids distinct, '%' as %25;
// nothing else is changed.
func IdentityKey(d Dimension, id string) string {
	var buf [64]byte
	return string(AppendIdentityKey(buf[:0], d, id))
}

// AppendIdentityKey appends IdentityKey(d, id) to dst, for callers that
// build several strings in one allocation.
func AppendIdentityKey(dst []byte, d Dimension, id string) []byte {
	dst = append(dst, keyPrefix...)
	dst = append(dst, '{')
	dst = append(dst, d.tagName()...)
	dst = append(dst, ':')
	dst = appendEscaped(dst, id)
	return append(dst, '}')
}

// routeLanePrefix begins the lanes of DimRouteIP counters. NamedLane never
// begins with it, so a route limit and a named counter never share a lane.
const routeLanePrefix = "rt:"

// VelocityLane returns the lane of a velocity limit's counter within its
// identity's key (IdentityKey(d, id)): the window for DimIP, DimSubnet and
// DimSession, and "rt:", the route, ':' and the window for DimRouteIP.
// route is used only by DimRouteIP and is escaped as IdentityKey escapes
// ids. The window formats as whole seconds ("60s") or, if not whole,
// milliseconds ("1500ms"); a window that is not whole milliseconds, which
// no Store accepts, formats in nanoseconds ("1500001ns") so that distinct
// windows never share a lane.
//
//	DimIP, DimSubnet, DimSession: 60s
//	DimRouteIP:                   rt:login:60s
//
// Lanes are built once per policy, not per request: a Check passes the
// same strings every time.
func VelocityLane(d Dimension, route string, window time.Duration) string {
	var buf [64]byte
	b := buf[:0]
	if d == DimRouteIP {
		b = append(b, routeLanePrefix...)
		b = appendEscaped(b, route)
		b = append(b, ':')
	}
	return string(appendWindow(b, window))
}

// NamedLane returns the lane of a named counter of an identity that is not
// a velocity limit's, such as a client's recent history (package history):
// the name, escaped as IdentityKey escapes ids, ':' and the window as
// VelocityLane formats it.
//
//	h:600s
//
// Lanes never collide: a velocity lane of ip, subnet or session has no
// ':'; the window follows the last ':', so name and window can be told
// apart; and a name beginning with "rt:" has its 'r' escaped as %72 (which
// no escaped name otherwise holds, since '%' is escaped), so a named lane
// never begins with "rt:" as route lanes do.
func NamedLane(name string, window time.Duration) string {
	var buf [64]byte
	return string(AppendNamedLane(buf[:0], name, window))
}

// AppendNamedLane appends NamedLane(name, window) to dst, for callers that
// build several lanes in one allocation.
func AppendNamedLane(dst []byte, name string, window time.Duration) []byte {
	if strings.HasPrefix(name, routeLanePrefix) {
		dst = append(dst, "%72"...)
		name = name[1:]
	}
	dst = appendEscaped(dst, name)
	dst = append(dst, ':')
	return appendWindow(dst, window)
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
