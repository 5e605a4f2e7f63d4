package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/ratelimit/storetest"
)

// fakeStore is a Store whose behaviour the test controls; it fakes our own
// interface to count calls and to block, not Redis.
type fakeStore struct {
	calls   atomic.Int64
	entered chan struct{} // if set, receives once per call on entry
	gate    chan struct{} // if set, calls wait until it is closed
	done    chan struct{} // if set, receives once per call on return
	closed  atomic.Bool

	mu    sync.Mutex
	err   error
	ctxOK []bool // per finished call: ctx not cancelled at the end
}

func (f *fakeStore) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeStore) Hit(ctx context.Context, now time.Time, counters []ratelimit.Counter, obs []ratelimit.Observation) error {
	n := f.calls.Add(1)
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	err := f.err
	f.ctxOK = append(f.ctxOK, ctx.Err() == nil)
	f.mu.Unlock()
	if f.done != nil {
		defer func() { f.done <- struct{}{} }()
	}
	if err != nil {
		return err
	}
	for i, c := range counters {
		obs[i] = ratelimit.Observation{Cur: n, Window: c.Window}
	}
	return nil
}

func (f *fakeStore) Ping(context.Context) error { return errors.New("fake ping") }

func (f *fakeStore) Close() error {
	f.closed.Store(true)
	return nil
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	errFake    = errors.New("fake store failure")
	oneCounter = []ratelimit.Counter{{Key: "k", Window: time.Minute}}
)

func guardHit(g *ratelimit.Guard) error {
	obs := make([]ratelimit.Observation, 1)
	return g.Hit(context.Background(), time.UnixMilli(1_700_000_040_000), oneCounter, obs)
}

func wantErrs(t *testing.T, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("err = %v, does not wrap %v", err, target)
		}
	}
}

func TestGuardReturnsTheStoresObservations(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	g := ratelimit.NewGuard(m, ratelimit.GuardOptions{Budget: time.Minute})
	now := time.UnixMilli(1_700_000_040_000)
	for want := range int64(3) {
		obs := make([]ratelimit.Observation, 2) // longer than needed is fine
		if err := g.Hit(t.Context(), now, oneCounter, obs); err != nil {
			t.Fatalf("Hit: %v", err)
		}
		if obs[0] != (ratelimit.Observation{Cur: want, Window: time.Minute}) || obs[1] != (ratelimit.Observation{}) {
			t.Errorf("hit %d: obs = %+v", want, obs)
		}
	}
	if err := g.Hit(t.Context(), now, nil, nil); err != nil {
		t.Errorf("Hit with no counters: %v", err)
	}
	if got, want := g.Stats(), (ratelimit.GuardStats{Calls: 4}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// TestGuardConformance runs the store suite through a Guard, whose budget
// no memory Hit reaches: what the Guard passes on, peeks included, must
// reach the store unchanged.
func TestGuardConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ratelimit.Store {
		return ratelimit.NewGuard(ratelimit.NewMemory(ratelimit.MemoryOptions{}), ratelimit.GuardOptions{Budget: time.Hour})
	})
}

func TestGuardBudgetExceededWhenRedisIsPaused(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, srv)
	g := ratelimit.NewGuard(s, ratelimit.GuardOptions{})
	t.Cleanup(func() { _ = g.Close() })
	if err := guardHit(g); err != nil {
		t.Fatalf("Hit before pausing: %v", err)
	}

	srv.Pause()
	t.Cleanup(srv.Resume) // lets the abandoned call finish before the server is killed
	sentinel := ratelimit.Observation{Prev: -1}
	obs := []ratelimit.Observation{sentinel}
	err := g.Hit(t.Context(), time.UnixMilli(1_700_000_040_000), oneCounter, obs)
	wantErrs(t, err, ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)
	if obs[0] != sentinel {
		t.Errorf("failed Hit wrote obs: %+v", obs[0])
	}
	if st := g.Stats(); st.BudgetExceeded != 1 || st.Degraded != 1 {
		t.Errorf("Stats() = %+v, want one budget overrun", st)
	}

	// The abandoned call was on the wire: once Redis resumes it counts,
	// once.
	srv.Resume()
	peek := []ratelimit.Counter{{Key: oneCounter[0].Key, Window: oneCounter[0].Window, Peek: true}}
	ratelimit.WaitFor(t, "the abandoned hit counted", func() bool {
		obs := make([]ratelimit.Observation, 1)
		err := g.Hit(t.Context(), time.UnixMilli(1_700_000_040_000), peek, obs)
		return err == nil && obs[0].Cur == 2
	})
}

