// Package storetest is the conformance suite every ratelimit.Store must pass.
// The suite is the specification of a Store's counting semantics: a backend
// that passes it can replace another without changing any decision.
package storetest

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
)

// t0 is a fake "now" that starts a bucket for every window the suite uses
// (1s, 1.5s, 60s), so offsets from it are offsets into a bucket. Tests never
// read the wall clock.
const t0Ms = 1_700_000_040_000

const window = time.Minute

func at(d time.Duration) time.Time { return time.UnixMilli(t0Ms).Add(d) }

// Options tells the suite what it may ask a backend beyond its Store.
type Options struct {
	// Stored, if not nil, returns what the backend holds for key, in any
	// form that changes whenever the key's counts or expiry change, or ""
	// if it holds nothing for key. The suite uses it to check that peeks
	// create nothing and change nothing; without it, those checks go
	// through observations only, which cannot see a key that a peek
	// created empty or an expiry that a peek moved.
	Stored func(t *testing.T, key string) string
	// Size, if not nil, returns how many entries (Redis: hash fields) the
	// backend holds for key, all lanes together, or 0 if it holds nothing
	// for key. The suite uses it to check that a lane's stale buckets are
	// dropped, by comparing a key whose lane restarted with one whose lane
	// is new.
	Size func(t *testing.T, key string) int
	// TTL, if not nil, returns how long the backend will keep key, all
	// lanes together, by the backend's own clock (Redis: PTTL), or a
	// negative duration if it holds nothing for key. The suite uses it to
	// check that a key lives as long as its longest-lived lane needs,
	// which observations at the suite's fake times cannot show of a
	// backend that expires keys by the wall clock.
	TTL func(t *testing.T, key string) time.Duration
}

// Run runs the suite with no Options. newStore must return an empty store
// (or one holding no keys the suite uses); Run closes each store when its
// subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
	RunWith(t, newStore, Options{})
}

// RunWith runs the suite like Run, using what opts offers.
func RunWith(t *testing.T, newStore func(t *testing.T) ratelimit.Store, opts Options) {
	tests := []struct {
		name string
		run  func(t *testing.T, s ratelimit.Store)
	}{
		{"first hit observes zero counts", testFirstHit},
		{"hits accumulate in the current bucket", testAccumulate},
		{"at the bucket edge the current count becomes the previous", testBucketEdge},
		{"a counter idle for two windows reads zero", testIdleTwoWindows},
		{"counters with different keys are independent", testIndependentKeys},
		{"counters with different windows are independent", testIndependentWindows},
		{"elapsed and window describe the current bucket", testElapsed},
		{"estimate matches Cloudflare's worked example", testCloudflareExample},
		{"concurrent hits are all counted exactly once", testConcurrent},
		{"zero counters is a no-op", testZeroCounters},
		{"a hit one bucket late counts in the previous bucket", testLateHit},
		{"bucket numbers past 2^32 count as any others", testBucketsPast32Bits},
		{"an invalid window is rejected and nothing is counted", testInvalidWindow},
		{"too few observations is rejected and nothing is counted", testShortObs},
		{"a peek reads both buckets as a hit would, clock skew included", testPeekReadsHits},
		{"a peek alone creates nothing", func(t *testing.T, s ratelimit.Store) { testPeekCreatesNothing(t, s, opts) }},
		{"peeks and hits mix in one call", testPeekMixed},
		{"peeking a counter many times never changes it", func(t *testing.T, s ratelimit.Store) { testPeekRepeated(t, s, opts) }},
		{"peeks concurrent with hits count nothing", testPeekConcurrent},
		{"lanes of one key are independent counters", testLanesIndependent},
		{"lanes of one key and of others mix in one call", testLanesMixed},
		{"many lanes of one key in one call", testManyLanes},
		{"peeking a missing lane creates nothing", func(t *testing.T, s ratelimit.Store) { testPeekMissingLane(t, s, opts) }},
		{"a lane idle for two windows reads zero and is cleaned up", func(t *testing.T, s ratelimit.Store) { testLaneIdle(t, s, opts) }},
		{"a key lives as long as its longest lane needs", func(t *testing.T, s ratelimit.Store) { testKeyLivesForLongestLane(t, s, opts) }},
		{"concurrent hits on lanes of one key are all counted", testLanesConcurrent},
		{"parts of a lane are independent counters", testPartsIndependent},
		{"a late hit counts in its own part's previous bucket", testPartsLate},
		{"a lane counted without parts keeps its parts", testPartsKeptByLane},
		{"peeking parts creates nothing", func(t *testing.T, s ratelimit.Store) { testPartsPeekCreatesNothing(t, s, opts) }},
		{"invalid parts are rejected and nothing is counted", testPartsInvalid},
		{"concurrent hits on parts of one lane are all counted", testPartsConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.run(t, s)
		})
	}
}

// key returns a key unique to the running subtest, so a store shared across
// subtests cannot leak counts between them.
func key(t *testing.T, name string) string {
	return "storetest:" + t.Name() + ":" + name
}

func hit(t *testing.T, s ratelimit.Store, now time.Time, counters ...ratelimit.Counter) []ratelimit.Observation {
	t.Helper()
	obs := make([]ratelimit.Observation, len(counters))
	if err := s.Hit(t.Context(), now, counters, obs); err != nil {
		t.Fatalf("Hit at %v: %v", now.Sub(at(0)), err)
	}
	return obs
}

func hitN(t *testing.T, s ratelimit.Store, n int, now time.Time, counters ...ratelimit.Counter) {
	t.Helper()
	for range n {
		hit(t, s, now, counters...)
	}
}

func wantObs(t *testing.T, what string, got, want ratelimit.Observation) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func testFirstHit(t *testing.T, s ratelimit.Store) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	got := hit(t, s, at(7*time.Second), c)[0]
	wantObs(t, "first hit", got, ratelimit.Observation{Elapsed: 7 * time.Second, Window: window})
}

func testAccumulate(t *testing.T, s ratelimit.Store) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	for i, off := range []time.Duration{0, time.Second, 30 * time.Second, 59*time.Second + 999*time.Millisecond} {
		got := hit(t, s, at(off), c)[0]
		wantObs(t, "hit "+off.String()+" into the bucket", got,
			ratelimit.Observation{Cur: int64(i), Elapsed: off, Window: window})
	}
}

