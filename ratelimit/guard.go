package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDegraded is wrapped by every error Guard returns: the counters are
// unknown for this request, and the caller should decide without them.
var ErrDegraded = errors.New("ratelimit degraded")

// The reasons for ErrDegraded besides the store's own error.
var (
	// ErrBudgetExceeded means the store did not answer within the budget.
	ErrBudgetExceeded = errors.New("store exceeded its time budget")
	// ErrBreakerOpen means recent calls failed, so the store is not asked.
	ErrBreakerOpen = errors.New("circuit breaker open")
	// ErrOverloaded means too many store calls are still in flight.
	ErrOverloaded = errors.New("too many store calls in flight")
)

// Pre-wrapped so that the paths taken when the store is in trouble, which
// are also the busiest then, do not allocate.
var (
	errDegradedBudget     = fmt.Errorf("%w: %w", ErrDegraded, ErrBudgetExceeded)
	errDegradedBreaker    = fmt.Errorf("%w: %w", ErrDegraded, ErrBreakerOpen)
	errDegradedOverloaded = fmt.Errorf("%w: %w", ErrDegraded, ErrOverloaded)
)

// GuardOptions configures NewGuard. Zero values select the defaults.
type GuardOptions struct {
	// Budget is the longest a Hit waits for the store (default 20ms).
	Budget time.Duration
	// MaxInFlight bounds the store calls running at once, including those
	// the caller stopped waiting for (default 256). When it is reached, Hit
	// fails at once.
	MaxInFlight int
	// FailureThreshold is the number of consecutive failures, budget
	// overruns included, that opens the breaker (default 5).
	FailureThreshold int
	// Cooldown is how long an open breaker fails calls without asking the
	// store (default 1s). After it, one probe call is let through: its
	// success closes the breaker, its failure opens it for another Cooldown.
	Cooldown time.Duration
	// Logger receives breaker state changes, not individual failures
	// (default: discard).
	Logger *slog.Logger
	// Now is the clock for breaker timing (default time.Now).
	Now func() time.Time
}

// BreakerState is the state of a Guard's circuit breaker.
type BreakerState uint32

// The breaker states.
const (
	BreakerClosed   BreakerState = iota // calls go to the store
	BreakerOpen                         // calls fail without asking the store
	BreakerHalfOpen                     // one probe call is asking the store
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", uint32(s))
}

// GuardStats counts a Guard's calls since it was created.
type GuardStats struct {
	Calls              uint64 // Hit calls
	Degraded           uint64 // Hit calls that returned an error
	BudgetExceeded     uint64 // of which: the store did not answer in time
	BreakerOpenRejects uint64 // of which: the breaker was open
	Overloaded         uint64 // of which: MaxInFlight calls were running
}

// Guard is a Store that keeps a slow or failing store from costing callers
// more than a fixed budget: the inner Hit runs in its own goroutine, Hit waits
// for it at most Budget, and a circuit breaker stops calling a store that
// keeps failing. All failures wrap ErrDegraded.
//
// A call the caller stopped waiting for is not cancelled: cancelling a Redis
// command midway makes go-redis close and redial the connection, which turns
// a slow Redis into a dead one. It finishes in the background, bounded by
// the store's own timeouts and by MaxInFlight.
type Guard struct {
	inner     Store
	budget    time.Duration
	threshold int64
	cooldown  time.Duration
	log       *slog.Logger
	now       func() time.Time
	inFlight  chan struct{} // a semaphore of MaxInFlight slots

	calls   sync.Pool // *guardCall
	timers  sync.Pool // stopped *time.Timer
	state   atomic.Uint32
	failed  atomic.Int64 // consecutive failures while closed
	mu      sync.Mutex   // serialises breaker transitions
	opened  time.Time    // guarded by mu
	probing bool         // guarded by mu; a half-open probe is running

	nCalls, nDegraded, nBudget, nBreaker, nOverloaded atomic.Uint64
}

// guardCall is the state one inner Hit owns. It is separate from the
// caller's slices because the caller may reuse them as soon as Hit returns,
// while an abandoned inner Hit is still writing.
type guardCall struct {
	counters []Counter
	obs      []Observation
	done     chan error
}