// TestGuardOverRedisReturnsWhenTheCallerGivesUp: with Redis paused and a
// budget far away, the caller's cancellation ends its wait, says so, and
// leaves the breaker and the budget count alone.
func TestGuardOverRedisReturnsWhenTheCallerGivesUp(t *testing.T) {
	srv := redistest.Start(t)
	g := ratelimit.NewGuard(dialStore(t, srv), ratelimit.GuardOptions{Budget: time.Hour, FailureThreshold: 1})
	t.Cleanup(func() { _ = g.Close() })
	if err := guardHit(g); err != nil {
		t.Fatalf("Hit before pausing: %v", err)
	}
	srv.Pause()
	t.Cleanup(srv.Resume)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		obs := make([]ratelimit.Observation, 1)
		errc <- g.Hit(ctx, time.UnixMilli(1_700_000_040_000), oneCounter, obs)
	}()
	ratelimit.WaitFor(t, "the call waiting on Redis", func() bool { return g.Stats().Calls == 2 })
	cancel()
	wantErrs(t, <-errc, ratelimit.ErrDegraded, context.Canceled)
	if st := g.Stats(); st.BudgetExceeded != 0 || st.Degraded != 1 {
		t.Errorf("Stats() = %+v, want one degraded call and no budget overrun", st)
	}
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Errorf("breaker %v after the caller gave up, want closed", st)
	}
}

func TestGuardDegradedWhenRedisIsStoppedAndRecoversAfterRestart(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, srv)
	// Both breaker rules off: this is about the store and the budget.
	g := ratelimit.NewGuard(s, ratelimit.GuardOptions{FailureThreshold: 1 << 30, FailureRatio: 2})
	t.Cleanup(func() { _ = g.Close() })

	srv.Stop()
	wantErrs(t, guardHit(g), ratelimit.ErrDegraded)

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := guardHit(g)
		if err == nil {
			break
		}
		if !errors.Is(err, ratelimit.ErrDegraded) {
			t.Fatalf("err = %v, does not wrap ErrDegraded", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Hit still failing after restart: %v", err)
		}
	}
}

func TestGuardBreakerOpensAfterThresholdAndClosesAfterSuccessfulProbe(t *testing.T) {
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{FailureThreshold: 3, Cooldown: 10 * time.Second, Now: clock.Now})

	for i := range 3 {
		if st := g.State(); st != ratelimit.BreakerClosed {
			t.Fatalf("after %d failures State() = %v, want closed", i, st)
		}
		if i > 0 {
			clock.Advance(100 * time.Millisecond) // Window/10: each failure counts
		}
		wantErrs(t, guardHit(g), ratelimit.ErrDegraded, errFake)
	}
	if st := g.State(); st != ratelimit.BreakerOpen {
		t.Fatalf("after 3 failures State() = %v, want open", st)
	}

	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrBreakerOpen)
	clock.Advance(10*time.Second - time.Nanosecond)
	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrBreakerOpen)
	if n := f.calls.Load(); n != 3 {
		t.Errorf("store called %d times, want 3: an open breaker must not call it", n)
	}

	clock.Advance(time.Nanosecond)
	f.setErr(nil)
	if err := guardHit(g); err != nil {
		t.Fatalf("probe after cooldown: %v", err)
	}
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Errorf("after a successful probe State() = %v, want closed", st)
	}
	if err := guardHit(g); err != nil {
		t.Errorf("Hit after closing: %v", err)
	}
	want := ratelimit.GuardStats{Calls: 7, Degraded: 5, BreakerOpenRejects: 2}
	if got := g.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestGuardFailedProbeReopensForAnotherCooldown(t *testing.T) {
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{FailureThreshold: 1, Cooldown: time.Second, Now: clock.Now})

	wantErrs(t, guardHit(g), errFake)
	clock.Advance(time.Second)
	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, errFake) // the probe
	if st := g.State(); st != ratelimit.BreakerOpen {
		t.Fatalf("after a failed probe State() = %v, want open", st)
	}
	wantErrs(t, guardHit(g), ratelimit.ErrBreakerOpen)
	clock.Advance(time.Second)
	f.setErr(nil)
	if err := guardHit(g); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("store called %d times, want 3 (failure, probe, probe)", n)
	}
}

