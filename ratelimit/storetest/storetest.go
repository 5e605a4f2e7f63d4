// Package storetest is the conformance suite every ratelimit.Store must pass.
// The suite is the specification of a Store's counting semantics: a backend
// that passes it can replace another without changing any decision.
package storetest

import (
	"slices"
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

// Run runs the suite. newStore must return an empty store (or one holding no
// keys the suite uses); Run closes each store when its subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
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
		{"an invalid window is rejected and nothing is counted", testInvalidWindow},
		{"too few observations is rejected and nothing is counted", testShortObs},
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
