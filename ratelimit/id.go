package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
)

// ClientID is the identity the ip and route_ip dimensions count a client
// by: its IPv4 address, or its IPv6 /64, since one IPv6 host usually owns a
// whole /64. Empty for an invalid address.
func ClientID(ip netip.Addr) string {
	var buf [maxIDLen]byte
	return string(AppendClientID(buf[:0], ip))
}

// AppendClientID appends ClientID(ip) to dst, for callers that build
// several strings in one allocation.
func AppendClientID(dst []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return dst
	}
	if ip.Is6() && !ip.Is4In6() {
		return Subnet(ip).AppendTo(dst)
	}
	return ip.Unmap().AppendTo(dst)
}

// SubnetID is the identity the subnet dimension counts by: the client's
// network, IPv4 /24 or IPv6 /64. Empty for an invalid address.
func SubnetID(ip netip.Addr) string {
	var buf [maxIDLen]byte
	return string(AppendSubnetID(buf[:0], ip))
}

// AppendSubnetID appends SubnetID(ip) to dst.
func AppendSubnetID(dst []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return dst
	}
	return Subnet(ip).AppendTo(dst)
}

// maxIDLen is the longest ClientID or SubnetID: an IPv6 /64 written out
// ("ffff:ffff:ffff:ffff::/64").
const maxIDLen = len("ffff:ffff:ffff:ffff::/64")

// Subnet is the client's network: IPv4 /24, IPv6 /64. An IPv4-mapped IPv6
// address is its IPv4 address's.
func Subnet(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 24
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// SessionID is the identity the session dimension counts by: the first 8
// bytes of the SHA-256 of the session cookie's value, in hex, so that no
// store ever holds the session secret itself. Empty for an empty value.
func SessionID(cookie string) string {
	if cookie == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:8])
}