func TestGuardLetsOnlyOneProbeThrough(t *testing.T) {
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{FailureThreshold: 1, Cooldown: time.Second, Budget: time.Hour, Now: clock.Now})
	wantErrs(t, guardHit(g), errFake)

	f.setErr(nil)
	f.entered = make(chan struct{}, 1)
	f.gate = make(chan struct{})
	clock.Advance(time.Second)
	probe := make(chan error)
	go func() { probe <- guardHit(g) }()
	<-f.entered

	if st := g.State(); st != ratelimit.BreakerHalfOpen {
		t.Errorf("during the probe State() = %v, want half-open", st)
	}
	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrBreakerOpen)
	close(f.gate)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Errorf("after the probe State() = %v, want closed", st)
	}
}

func TestGuardBudgetOverrunsCountAsBreakerFailures(t *testing.T) {
	f := &fakeStore{gate: make(chan struct{})}
	t.Cleanup(func() { close(f.gate) })
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Millisecond, FailureThreshold: 2, Now: clock.Now})

	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)
	clock.Advance(100 * time.Millisecond)
	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)
	if st := g.State(); st != ratelimit.BreakerOpen {
		t.Errorf("after 2 budget overruns State() = %v, want open", st)
	}
	wantErrs(t, guardHit(g), ratelimit.ErrBreakerOpen)
}

// hitUntilOpen calls g, whose store fails, every step of clock until the
// breaker opens, at most n times. It returns how long after the first
// failure the breaker opened, by clock.
func hitUntilOpen(t *testing.T, g *ratelimit.Guard, clock *fakeClock, step time.Duration, n int) time.Duration {
	t.Helper()
	first := clock.Now()
	for i := range n {
		if i > 0 {
			clock.Advance(step)
		}
		wantErrs(t, guardHit(g), ratelimit.ErrDegraded)
		if g.State() == ratelimit.BreakerOpen {
			return clock.Now().Sub(first)
		}
	}
	t.Fatalf("breaker still %v after %d failures %v apart", g.State(), n, step)
	return 0
}

// hitHealthy makes n successful calls step apart by clock.
func hitHealthy(t *testing.T, g *ratelimit.Guard, clock *fakeClock, step time.Duration, n int) {
	t.Helper()
	for range n {
		clock.Advance(step)
		if err := guardHit(g); err != nil {
			t.Fatalf("Hit on a healthy store: %v", err)
		}
	}
}

func TestGuardFailuresCloserThanASlotCountOnce(t *testing.T) {
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, FailureThreshold: 2, Now: clock.Now})

	// One stall: 50 calls fail at once, one more 99ms later.
	for range 50 {
		wantErrs(t, guardHit(g), errFake)
	}
	clock.Advance(99 * time.Millisecond)
	wantErrs(t, guardHit(g), errFake)
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Fatalf("after failures within 99ms State() = %v, want closed: they count once", st)
	}
	// 100ms (Window/10) after the first counted failure, the next one counts.
	clock.Advance(time.Millisecond)
	wantErrs(t, guardHit(g), errFake)
	if st := g.State(); st != ratelimit.BreakerOpen {
		t.Errorf("after a second failure 100ms on State() = %v, want open", st)
	}
}

