package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures NewMemory. Zero values select the defaults.
type MemoryOptions struct {
	// MaxKeys bounds the number of live counters, that is of lanes, not of
	// keys (default 1<<20). When it is reached, expired counters are
	// dropped first, then arbitrary keys with all their lanes.
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
//
// A key is one map entry holding its lanes in a slice sized to fit, so a
// Hit looks each of its keys up once, and a lane costs about its own
// fields: the key and the map slot are paid once per identity.
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
	keys      map[string][]memLane
	lanes     int // in keys, expired or not: what maxKeys bounds
	maxKeys   int
	nextSweep int64 // unix ms before which a sweep is not worth its scan
	_         [24]byte
}

// memLane holds one counter's two buckets in 40 bytes, a counter's whole
// cost besides its share of its key. A lane's parts (Counter.Part) are a
// memLane each: this store reads a lane's parts no cheaper together than
// apart, so it keeps them as the separate counters they are. expires is
// the end of the lane's newest bucket's successor, (bucket+2)*window: from
// then on both buckets read 0, and the lane's slot may be taken by another
// lane of its key. It also stands for the newest bucket,
// expires/window - 2, since a lane's bucket only grows while it lives.
// Counts stop at math.MaxUint32, which no limit comes near: a count that
// large is over every limit.
type memLane struct {
	lane      string
	expires   int64 // unix ms
	cur, prev uint32
	part      uint8
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
		m.shards[i].keys = make(map[string][]memLane)
		m.shards[i].maxKeys = maxKeys / shards
		if i < maxKeys%shards { // the shards' capacities add up to MaxKeys
			m.shards[i].maxKeys++
		}
	}
	return m
}

// Hit implements Store. The lanes of one key are updated together, under
// its shard's lock; the keys of one call are not updated as a group. A
// peeked counter is only looked up: it is never inserted, neither as a
// lane nor as a key, so peeks neither fill a shard nor make it evict.
func (m *Memory) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	if err := checkHit(counters, obs); err != nil {
		return err
	}
	nowMs := now.UnixMilli()
	for i := range counters {
		if keyBefore(counters, i) {
			continue // hit with the first counter of its key
		}
		s := &m.shards[maphash.String(m.seed, counters[i].Key)&m.mask]
		s.mu.Lock()
		m.hitKeyLocked(s, nowMs, counters, obs, i)
		s.mu.Unlock()
	}
	return nil
}

// keyBefore reports whether a counter before counters[i] has its key. A
// Hit has a handful of counters, so a scan beats a set; a key's strings
// are usually one string, which compares by pointer.
func keyBefore(counters []Counter, i int) bool {
	for j := range i {
		if counters[j].Key == counters[i].Key {
			return true
		}
	}
	return false
}

// hitKeyLocked counts the hits on the lanes of counters[first]'s key, the
// counters from first on that have it, with one map lookup, and fills
// their observations.
func (m *Memory) hitKeyLocked(s *memShard, nowMs int64, counters []Counter, obs []Observation, first int) {
	key := counters[first].Key
	lanes := s.keys[key]
	resized := false // lanes is not the slice s.keys holds
	for i := first; i < len(counters); i++ {
		c := &counters[i]
		if c.Key != key {
			continue
		}
		windowMs := c.Window.Milliseconds()
		bucket, elapsedMs := bucketOf(nowMs, windowMs)
		at := slices.IndexFunc(lanes, func(l memLane) bool { return l.part == c.Part && l.lane == c.Lane })
		var l memLane
		if at >= 0 {
			l = lanes[at]
		}
		prev, cur, counts := l.hit(at >= 0 && nowMs < l.expires, bucket, windowMs)
		obs[i] = Observation{
			Prev:    int64(prev),
			Cur:     int64(cur),
			Elapsed: time.Duration(elapsedMs) * time.Millisecond,
			Window:  c.Window,
		}
		if c.Peek || !counts {
			// A peek reads through the same cases as a hit, so it cannot
			// read differently, and stops short of storing: it neither
			// creates a lane nor makes room for one.
			continue
		}
		l.lane, l.part = c.Lane, c.Part
		if at >= 0 {
			lanes[at] = l
			continue
		}
		// A new lane takes the slot of an expired one of its key, if any,
		// so a key's slice grows only with its live lanes.
		if at = slices.IndexFunc(lanes, func(l memLane) bool { return nowMs >= l.expires }); at >= 0 {
			lanes[at] = l
			continue
		}
		if s.lanes >= s.maxKeys {
			if resized {
				s.keys[key] = lanes
			}
			m.makeRoomLocked(s, nowMs)
			// Making room may have swept or evicted this very key.
			lanes, resized = s.keys[key], false
		}
		lanes = appendLane(lanes, l)
		s.lanes++
		resized = true
	}
	if resized {
		s.keys[key] = lanes
	}
}