func testBucketEdge(t *testing.T, s ratelimit.Store) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	hitN(t, s, 3, at(59*time.Second+999*time.Millisecond), c)
	got := hit(t, s, at(window), c)[0]
	wantObs(t, "first hit of the next bucket", got, ratelimit.Observation{Prev: 3, Elapsed: 0, Window: window})
	got = hit(t, s, at(window+59*time.Second), c)[0]
	wantObs(t, "later in the next bucket", got, ratelimit.Observation{Prev: 3, Cur: 1, Elapsed: 59 * time.Second, Window: window})
}

func testIdleTwoWindows(t *testing.T, s ratelimit.Store) {
	a := ratelimit.Counter{Key: key(t, "exactly two windows"), Window: window}
	b := ratelimit.Counter{Key: key(t, "many windows"), Window: window}
	hitN(t, s, 3, at(59*time.Second), a, b)

	got := hit(t, s, at(2*window), a, b)
	wantObs(t, "two windows after the last bucket began", got[0], ratelimit.Observation{Window: window})
	got = hit(t, s, at(2*window+time.Second), a)
	wantObs(t, "the counter restarted", got[0], ratelimit.Observation{Cur: 1, Elapsed: time.Second, Window: window})

	got = hit(t, s, at(10*window+30*time.Second), b)
	wantObs(t, "ten windows later", got[0], ratelimit.Observation{Elapsed: 30 * time.Second, Window: window})
}

func testIndependentKeys(t *testing.T, s ratelimit.Store) {
	a := ratelimit.Counter{Key: key(t, "a"), Window: window}
	b := ratelimit.Counter{Key: key(t, "b"), Window: window}
	hitN(t, s, 3, at(0), a)
	got := hit(t, s, at(time.Second), b, a)
	wantObs(t, "b after hits on a", got[0], ratelimit.Observation{Elapsed: time.Second, Window: window})
	wantObs(t, "a", got[1], ratelimit.Observation{Cur: 3, Elapsed: time.Second, Window: window})
}

func testIndependentWindows(t *testing.T, s ratelimit.Store) {
	second := ratelimit.Counter{Key: key(t, "1s"), Window: time.Second}
	minute := ratelimit.Counter{Key: key(t, "60s"), Window: time.Minute}
	hit(t, s, at(0), second, minute)
	hit(t, s, at(500*time.Millisecond), second, minute)

	got := hit(t, s, at(time.Second), second, minute)
	wantObs(t, "1s counter after its bucket rolled", got[0], ratelimit.Observation{Prev: 2, Window: time.Second})
	wantObs(t, "60s counter in the same call", got[1], ratelimit.Observation{Cur: 2, Elapsed: time.Second, Window: time.Minute})
}

func testElapsed(t *testing.T, s ratelimit.Store) {
	now := at(37*time.Second + 250*time.Millisecond)
	tests := []struct {
		window, elapsed time.Duration
	}{
		{time.Second, 250 * time.Millisecond},
		{1500 * time.Millisecond, 1250 * time.Millisecond},
		{time.Minute, 37*time.Second + 250*time.Millisecond},
		{time.Hour, 37*time.Second + 250*time.Millisecond + time.Duration(t0Ms%3_600_000)*time.Millisecond},
	}
	for _, tt := range tests {
		c := ratelimit.Counter{Key: key(t, tt.window.String()), Window: tt.window}
		got := hit(t, s, now, c)[0]
		wantObs(t, "window "+tt.window.String(), got, ratelimit.Observation{Elapsed: tt.elapsed, Window: tt.window})
	}
}

// testCloudflareExample is the example of Cloudflare's post: 42 requests in
// the previous minute, 18 in the current one, which began 15s ago.
func testCloudflareExample(t *testing.T, s ratelimit.Store) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	hitN(t, s, 21, at(10*time.Second), c)
	hitN(t, s, 21, at(50*time.Second), c)
	hitN(t, s, 18, at(window+5*time.Second), c)

	got := hit(t, s, at(window+15*time.Second), c)[0]
	wantObs(t, "observation", got, ratelimit.Observation{Prev: 42, Cur: 18, Elapsed: 15 * time.Second, Window: window})
	if est := got.Estimate(); est != 49.5+1 {
		t.Errorf("Estimate() = %v, want 42*45/60 + 18 + 1 = 50.5", est)
	}
}

func testConcurrent(t *testing.T, s ratelimit.Store) {
	const goroutines, perGoroutine = 16, 50
	a := ratelimit.Counter{Key: key(t, "a"), Window: window}
	b := ratelimit.Counter{Key: key(t, "b"), Window: time.Second}
	now := at(0)

	seen := make([][]int64, goroutines) // counts of a each hit observed
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			obs := make([]ratelimit.Observation, 2)
			for range perGoroutine {
				if err := s.Hit(t.Context(), now, []ratelimit.Counter{a, b}, obs); err != nil {
					t.Errorf("Hit: %v", err)
					return
				}
				seen[g] = append(seen[g], obs[0].Cur)
			}
		})
	}
	wg.Wait()

	const total = goroutines * perGoroutine
	got := hit(t, s, now, a, b)
	for i, o := range got {
		if o.Cur != total {
			t.Errorf("counter %d: Cur = %d after %d concurrent hits", i, o.Cur, total)
		}
	}
	// Each hit is atomic on its counter: the hits saw every count before
	// them exactly once.
	all := slices.Sorted(slices.Values(slices.Concat(seen...)))
	for i, v := range all {
		if v != int64(i) {
			t.Fatalf("hit #%d observed Cur=%d: counts observed by concurrent hits are not 0..%d each once", i, v, total-1)
		}
	}
}

func testZeroCounters(t *testing.T, s ratelimit.Store) {
	if err := s.Hit(t.Context(), at(0), nil, nil); err != nil {
		t.Fatalf("Hit with no counters: %v", err)
	}
	sentinel := ratelimit.Observation{Prev: -1, Cur: -1}
	obs := []ratelimit.Observation{sentinel}
	if err := s.Hit(t.Context(), at(0), []ratelimit.Counter{}, obs); err != nil {
		t.Fatalf("Hit with no counters and a spare observation: %v", err)
	}
	wantObs(t, "spare observation", obs[0], sentinel)
}