func TestGuardASuccessEndsTheRunOfFailures(t *testing.T) {
	f := &fakeStore{}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, FailureThreshold: 3, Now: clock.Now})
	step := func(err error) {
		t.Helper()
		clock.Advance(100 * time.Millisecond)
		f.setErr(err)
		_ = guardHit(g)
	}
	step(errFake)
	step(errFake)
	step(nil)
	step(errFake)
	step(errFake)
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Fatalf("after 2 failures, a success, 2 failures State() = %v, want closed", st)
	}
	step(errFake)
	if st := g.State(); st != ratelimit.BreakerOpen {
		t.Errorf("after 3 failures in a row State() = %v, want open", st)
	}
}

func TestGuardRatioNeedsFailuresInThreeSlots(t *testing.T) {
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	// The consecutive-failure rule off: this is about the ratio alone.
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, FailureThreshold: 1 << 20, Now: clock.Now})

	// Two stalls, 70ms apart, fail 100 calls: every call of the window,
	// five times MinCalls, but in two of its 100ms slots.
	clock.Advance(50 * time.Millisecond)
	for range 50 {
		wantErrs(t, guardHit(g), errFake)
	}
	clock.Advance(70 * time.Millisecond)
	for range 50 {
		wantErrs(t, guardHit(g), errFake)
	}
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Fatalf("after failures in 2 slots State() = %v, want closed", st)
	}
	// A failure in a third slot: the store has been failing for 200ms.
	clock.Advance(130 * time.Millisecond)
	wantErrs(t, guardHit(g), errFake)
	if st := g.State(); st != ratelimit.BreakerOpen {
		t.Errorf("after failures in 3 slots State() = %v, want open", st)
	}
}

func TestGuardOpensOnFailureRatioDespiteSuccesses(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failOf5  int // calls of every 5 that fail
		wantOpen bool
	}{
		{"40% failing stays closed", 2, false},
		{"60% failing opens", 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeStore{}
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, Now: clock.Now})
			// 100 calls/s for 3s; successes are interleaved, so no run of
			// failures lasts long enough for FailureThreshold.
			for i := range 300 {
				clock.Advance(10 * time.Millisecond)
				if i%5 < tt.failOf5 {
					f.setErr(errFake)
				} else {
					f.setErr(nil)
				}
				_ = guardHit(g)
				if g.State() == ratelimit.BreakerOpen {
					if !tt.wantOpen {
						t.Fatalf("opened after %d calls", i+1)
					}
					if i+1 > 100 {
						t.Errorf("opened after %d calls, want within the first second (100 calls)", i+1)
					}
					return
				}
			}
			if tt.wantOpen {
				t.Errorf("still closed after 300 calls")
			}
		})
	}
}

// A burst of 12 budget misses among 1,000 calls at 1,000 calls/s (by the
// guard's clock): what one short stall of Redis, or of a busy host, does.
func TestGuardBurstOfBudgetMissesDoesNotOpenTheBreaker(t *testing.T) {
	s := &stallStore{}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	// A budget far above the store's answer time, so that only the stall
	// makes calls miss it.
	g := ratelimit.NewGuard(s, ratelimit.GuardOptions{Budget: 50 * time.Millisecond, Now: clock.Now})
	calls := func(n int) {
		for range n {
			clock.Advance(time.Millisecond)
			_ = guardHit(g)
			if st := g.State(); st != ratelimit.BreakerClosed {
				t.Fatalf("State() = %v, want closed; stats %+v", st, g.Stats())
			}
		}
	}
	calls(494)

	s.Stall()
	errs := make(chan error, 12)
	for range 12 {
		clock.Advance(time.Millisecond)
		go func() { errs <- guardHit(g) }()
	}
	for range 12 {
		wantErrs(t, <-errs, ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)
	}
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Fatalf("after the burst State() = %v, want closed", st)
	}
	s.Release()

	calls(494)
	st := g.Stats()
	if st.Calls != 1000 || st.BreakerOpenRejects != 0 || st.BudgetExceeded < 12 {
		t.Errorf("Stats() = %+v, want 1000 calls, at least 12 budget overruns, no breaker rejects", st)
	}
}

