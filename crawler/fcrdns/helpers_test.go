package fcrdns

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestResolver returns a Resolver asking server, closed when the test
// ends (before the server stops: cleanups run last-in first-out).
func newTestResolver(t testing.TB, server string, opts Options) *Resolver {
	t.Helper()
	opts.Server = server
	r := New(opts)
	t.Cleanup(r.Close)
	return r
}

// pollDeadline bounds every wait: far beyond any lookup here, it only turns
// a hang into a readable failure.
const pollDeadline = 30 * time.Second

// waitVerdict polls Verify until it is no longer Pending.
func waitVerdict(t testing.TB, r *Resolver, addr netip.Addr, suffixes ...string) (Verdict, string) {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		v, name := r.Verify(addr, suffixes)
		if v != Pending {
			return v, name
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify(%s) still pending after %v", addr, pollDeadline)
		}
		runtime.Gosched()
	}
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// checkVerdict fails the test unless Verify's answer is (want, wantName).
func checkVerdict(t testing.TB, got Verdict, gotName string, want Verdict, wantName string) {
	t.Helper()
	if got != want || gotName != wantName {
		t.Fatalf("verdict = (%v, %q), want (%v, %q)", got, gotName, want, wantName)
	}
}

// expectVerify calls Verify once and fails the test unless it answers
// (want, wantName).
func expectVerify(t testing.TB, r *Resolver, addr netip.Addr, want Verdict, wantName string, suffixes ...string) {
	t.Helper()
	v, name := r.Verify(addr, suffixes)
	checkVerdict(t, v, name, want, wantName)
}
