package fcrdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// result is the outcome of one verification, before it becomes a cache entry.
type result struct {
	// ptrNames are the PTR names considered (normalized, at most MaxNames).
	ptrNames []string
	// confirmed are the ptrNames whose forward lookup contains the address.
	confirmed []string
	// err is the first temporary failure; nil when every answer was
	// definitive.
	err error
}

// verify runs FCrDNS for addr: the PTR lookup, then one forward lookup per
// PTR name, in parallel so that one slow name does not use up the others'
// time. addr is unmapped and zoneless.
func (r *Resolver) verify(ctx context.Context, addr netip.Addr) result {
	ptrs, err := r.dns.LookupAddr(ctx, addr.String())
	if err != nil && len(ptrs) == 0 {
		if isNotFound(err) {
			return result{}
		}
		return result{err: fmt.Errorf("reverse lookup %s: %w", addr, err)}
	}
	// With names and an error, LookupAddr dropped malformed records and
	// returned the rest ("If the response contains invalid names, those
	// records are filtered out and an error will be returned alongside the
	// remaining results"): the rest are still worth confirming.
	names := normalize(ptrs, r.opts.MaxNames)
	res := result{ptrNames: names}
	if len(names) == 0 {
		return res
	}

	// Only the address's own family can contain it; asking for it alone
	// also keeps a failing AAAA query from clouding an IPv4 answer.
	network := "ip6"
	if addr.Is4() {
		network = "ip4"
	}
	ok := make([]bool, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { ok[i], errs[i] = r.confirm(ctx, network, name, addr) })
	}
	wg.Wait()

	for i, name := range names {
		if ok[i] {
			res.confirmed = append(res.confirmed, name)
		}
		if errs[i] != nil && res.err == nil {
			res.err = errs[i]
		}
	}
	return res
}

// confirm reports whether the forward lookup of name contains addr. A
// definitive "no such name / no such record" is false without error; any
// other failure is returned, as the name is then neither confirmed nor
// refuted.
func (r *Resolver) confirm(ctx context.Context, network, name string, addr netip.Addr) (bool, error) {
	// The trailing dot makes the name absolute, so the resolver does not
	// try it under resolv.conf's search domains.
	ips, err := r.dns.LookupNetIP(ctx, network, name+".")
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("forward lookup %s: %w", name, err)
	}
	for _, ip := range ips {
		if ip.Unmap().WithZone("") == addr {
			return true, nil
		}
	}
	return false, nil
}

// isNotFound reports whether err is the resolver's definitive "nothing
// there". net.DNSError documents IsNotFound as "set to true when the
// requested name does not contain any records of the requested type (data
// not found), or the name itself was not found (NXDOMAIN)". Everything else
// (IsTimeout, IsTemporary — set for SERVFAIL and socket errors — REFUSED,
// which Go reports as "server misbehaving" without either flag, a
// cancelled context) says nothing about the address and must not be
// cached as definitive.
func isNotFound(err error) bool {
	dnsErr, ok := errors.AsType[*net.DNSError](err)
	return ok && dnsErr.IsNotFound
}

// normalize lower-cases names, strips the trailing dot, drops empty names
// and duplicates, and keeps at most max, in answer order.
func normalize(names []string, max int) []string {
	out := make([]string, 0, min(len(names), max))
	for _, name := range names {
		if len(out) == max {
			break
		}
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if name == "" || contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
