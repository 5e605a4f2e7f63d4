package fcrdns

import "sync/atomic"

// Stats is a snapshot of a Resolver's counters, for metrics. The outcome
// counters count background verifications, not Verify calls: a verification
// is independent of suffixes, so its outcome is "names confirmed or not", and
// whether that verifies a given crawler is decided per call.
type Stats struct {
	// Lookups counts background verifications started.
	Lookups uint64
	// Confirmed counts verifications that forward-confirmed at least one
	// name (Verify answers Verified for the suffixes those names match).
	Confirmed uint64
	// Failed counts verifications that ended definitively without a
	// confirmed name: no PTR, or no PTR name's forward lookup contained the
	// address.
	Failed uint64
	// Unknown counts verifications that failed temporarily (timeout,
	// SERVFAIL, network, Close) without confirming any name.
	Unknown uint64
	// Dropped counts misses answered Unknown without starting a
	// verification: MaxInFlight was reached, or every cache slot that could
	// take the address held a running verification.
	Dropped uint64
	// Cached is the number of addresses in the cache, pending ones included.
	Cached int
	// InFlight is the number of verifications running now.
	InFlight int
}

// counters are the Resolver's atomic counters behind Stats.
type counters struct {
	lookups, confirmed, failed, unknown, dropped atomic.Uint64
}

// Stats returns the current counters. Each field is read atomically; the
// snapshot as a whole is not, which metrics do not need.
func (r *Resolver) Stats() Stats {
	return Stats{
		Lookups:   r.stats.lookups.Load(),
		Confirmed: r.stats.confirmed.Load(),
		Failed:    r.stats.failed.Load(),
		Unknown:   r.stats.unknown.Load(),
		Dropped:   r.stats.dropped.Load(),
		Cached:    int(r.cache.size.Load()),
		InFlight:  int(r.inflight.Load()),
	}
}
