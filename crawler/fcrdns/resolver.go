package fcrdns

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Resolver verifies addresses by forward-confirmed reverse DNS and caches the
// outcome per address. It is safe for concurrent use. Create it with New and
// stop it with Close.
type Resolver struct {
	opts  Options
	dns   *net.Resolver
	cache *cache
	stats counters

	// inflight counts running verifications, bounded by opts.MaxInFlight.
	inflight atomic.Int64

	// base is the parent of every verification's context; Close cancels it.
	base   context.Context
	cancel context.CancelFunc

	// life guards closed and orders wg.Add before Close's wg.Wait: Add must
	// not race with a Wait that may already have seen a zero counter.
	life   sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// New returns a Resolver configured by opts (zero fields take their
// documented defaults). It starts no goroutine until the first cache miss.
func New(opts Options) *Resolver {
	opts = opts.withDefaults()
	base, cancel := context.WithCancel(context.Background())
	return &Resolver{
		opts: opts,
		// PreferGo selects Go's own DNS client, the only one that honours
		// Dial and the context (the cgo resolver, getaddrinfo, cannot be
		// cancelled). net.Resolver's doc: "PreferGo controls whether Go's
		// built-in DNS resolver is preferred"; "Dial optionally specifies an
		// alternate dialer for use by Go's built-in DNS resolver".
		dns:    &net.Resolver{PreferGo: true, Dial: dialFunc(opts.Server)},
		cache:  newCache(opts.CacheSize),
		base:   base,
		cancel: cancel,
	}
}

// Verify returns what is known about addr against suffixes (lower-case, no
// leading dot; a name matches a suffix when it equals it or ends in
// "."+suffix), and the confirmed host name that matched ("" unless
// Verified).
//
// On a cache miss (absent or expired) it starts one background
// verification of addr (at most one per address at a time: concurrent
// callers share it) and returns Pending; it never blocks on the network. A
// cache hit does not allocate. A miss answers Unknown, starting nothing and
// caching nothing, when MaxInFlight verifications are running or after
// Close.
//
// An IPv4-mapped IPv6 address is the IPv4 address; an IPv6 zone is ignored.
// An invalid address, or an empty suffix list, is Failed without a lookup:
// nothing could verify it.
func (r *Resolver) Verify(addr netip.Addr, suffixes []string) (Verdict, string) {
	if !addr.IsValid() || len(suffixes) == 0 {
		return Failed, ""
	}
	addr = addr.Unmap().WithZone("")
	now := r.opts.Now()
	s := r.cache.shard(addr)

	s.mu.RLock()
	if i, ok := s.index[addr]; ok {
		sl := &s.slots[i]
		if sl.state == statePending {
			s.mu.RUnlock()
			return Pending, ""
		}
		if now.Before(sl.expires) {
			// Load first: a store on every hit would bounce the cache line
			// between cores for a hot address.
			if !sl.ref.Load() {
				sl.ref.Store(true)
			}
			v, name := sl.verdict(suffixes)
			s.mu.RUnlock()
			return v, name
		}
	}
	s.mu.RUnlock()
	return r.miss(s, addr, suffixes, now)
}

// miss handles an address that is absent or expired: under the shard's write
// lock it rechecks (another caller may have started or finished a
// verification meanwhile), takes an in-flight place and a cache slot, and
// starts the verification.
func (r *Resolver) miss(s *shard, addr netip.Addr, suffixes []string, now time.Time) (Verdict, string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	i, ok := s.index[addr]
	if ok {
		sl := &s.slots[i]
		if sl.state == statePending {
			return Pending, ""
		}
		if now.Before(sl.expires) {
			return sl.verdict(suffixes)
		}
	} else if i, ok = s.victim(now); !ok {
		r.stats.dropped.Add(1)
		return Unknown, ""
	}
	if !r.acquire() {
		r.stats.dropped.Add(1)
		return Unknown, ""
	}
	if !r.start(addr) {
		r.inflight.Add(-1)
		return Unknown, ""
	}
	// The verification's goroutine stores its outcome under this same lock,
	// so it cannot find the slot before it is pending.
	if s.put(i, addr, entry{state: statePending}) {
		r.cache.size.Add(1)
	}
	return Pending, ""
}

// acquire takes an in-flight place, or reports false when MaxInFlight are
// running. A compare-and-swap loop rather than a semaphore channel: a full
// Resolver must answer at once, not wait.
func (r *Resolver) acquire() bool {
	limit := int64(r.opts.MaxInFlight)
	for {
		n := r.inflight.Load()
		if n >= limit {
			return false
		}
		if r.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// start runs the verification of addr in a new goroutine, or reports false
// once Close has begun.
func (r *Resolver) start(addr netip.Addr) bool {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	r.stats.lookups.Add(1)
	go r.run(addr)
	return true
}

// run verifies addr and stores the outcome. It counts the outcome and
// releases the in-flight place before the outcome becomes visible, so a
// caller that sees it also sees it counted and can start another
// verification at once.
func (r *Resolver) run(addr netip.Addr) {
	defer r.wg.Done()

	ctx, cancel := context.WithTimeout(r.base, r.opts.Timeout)
	res := r.verify(ctx, addr)
	cancel()
	e := r.entryFor(res)
	r.record(addr, res, e)
	r.inflight.Add(-1)
	r.cache.complete(addr, e)
}

// Close stops background work: it cancels running verifications (their
// addresses become Unknown for ErrorTTL), waits for their goroutines, and
// makes later misses answer Unknown without a lookup. Cached answers are
// still served. Close may be called more than once.
func (r *Resolver) Close() {
	r.life.Lock()
	r.closed = true
	r.life.Unlock()
	r.cancel()
	r.wg.Wait()
}
