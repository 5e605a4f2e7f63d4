package fcrdns

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// state is where an address's verification stands.
type state uint8

const (
	// statePending: a background verification is running. A pending slot
	// is never evicted, which is what keeps verifications at one per
	// address.
	statePending state = iota + 1
	// stateDone: the names are the address's forward-confirmed names (none
	// is a definitive answer unless partial is set).
	stateDone
	// stateUnknown: the verification failed temporarily without confirming
	// any name.
	stateUnknown
)

// entry is what the cache knows about one address, independent of suffixes.
type entry struct {
	state state
	// partial marks a stateDone entry where some names could not be checked
	// (temporary failure): a suffix none of the confirmed names matches
	// answers Unknown, not Failed, because the unchecked name might match.
	partial bool
	// names are forward-confirmed host names, lower-case, without the
	// trailing dot. The slice is never modified once stored, so a reader
	// may return one of its strings after releasing the lock.
	names   []string
	expires time.Time
}

// verdict answers the suffixes from an entry that is not pending.
func (e *entry) verdict(suffixes []string) (Verdict, string) {
	if e.state == stateUnknown {
		return Unknown, ""
	}
	if name, ok := matchSuffix(e.names, suffixes); ok {
		return Verified, name
	}
	if e.partial {
		return Unknown, ""
	}
	return Failed, ""
}

// slot is one cache position: CLOCK evicts by position.
type slot struct {
	addr netip.Addr
	// ref is CLOCK's reference bit. Verify sets it under the read lock,
	// hence atomic.
	ref atomic.Bool
	entry
}

// shard is a fixed-capacity CLOCK cache: index finds an address's slot, and
// on insertion into a full shard the hand sweeps the slots, clearing
// reference bits, until it finds an expired or unreferenced slot that is
// not pending. The sweep is bounded (two turns), so an insert never scans
// more than its own shard, and usually a few slots.
type shard struct {
	mu       sync.RWMutex
	index    map[netip.Addr]int
	slots    []slot
	capacity int
	hand     int
}

// cache is a set of shards that together hold at most size addresses, so
// Verify calls for different addresses rarely contend on one lock.
type cache struct {
	shards []shard
	mask   uint64
	// seed keeps an attacker from choosing addresses that all land in one
	// shard.
	seed uint64
	// size counts occupied slots across shards, for Stats.
	size atomic.Int64
}

const (
	maxShards = 64
	// minShardCapacity keeps shards large enough that CLOCK has room to
	// work and that pending slots (at most MaxInFlight) rarely fill one.
	minShardCapacity = 256
)

// newCache returns a cache that holds at most size addresses (size > 0).
// The capacities of the shards sum to exactly size.
func newCache(size int) *cache {
	n := 1
	for n < maxShards && size/(n*2) >= minShardCapacity {
		n *= 2
	}
	c := &cache{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		seed:   rand.Uint64(),
	}
	for i := range c.shards {
		capacity := size / n
		if i < size%n {
			capacity++
		}
		c.shards[i] = shard{index: make(map[netip.Addr]int), capacity: capacity}
	}
	return c
}

// shard returns the shard for addr, which must be unmapped and zoneless.
func (c *cache) shard(addr netip.Addr) *shard {
	b := addr.As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	// Two rounds of MurmurHash3's 64-bit finalizer: every input bit reaches
	// the low bits used as the index (a plain multiply only carries bits
	// upward, which would leave an IPv4 range in one shard), with no
	// allocation.
	return &c.shards[fmix64(fmix64(hi^c.seed)^lo)&c.mask]
}

// fmix64 is MurmurHash3's 64-bit finalizer.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// victim returns the index of the slot a new address may take, or false
// when every slot the sweep saw was pending. It must be called with the
// write lock held.
func (s *shard) victim(now time.Time) (int, bool) {
	if len(s.slots) < s.capacity {
		return len(s.slots), true
	}
	for range 2 * s.capacity {
		i := s.hand
		s.hand++
		if s.hand == s.capacity {
			s.hand = 0
		}
		sl := &s.slots[i]
		switch {
		case sl.state == statePending:
			continue
		case !now.Before(sl.expires):
			return i, true
		case sl.ref.Load():
			sl.ref.Store(false)
		default:
			return i, true
		}
	}
	return 0, false
}

// put stores e for addr at slot i, as returned by victim or found in index.
// It reports whether a new slot was occupied. It must be called with the
// write lock held.
func (s *shard) put(i int, addr netip.Addr, e entry) bool {
	grew := false
	if i == len(s.slots) {
		s.slots = append(s.slots, slot{})
		grew = true
	} else if old := s.slots[i].addr; old != addr {
		delete(s.index, old)
	}
	sl := &s.slots[i]
	sl.addr = addr
	sl.entry = e
	sl.ref.Store(false)
	s.index[addr] = i
	return grew
}

// complete replaces addr's pending entry with the verification's outcome.
func (c *cache) complete(addr netip.Addr, e entry) {
	s := c.shard(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The pending slot cannot have been evicted or replaced: victim skips
	// pending slots and Verify never restarts a pending address.
	if i, ok := s.index[addr]; ok && s.slots[i].state == statePending {
		s.slots[i].entry = e
	}
}
