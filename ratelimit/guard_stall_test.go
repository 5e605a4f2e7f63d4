package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
)

// stallStore answers at once, except while stalled: then every call waits
// until the stall ends, as every call in flight does when Redis, or the
// host it runs on, stalls.
type stallStore struct {
	mu   sync.Mutex
	gate chan struct{} // non-nil while stalled
}

func (s *stallStore) Stall() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *stallStore) Release() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func (s *stallStore) Hit(_ context.Context, _ time.Time, counters []ratelimit.Counter, obs []ratelimit.Observation) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	for i, c := range counters {
		obs[i] = ratelimit.Observation{Cur: 1, Window: c.Window}
	}
	return nil
}

func (s *stallStore) Ping(context.Context) error { return nil }
func (s *stallStore) Close() error               { return nil }

// TestGuardOneStallAtAThousandCallsPerSecond reproduces the finding with the
// default options and the real clock: Checks at 1,000/s, each its own
// goroutine, and one stall of the store that lasts until 12 calls have
// missed the 20ms budget. The breaker must not reject a single call for it.
// It paces the load by the wall clock but asserts nothing about speed.
func TestGuardOneStallAtAThousandCallsPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("paces 2,000 calls at 1,000/s")
	}
	const calls, stallAt, misses = 2000, 500, 12
	s := &stallStore{}
	g := ratelimit.NewGuard(s, ratelimit.GuardOptions{})
	var wg sync.WaitGroup
	start := time.Now()
	for i := range calls {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d) // pacing the load, not waiting for a condition
		}
		if i == stallAt {
			s.Stall()
			wg.Go(func() {
				// End the stall once enough calls missed the budget: the
				// calls that entered it since then finish within theirs.
				deadline := time.After(time.Minute)
				tick := time.NewTicker(50 * time.Microsecond)
				defer tick.Stop()
			poll:
				for g.Stats().BudgetExceeded < misses {
					select {
					case <-deadline:
						break poll
					case <-tick.C:
					}
				}
				s.Release()
			})
		}
		wg.Go(func() {
			obs := make([]ratelimit.Observation, 1)
			_ = g.Hit(context.Background(), time.Now(), oneCounter, obs)
		})
	}
	wg.Wait()
	st := g.Stats()
	t.Logf("%d calls in %v: %d degraded, %d budget overruns, %d rejected by the open breaker, %d overloaded",
		st.Calls, time.Since(start).Round(time.Millisecond), st.Degraded, st.BudgetExceeded, st.BreakerOpenRejects, st.Overloaded)
	if st.BudgetExceeded < misses {
		t.Fatalf("the stall made %d calls miss the budget, want at least %d", st.BudgetExceeded, misses)
	}
	if st.BreakerOpenRejects != 0 {
		t.Errorf("the breaker rejected %d of %d calls after one stall, want 0", st.BreakerOpenRejects, st.Calls)
	}
}
