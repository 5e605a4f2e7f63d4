package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures NewMemory. Zero values select the defaults.
type MemoryOptions struct {
	// MaxKeys bounds the number of live counters (default 1<<20). When it is
	// reached, expired counters are dropped first, then arbitrary ones.
	MaxKeys int
	// Shards is the number of independently locked partitions (default 64,
	// rounded up to a power of two; fewer if MaxKeys is below 8 per shard).
	Shards int
}

// sweepInterval limits how often a full shard is scanned for expired
// entries: under a flood of new keys every insert into a full shard would
// otherwise scan the whole shard.
const sweepInterval = time.Second

const minKeysPerShard = 8

// Memory is a Store that keeps counters in process memory. Counts are per
// process, so replicas do not share them; use it when there is no Redis.
type Memory struct {
	seed      maphash.Seed
	shards    []memShard
	mask      uint64
	evictions atomic.Uint64
}

// memShard is padded to a cache line so neighbouring shards' locks do not
// contend through false sharing.
type memShard struct {
	mu        sync.Mutex
	entries   map[string]memEntry
	maxKeys   int
	nextSweep int64 // unix ms before which a sweep is not worth its scan
	_         [32]byte
}

// memEntry holds a counter's two buckets. expires is the end of bucket+1
// (two windows after bucket began): from then on both buckets read 0.
type memEntry struct {
	bucket    int64
	cur, prev int64
	expires   int64 // unix ms
}

// NewMemory returns an empty in-memory Store.
func NewMemory(opts MemoryOptions) *Memory {
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 1 << 20
	}
	shards := opts.Shards
	if shards <= 0 {
		shards = 64
	}
	shards = 1 << bits.Len(uint(shards-1)) // round up to a power of two
	// Keys spread over shards unevenly, so tiny shards would evict while
	// others have room: keep a few keys per shard where MaxKeys allows.
	for shards > 1 && shards*minKeysPerShard > maxKeys {
		shards >>= 1
	}
	m := &Memory{
		seed:   maphash.MakeSeed(),
		shards: make([]memShard, shards),
		mask:   uint64(shards - 1),
	}
	for i := range m.shards {
		m.shards[i].entries = make(map[string]memEntry)
		m.shards[i].maxKeys = maxKeys / shards
		if i < maxKeys%shards { // the shards' capacities add up to MaxKeys
			m.shards[i].maxKeys++
		}
	}
	return m
}

// Hit implements Store. Each counter is updated atomically on its own; the
// counters of one call are not updated as a group. A peeked counter is only
// looked up: it is never inserted, so peeks neither fill a shard nor make it
// evict.
func (m *Memory) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	if err := checkHit(counters, obs); err != nil {
		return err
	}
	nowMs := now.UnixMilli()
	for i, c := range counters {
		windowMs := c.Window.Milliseconds()
		bucket, elapsedMs := bucketOf(nowMs, windowMs)
		s := &m.shards[maphash.String(m.seed, c.Key)&m.mask]
		s.mu.Lock()
		prev, cur := m.hitLocked(s, c.Key, bucket, windowMs, nowMs, c.Peek)
		s.mu.Unlock()
		obs[i] = Observation{
			Prev:    prev,
			Cur:     cur,
			Elapsed: time.Duration(elapsedMs) * time.Millisecond,
			Window:  c.Window,
		}
	}
	return nil
}

// hitLocked counts one hit in bucket, unless peek, and returns the counts
// before it.
func (m *Memory) hitLocked(s *memShard, key string, bucket, windowMs, nowMs int64, peek bool) (prev, cur int64) {
	e, present := s.entries[key]
	ok := present && nowMs < e.expires // an expired entry reads as empty
	switch {
	case ok && e.bucket == bucket:
		prev, cur = e.prev, e.cur
		e.cur++
	case ok && e.bucket == bucket-1:
		prev = e.cur
		e.bucket, e.prev, e.cur = bucket, e.cur, 1
	case ok && e.bucket == bucket+1:
		// A late hit from a replica whose clock is behind: it belongs to
		// what is now the previous bucket, the one before that is gone.
		prev, cur = 0, e.prev
		e.prev++
	case ok && e.bucket > bucket+1:
		// Older than both buckets kept: nothing to count it in.
		return 0, 0
	default:
		e = memEntry{bucket: bucket, cur: 1}
	}
	if peek {
		// A peek reads through the same cases as a hit, so it cannot read
		// differently, and stops short of storing: it neither creates an
		// entry nor makes room for one.
		return prev, cur
	}
	e.expires = max(e.expires, (e.bucket+2)*windowMs)

	if !present && len(s.entries) >= s.maxKeys {
		m.makeRoomLocked(s, nowMs)
	}
	s.entries[key] = e
	return prev, cur
}

// makeRoomLocked frees one slot in a full shard, preferring expired entries.
func (m *Memory) makeRoomLocked(s *memShard, nowMs int64) {
	if nowMs >= s.nextSweep {
		next := int64(math.MaxInt64)
		for k, e := range s.entries {
			if nowMs >= e.expires {
				delete(s.entries, k)
			} else {
				next = min(next, e.expires)
			}
		}
		s.nextSweep = max(next, nowMs+sweepInterval.Milliseconds())
	}
	for k := range s.entries {
		if len(s.entries) < s.maxKeys {
			break
		}
		// Map iteration starts at a random entry, which makes this an
		// arbitrary (not attacker-chosen) victim.
		delete(s.entries, k)
		m.evictions.Add(1)
	}
}

// Ping implements Store; memory is always available.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store and drops all counters.
func (m *Memory) Close() error {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		clear(s.entries)
		s.mu.Unlock()
	}
	return nil
}

// Len returns the number of counters held, including expired ones not yet
// swept.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// Evictions returns how many live counters were dropped to stay within
// MaxKeys. A growing value means MaxKeys is too small for the traffic.
func (m *Memory) Evictions() uint64 { return m.evictions.Load() }
