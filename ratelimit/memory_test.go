package ratelimit_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
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
		// Room for the 30 lanes the suite's largest call counts, and little more.
		return ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 40})
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
		{Key: "ip", Lane: "hit", Window: time.Minute},
		{Key: "ip", Lane: "peek of a live lane", Window: time.Minute},
		{Key: "subnet", Lane: "hit", Window: time.Minute},
		{Key: "ip", Lane: "peek of a missing lane", Window: time.Minute, Peek: true},
		{Key: "session", Lane: "peek of a missing key", Window: time.Minute, Peek: true},
	}
	mustHit(t, m, now, counters[:3]...) // create the lanes hits find
	counters[1].Peek = true
	obs := make([]ratelimit.Observation, len(counters))
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.Hit(t.Context(), now, counters, obs); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Hit of two hits and three peeks allocates %v times, want 0", allocs)
	}
	// The setup hit, then AllocsPerRun's warm-up and 100 runs, all counted
	// on the hit lanes only.
	for i, want := range []int64{101, 1, 101, 0, 0} {
		if obs[i].Cur != want {
			t.Errorf("counter %d after the last of 101 calls: %+v, want Cur %d", i, obs[i], want)
		}
	}
}

func TestMemoryMaxKeysCountsLanesAndEvictsWholeKeys(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 4})
	now := time.UnixMilli(1_700_000_040_000)
	lanes := make([]ratelimit.Counter, 4)
	for i := range lanes {
		lanes[i] = ratelimit.Counter{Key: "full", Lane: strconv.Itoa(i), Window: time.Minute}
	}
	mustHit(t, m, now, lanes...)
	if n, ev := m.Len(), m.Evictions(); n != 4 || ev != 0 {
		t.Fatalf("after 4 lanes of one key: Len() = %d, Evictions() = %d; want 4, 0", n, ev)
	}
	// A peek of a fifth lane takes no room.
	mustHit(t, m, now, ratelimit.Counter{Key: "full", Lane: "peeked", Window: time.Minute, Peek: true})
	if n := m.Len(); n != 4 {
		t.Fatalf("after a peek of a missing lane: Len() = %d, want 4", n)
	}
	// A lane of another key has to evict: the only key there is, whole.
	mustHit(t, m, now, ratelimit.Counter{Key: "new", Window: time.Minute})
	if n, ev := m.Len(), m.Evictions(); n != 1 || ev != 4 {
		t.Errorf("after a lane of a new key: Len() = %d, Evictions() = %d; want 1, 4", n, ev)
	}
	if got := mustHit(t, m, now, lanes[0])[0]; got.Cur != 0 {
		t.Errorf("a lane of the evicted key: %+v, want Cur 0", got)
	}
}

func TestMemoryNewLanesTakeExpiredLanesSlots(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 8})
	t0 := time.UnixMilli(1_700_000_040_000)
	mustHit(t, m, t0, ratelimit.Counter{Key: "k", Lane: "short", Window: time.Second},
		ratelimit.Counter{Key: "k", Lane: "long", Window: time.Minute})
	// Two seconds on, short has expired: a new lane takes its slot.
	mustHit(t, m, t0.Add(2*time.Second), ratelimit.Counter{Key: "k", Lane: "new", Window: time.Minute})
	if n := m.Len(); n != 2 {
		t.Errorf("Len() = %d after a new lane replaced an expired one, want 2", n)
	}
	got := mustHit(t, m, t0.Add(2*time.Second),
		ratelimit.Counter{Key: "k", Lane: "long", Window: time.Minute},
		ratelimit.Counter{Key: "k", Lane: "new", Window: time.Minute},
		ratelimit.Counter{Key: "k", Lane: "short", Window: time.Second, Peek: true})
	if got[0].Cur != 1 || got[1].Cur != 1 || got[2].Cur != 0 {
		t.Errorf("observations %+v, want Cur 1, 1, 0", got)
	}
}