// NewGuard wraps s.
func NewGuard(s Store, opts GuardOptions) *Guard {
	if opts.Budget <= 0 {
		opts.Budget = 20 * time.Millisecond
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 5
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Guard{
		inner:     s,
		budget:    opts.Budget,
		threshold: int64(opts.FailureThreshold),
		cooldown:  opts.Cooldown,
		log:       opts.Logger,
		now:       opts.Now,
		inFlight:  make(chan struct{}, opts.MaxInFlight),
	}
	g.calls.New = func() any { return &guardCall{done: make(chan error, 1)} }
	g.timers.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	return g
}

// Hit implements Store within the budget. It returns early, with ErrDegraded
// and ctx's error, if ctx is done first. On error obs is left unchanged.
func (g *Guard) Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error {
	g.nCalls.Add(1)
	if len(counters) == 0 {
		return nil
	}
	if err := checkHit(counters, obs); err != nil {
		// A caller's bug, not the store's: it must not trip the breaker.
		g.nDegraded.Add(1)
		return fmt.Errorf("%w: %w", ErrDegraded, err)
	}
	probe, ok := g.admit()
	if !ok {
		g.nDegraded.Add(1)
		g.nBreaker.Add(1)
		return errDegradedBreaker
	}
	select {
	case g.inFlight <- struct{}{}:
	default:
		if probe {
			g.abandonProbe()
		}
		g.nDegraded.Add(1)
		g.nOverloaded.Add(1)
		return errDegradedOverloaded
	}

	c := g.calls.Get().(*guardCall)
	c.counters = append(c.counters[:0], counters...)
	c.obs = slices.Grow(c.obs[:0], len(counters))[:len(counters)]
	go g.run(context.WithoutCancel(ctx), now, c)

	timer := g.timers.Get().(*time.Timer)
	timer.Reset(g.budget)
	select {
	case err := <-c.done:
		timer.Stop()
		g.timers.Put(timer)
		if err == nil {
			copy(obs, c.obs)
		}
		clear(c.counters) // drop key references while pooled
		g.calls.Put(c)
		g.record(probe, err)
		if err != nil {
			g.nDegraded.Add(1)
			return fmt.Errorf("%w: %w", ErrDegraded, err)
		}
		return nil
	case <-timer.C:
		// The timer has fired and drained, so it can be reused. c cannot:
		// run still owns it and it becomes garbage when run finishes.
		g.timers.Put(timer)
		g.record(probe, ErrBudgetExceeded)
		g.nDegraded.Add(1)
		g.nBudget.Add(1)
		return errDegradedBudget
	case <-ctx.Done():
		// The caller gave up, which says nothing about the store: leave the
		// breaker alone, except that a probe whose outcome will not be
		// recorded must let the next call probe.
		timer.Stop()
		g.timers.Put(timer)
		if probe {
			g.abandonProbe()
		}
		g.nDegraded.Add(1)
		return fmt.Errorf("%w: %w", ErrDegraded, ctx.Err())
	}
}

func (g *Guard) run(ctx context.Context, now time.Time, c *guardCall) {
	err := g.inner.Hit(ctx, now, c.counters, c.obs)
	<-g.inFlight
	c.done <- err // buffered: never blocks, even if Hit stopped waiting
}

// admit reports whether a call may go to the store and whether it is the
// half-open probe whose outcome decides the breaker.
func (g *Guard) admit() (probe, ok bool) {
	if BreakerState(g.state.Load()) == BreakerClosed {
		return false, true
	}
	g.mu.Lock()
	switch BreakerState(g.state.Load()) {
	case BreakerClosed: // closed by a probe since the check above
		g.mu.Unlock()
		return false, true
	case BreakerOpen:
		if g.now().Sub(g.opened) < g.cooldown {
			g.mu.Unlock()
			return false, false
		}
		g.state.Store(uint32(BreakerHalfOpen))
		g.probing = true
		g.mu.Unlock()
		g.log.Info("ratelimit store breaker half-open: probing")
		return true, true
	default: // half-open
		if g.probing {
			g.mu.Unlock()
			return false, false
		}
		g.probing = true
		g.mu.Unlock()
		return true, true
	}
}

// abandonProbe lets the next call probe when the probe never reached the store.
func (g *Guard) abandonProbe() {
	g.mu.Lock()
	g.probing = false
	g.mu.Unlock()
}

// record feeds one call's outcome to the breaker. Outcomes of ordinary calls
// that finish after the breaker left the closed state are ignored: only the
// probe decides whether it closes again.
func (g *Guard) record(probe bool, err error) {
	if probe {
		g.mu.Lock()
		g.probing = false
		if err == nil {
			g.failed.Store(0)
			g.state.Store(uint32(BreakerClosed))
		} else {
			g.opened = g.now()
			g.state.Store(uint32(BreakerOpen))
		}
		g.mu.Unlock()
		if err == nil {
			g.log.Info("ratelimit store breaker closed: probe succeeded")
		} else {
			g.log.Warn("ratelimit store breaker reopened: probe failed", "err", err, "cooldown", g.cooldown)
		}
		return
	}
	if err == nil {
		if g.failed.Load() != 0 { // avoid writing the shared line on every success
			g.failed.Store(0)
		}
		return
	}
	if g.failed.Add(1) < g.threshold || BreakerState(g.state.Load()) != BreakerClosed {
		return
	}
	g.mu.Lock()
	if BreakerState(g.state.Load()) != BreakerClosed {
		g.mu.Unlock()
		return
	}
	g.failed.Store(0)
	g.opened = g.now()
	g.state.Store(uint32(BreakerOpen))
	g.mu.Unlock()
	g.log.Warn("ratelimit store breaker opened", "consecutive_failures", g.threshold, "err", err, "cooldown", g.cooldown)
}

// State returns the breaker's state. An open breaker whose cooldown has
// passed still reports open until the next Hit starts its probe.
func (g *Guard) State() BreakerState { return BreakerState(g.state.Load()) }

// Stats returns the call counters.
func (g *Guard) Stats() GuardStats {
	return GuardStats{
		Calls:              g.nCalls.Load(),
		Degraded:           g.nDegraded.Load(),
		BudgetExceeded:     g.nBudget.Load(),
		BreakerOpenRejects: g.nBreaker.Load(),
		Overloaded:         g.nOverloaded.Load(),
	}
}

// Ping implements Store by asking the inner store, without budget or breaker:
// readiness wants the store's real state.
func (g *Guard) Ping(ctx context.Context) error { return g.inner.Ping(ctx) }

// Close implements Store by closing the inner store. Calls still running in
// the background then fail on their own; Close does not wait for them.
func (g *Guard) Close() error { return g.inner.Close() }
