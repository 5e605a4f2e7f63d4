// Package fcrdns verifies that an IP address belongs to a crawler operator by
// forward-confirmed reverse DNS (FCrDNS): the address's PTR names are looked
// up, each name is looked up forward (A for IPv4, AAAA for IPv6), and a name
// counts only when its forward answer contains the address. A confirmed name
// that equals one of the operator's documented suffixes, or ends in
// "."+suffix, verifies the address for that operator.
//
// The package owns the DNS lookups and a bounded, per-address cache of their
// outcome. It does not know which crawlers exist or which suffixes they
// document; the caller passes the suffixes to [Resolver.Verify], so one
// lookup serves every crawler entry.
//
// [Resolver.Verify] sits on the request path (every ext_authz Check) and must
// never wait on DNS: a cache hit answers from memory without allocating, and a
// miss starts at most one background verification per address and answers
// [Pending]. The number of background verifications is bounded
// (Options.MaxInFlight); beyond it a miss answers [Unknown] rather than
// queueing, so a flood of addresses claiming to be a crawler cannot grow
// goroutines or queues without bound.
//
// How long an outcome is kept (see Options):
//
//	forward-confirmed names                      TTL (1h)
//	no PTR name (NXDOMAIN, empty answer)         TTL
//	PTR names, none forward-confirmed            NegativeTTL (15m)
//	temporary failure, nothing confirmed         ErrorTTL (30s), Unknown
//	names confirmed, another failed temporarily  ErrorTTL; suffixes no
//	                                             confirmed name matches are
//	                                             Unknown, not Failed
//
// Lookups use Go's own DNS client (net.Resolver with PreferGo), which honours
// cancellation and Options.Server. Like every lookup through package net, it
// reads /etc/hosts before asking DNS, for PTR and forward lookups alike.
//
// A temporary DNS failure (timeout, SERVFAIL, REFUSED, network error) is
// never taken as proof either way: it yields [Unknown], cached only for
// Options.ErrorTTL. Only NXDOMAIN or an empty answer (net.DNSError.IsNotFound)
// is definitive.
package fcrdns