func TestGuardDeadStoreOpensTheBreakerWithinASecond(t *testing.T) {
	for _, tt := range []struct {
		name string
		step time.Duration // between calls
	}{
		{"1 call/s", time.Second},
		{"5 calls/s", time.Second / 5},
		{"20 calls/s", time.Second / 20},
		{"1000 calls/s", time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeStore{}
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, Now: clock.Now})
			// Two healthy seconds fill the window with successes.
			hitHealthy(t, g, clock, tt.step, int(2*time.Second/tt.step))
			clock.Advance(tt.step)
			f.setErr(errFake)
			took := hitUntilOpen(t, g, clock, tt.step, 100_000)
			t.Logf("opened %v after the first failure", took)
			// FailureThreshold (4) failures at least 100ms apart: 300ms
			// when calls come that often, 3 calls apart when they do not
			// (3s at 1 call/s, where nothing quicker could be told from
			// bad luck).
			if limit := max(time.Second, 3*tt.step); took > limit {
				t.Errorf("opened %v after the first failure, want at most %v", took, limit)
			}
		})
	}
}

func TestGuardOpensWithinASecondWhenRedisDiesAtLowTraffic(t *testing.T) {
	srv := redistest.Start(t)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	// A budget no healthy call misses on a busy machine: the failures here
	// are Redis being gone.
	g := ratelimit.NewGuard(dialStore(t, srv), ratelimit.GuardOptions{Budget: time.Second, Now: clock.Now})
	t.Cleanup(func() { _ = g.Close() })
	const step = time.Second / 5 // 5 calls/s by the guard's clock
	hitHealthy(t, g, clock, step, 10)

	srv.Stop()
	clock.Advance(step)
	took := hitUntilOpen(t, g, clock, step, 50)
	t.Logf("opened %v after the first failure", took)
	if took > time.Second {
		t.Errorf("opened %v after the first failure, want at most 1s", took)
	}
	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrBreakerOpen)
}

func TestGuardClosingAfterAProbeStartsAFreshWindow(t *testing.T) {
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	// Cooldown shorter than Window, so that the failures that opened the
	// breaker are still in the window when the probe closes it.
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, FailureThreshold: 1 << 20, Cooldown: 100 * time.Millisecond, Now: clock.Now})
	hitUntilOpen(t, g, clock, 10*time.Millisecond, 100)

	clock.Advance(100 * time.Millisecond)
	f.setErr(nil)
	if err := guardHit(g); err != nil {
		t.Fatalf("probe: %v", err)
	}
	clock.Advance(10 * time.Millisecond)
	f.setErr(errFake)
	wantErrs(t, guardHit(g), errFake)
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Errorf("one failure after closing: State() = %v, want closed", st)
	}
}

func TestGuardFailsFastWhenMaxInFlightIsReached(t *testing.T) {
	f := &fakeStore{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{MaxInFlight: 1, Budget: time.Hour})

	first := make(chan error)
	go func() { first <- guardHit(g) }()
	<-f.entered

	wantErrs(t, guardHit(g), ratelimit.ErrDegraded, ratelimit.ErrOverloaded)
	if n := f.calls.Load(); n != 1 {
		t.Errorf("store called %d times, want 1: an overloaded guard must not call it", n)
	}
	close(f.gate)
	if err := <-first; err != nil {
		t.Fatalf("first Hit: %v", err)
	}
	if err := guardHit(g); err != nil {
		t.Errorf("Hit after the slot was freed: %v", err)
	}
	if st := g.Stats(); st.Overloaded != 1 || st.Degraded != 1 {
		t.Errorf("Stats() = %+v, want one overload", st)
	}
}

