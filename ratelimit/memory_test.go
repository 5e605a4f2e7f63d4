package ratelimit_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/ratelimit/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{})
	})
}

func TestMemoryConformanceWithOneShardAndFewKeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 8})
	})
}

func mustHit(t testing.TB, s ratelimit.Store, now time.Time, counters ...ratelimit.Counter) []ratelimit.Observation {
	t.Helper()
	obs := make([]ratelimit.Observation, len(counters))
	if err := s.Hit(t.Context(), now, counters, obs); err != nil {
		t.Fatalf("Hit: %v", err)
	}
	return obs
}

func TestMemoryNeverExceedsMaxKeys(t *testing.T) {
	for _, opts := range []ratelimit.MemoryOptions{
		{MaxKeys: 100},
		{MaxKeys: 100, Shards: 3},
		{MaxKeys: 5, Shards: 64},
		{MaxKeys: 1},
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			m := ratelimit.NewMemory(opts)
			now := time.UnixMilli(1_700_000_040_000)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 2000 {
						c := ratelimit.Counter{Key: fmt.Sprintf("k%d-%d", g, i), Window: time.Minute}
						mustHit(t, m, now, c)
						if n := m.Len(); n > opts.MaxKeys {
							t.Errorf("Len() = %d > MaxKeys %d", n, opts.MaxKeys)
							return
						}
					}
				})
			}
			wg.Wait()
			// 8000 keys fill every shard, so the capacity is all of MaxKeys.
			if n := m.Len(); n != opts.MaxKeys {
				t.Errorf("Len() = %d after 8000 distinct keys, want MaxKeys %d", n, opts.MaxKeys)
			}
			if m.Evictions() == 0 {
				t.Error("8000 distinct live keys caused no eviction")
			}
		})
	}
}

func TestMemorySweepsExpiredEntriesBeforeEvicting(t *testing.T) {
	const w = time.Second
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 4})
	t0 := time.UnixMilli(1_700_000_040_000)
	counter := func(name string) ratelimit.Counter { return ratelimit.Counter{Key: name, Window: w} }

	for _, k := range []string{"old1", "old2", "old3"} {
		mustHit(t, m, t0, counter(k))
	}
	mustHit(t, m, t0.Add(1500*time.Millisecond), counter("live"))
	if m.Len() != 4 {
		t.Fatalf("Len() = %d, want the shard full at 4", m.Len())
	}

	// Two windows after old* began they are expired; live (one bucket
	// later) is not.
	now := t0.Add(2 * w)
	mustHit(t, m, now, counter("new"))
	if got := m.Evictions(); got != 0 {
		t.Errorf("Evictions() = %d, want 0: expired entries should have made room", got)
	}
	if got := m.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2 (live and new)", got)
	}
	if got := mustHit(t, m, now, counter("live"))[0]; got.Prev != 1 {
		t.Errorf("live counter after the sweep: %+v, want Prev 1", got)
	}

	// With nothing expired, room comes from evicting live entries.
	for i := range 3 {
		mustHit(t, m, now, counter("more"+strconv.Itoa(i)))
	}
	if got := m.Evictions(); got != 1 {
		t.Errorf("Evictions() = %d after one insert too many, want 1", got)
	}
	if got := m.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
}

func TestMemoryReadsExpiredEntryAsEmpty(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	t0 := time.UnixMilli(1_700_000_040_000)
	c := ratelimit.Counter{Key: "k", Window: time.Second}
	mustHit(t, m, t0, c)
	mustHit(t, m, t0, c)
	if got := mustHit(t, m, t0.Add(5*time.Second), c)[0]; got.Prev != 0 || got.Cur != 0 {
		t.Errorf("hit 5 windows later observed %+v, want 0/0", got)
	}
}

func TestMemoryPeeksNeitherInsertNorEvict(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 4})
	t0 := time.UnixMilli(1_700_000_040_000)
	counter := func(name string) ratelimit.Counter { return ratelimit.Counter{Key: name, Window: time.Second} }
	peekOf := func(name string) ratelimit.Counter {
		c := counter(name)
		c.Peek = true
		return c
	}

	mustHit(t, m, t0, peekOf("never hit"))
	if n := m.Len(); n != 0 {
		t.Fatalf("Len() = %d after a peek on an empty store, want 0", n)
	}
	held := []string{"a", "b", "c", "d"}
	for _, k := range held {
		mustHit(t, m, t0, counter(k))
	}
	// The shard is full: a hit on a new key would evict one of held.
	for i := range 100 {
		mustHit(t, m, t0, peekOf("new"+strconv.Itoa(i)))
	}
	// Two windows on, held have expired: a hit on a new key would sweep them.
	mustHit(t, m, t0.Add(2*time.Second), peekOf("new after expiry"))
	if n, ev := m.Len(), m.Evictions(); n != len(held) || ev != 0 {
		t.Errorf("after peeks on 101 new keys: Len() = %d, Evictions() = %d; want %d, 0", n, ev, len(held))
	}
	for _, k := range held {
		if got := mustHit(t, m, t0, peekOf(k))[0]; got.Cur != 1 {
			t.Errorf("counter %s after the peeks: %+v, want Cur 1", k, got)
		}
	}
}