func testLateHit(t *testing.T, s ratelimit.Store) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	hitN(t, s, 2, at(30*time.Second), c)
	hitN(t, s, 3, at(window+10*time.Second), c)

	// A replica whose clock is behind reports a time in the previous bucket.
	got := hit(t, s, at(window-time.Millisecond), c)[0]
	wantObs(t, "late hit", got, ratelimit.Observation{Cur: 2, Elapsed: window - time.Millisecond, Window: window})

	got = hit(t, s, at(window+20*time.Second), c)[0]
	wantObs(t, "next on-time hit", got, ratelimit.Observation{Prev: 3, Cur: 3, Elapsed: 20 * time.Second, Window: window})
	got = hit(t, s, at(2*window), c)[0]
	wantObs(t, "first hit of the bucket after", got, ratelimit.Observation{Prev: 4, Window: window})
}

// testBucketsPast32Bits counts across the bucket 2^32 of a minute's window
// (in the year 10136): a store that keeps a bucket number in 32 bits must
// still tell the next, the previous and a far bucket apart there, for a
// lane and for a lane's parts.
func testBucketsPast32Bits(t *testing.T, s ratelimit.Store) {
	const wrap = 1 << 32 * int64(window/time.Millisecond)
	atWrap := func(d time.Duration) time.Time { return time.UnixMilli(wrap).Add(d) }
	c, p := ratelimit.Counter{Key: key(t, "a"), Window: window}, part(key(t, "b"), "h", window, 1)
	for _, c := range []ratelimit.Counter{c, p} {
		name := c.Key + " part " + strconv.Itoa(int(c.Part))
		hitN(t, s, 2, atWrap(-time.Second), c)
		got := hit(t, s, atWrap(0), c)[0]
		wantObs(t, name+": first hit of bucket 2^32", got, ratelimit.Observation{Prev: 2, Window: window})
		got = hit(t, s, atWrap(-time.Second), c)[0]
		wantObs(t, name+": late hit into bucket 2^32-1", got, ratelimit.Observation{Cur: 2, Elapsed: window - time.Second, Window: window})
		got = hit(t, s, atWrap(time.Second), c)[0]
		wantObs(t, name+": next hit of bucket 2^32", got, ratelimit.Observation{Prev: 3, Cur: 1, Elapsed: time.Second, Window: window})
		got = hit(t, s, atWrap(2*window), c)[0]
		wantObs(t, name+": two buckets on", got, ratelimit.Observation{Window: window})
		// Three buckets behind the lane: nowhere to count. A store that
		// drops old buckets after the fact may still read what bucket
		// 2^32-1 held, 3 (Store).
		got = hit(t, s, atWrap(-window), c)[0]
		if stale := (ratelimit.Observation{Cur: 3, Window: window}); got != stale {
			wantObs(t, name+": three buckets late", got, ratelimit.Observation{Window: window})
		}
		got = hit(t, s, atWrap(2*window), peek(c))[0]
		wantObs(t, name+": after the hit three buckets late", got, ratelimit.Observation{Cur: 1, Window: window})
	}
}

func testInvalidWindow(t *testing.T, s ratelimit.Store) {
	good := ratelimit.Counter{Key: key(t, "good"), Window: window}
	for _, w := range []time.Duration{0, -time.Second, 1500 * time.Microsecond} {
		bad := ratelimit.Counter{Key: key(t, "bad"), Window: w}
		obs := make([]ratelimit.Observation, 2)
		if err := s.Hit(t.Context(), at(0), []ratelimit.Counter{good, bad}, obs); err == nil {
			t.Errorf("Hit with window %v: no error", w)
		}
	}
	got := hit(t, s, at(0), good)[0]
	wantObs(t, "valid counter of the rejected calls", got, ratelimit.Observation{Window: window})
}

func testShortObs(t *testing.T, s ratelimit.Store) {
	a := ratelimit.Counter{Key: key(t, "a"), Window: window}
	b := ratelimit.Counter{Key: key(t, "b"), Window: window}
	obs := make([]ratelimit.Observation, 1)
	if err := s.Hit(t.Context(), at(0), []ratelimit.Counter{a, b}, obs); err == nil {
		t.Fatal("Hit with 1 observation for 2 counters: no error")
	}
	got := hit(t, s, at(0), a)[0]
	wantObs(t, "counter of the rejected call", got, ratelimit.Observation{Window: window})
}

// peek returns c to be read, not counted.
func peek(c ratelimit.Counter) ratelimit.Counter {
	c.Peek = true
	return c
}

// stored returns what opts.Stored reports for key, or "" without it.
func stored(t *testing.T, opts Options, key string) string {
	t.Helper()
	if opts.Stored == nil {
		return ""
	}
	return opts.Stored(t, key)
}

func testPeekReadsHits(t *testing.T, s ratelimit.Store) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	hitN(t, s, 2, at(30*time.Second), c)
	steps := []struct {
		what string
		now  time.Duration
		want ratelimit.Observation
		hits int // then hit c this often at now
	}{
		{"in the current bucket", 40 * time.Second,
			ratelimit.Observation{Cur: 2, Elapsed: 40 * time.Second, Window: window}, 0},
		{"after the window boundary", window + 10*time.Second,
			ratelimit.Observation{Prev: 2, Elapsed: 10 * time.Second, Window: window}, 1},
		{"one bucket late (a replica clock behind)", window - time.Millisecond,
			ratelimit.Observation{Cur: 2, Elapsed: window - time.Millisecond, Window: window}, 1},
		{"back on time", window + 20*time.Second,
			ratelimit.Observation{Prev: 3, Cur: 1, Elapsed: 20 * time.Second, Window: window}, 0},
		{"one bucket ahead (a replica clock ahead)", 2*window + 5*time.Second,
			ratelimit.Observation{Prev: 1, Elapsed: 5 * time.Second, Window: window}, 0},
		{"two windows after the last bucket began", 3 * window,
			ratelimit.Observation{Window: window}, 0},
	}
	for _, st := range steps {
		wantObs(t, "peek "+st.what, hit(t, s, at(st.now), peek(c))[0], st.want)
		for i := range st.hits {
			got := hit(t, s, at(st.now), c)[0]
			if i == 0 {
				// The peek added nothing and dropped nothing.
				wantObs(t, "hit right after the peek "+st.what, got, st.want)
			}
		}
	}
	got := hit(t, s, at(window+30*time.Second), c)[0]
	wantObs(t, "hit after the peeks", got, ratelimit.Observation{Prev: 3, Cur: 1, Elapsed: 30 * time.Second, Window: window})
}