func TestGuardDoesNotCancelAnAbandonedCall(t *testing.T) {
	f := &fakeStore{entered: make(chan struct{}, 1), gate: make(chan struct{}), done: make(chan struct{}, 1)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Millisecond})

	ctx, cancel := context.WithCancel(t.Context())
	obs := make([]ratelimit.Observation, 1)
	err := g.Hit(ctx, time.UnixMilli(1_700_000_040_000), oneCounter, obs)
	wantErrs(t, err, ratelimit.ErrBudgetExceeded)
	<-f.entered
	cancel() // the request is over
	// The caller owns obs again and may reuse it while the call still runs;
	// the store's late write must land in the guard's buffer, not here.
	obs[0] = ratelimit.Observation{Prev: 42}
	close(f.gate)

	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("abandoned call never finished")
	}
	f.mu.Lock()
	if !f.ctxOK[0] {
		t.Error("the abandoned call's context was cancelled")
	}
	f.mu.Unlock()
	if obs[0] != (ratelimit.Observation{Prev: 42}) {
		t.Errorf("abandoned call wrote the caller's obs: %+v", obs[0])
	}
}

func TestGuardRejectsBadArgumentsWithoutTrippingTheBreaker(t *testing.T) {
	f := &fakeStore{}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{FailureThreshold: 1})
	err := g.Hit(t.Context(), time.Now(), oneCounter, nil)
	wantErrs(t, err, ratelimit.ErrDegraded)
	if errors.Is(err, ratelimit.ErrBreakerOpen) || errors.Is(err, ratelimit.ErrBudgetExceeded) {
		t.Errorf("err = %v names a store problem", err)
	}
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Errorf("State() = %v, want closed", st)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("store called %d times, want 0", n)
	}
}

func TestGuardLogsStateChangesOnly(t *testing.T) {
	var buf bytes.Buffer
	f := &fakeStore{}
	f.setErr(errFake)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{
		FailureThreshold: 2, Cooldown: time.Second, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	_ = guardHit(g)
	clock.Advance(100 * time.Millisecond)
	for range 4 {
		_ = guardHit(g) // a second failure opens it, 3 rejects
	}
	clock.Advance(time.Second)
	f.setErr(nil)
	_ = guardHit(g)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"breaker opened", "half-open", "breaker closed"}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("log line %d = %q, want it to mention %q", i, lines[i], w)
		}
	}
}

func TestGuardPingAndClosePassThrough(t *testing.T) {
	f := &fakeStore{}
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{})
	if err := g.Ping(t.Context()); err == nil || err.Error() != "fake ping" {
		t.Errorf("Ping() = %v, want the store's answer", err)
	}
	if err := g.Close(); err != nil || !f.closed.Load() {
		t.Errorf("Close() = %v, store closed %v", err, f.closed.Load())
	}
}

func TestBreakerStateString(t *testing.T) {
	for st, want := range map[ratelimit.BreakerState]string{
		ratelimit.BreakerClosed:   "closed",
		ratelimit.BreakerOpen:     "open",
		ratelimit.BreakerHalfOpen: "half-open",
		ratelimit.BreakerState(7): "BreakerState(7)",
	} {
		if got := st.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", st, got, want)
		}
	}
}

func BenchmarkGuardRedisHit(b *testing.B) {
	srv := redistest.Start(b)
	// A generous budget: this measures the guard's overhead, not overruns
	// on a busy machine.
	g := ratelimit.NewGuard(dialStore(b, srv), ratelimit.GuardOptions{Budget: time.Second})
	defer g.Close()
	benchmarkHit(b, g)
}

func BenchmarkGuardMemoryHit(b *testing.B) {
	g := ratelimit.NewGuard(ratelimit.NewMemory(ratelimit.MemoryOptions{}), ratelimit.GuardOptions{Budget: time.Second})
	benchmarkHit(b, g)
}