func TestMemoryHitWithPeeksDoesNotAllocate(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	now := time.UnixMilli(1_700_000_040_000)
	counters := []ratelimit.Counter{
		{Key: "hit", Window: time.Minute},
		{Key: "peek of a live counter", Window: time.Minute},
		{Key: "peek of a missing counter", Window: time.Minute, Peek: true},
	}
	mustHit(t, m, now, counters[:2]...) // create the counters hits find
	counters[1].Peek = true
	obs := make([]ratelimit.Observation, len(counters))
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.Hit(t.Context(), now, counters, obs); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Hit of a hit and two peeks allocates %v times, want 0", allocs)
	}
	// The setup hit, then AllocsPerRun's warm-up and 100 runs, all counted
	// on the hit counter only.
	if obs[0].Cur != 101 || obs[1].Cur != 1 || obs[2].Cur != 0 {
		t.Errorf("observations of the last of 101 calls: %+v, want Cur 101, 1, 0", obs)
	}
}

// TestRetryAfterAgreesWithMemoryStore replays random observations on a real
// store: a request RetryAfter later is under the limit, 1ms earlier it is not.
func TestRetryAfterAgreesWithMemoryStore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		w := time.Duration(1+rng.Int64N(120_000)) * time.Millisecond
		bucketStart := time.UnixMilli(1_700_000_000_000 / w.Milliseconds() * w.Milliseconds())
		elapsed := time.Duration(rng.Int64N(w.Milliseconds())) * time.Millisecond
		prev, cur := rng.Int64N(60), rng.Int64N(60)
		limit := 1 + rng.Int64N(150)
		c := ratelimit.Counter{Key: "k" + strconv.Itoa(i), Window: w}

		// setup returns a store whose next hit at bucketStart+elapsed
		// observes prev/cur, and that observation.
		setup := func() (*ratelimit.Memory, ratelimit.Observation) {
			m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
			for range prev {
				mustHit(t, m, bucketStart.Add(-w), c)
			}
			for range cur {
				mustHit(t, m, bucketStart, c)
			}
			return m, mustHit(t, m, bucketStart.Add(elapsed), c)[0]
		}

		m, o := setup()
		if o.Prev != prev || o.Cur != cur || o.Elapsed != elapsed {
			t.Fatalf("setup observed %+v, want prev %d cur %d elapsed %v", o, prev, cur, elapsed)
		}
		retry := o.RetryAfter(limit)
		then := bucketStart.Add(elapsed + retry)
		if est := mustHit(t, m, then, c)[0].Estimate(); est > float64(limit) {
			t.Fatalf("%+v.RetryAfter(%d) = %v, but the store then estimates %v", o, limit, retry, est)
		}
		if retry > 0 {
			m, _ := setup()
			if est := mustHit(t, m, then.Add(-time.Millisecond), c)[0].Estimate(); est <= float64(limit) {
				t.Fatalf("%+v.RetryAfter(%d) = %v, but 1ms earlier the store estimates %v", o, limit, retry, est)
			}
		}
	}
}

func BenchmarkMemoryHit(b *testing.B) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	counters := []ratelimit.Counter{
		{Key: ratelimit.Key(ratelimit.DimIP, "203.0.113.7", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSession, "9f86d081884c7d65", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimRouteIP, "203.0.113.7", "login", 10*time.Second), Window: 10 * time.Second},
	}
	obs := make([]ratelimit.Observation, len(counters))
	now := time.Now()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Hit(ctx, now, counters, obs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryHitPeek is BenchmarkMemoryHit with three peeked history
// counters of the client added: the shape of a Check that reads its entity
// history in the same call.
func BenchmarkMemoryHitPeek(b *testing.B) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	now := time.Now()
	benchmarkHitPeek(b, m, func() time.Time { return now })
}

// benchCounters are the counters of a typical Check; benchPeeks adds the
// client's history counters, read but not counted, on the client's hash tag.
var (
	benchCounters = []ratelimit.Counter{
		{Key: ratelimit.Key(ratelimit.DimIP, "203.0.113.7", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSubnet, "203.0.113.0/24", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimSession, "9f86d081884c7d65", "", time.Minute), Window: time.Minute},
		{Key: ratelimit.Key(ratelimit.DimRouteIP, "203.0.113.7", "login", 10*time.Second), Window: 10 * time.Second},
	}
	benchPeeks = []ratelimit.Counter{
		{Key: "ba:v1:{ip:203.0.113.7}:h:denied:600s", Window: 10 * time.Minute, Peek: true},
		{Key: "ba:v1:{ip:203.0.113.7}:h:429:600s", Window: 10 * time.Minute, Peek: true},
		{Key: "ba:v1:{ip:203.0.113.7}:h:challenge_failed:600s", Window: 10 * time.Minute, Peek: true},
	}
)

// benchmarkHitPeek times Hit on benchCounters and benchPeeks together, the
// peeked counters having been hit once before so that they are read, not
// found missing.
func benchmarkHitPeek(b *testing.B, s ratelimit.Store, now func() time.Time) {
	history := make([]ratelimit.Counter, len(benchPeeks))
	for i, c := range benchPeeks {
		c.Peek = false
		history[i] = c
	}
	mustHit(b, s, now(), history...)
	counters := slices.Concat(benchCounters, benchPeeks)
	obs := make([]ratelimit.Observation, len(counters))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Hit(ctx, now(), counters, obs); err != nil {
			b.Fatal(err)
		}
	}
	if obs[len(obs)-1].Cur != 1 {
		b.Fatalf("a peeked counter hit once reads %+v, want Cur 1", obs[len(obs)-1])
	}
}
