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
	// fails at once. For a Redis store it bounds the calls waiting: the
	// calls they leave behind are already bounded by the store's pipelines
	// in flight.
	MaxInFlight int
	// Window is the stretch of recent calls the breaker judges by ratio
	// (default 1s, at least 10ms). It is kept as 10 slots of Window/10, each
	// counting the calls that finished in it and how many of those failed;
	// the window is the current slot and the 9 before it, so outcomes leave
	// it in steps of Window/10.
	Window time.Duration
	// MinCalls is how many calls must have finished in the window before
	// FailureRatio can open the breaker (default 20): fewer are too few to
	// judge by ratio, and lighter traffic is left to FailureThreshold.
	MinCalls int
	// FailureRatio opens the breaker when at least this fraction of the
	// window's calls failed, budget overruns included (default 0.5), and the
	// failures fall in at least 3 of its 10 slots. The slot rule means that
	// one stall shorter than Window/10, however many concurrent calls it
	// fails, never opens the breaker by ratio: at 1,000 calls/s a stall
	// that fails 12 calls is about 1% of the window, and in a quiet window
	// it is still one or two slots. A ratio above 1 turns this rule off.
	FailureRatio float64
	// FailureThreshold opens the breaker after this many consecutive
	// failures, that is with no success in between, counting a failure only
	// if it comes at least Window/10 after the last one counted (default 4).
	// Calls that fail together in one stall count once, so with the
	// defaults the store must have answered nothing for at least 300ms. It
	// is the rule for traffic too light for MinCalls: at 5 calls/s a dead
	// store opens the breaker at the 4th failure, 0.6s after the first. A
	// FailureThreshold of 1 opens it at the first failure; one above 65535
	// turns this rule off.
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

	breakerStateEnd // one past the last state
)

// MaxBreakerState is the last breaker state: a table indexed by
// BreakerState has MaxBreakerState+1 entries.
const MaxBreakerState = breakerStateEnd - 1

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
// more than a fixed budget: Hit waits for the inner store at most Budget, and
// a circuit breaker stops calling a store that keeps failing. All failures
// wrap ErrDegraded. A Redis store waits within the budget itself (its shared
// pipelines are sent by a goroutine per pipeline, and a caller can leave
// its wait); any other store's Hit runs in a goroutine of its own.
//
// The breaker opens when the store keeps failing, not when it stalls once:
// a stall fails every call in flight together, which a count of consecutive
// failures cannot tell from an outage on a busy host. It opens on either of
// two rules (see GuardOptions): a failure ratio over a sliding window with a
// minimum number of calls, for busy traffic, and a run of failures spread
// over time with no success between them, for light traffic. The failures
// of one stall shorter than Window/10 count as one to the second rule and
// fill at most two slots of the first, which asks for three, so such a
// stall never opens the breaker, whatever the traffic. Both rules are kept
// in atomics: a Hit takes no lock unless the breaker is not closed or
// changes state.
//
// A call the caller stopped waiting for is not cancelled: cancelling a Redis
// command midway makes go-redis close and redial the connection, which turns
// a slow Redis into a dead one. It finishes in the background, bounded by
// the store's own timeouts and by MaxInFlight.
type Guard struct {
	inner     Store
	budget    time.Duration
	window    time.Duration
	slotLen   time.Duration // window / breakerSlots
	slotUS    uint64        // slotLen in microseconds: the run's spacing
	minCalls  uint64
	ratio     float64
	threshold uint64
	cooldown  time.Duration
	log       *slog.Logger
	now       func() time.Time
	start     time.Time     // now() at NewGuard; slots and failRun count from it
	inFlight  chan struct{} // a semaphore of MaxInFlight slots

	calls   sync.Pool // *guardCall
	timers  sync.Pool // stopped *time.Timer
	state   atomic.Uint32
	mu      sync.Mutex // serialises breaker transitions
	opened  time.Time  // guarded by mu
	probing bool       // guarded by mu; a half-open probe is running

	// slots is the ratio rule's window, one word per slot:
	// slot number (low 32 bits) << 32 | calls << 16 | failures. A word whose
	// slot number is not among the window's last breakerSlots is stale.
	slots [breakerSlots]atomic.Uint64
	// failRun is the consecutive-failure rule's state: the number of failures
	// counted since the last success << runTimeBits | the time of the last
	// one counted, in microseconds since start (wrapping). 0: no run.
	failRun atomic.Uint64

	nCalls, nDegraded, nBudget, nBreaker, nOverloaded atomic.Uint64
}