// hit counts one hit in bucket on l, which holds the lane's state if live
// (a missing or expired lane reads as empty), and returns the counts before
// it. counts is false for a hit older than both buckets kept, which has
// nothing to count in; l is then unchanged.
func (l *memLane) hit(live bool, bucket, windowMs int64) (prev, cur uint32, counts bool) {
	newest := l.expires/windowMs - 2
	switch {
	case live && newest == bucket:
		prev, cur = l.prev, l.cur
		l.cur = inc(l.cur)
	case live && newest == bucket-1:
		prev = l.cur
		l.prev, l.cur = l.cur, 1
	case live && newest == bucket+1:
		// A late hit from a replica whose clock is behind: it belongs to
		// what is now the previous bucket, the one before that is gone.
		prev, cur = 0, l.prev
		l.prev = inc(l.prev)
		return prev, cur, true
	case live && newest > bucket+1:
		return 0, 0, false
	default:
		l.cur, l.prev = 1, 0
	}
	l.expires = (bucket + 2) * windowMs
	return prev, cur, true
}

// inc adds one to a count, short of overflowing.
func inc(n uint32) uint32 {
	if n == math.MaxUint32 {
		return n
	}
	return n + 1
}

// appendLane appends l to lanes, growing the slice by one slot rather than
// doubling it: most keys keep the few lanes they have, and a slot is a
// lane's whole cost.
func appendLane(lanes []memLane, l memLane) []memLane {
	if len(lanes) < cap(lanes) {
		return append(lanes, l)
	}
	grown := make([]memLane, len(lanes)+1)
	copy(grown, lanes)
	grown[len(lanes)] = l
	return grown
}

// makeRoomLocked frees at least one lane's room in a full shard,
// preferring expired lanes, then evicting whole keys.
func (m *Memory) makeRoomLocked(s *memShard, nowMs int64) {
	if nowMs >= s.nextSweep {
		next := int64(math.MaxInt64)
		for k, lanes := range s.keys {
			live := lanes[:0]
			for _, l := range lanes {
				if nowMs < l.expires {
					live = append(live, l)
					next = min(next, l.expires)
				}
			}
			if len(live) == len(lanes) {
				continue
			}
			clear(lanes[len(live):]) // let go of the dropped lanes' names
			s.lanes -= len(lanes) - len(live)
			if len(live) == 0 {
				delete(s.keys, k)
			} else {
				s.keys[k] = live
			}
		}
		s.nextSweep = max(next, nowMs+sweepInterval.Milliseconds())
	}
	for k, lanes := range s.keys {
		if s.lanes < s.maxKeys {
			break
		}
		// Map iteration starts at a random entry, which makes this an
		// arbitrary (not attacker-chosen) victim.
		delete(s.keys, k)
		s.lanes -= len(lanes)
		m.evictions.Add(uint64(len(lanes)))
	}
}

// Ping implements Store; memory is always available.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store and drops all counters.
func (m *Memory) Close() error {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		clear(s.keys)
		s.lanes = 0
		s.mu.Unlock()
	}
	return nil
}

// Len returns the number of counters (lanes) held, including expired ones
// not yet swept.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.lanes
		s.mu.Unlock()
	}
	return n
}

// Evictions returns how many live counters were dropped to stay within
// MaxKeys. A growing value means MaxKeys is too small for the traffic.
func (m *Memory) Evictions() uint64 { return m.evictions.Load() }
