// Package clientip decides who the client of a request is, the same way for
// the ext_authz Check and the challenge pages: Envoy's trusted-client decision
// first, then a configured number of trusted x-forwarded-for hops, then the
// connection's peer. A client-sent x-forwarded-for is never trusted by
// default.
package clientip

import (
	"net/netip"
	"strings"
)

// From returns the client address, or an invalid Addr when no source gives
// a parseable one. externalAddr is x-envoy-external-address; xff is
// x-forwarded-for, used only when hops > 0 (its hops-th entry from the
// right); peer is the connection's address, with or without a port.
func From(externalAddr, xff string, hops int, peer string) netip.Addr {
	if ip, ok := Parse(externalAddr); ok {
		return ip
	}
	if hops > 0 {
		if ip, ok := Parse(xffEntry(xff, hops)); ok {
			return ip
		}
	}
	if ip, ok := Parse(peer); ok {
		return ip
	}
	if ap, err := netip.ParseAddrPort(strings.TrimSpace(peer)); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	return netip.Addr{}
}

// Parse parses an address as Envoy or a proxy writes it: surrounding blanks,
// an IPv6 zone and 4-in-6 mapping are tolerated.
func Parse(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

// xffEntry returns the n-th comma-separated entry from the right (n >= 1), or
// "" when the list is shorter.
func xffEntry(xff string, n int) string {
	for end := len(xff); end >= 0; {
		start := strings.LastIndexByte(xff[:end], ',') + 1
		if n--; n == 0 {
			return xff[start:end]
		}
		if start == 0 {
			break
		}
		end = start - 1
	}
	return ""
}
