package ratelimit

import (
	"net/netip"
	"strings"
)

// Where the Redis store keeps a counter. A Check counts its client's
// address and its network (velocity limits, route limits, history), and
// each Redis hash a Check touches costs Redis an HMGET and a PEXPIRE,
// whatever the number of fields. So the Redis store keeps the counters of
// a client address in the hash of the address's network, the key
// IdentityKey(DimSubnet, SubnetID) gives, as lanes of their own, whose
// buckets are fields (redis.go):
//
//	client 203.0.113.7, lane 60s        ba:v4:{net:203.0.113.0/24}  lane {7}60s
//	client 2001:db8:1:2::/64, lane 60s  ba:v4:{net:2001:db8:1:2::/64}  lane {}60s
//	network 203.0.113.0/24, lane 60s    ba:v4:{net:203.0.113.0/24}  lane 60s
//
// A client is its IPv4 address or its IPv6 /64 (ClientID), and its
// network the IPv4 /24 or the same IPv6 /64 (SubnetID): the field's
// prefix is the client's last octet, empty for IPv6, between braces. A
// lane of any other key that begins with '{' (none that VelocityLane or
// NamedLane builds does, since they escape it) is stored as "{!" and the
// lane, so no lane of a network's own can pose as one of its clients'.
// Keys that are not a client address's in ClientID's canonical form are
// kept as they are, in a hash of their own.
//
// A network's hash holds at most its clients' lanes (256 clients for
// IPv4). Redis keeps a hash of up to hash-max-listpack-entries fields (512
// by default) as a listpack, which HMGET and HINCRBY search field by
// field: measured with 250 clients in a /24, that cost a Check more than
// the hash it saves. So when a network's hash has more than 64 fields the
// housekeeping writes a field "{#}" of 256 bytes, longer than
// hash-max-listpack-value (64 by default), and Redis turns the hash into a
// hash table for good.
//
// Only the placement is shared: each client's lanes stay counters of its
// own, counted, read and expired exactly as Store says. What is shared is
// the hash's expiry (the longest need of all its lanes) and, in Redis
// Cluster, the slot: a client's counters and its network's go to one
// node.
//
// Replicas of an earlier layout count in keys of their own (keyPrefix).

// clientKeyStart begins the key IdentityKey gives a client address.
var clientKeyStart = keyPrefix + "{" + DimIP.tagName() + ":"

// appendNetworkHash reports whether key is the identity key of a client
// address (DimIP, DimRouteIP) in ClientID's canonical form and, if so,
// appends the key of its network's hash to dst and returns the client's
// part within the network: its last octet for IPv4, "" for an IPv6 /64.
func appendNetworkHash(dst []byte, key string) (_ []byte, host string, ok bool) {
	id, ok := strings.CutPrefix(key, clientKeyStart)
	if !ok {
		return dst, "", false
	}
	id, ok = strings.CutSuffix(id, "}")
	if !ok {
		return dst, "", false
	}
	// Only the canonical form folds: two spellings of one address would
	// otherwise share counters that their keys keep apart.
	var buf [64]byte
	var net netip.Prefix
	if ip, err := netip.ParseAddr(id); err == nil && ip.Is4() && string(ip.AppendTo(buf[:0])) == id {
		net = Subnet(ip)
		host = id[strings.LastIndexByte(id, '.')+1:]
	} else if p, err := netip.ParsePrefix(id); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() &&
		p.Bits() == 64 && p == p.Masked() && string(p.AppendTo(buf[:0])) == id {
		net = p
	} else {
		return dst, "", false
	}
	dst = append(dst, keyPrefix...)
	dst = append(dst, '{')
	dst = append(dst, DimSubnet.tagName()...)
	dst = append(dst, ':')
	dst = net.AppendTo(dst)
	return append(dst, '}'), host, true
}

// appendField appends the name of a lane in its hash: "{host}lane" for a
// client's lane in its network's hash (folded), else the lane itself,
// escaped as "{!lane" if it begins with '{'.
func appendField(dst []byte, folded bool, host, lane string) []byte {
	switch {
	case folded:
		dst = append(dst, '{')
		dst = append(dst, host...)
		dst = append(dst, '}')
	case strings.HasPrefix(lane, "{"):
		dst = append(dst, "{!"...)
	}
	return append(dst, lane...)
}

// fieldIsLane reports whether a lane is stored under its own name, so a
// caller can pass it without building a field.
func fieldIsLane(folded bool, lane string) bool {
	return !folded && !strings.HasPrefix(lane, "{")
}

// RedisField returns where the Redis store keeps counter (key, lane): the
// Redis hash and the field within it, for tools and tests that read Redis
// directly. A client address's counters are fields of its network's hash.
func RedisField(key, lane string) (hash, field string) {
	var buf [64]byte
	b, host, folded := appendNetworkHash(buf[:0], key)
	hash = key
	if folded {
		hash = string(b)
	}
	if fieldIsLane(folded, lane) {
		return hash, lane
	}
	return hash, string(appendField(nil, folded, host, lane))
}