// The breaker's bookkeeping.
const (
	breakerSlots          = 10 // slots per Window
	breakerMinFailedSlots = 3  // slots of the window a ratio trip needs failures in
	minWindow             = 10 * time.Millisecond
	slotCountMax          = 1<<16 - 1 // calls and failures per slot saturate here
	runTimeBits           = 48        // microseconds: wraps after 8.9 years
	runTimeMask           = 1<<runTimeBits - 1
	runCountMax           = 1<<(64-runTimeBits) - 1
)

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
	if opts.Window <= 0 {
		opts.Window = time.Second
	}
	opts.Window = max(opts.Window, minWindow)
	if opts.MinCalls <= 0 {
		opts.MinCalls = 20
	}
	if !(opts.FailureRatio > 0) { // NaN included
		opts.FailureRatio = 0.5
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 4
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
		window:    opts.Window,
		slotLen:   opts.Window / breakerSlots,
		slotUS:    uint64((opts.Window / breakerSlots).Microseconds()),
		minCalls:  uint64(opts.MinCalls),
		ratio:     opts.FailureRatio,
		threshold: uint64(opts.FailureThreshold),
		cooldown:  opts.Cooldown,
		log:       opts.Logger,
		now:       opts.Now,
		start:     opts.Now(),
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
// Counters, peeked ones included, reach the inner store unchanged: a call of
// peeks only is a store call like any other, for the budget and the breaker.
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

	if w, ok := g.inner.(withinHitter); ok {
		return g.hitWithin(ctx, w, now, counters, obs, probe)
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

// withinHitter is a store that can stop waiting for a Hit at a budget by
// itself (Redis, whose shared pipelines are sent by a goroutine per
// pipeline), so the Guard need not start a goroutine per call. hitWithin
// returns an error wrapping errStopped when stop delivered first, and may
// write obs even when it fails.
type withinHitter interface {
	hitWithin(ctx context.Context, now time.Time, counters []Counter, obs []Observation, stop <-chan time.Time) error
}

// hitWithin is Hit for a store that waits within the budget itself. It
// holds an in-flight slot while the caller waits: what an abandoned call
// leaves running is the store's to bound (a Redis store's pipelines are).
// The store writes into the guard's buffer, copied to obs on success only.
func (g *Guard) hitWithin(ctx context.Context, w withinHitter, now time.Time, counters []Counter, obs []Observation, probe bool) error {
	c := g.calls.Get().(*guardCall)
	c.obs = slices.Grow(c.obs[:0], len(counters))[:len(counters)]
	timer := g.timers.Get().(*time.Timer)
	timer.Reset(g.budget)
	err := w.hitWithin(ctx, now, counters, c.obs, timer.C)
	stopped := errors.Is(err, errStopped)
	if !stopped {
		// Since Go 1.23 no stale tick can be received after Stop, so the
		// timer is reusable whether or not it fired.
		timer.Stop()
	}
	g.timers.Put(timer)
	if err == nil {
		copy(obs, c.obs)
	}
	g.calls.Put(c)
	<-g.inFlight
	switch {
	case err == nil:
		g.record(probe, nil)
		return nil
	case stopped:
		g.record(probe, ErrBudgetExceeded)
		g.nDegraded.Add(1)
		g.nBudget.Add(1)
		return errDegradedBudget
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The caller gave up, which says nothing about the store.
		if probe {
			g.abandonProbe()
		}
		g.nDegraded.Add(1)
		return fmt.Errorf("%w: %w", ErrDegraded, ctx.Err())
	}
	g.record(probe, err)
	g.nDegraded.Add(1)
	return fmt.Errorf("%w: %w", ErrDegraded, err)
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
		g.recordProbe(err)
		return
	}
	if BreakerState(g.state.Load()) != BreakerClosed {
		return
	}
	now := g.now()
	since := max(now.Sub(g.start), 0)
	slot := int64(since / g.slotLen)
	g.addToSlot(slot, err != nil)
	if err == nil {
		if g.failRun.Load() != 0 { // avoid writing the shared line on every success
			g.failRun.Store(0)
		}
		return
	}
	if n := g.addToRun(uint64(since.Microseconds())); n >= g.threshold {
		g.trip(now, err, "consecutive failures", "failures", n, "spacing", g.slotLen)
		return
	}
	calls, failures, failedSlots := g.windowCounts(slot)
	if calls >= g.minCalls && failedSlots >= breakerMinFailedSlots &&
		float64(failures) >= g.ratio*float64(calls) {
		g.trip(now, err, "failure ratio", "failures", failures, "calls", calls, "window", g.window)
	}
}

// recordProbe closes the breaker if the half-open probe succeeded, and opens
// it for another Cooldown if it failed.
func (g *Guard) recordProbe(err error) {
	g.mu.Lock()
	g.probing = false
	if err == nil {
		// Start afresh: what the window held was judged when it opened.
		for i := range g.slots {
			g.slots[i].Store(0)
		}
		g.failRun.Store(0)
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
}

// trip opens a closed breaker; reason and attrs say which rule did.
func (g *Guard) trip(now time.Time, err error, reason string, attrs ...any) {
	g.mu.Lock()
	if BreakerState(g.state.Load()) != BreakerClosed {
		g.mu.Unlock()
		return
	}
	g.opened = now
	g.state.Store(uint32(BreakerOpen))
	g.mu.Unlock()
	g.log.Warn("ratelimit store breaker opened",
		append([]any{"reason", reason}, append(attrs, "err", err, "cooldown", g.cooldown)...)...)
}

// addToSlot counts one call, failed or not, in the window's slot number slot.
func (g *Guard) addToSlot(slot int64, failed bool) {
	w := &g.slots[slot%breakerSlots]
	tag := uint64(uint32(slot)) << 32
	for {
		old := w.Load()
		var calls, failures uint64
		if old&^(1<<32-1) == tag {
			calls, failures = old>>16&slotCountMax, old&slotCountMax
		}
		if calls == slotCountMax {
			return // saturated: the slot keeps the ratio of its first calls
		}
		calls++
		if failed {
			failures++
		}
		if w.CompareAndSwap(old, tag|calls<<16|failures) {
			return
		}
	}
}

// windowCounts sums the window that ends with slot number slot: its calls,
// its failures and how many of its slots hold failures.
func (g *Guard) windowCounts(slot int64) (calls, failures, failedSlots uint64) {
	for i := range g.slots {
		w := g.slots[i].Load()
		if uint32(slot)-uint32(w>>32) >= breakerSlots {
			continue // stale, or from a clock that went back
		}
		calls += w >> 16 & slotCountMax
		if f := w & slotCountMax; f != 0 {
			failures += f
			failedSlots++
		}
	}
	return calls, failures, failedSlots
}

// addToRun counts a failure at us microseconds since start in the run of
// consecutive failures, unless it comes less than Window/10 after the last
// failure counted, and returns the run's count.
func (g *Guard) addToRun(us uint64) uint64 {
	for {
		old := g.failRun.Load()
		n := old >> runTimeBits
		if n != 0 {
			gap := (us - old) & runTimeMask // old's count bits drop out
			if gap < g.slotUS || gap >= 1<<(runTimeBits-1) {
				return n // the same stall, or a clock that went back
			}
		}
		if n < runCountMax {
			n++
		}
		if g.failRun.CompareAndSwap(old, n<<runTimeBits|us&runTimeMask) {
			return n
		}
	}
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