func testPeekCreatesNothing(t *testing.T, s ratelimit.Store, opts Options) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	for _, off := range []time.Duration{0, 59 * time.Second, window + time.Second} {
		got := hit(t, s, at(off), peek(c))[0]
		wantObs(t, "peek "+off.String()+" in", got, ratelimit.Observation{Elapsed: off % window, Window: window})
		if st := stored(t, opts, c.Key); st != "" {
			t.Fatalf("after a peek %v in, the store holds %s for a key never hit", off, st)
		}
	}
	got := hit(t, s, at(window+2*time.Second), c)[0]
	wantObs(t, "first hit after the peeks", got, ratelimit.Observation{Elapsed: 2 * time.Second, Window: window})
	if opts.Stored != nil && stored(t, opts, c.Key) == "" {
		t.Error("Options.Stored reports nothing for a key that was hit: it cannot tell whether a peek created one")
	}
}

func testPeekMixed(t *testing.T, s ratelimit.Store) {
	// Keys that share a hash tag share a node on Redis Cluster: the mix
	// must work within one node as well as across nodes.
	tagged := func(name string) string { return "{" + key(t, "tag") + "}:" + name }
	hitA := ratelimit.Counter{Key: tagged("hit a"), Window: window}
	peekB := ratelimit.Counter{Key: tagged("peek b"), Window: time.Second, Peek: true}
	hitC := ratelimit.Counter{Key: key(t, "hit c"), Window: time.Second}
	peekD := ratelimit.Counter{Key: key(t, "peek d"), Window: window, Peek: true}
	peekE := ratelimit.Counter{Key: tagged("peek e, never hit"), Window: window, Peek: true}
	unpeek := func(c ratelimit.Counter) ratelimit.Counter { c.Peek = false; return c }

	// Distinct counts, so that an observation at the wrong index shows.
	hitN(t, s, 1, at(0), hitA)
	hitN(t, s, 2, at(0), unpeek(peekB))
	hitN(t, s, 3, at(0), hitC)
	hitN(t, s, 4, at(0), unpeek(peekD))

	mixed := []ratelimit.Counter{peekB, hitA, peekE, hitC, peekD}
	const ms = time.Millisecond
	calls := []struct {
		now  time.Duration
		want []ratelimit.Observation // per counter of mixed
	}{
		{500 * ms, []ratelimit.Observation{
			{Cur: 2, Elapsed: 500 * ms, Window: time.Second},
			{Cur: 1, Elapsed: 500 * ms, Window: window},
			{Elapsed: 500 * ms, Window: window},
			{Cur: 3, Elapsed: 500 * ms, Window: time.Second},
			{Cur: 4, Elapsed: 500 * ms, Window: window},
		}},
		{700 * ms, []ratelimit.Observation{
			{Cur: 2, Elapsed: 700 * ms, Window: time.Second},
			{Cur: 2, Elapsed: 700 * ms, Window: window},
			{Elapsed: 700 * ms, Window: window},
			{Cur: 4, Elapsed: 700 * ms, Window: time.Second},
			{Cur: 4, Elapsed: 700 * ms, Window: window},
		}},
		// The 1s counters' bucket rolled over; the 60s ones' did not.
		{1200 * ms, []ratelimit.Observation{
			{Prev: 2, Elapsed: 200 * ms, Window: time.Second},
			{Cur: 3, Elapsed: 1200 * ms, Window: window},
			{Elapsed: 1200 * ms, Window: window},
			{Prev: 5, Elapsed: 200 * ms, Window: time.Second},
			{Cur: 4, Elapsed: 1200 * ms, Window: window},
		}},
	}
	for i, call := range calls {
		got := hit(t, s, at(call.now), mixed...)
		for j, c := range mixed {
			wantObs(t, "call "+strconv.Itoa(i+1)+", "+c.Key, got[j], call.want[j])
		}
	}

	// Counted as hits now, each counter shows what the mixed calls did.
	got := hit(t, s, at(1300*ms), unpeek(peekB), hitA, unpeek(peekE), hitC, unpeek(peekD))
	wantObs(t, "peek b, hit", got[0], ratelimit.Observation{Prev: 2, Elapsed: 300 * ms, Window: time.Second})
	wantObs(t, "hit a", got[1], ratelimit.Observation{Cur: 4, Elapsed: 1300 * ms, Window: window})
	wantObs(t, "peek e, hit", got[2], ratelimit.Observation{Elapsed: 1300 * ms, Window: window})
	wantObs(t, "hit c", got[3], ratelimit.Observation{Prev: 5, Cur: 1, Elapsed: 300 * ms, Window: time.Second})
	wantObs(t, "peek d, hit", got[4], ratelimit.Observation{Cur: 4, Elapsed: 1300 * ms, Window: window})
}

func testPeekRepeated(t *testing.T, s ratelimit.Store, opts Options) {
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	hitN(t, s, 3, at(10*time.Second), c)
	hitN(t, s, 2, at(window+5*time.Second), c)
	before := stored(t, opts, c.Key)

	// Peeks at every offset a hit could come at: on time, late, ahead.
	offs := []time.Duration{window + 10*time.Second, window - time.Millisecond, 2*window + time.Second, window + 10*time.Second}
	wants := []ratelimit.Observation{
		{Prev: 3, Cur: 2, Elapsed: 10 * time.Second, Window: window},
		{Cur: 3, Elapsed: window - time.Millisecond, Window: window},
		{Prev: 2, Elapsed: time.Second, Window: window},
		{Prev: 3, Cur: 2, Elapsed: 10 * time.Second, Window: window},
	}
	for i := range 100 {
		j := i % len(offs)
		got := hit(t, s, at(offs[j]), peek(c))[0]
		if got != wants[j] {
			t.Fatalf("peek #%d at %v: got %+v, want %+v", i+1, offs[j], got, wants[j])
		}
	}
	if after := stored(t, opts, c.Key); after != before {
		t.Errorf("100 peeks changed what the store holds from %s to %s", before, after)
	}
	got := hit(t, s, at(window+20*time.Second), c)[0]
	wantObs(t, "hit after 100 peeks", got, ratelimit.Observation{Prev: 3, Cur: 2, Elapsed: 20 * time.Second, Window: window})
}