func TestGuardReturnsWhenTheCallerGivesUp(t *testing.T) {
	f := &fakeStore{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	t.Cleanup(func() { close(f.gate) })
	g := ratelimit.NewGuard(f, ratelimit.GuardOptions{Budget: time.Hour, FailureThreshold: 1})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error)
	go func() {
		errc <- g.Hit(ctx, time.UnixMilli(1_700_000_040_000), oneCounter, make([]ratelimit.Observation, 1))
	}()
	<-f.entered
	cancel()
	wantErrs(t, <-errc, ratelimit.ErrDegraded, context.Canceled)
	if st := g.State(); st != ratelimit.BreakerClosed {
		t.Errorf("State() = %v, want closed: a caller giving up is not a store failure", st)
	}
}

// BenchmarkGuardRedisHitConcurrent is 32 concurrent callers hitting a
// Check's counters (a client address's velocity lane and three parts of
// its history lane, peeked; its /24's lane) over 10,000 addresses, through
// the Redis store alone, through the store with each Hit's script sent as
// a call of its own (unfolded: as before hitFold, and as on a cluster),
// and through a Guard over the store. Besides ns/op it reports this
// process's CPU per Hit (cpu-µs/op, getrusage) and Redis's
// (redis-cpu-µs/op, INFO cpu): Redis runs in a process of its own.
// store against guard is what the Guard costs a Check.
func BenchmarkGuardRedisHitConcurrent(b *testing.B) {
	srv := redistest.Start(b)
	admin := adminClient(b, srv)
	const addrs = 10000
	history := ratelimit.NamedLane("h", 10*time.Minute)
	checks := make([][]ratelimit.Counter, addrs)
	for i := range checks {
		ip := "10." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + ".1"
		k := ratelimit.IdentityKey(ratelimit.DimIP, ip)
		checks[i] = []ratelimit.Counter{
			{Key: k, Lane: "60s", Window: time.Minute},
			{Key: k, Lane: history, Window: 10 * time.Minute, Peek: true, Part: 0},
			{Key: k, Lane: history, Window: 10 * time.Minute, Peek: true, Part: 1},
			{Key: k, Lane: history, Window: 10 * time.Minute, Peek: true, Part: 2},
			{Key: ratelimit.IdentityKey(ratelimit.DimSubnet, ip+"/24"), Lane: "60s", Window: time.Minute},
		}
	}
	for _, mode := range []string{"store", "guard"} {
		b.Run(mode, func(b *testing.B) {
			r := dialStore(b, srv)
			var s ratelimit.Store = r
			if mode == "guard" {
				// A generous budget: this measures the guard's overhead,
				// not overruns on a busy machine.
				s = ratelimit.NewGuard(s, ratelimit.GuardOptions{Budget: time.Second})
			}
			defer s.Close()
			var next atomic.Uint64
			b.SetParallelism(16) // 32 callers on 2 cores, as the load harness
			before, redisBefore := processCPU(b), redisCPU(b, admin)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				obs := make([]ratelimit.Observation, len(checks[0]))
				for pb.Next() {
					if err := s.Hit(b.Context(), time.Now(), checks[next.Add(1)%addrs], obs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N)/1e3, "cpu-µs/op")
			b.ReportMetric(float64(redisCPU(b, admin)-redisBefore)/float64(b.N)/1e3, "redis-cpu-µs/op")
		})
	}
}

// redisCPU is the user and system CPU time c's server has used so far,
// as INFO cpu reports it (to the microsecond).
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	b.Helper()
	info, err := c.Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatalf("INFO cpu: %v", err)
	}
	var total time.Duration
	for l := range strings.Lines(info) {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || (name != "used_cpu_sys" && name != "used_cpu_user") {
			continue
		}
		sec, err := strconv.ParseFloat(v, 64)
		if err != nil {
			b.Fatalf("INFO cpu %s: %v", l, err)
		}
		total += time.Duration(sec * 1e9)
	}
	return total
}

// processCPU is this process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