func TestMemorySweepDropsExpiredLanesOfLiveKeys(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Shards: 1, MaxKeys: 4})
	t0 := time.UnixMilli(1_700_000_040_000)
	mustHit(t, m, t0,
		ratelimit.Counter{Key: "a", Lane: "short", Window: time.Second},
		ratelimit.Counter{Key: "a", Lane: "long", Window: time.Minute},
		ratelimit.Counter{Key: "b", Lane: "short", Window: time.Second},
		ratelimit.Counter{Key: "c", Lane: "long", Window: time.Minute})
	// Full; two seconds on, the short lanes have expired and the sweep
	// frees them, dropping b, which has no other lane, and keeping a.
	mustHit(t, m, t0.Add(2*time.Second), ratelimit.Counter{Key: "d", Window: time.Minute})
	if n, ev := m.Len(), m.Evictions(); n != 3 || ev != 0 {
		t.Errorf("after the sweep: Len() = %d, Evictions() = %d; want 3 (a's long, c, d), 0", n, ev)
	}
	if got := mustHit(t, m, t0.Add(2*time.Second), ratelimit.Counter{Key: "a", Lane: "long", Window: time.Minute, Peek: true})[0]; got.Cur != 1 {
		t.Errorf("a's long lane after the sweep: %+v, want Cur 1", got)
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
	obs := make([]ratelimit.Observation, len(benchCounters))
	now := time.Now()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Hit(ctx, now, benchCounters, obs); err != nil {
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

// The identities of a typical Check.
var (
	benchIP      = ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7")
	benchSubnet  = ratelimit.IdentityKey(ratelimit.DimSubnet, "203.0.113.0/24")
	benchSession = ratelimit.IdentityKey(ratelimit.DimSession, "9f86d081884c7d65")
)

// benchCounters are the counters of a typical Check; benchPeeks adds the
// client's history counters, read but not counted, as lanes of the client's
// key.
var (
	benchCounters = []ratelimit.Counter{
		{Key: benchIP, Lane: ratelimit.VelocityLane(ratelimit.DimIP, "", time.Minute), Window: time.Minute},
		{Key: benchSubnet, Lane: ratelimit.VelocityLane(ratelimit.DimSubnet, "", time.Minute), Window: time.Minute},
		{Key: benchSession, Lane: ratelimit.VelocityLane(ratelimit.DimSession, "", time.Minute), Window: time.Minute},
		{Key: benchIP, Lane: ratelimit.VelocityLane(ratelimit.DimRouteIP, "login", 10*time.Second), Window: 10 * time.Second},
	}
	benchPeeks = []ratelimit.Counter{
		{Key: benchIP, Lane: benchHistory, Window: 10 * time.Minute, Peek: true, Part: 0},
		{Key: benchIP, Lane: benchHistory, Window: 10 * time.Minute, Peek: true, Part: 1},
		{Key: benchIP, Lane: benchHistory, Window: 10 * time.Minute, Peek: true, Part: 2},
	}
	// benchHistory is the lane of a client's history counters, whose
	// parts they are (package history).
	benchHistory = ratelimit.NamedLane("h", 10*time.Minute)
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

// liveHeap returns the bytes of live heap objects, after collecting what
// is not.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemoryBytesPerCounter reports what a million live counters cost
// the heap, per counter: keys, map slots and lanes, after a GC. The mixes
// are a client with only its 60s velocity counter, and one with two
// history counters besides (lanes of its one key).
func BenchmarkMemoryBytesPerCounter(b *testing.B) {
	for _, mix := range []struct {
		name  string
		lanes []string // beside the velocity lane
	}{
		{"1-lane", nil},
		{"3-lanes", []string{ratelimit.NamedLane("h.denied", 10*time.Minute), ratelimit.NamedLane("h.ratelimited", 10*time.Minute)}},
	} {
		b.Run(mix.name, func(b *testing.B) {
			const live = 1_000_000
			per := 1 + len(mix.lanes)
			clients := live / per
			velocity := ratelimit.VelocityLane(ratelimit.DimIP, "", time.Minute)
			now := time.UnixMilli(1_700_000_040_000)
			for b.Loop() {
				before := liveHeap()
				// Room to spare, so that no shard evicts.
				m := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 2 * live})
				counters := make([]ratelimit.Counter, per)
				obs := make([]ratelimit.Observation, per)
				for i := range clients {
					ip := "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
					key := ratelimit.IdentityKey(ratelimit.DimIP, ip)
					counters[0] = ratelimit.Counter{Key: key, Lane: velocity, Window: time.Minute}
					for j, lane := range mix.lanes {
						counters[1+j] = ratelimit.Counter{Key: key, Lane: lane, Window: 10 * time.Minute}
					}
					// Written one lane at a time, as a Check and the history
					// writer do.
					for j := range counters {
						if err := m.Hit(b.Context(), now, counters[j:j+1], obs); err != nil {
							b.Fatal(err)
						}
					}
				}
				after := liveHeap()
				if n, ev := m.Len(), m.Evictions(); n != clients*per || ev != 0 {
					b.Fatalf("Len() = %d, Evictions() = %d; want %d, 0", n, ev, clients*per)
				}
				b.ReportMetric(float64(after-before)/float64(clients*per), "B/counter")
				runtime.KeepAlive(m)
			}
		})
	}
}