func testPeekConcurrent(t *testing.T, s ratelimit.Store) {
	const perKind, perGoroutine = 8, 50 // goroutines that hit, and as many that peek
	c := ratelimit.Counter{Key: key(t, "a"), Window: window}
	now := at(0)

	var wg sync.WaitGroup
	for g := range 2 * perKind {
		counters := []ratelimit.Counter{c}
		if g%2 == 1 {
			counters[0] = peek(c)
		}
		wg.Go(func() {
			obs := make([]ratelimit.Observation, 1)
			var last int64
			for range perGoroutine {
				if err := s.Hit(t.Context(), now, counters, obs); err != nil {
					t.Errorf("Hit: %v", err)
					return
				}
				// One bucket that only grows: a reader never sees it shrink.
				if obs[0].Cur < last {
					t.Errorf("Cur went from %d to %d within one bucket", last, obs[0].Cur)
					return
				}
				last = obs[0].Cur
			}
		})
	}
	wg.Wait()
	got := hit(t, s, now, c)[0]
	if hits := int64(perKind * perGoroutine); got.Cur != hits {
		t.Errorf("Cur = %d after %d hits and as many concurrent peeks, want %d", got.Cur, hits, hits)
	}
}

// lane returns the counter of lane name of key, with window w.
func lane(key, name string, w time.Duration) ratelimit.Counter {
	return ratelimit.Counter{Key: key, Lane: name, Window: w}
}

func testLanesIndependent(t *testing.T, s ratelimit.Store) {
	k := key(t, "identity")
	// The empty lane is a lane like any other, and a lane named like a
	// field of another or a bucket of its own is its own counter.
	a, b, empty := lane(k, "a", window), lane(k, "b", time.Second), lane(k, "", window)
	odd, odder := lane(k, "a@", window), lane(k, "a@"+strconv.FormatInt(t0Ms/window.Milliseconds(), 10), window)
	hitN(t, s, 1, at(0), a)
	hitN(t, s, 2, at(0), b)
	hitN(t, s, 3, at(0), empty)
	hitN(t, s, 4, at(0), odd)
	hitN(t, s, 5, at(0), odder)
	other := lane(key(t, "other identity"), "a", window)

	got := hit(t, s, at(500*time.Millisecond), a, b, empty, odd, odder, other)
	wantObs(t, "a", got[0], ratelimit.Observation{Cur: 1, Elapsed: 500 * time.Millisecond, Window: window})
	wantObs(t, "b", got[1], ratelimit.Observation{Cur: 2, Elapsed: 500 * time.Millisecond, Window: time.Second})
	wantObs(t, "the empty lane", got[2], ratelimit.Observation{Cur: 3, Elapsed: 500 * time.Millisecond, Window: window})
	wantObs(t, "lane a@", got[3], ratelimit.Observation{Cur: 4, Elapsed: 500 * time.Millisecond, Window: window})
	wantObs(t, "lane a@<bucket>", got[4], ratelimit.Observation{Cur: 5, Elapsed: 500 * time.Millisecond, Window: window})
	wantObs(t, "lane a of another key", got[5], ratelimit.Observation{Elapsed: 500 * time.Millisecond, Window: window})

	// b's 1s buckets roll over; the 60s lanes' do not.
	got = hit(t, s, at(1200*time.Millisecond), b, a)
	wantObs(t, "b after its bucket rolled", got[0], ratelimit.Observation{Prev: 3, Elapsed: 200 * time.Millisecond, Window: time.Second})
	wantObs(t, "a in the same call", got[1], ratelimit.Observation{Cur: 2, Elapsed: 1200 * time.Millisecond, Window: window})
	// Three seconds on, b has been idle for two of its windows.
	got = hit(t, s, at(3200*time.Millisecond), b, empty, other)
	wantObs(t, "b idle for two windows", got[0], ratelimit.Observation{Elapsed: 200 * time.Millisecond, Window: time.Second})
	wantObs(t, "the empty lane meanwhile", got[1], ratelimit.Observation{Cur: 4, Elapsed: 3200 * time.Millisecond, Window: window})
	wantObs(t, "the other key's lane a", got[2], ratelimit.Observation{Cur: 1, Elapsed: 3200 * time.Millisecond, Window: window})
	got = hit(t, s, at(window), a, odd, odder)
	wantObs(t, "a in its next bucket", got[0], ratelimit.Observation{Prev: 3, Window: window})
	wantObs(t, "lane a@ in its next bucket", got[1], ratelimit.Observation{Prev: 5, Window: window})
	wantObs(t, "lane a@<bucket> in its next bucket", got[2], ratelimit.Observation{Prev: 6, Window: window})
}

func testLanesMixed(t *testing.T, s ratelimit.Store) {
	// Two identities of one hash tag (on Redis Cluster, one node) and
	// one of another; lanes of one key interleave with the others'.
	tagged := func(name string) string { return "{" + key(t, "tag") + "}:" + name }
	x, y, z := tagged("x"), tagged("y"), key(t, "z")
	counters := []ratelimit.Counter{
		lane(x, "60s", window),
		lane(z, "60s", window),
		lane(x, "1s", time.Second),
		{Key: y, Lane: "h", Window: window, Peek: true},
		lane(z, "1s", time.Second),
		{Key: x, Lane: "h", Window: window, Peek: true},
		lane(y, "60s", window),
		{Key: z, Lane: "h", Window: window, Peek: true},
	}
	// Distinct counts, so that an observation at the wrong index shows.
	for i, c := range counters {
		c.Peek = false
		hitN(t, s, i+1, at(0), c)
	}
	for call := range 3 {
		got := hit(t, s, at(500*time.Millisecond), counters...)
		for i, c := range counters {
			want := ratelimit.Observation{Cur: int64(i + 1), Elapsed: 500 * time.Millisecond, Window: c.Window}
			if !c.Peek {
				want.Cur += int64(call)
			}
			wantObs(t, "call "+strconv.Itoa(call+1)+", "+c.Key+" lane "+c.Lane, got[i], want)
		}
	}
}

