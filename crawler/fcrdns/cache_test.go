package fcrdns

import (
	"net/netip"
	"testing"
	"time"
)

// TestNewCacheCapacitiesSumToSize: the bound is exact, not rounded up per
// shard.
func TestNewCacheCapacitiesSumToSize(t *testing.T) {
	for _, size := range []int{1, 7, 255, 512, 1000, 4097, 65536, 100003} {
		c := newCache(size)
		sum := 0
		for i := range c.shards {
			sum += c.shards[i].capacity
		}
		if sum != size {
			t.Errorf("size %d: shard capacities sum to %d", size, sum)
		}
		if n := len(c.shards); n&(n-1) != 0 || n > maxShards {
			t.Errorf("size %d: %d shards, want a power of two up to %d", size, n, maxShards)
		}
	}
}

// TestShardClockEviction: a full shard evicts an expired slot first, then an
// unreferenced one, gives referenced slots a second chance, and never evicts
// a pending slot.
func TestShardClockEviction(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	done := entry{state: stateDone, expires: now.Add(time.Hour)}
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	fill := func(t *testing.T, entries ...entry) *shard {
		t.Helper()
		s := &shard{index: make(map[netip.Addr]int), capacity: len(entries)}
		for i, e := range entries {
			slot, ok := s.victim(now)
			if !ok || slot != i {
				t.Fatalf("victim while filling = (%d, %v), want (%d, true)", slot, ok, i)
			}
			s.put(slot, addr(i), e)
		}
		return s
	}
	evict := func(t *testing.T, s *shard) netip.Addr {
		t.Helper()
		i, ok := s.victim(now)
		if !ok {
			t.Fatal("no victim")
		}
		old := s.slots[i].addr
		if grew := s.put(i, addr(100), done); grew {
			t.Fatal("put into a full shard grew it")
		}
		if _, ok := s.index[old]; ok {
			t.Fatalf("evicted %s still indexed", old)
		}
		if len(s.index) != s.capacity {
			t.Fatalf("index holds %d addresses, want %d", len(s.index), s.capacity)
		}
		return old
	}

	t.Run("unreferenced before referenced", func(t *testing.T) {
		s := fill(t, done, done, done, done)
		s.slots[0].ref.Store(true)
		s.slots[1].ref.Store(true)
		if got := evict(t, s); got != addr(2) {
			t.Errorf("evicted %s, want %s", got, addr(2))
		}
		if s.slots[0].ref.Load() || s.slots[1].ref.Load() {
			t.Error("the hand passed referenced slots without clearing their bit")
		}
	})
	t.Run("expired even if referenced", func(t *testing.T) {
		expired := entry{state: stateDone, expires: now}
		s := fill(t, done, done, expired, done)
		for i := range s.slots {
			s.slots[i].ref.Store(true)
		}
		if got := evict(t, s); got != addr(2) {
			t.Errorf("evicted %s, want %s", got, addr(2))
		}
	})
	t.Run("all referenced: second chance then the first", func(t *testing.T) {
		s := fill(t, done, done, done)
		for i := range s.slots {
			s.slots[i].ref.Store(true)
		}
		if got := evict(t, s); got != addr(0) {
			t.Errorf("evicted %s, want %s", got, addr(0))
		}
	})
	t.Run("pending is never evicted", func(t *testing.T) {
		pending := entry{state: statePending}
		s := fill(t, pending, pending, done)
		if got := evict(t, s); got != addr(2) {
			t.Errorf("evicted %s, want %s", got, addr(2))
		}
		s = fill(t, pending, pending)
		if i, ok := s.victim(now); ok {
			t.Errorf("victim = %d in a shard of pending slots, want none", i)
		}
	})
}

// TestCacheShardSpread: addresses spread over the shards rather than
// piling into one.
func TestCacheShardSpread(t *testing.T) {
	c := newCache(65536)
	counts := make(map[*shard]int)
	for i := range 1 << 14 {
		// Sequential addresses, the usual shape of a crawler's range.
		a := netip.AddrFrom4([4]byte{66, 249, byte(i >> 8), byte(i)})
		counts[c.shard(a)]++
	}
	if len(counts) != len(c.shards) {
		t.Errorf("addresses landed in %d of %d shards", len(counts), len(c.shards))
	}
	for s, n := range counts {
		// 256 per shard on average; 2x either way would mean a poor mix.
		if n < 128 || n > 512 {
			t.Errorf("shard %p got %d of %d addresses", s, n, 1<<14)
		}
	}
}