func testManyLanes(t *testing.T, s ratelimit.Store) {
	const lanes = 40
	k := key(t, "a")
	counters := make([]ratelimit.Counter, lanes)
	for i := range counters {
		counters[i] = lane(k, "lane "+strconv.Itoa(i), time.Duration(1+i%3)*time.Minute)
		counters[i].Peek = i%4 == 3
	}
	now := at(100 * time.Millisecond)
	for round := range 3 {
		got := hit(t, s, now, counters...)
		for i, c := range counters {
			_, elapsed := bucketAndElapsed(now, c.Window)
			want := ratelimit.Observation{Cur: int64(round), Elapsed: elapsed, Window: c.Window}
			if c.Peek {
				want.Cur = 0
			}
			wantObs(t, "round "+strconv.Itoa(round+1)+", lane "+c.Lane, got[i], want)
		}
	}
}

func testPeekMissingLane(t *testing.T, s ratelimit.Store, opts Options) {
	k := key(t, "a")
	hitN(t, s, 2, at(0), lane(k, "hit", window))
	before := stored(t, opts, k)
	missing := ratelimit.Counter{Key: k, Lane: "missing", Window: window, Peek: true}
	short := ratelimit.Counter{Key: k, Lane: "short", Window: time.Second, Peek: true}
	elsewhere := ratelimit.Counter{Key: key(t, "never hit"), Lane: "hit", Window: window, Peek: true}
	for _, off := range []time.Duration{0, 59 * time.Second, window + time.Second, -time.Millisecond} {
		got := hit(t, s, at(off), missing, short, elsewhere)
		for i, c := range []ratelimit.Counter{missing, short, elsewhere} {
			_, elapsed := bucketAndElapsed(at(off), c.Window)
			wantObs(t, "peek "+off.String()+" in, lane "+c.Lane, got[i], ratelimit.Observation{Elapsed: elapsed, Window: c.Window})
		}
		if after := stored(t, opts, k); after != before {
			t.Fatalf("peeks of missing lanes %v in changed the key from %s to %s", off, before, after)
		}
		if st := stored(t, opts, elsewhere.Key); st != "" {
			t.Fatalf("a peek %v in created a key never hit: %s", off, st)
		}
	}
	// The key's own lane is as the hits left it, and the peeked lanes
	// start from nothing.
	hitLane := lane(k, "hit", window)
	missing.Peek = false
	got := hit(t, s, at(time.Second), hitLane, missing)
	wantObs(t, "hit lane", got[0], ratelimit.Observation{Cur: 2, Elapsed: time.Second, Window: window})
	wantObs(t, "first hit of the peeked lane", got[1], ratelimit.Observation{Elapsed: time.Second, Window: window})
}

// bucketAndElapsed is a Store's bucket of now for window w and how far
// into it now is.
func bucketAndElapsed(now time.Time, w time.Duration) (bucket int64, elapsed time.Duration) {
	ms, wms := now.UnixMilli(), w.Milliseconds()
	bucket = ms / wms
	if ms%wms < 0 {
		bucket--
	}
	return bucket, time.Duration(ms-bucket*wms) * time.Millisecond
}

func testLaneIdle(t *testing.T, s ratelimit.Store, opts Options) {
	// Keys alike but for lane "short": restarted after an idle spell in
	// k, new in fresh. The "long" lane keeps both keys alive meanwhile.
	k, fresh := key(t, "restarted"), key(t, "fresh")
	short := lane(k, "short", time.Second)
	long, freshLong := lane(k, "long", window), lane(fresh, "long", window)
	hitN(t, s, 2, at(0), short, long, freshLong)
	hitN(t, s, 3, at(time.Second), short, long, freshLong)

	// short's newest bucket began at 1s: at 3s it has been idle for two
	// windows, at 10s for many.
	for _, step := range []struct {
		off     time.Duration
		longCur int64
	}{{3 * time.Second, 5}, {10 * time.Second, 6}} {
		got := hit(t, s, at(step.off), ratelimit.Counter{Key: k, Lane: "short", Window: time.Second, Peek: true}, long)
		wantObs(t, "short peeked "+step.off.String()+" in", got[0], ratelimit.Observation{Window: time.Second})
		wantObs(t, "long meanwhile", got[1], ratelimit.Observation{Cur: step.longCur, Elapsed: step.off, Window: window})
	}
	got := hit(t, s, at(10*time.Second+250*time.Millisecond), short, lane(fresh, "short", time.Second))
	wantObs(t, "short hit after idling", got[0], ratelimit.Observation{Elapsed: 250 * time.Millisecond, Window: time.Second})
	wantObs(t, "fresh short", got[1], ratelimit.Observation{Elapsed: 250 * time.Millisecond, Window: time.Second})
	got = hit(t, s, at(11*time.Second), short, long)
	wantObs(t, "short in its next bucket", got[0], ratelimit.Observation{Prev: 1, Window: time.Second})
	wantObs(t, "long after it all", got[1], ratelimit.Observation{Cur: 7, Elapsed: 11 * time.Second, Window: window})

	if opts.Size != nil {
		// short's buckets of 0s and 1s are gone: k holds what fresh does,
		// plus the hits just made in the same buckets.
		hit(t, s, at(11*time.Second), lane(fresh, "short", time.Second))
		if got, want := opts.Size(t, k), opts.Size(t, fresh); got != want {
			t.Errorf("a restarted lane's key holds %d entries, one whose lane is new %d: stale buckets were kept", got, want)
		}
	}
}

func testKeyLivesForLongestLane(t *testing.T, s ratelimit.Store, opts Options) {
	k := key(t, "a")
	short, long := lane(k, "short", time.Second), lane(k, "long", time.Hour)
	// The long lane first, then the short one's buckets: a short lane
	// starting a bucket must not shorten the key's life.
	hitN(t, s, 2, at(0), long)
	for i := range 3 {
		hit(t, s, at(time.Duration(i)*time.Second), short)
	}
	if opts.TTL != nil {
		if ttl := opts.TTL(t, k); ttl <= window {
			t.Errorf("after the short lane's hits the key is kept %v, want above %v for the long lane", ttl, window)
		}
	}
	// Long after the short lane's window, the long lane is all there.
	got := hit(t, s, at(30*time.Minute), long, ratelimit.Counter{Key: k, Lane: "short", Window: time.Second, Peek: true})
	wantObs(t, "long lane", got[0], ratelimit.Observation{Cur: 2, Elapsed: 30*time.Minute + time.Duration(t0Ms%3_600_000)*time.Millisecond, Window: time.Hour})
	wantObs(t, "short lane", got[1], ratelimit.Observation{Window: time.Second})

	// The other way round: a short lane first, then a long one extends
	// the key's life.
	k2 := key(t, "b")
	hit(t, s, at(0), lane(k2, "short", time.Second))
	hit(t, s, at(0), lane(k2, "long", time.Hour))
	if opts.TTL != nil {
		if ttl := opts.TTL(t, k2); ttl <= window {
			t.Errorf("after a long lane's first hit the key is kept %v, want above %v", ttl, window)
		}
	}
	got = hit(t, s, at(30*time.Minute), lane(k2, "long", time.Hour))
	wantObs(t, "long lane of a key begun by a short one", got[0], ratelimit.Observation{Cur: 1, Elapsed: 30*time.Minute + time.Duration(t0Ms%3_600_000)*time.Millisecond, Window: time.Hour})
}

func testLanesConcurrent(t *testing.T, s ratelimit.Store) {
	const goroutines, perGoroutine = 8, 50
	k := key(t, "a")
	// Each goroutine hits a lane of its own and one all share, of one key,
	// and peeks another goroutine's.
	shared := lane(k, "shared", window)
	now := at(0)
	var wg sync.WaitGroup
	for g := range goroutines {
		own := lane(k, "own "+strconv.Itoa(g), window)
		peeked := ratelimit.Counter{Key: k, Lane: "own " + strconv.Itoa((g+1)%goroutines), Window: window, Peek: true}
		wg.Go(func() {
			obs := make([]ratelimit.Observation, 3)
			for i := range perGoroutine {
				if err := s.Hit(t.Context(), now, []ratelimit.Counter{own, shared, peeked}, obs); err != nil {
					t.Errorf("Hit: %v", err)
					return
				}
				if obs[0].Cur != int64(i) {
					t.Errorf("goroutine %d's own lane: Cur %d before hit %d", g, obs[0].Cur, i+1)
					return
				}
			}
		})
	}
	wg.Wait()
	counters := []ratelimit.Counter{shared}
	for g := range goroutines {
		counters = append(counters, lane(k, "own "+strconv.Itoa(g), window))
	}
	got := hit(t, s, now, counters...)
	if got[0].Cur != goroutines*perGoroutine {
		t.Errorf("shared lane: Cur %d, want %d", got[0].Cur, goroutines*perGoroutine)
	}
	for g, o := range got[1:] {
		if o.Cur != perGoroutine {
			t.Errorf("lane of goroutine %d: Cur %d, want %d", g, o.Cur, perGoroutine)
		}
	}
}

// part returns part p of lane name of key, with window w.
func part(key, name string, w time.Duration, p uint8) ratelimit.Counter {
	return ratelimit.Counter{Key: key, Lane: name, Window: w, Part: p}
}

func testPartsIndependent(t *testing.T, s ratelimit.Store) {
	k := key(t, "identity")
	// Parts 1, 3 and 9 of lane "h", and a lane "h1" that looks like a
	// part of it.
	p1, p3, p9 := part(k, "h", window, 1), part(k, "h", window, 3), part(k, "h", window, 9)
	look := lane(k, "h1", window)
	hitN(t, s, 1, at(0), p1)
	hitN(t, s, 3, at(0), p3, p9)
	hitN(t, s, 2, at(0), p9, look)

	all := make([]ratelimit.Counter, 0, ratelimit.MaxParts)
	for p := range uint8(ratelimit.MaxParts) {
		all = append(all, peek(part(k, "h", window, p)))
	}
	want := func(p int) int64 {
		return map[int]int64{1: 1, 3: 3, 9: 5}[p]
	}
	got := hit(t, s, at(time.Second), all...)
	for p, o := range got {
		wantObs(t, "part "+strconv.Itoa(p), o, ratelimit.Observation{Cur: want(p), Elapsed: time.Second, Window: window})
	}
	got = hit(t, s, at(time.Second), look, peek(part(k, "other lane", window, 1)))
	wantObs(t, "lane h1", got[0], ratelimit.Observation{Cur: 2, Elapsed: time.Second, Window: window})
	wantObs(t, "part 1 of a lane never counted", got[1], ratelimit.Observation{Elapsed: time.Second, Window: window})

	// Counted in the next bucket, part 3 rolls over; read in the same
	// bucket, parts 1 and 9 are in the bucket before theirs. The parts
	// come in an order of the caller's, not the parts'.
	got = hit(t, s, at(window+time.Second), p3, lane(k, "velocity", window))
	wantObs(t, "part 3 a window on", got[0], ratelimit.Observation{Prev: 3, Elapsed: time.Second, Window: window})
	got = hit(t, s, at(window+time.Second), peek(p9), peek(p3), peek(p1))
	wantObs(t, "part 9 a window on", got[0], ratelimit.Observation{Prev: 5, Elapsed: time.Second, Window: window})
	wantObs(t, "part 3 after its hit", got[1], ratelimit.Observation{Prev: 3, Cur: 1, Elapsed: time.Second, Window: window})
	wantObs(t, "part 1 a window on", got[2], ratelimit.Observation{Prev: 1, Elapsed: time.Second, Window: window})
	// Part 3 alone has counted in that bucket: two windows after the
	// others' last hit, they read nothing and part 3 its one hit.
	got = hit(t, s, at(2*window), p1, p3, p9)
	wantObs(t, "part 1 idle for two windows", got[0], ratelimit.Observation{Window: window})
	wantObs(t, "part 3 a window after its hit", got[1], ratelimit.Observation{Prev: 1, Window: window})
	wantObs(t, "part 9 idle for two windows", got[2], ratelimit.Observation{Window: window})
}

func testPartsLate(t *testing.T, s ratelimit.Store) {
	k := key(t, "a")
	p0, p2 := part(k, "h", window, 0), part(k, "h", window, 2)
	hitN(t, s, 2, at(30*time.Second), p2)
	hitN(t, s, 3, at(window+10*time.Second), p0)
	// A replica whose clock is behind: late for part 0, whose newest
	// bucket is the next one, on time for part 2.
	got := hit(t, s, at(window-time.Millisecond), p0, p2)
	wantObs(t, "part 0, late", got[0], ratelimit.Observation{Elapsed: window - time.Millisecond, Window: window})
	wantObs(t, "part 2, on time", got[1], ratelimit.Observation{Cur: 2, Elapsed: window - time.Millisecond, Window: window})
	got = hit(t, s, at(window+20*time.Second), peek(p2), peek(p0))
	wantObs(t, "part 2 after", got[0], ratelimit.Observation{Prev: 3, Elapsed: 20 * time.Second, Window: window})
	wantObs(t, "part 0 after", got[1], ratelimit.Observation{Prev: 1, Cur: 3, Elapsed: 20 * time.Second, Window: window})
}

func testPartsKeptByLane(t *testing.T, s ratelimit.Store) {
	k := key(t, "a")
	hitN(t, s, 2, at(0), part(k, "h", window, 1), part(k, "h", window, 4))
	// The lane itself is its part 0, counted with and without the others.
	hitN(t, s, 3, at(0), lane(k, "h", window))
	hitN(t, s, 1, at(0), lane(k, "h", window), part(k, "h", window, 1))
	got := hit(t, s, at(time.Second), peek(part(k, "h", window, 4)), peek(lane(k, "h", window)), peek(part(k, "h", window, 1)))
	wantObs(t, "part 4", got[0], ratelimit.Observation{Cur: 2, Elapsed: time.Second, Window: window})
	wantObs(t, "the lane", got[1], ratelimit.Observation{Cur: 4, Elapsed: time.Second, Window: window})
	wantObs(t, "part 1", got[2], ratelimit.Observation{Cur: 3, Elapsed: time.Second, Window: window})
	// The lane alone, in its next bucket, starts it afresh and its parts
	// keep theirs.
	hit(t, s, at(window), lane(k, "h", window))
	got = hit(t, s, at(window), peek(part(k, "h", window, 1)), peek(lane(k, "h", window)), peek(part(k, "h", window, 4)))
	wantObs(t, "part 1 a window on", got[0], ratelimit.Observation{Prev: 3, Window: window})
	wantObs(t, "the lane a window on", got[1], ratelimit.Observation{Prev: 4, Cur: 1, Window: window})
	wantObs(t, "part 4 a window on", got[2], ratelimit.Observation{Prev: 2, Window: window})
}

func testPartsPeekCreatesNothing(t *testing.T, s ratelimit.Store, opts Options) {
	k := key(t, "a")
	hitN(t, s, 2, at(0), lane(k, "velocity", window), part(k, "h", window, 1))
	before := stored(t, opts, k)
	var peeks []ratelimit.Counter
	for p := range uint8(6) {
		peeks = append(peeks, peek(part(k, "h", window, p)), peek(part(k, "missing", window, p)))
	}
	peeks = append(peeks, peek(part(key(t, "never hit"), "h", window, 2)))
	for _, off := range []time.Duration{0, window + time.Second, -time.Millisecond} {
		got := hit(t, s, at(off), peeks...)
		for i, c := range peeks {
			_, elapsed := bucketAndElapsed(at(off), c.Window)
			want := ratelimit.Observation{Elapsed: elapsed, Window: window}
			if c.Lane == "h" && c.Part == 1 && c.Key == k {
				// Read late (-1ms), the bucket before the counted one is
				// empty.
				switch {
				case off >= window:
					want.Prev = 2
				case off >= 0:
					want.Cur = 2
				}
			}
			wantObs(t, "peek "+off.String()+" in, lane "+c.Lane+" part "+strconv.Itoa(int(c.Part)), got[i], want)
		}
		if after := stored(t, opts, k); after != before {
			t.Fatalf("peeks of parts %v in changed the key from %s to %s", off, before, after)
		}
		if st := stored(t, opts, key(t, "never hit")); st != "" {
			t.Fatalf("a peek of a part %v in created a key never hit: %s", off, st)
		}
	}
}

func testPartsInvalid(t *testing.T, s ratelimit.Store) {
	k := key(t, "a")
	good := lane(key(t, "good"), "v", window)
	for _, bad := range []struct {
		what     string
		counters []ratelimit.Counter
	}{
		{"a part past MaxParts", []ratelimit.Counter{part(k, "h", window, ratelimit.MaxParts)}},
		{"a part given twice", []ratelimit.Counter{part(k, "h", window, 2), part(k, "h", window, 2)}},
		{"the lane and its part 1 twice", []ratelimit.Counter{lane(k, "h", window), part(k, "h", window, 1), part(k, "h", window, 1)}},
		{"parts peeked and counted", []ratelimit.Counter{part(k, "h", window, 1), peek(part(k, "h", window, 2))}},
		{"parts of two windows", []ratelimit.Counter{part(k, "h", window, 1), part(k, "h", time.Second, 2)}},
	} {
		counters := append([]ratelimit.Counter{good}, bad.counters...)
		obs := make([]ratelimit.Observation, len(counters))
		if err := s.Hit(t.Context(), at(0), counters, obs); err == nil {
			t.Errorf("Hit with %s: no error", bad.what)
		}
	}
	got := hit(t, s, at(0), good, peek(part(k, "h", window, 1)), peek(part(k, "h", window, 2)))
	for i, c := range []ratelimit.Counter{good, part(k, "h", window, 1), part(k, "h", window, 2)} {
		wantObs(t, "counter "+strconv.Itoa(i)+" of the rejected calls", got[i], ratelimit.Observation{Window: c.Window})
	}
}

func testPartsConcurrent(t *testing.T, s ratelimit.Store) {
	const goroutines, perGoroutine = 8, 50
	k := key(t, "a")
	// Each goroutine counts a part of its own of one lane, rewriting the
	// lane's parts as it does, and peeks all the others.
	now := at(0)
	var wg sync.WaitGroup
	for g := range uint8(goroutines) {
		wg.Go(func() {
			counters := []ratelimit.Counter{part(k, "h", window, g+1), lane(k, "shared", window)}
			obs := make([]ratelimit.Observation, 2)
			for i := range perGoroutine {
				if err := s.Hit(t.Context(), now, counters, obs); err != nil {
					t.Errorf("Hit: %v", err)
					return
				}
				if obs[0].Cur != int64(i) {
					t.Errorf("goroutine %d's part: Cur %d before hit %d", g, obs[0].Cur, i+1)
					return
				}
			}
		})
	}
	wg.Wait()
	var counters []ratelimit.Counter
	for g := range uint8(goroutines) {
		counters = append(counters, peek(part(k, "h", window, g+1)))
	}
	for i, o := range hit(t, s, now, counters...) {
		if o.Cur != perGoroutine {
			t.Errorf("part %d: Cur %d, want %d", i+1, o.Cur, perGoroutine)
		}
	}
}
