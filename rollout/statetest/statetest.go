// Package statetest is the conformance suite every rollout.Store must pass.
// The suite is the specification of what replicas may rely on when they
// share the live rollout state: a backend that passes it can replace another
// without any replica seeing a different state, audit or notification.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

// waitTimeout bounds every wait for something asynchronous; reaching it is
// a failure, never a pass.
const waitTimeout = 10 * time.Second

// defaultAuditCap is the audit cap of a case that does not ask for another:
// more entries than any such case writes.
const defaultAuditCap = 10

// smallAuditCap is the cap of the case that checks the cap, below the number
// of changes it makes.
const smallAuditCap = 5

// Run runs the conformance suite. newStores returns two handles on one new,
// empty backend, as two replicas would hold (for an in-process store, the
// same instance twice), keeping at most auditCap audit entries; it registers
// their cleanup with t. Each case gets a backend of its own.
func Run(t *testing.T, newStores func(t *testing.T, auditCap int) (a, b rollout.Store)) {
	tests := []struct {
		name string
		// auditCap is the cap newStores is asked for; 0 means
		// defaultAuditCap.
		auditCap int
		run      func(t *testing.T, a, b rollout.Store)
	}{
		{name: "an empty backend has the zero state and no audit", run: testEmptyBackend},
		{name: "an update is visible through the other handle", run: testUpdateVisibleToOtherHandle},
		{name: "loaded states are copies", run: testLoadedStatesAreCopies},
		{name: "versions strictly increase even when the clock does not", run: testVersionsIncrease},
		{name: "a change without a reason is refused and nothing stored", run: testChangeWithoutReason},
		{name: "invalid changes are refused and nothing stored", run: testInvalidChanges},
		{name: "the audit is newest first and complete", run: testAuditNewestFirst},
		{name: "the audit keeps only the newest cap entries", auditCap: smallAuditCap, run: testAuditCap},
		{name: "concurrent updates through both handles lose nothing", auditCap: 100, run: testConcurrentUpdates},
		{name: "subscribe receives every change in version order", run: testSubscribeInOrder},
		{name: "restore on an empty store sets the state and notifies", run: testRestoreOnEmpty},
		{name: "restore on a store with a state changes nothing", run: testRestoreOnStoredState},
		{name: "an update after restore builds on the restored state", run: testUpdateAfterRestore},
		{name: "restore refuses states no replica could use", run: testRestoreRefusesInvalid},
		{name: "subscribe returns nil when its context is cancelled", run: testSubscribeCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auditCap := tt.auditCap
			if auditCap == 0 {
				auditCap = defaultAuditCap
			}
			a, b := newStores(t, auditCap)
			tt.run(t, a, b)
		})
	}
}

// testEmptyBackend checks that a store nobody wrote to reads as the zero
// State with no audit: that is how a replica tells "never set, or lost" and
// falls back to the policy file (or restores what it knows).
func testEmptyBackend(t *testing.T, a, _ rollout.Store) {
	if st := load(t, a); !equalState(st, rollout.State{}) {
		t.Errorf("Load on an empty backend = %+v, want the zero State", st)
	}
	if entries := audit(t, a, 10); len(entries) != 0 {
		t.Errorf("Audit on an empty backend = %d entries, want none", len(entries))
	}
}

// testUpdateVisibleToOtherHandle checks that a change made through one
// replica is what another replica loads, every field of it, and that a
// second change builds on the first: a kill switch set on one replica stops
// traffic on all of them.
func testUpdateVisibleToOtherHandle(t *testing.T, a, b rollout.Store) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	entry := update(t, a, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "alice", Reason: "incident 42"}, now)
	want := rollout.State{Version: now.UnixNano(), Kill: rollout.KillBypass, UpdatedAt: now, UpdatedBy: "alice"}
	if !equalState(entry.After, want) {
		t.Errorf("Update returned after = %+v, want %+v", entry.After, want)
	}
	if got := load(t, b); !equalState(got, want) {
		t.Errorf("Load through the other handle = %+v, want %+v", got, want)
	}

	entry = update(t, b, modeChange("login", &rollout.Setting{Mode: policy.ModeCanary, Percent: 12.5}), now.Add(time.Second))
	got := load(t, a)
	if got.Kill != rollout.KillBypass || got.Routes["login"] != (rollout.Setting{Mode: policy.ModeCanary, Percent: 12.5}) {
		t.Errorf("Load after a second change through the other handle = %+v, want kill bypass and login canary 12.5%%", got)
	}
	if !equalState(got, entry.After) {
		t.Errorf("Load = %+v, want the state Update returned, %+v", got, entry.After)
	}
}

// testLoadedStatesAreCopies checks that changing a state Update or Load
// returned does not change the stored one: a caller that edits its copy
// (a view merging layers, say) must not change what other callers load.
func testLoadedStatesAreCopies(t *testing.T, a, _ rollout.Store) {
	entry := update(t, a, modeChange("login", &rollout.Setting{Mode: policy.ModeEnforce}), time.Now())
	entry.After.Routes["login"] = rollout.Setting{Mode: policy.ModeOff}
	st := load(t, a)
	st.Routes["login"] = rollout.Setting{Mode: policy.ModeOff}
	if again := load(t, a); again.Routes["login"].Mode != policy.ModeEnforce {
		t.Errorf("changing returned states changed the stored one: login = %v", again.Routes["login"])
	}
}

// testVersionsIncrease checks that every Update, through either handle,
// gets a version above the one before and reports that one as its before,
// even when the clock repeats an instant or steps back: replicas keep the
// highest version they saw, so an older one would never be applied.
func testVersionsIncrease(t *testing.T, a, b rollout.Store) {
	now := time.Now()
	// The same instant twice, then an earlier one: a clock step back
	// must not produce an older version.
	times := []time.Time{now, now, now.Add(-time.Hour), now.Add(time.Millisecond)}
	var last int64
	for i, at := range times {
		entry := update(t, alternate(i, a, b), modeChange("r", &rollout.Setting{Mode: policy.ModeShadow}), at)
		if entry.After.Version <= last {
			t.Errorf("Update %d: version %d, not above the previous %d", i, entry.After.Version, last)
		}
		if entry.Before.Version != last {
			t.Errorf("Update %d: before has version %d, want the previous %d", i, entry.Before.Version, last)
		}
		last = entry.After.Version
	}
}

// testChangeWithoutReason checks that a change that does not say why is
// refused with ErrNoReason and leaves no trace: every change in the audit
// must say why it was made.
func testChangeWithoutReason(t *testing.T, a, b rollout.Store) {
	_, err := a.Update(t.Context(), rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "alice"}, time.Now())
	if !errors.Is(err, rollout.ErrNoReason) {
		t.Fatalf("Update without a reason: err = %v, want ErrNoReason", err)
	}
	expectUntouched(t, b)
}

// testInvalidChanges checks that a change no replica could apply is
// refused and stores nothing, so a typo at the control plane cannot become
// the shared state.
func testInvalidChanges(t *testing.T, a, b rollout.Store) {
	bad := map[string]rollout.Change{
		"canary above 100":       modeChange("login", &rollout.Setting{Mode: policy.ModeCanary, Percent: 150}),
		"negative canary":        modeChange("", &rollout.Setting{Mode: policy.ModeCanary, Percent: -1}),
		"percent without canary": modeChange("login", &rollout.Setting{Mode: policy.ModeEnforce, Percent: 5}),
		"bypass as a mode":       modeChange("login", &rollout.Setting{Mode: policy.ModeBypass}),
		"unknown mode":           modeChange("login", &rollout.Setting{Mode: 99}),
		"unknown kill":           {Kind: rollout.ChangeKill, Kill: 7, Actor: "alice", Reason: "test"},
		"unknown kind":           {Kind: 9, Actor: "alice", Reason: "test"},
	}
	for name, c := range bad {
		if _, err := a.Update(t.Context(), c, time.Now()); err == nil {
			t.Errorf("Update with %s (%v) succeeded, want an error", name, c)
		}
	}
	expectUntouched(t, b)
}

// testAuditNewestFirst checks that the audit, read through either handle,
// holds every change made through both, newest first, each with its time,
// actor, reason, change and the states before and after, chained so that
// each before is the after of the entry before it; and that a limit returns
// the newest entries. It is the record of who changed what, when and why.
func testAuditNewestFirst(t *testing.T, a, b rollout.Store) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	changes := []rollout.Change{
		{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "alice", Reason: "incident 1"},
		{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeCanary, Percent: 5}, Actor: "bob", Reason: "canary login"},
		{Kind: rollout.ChangeKill, Kill: rollout.KillNone, Actor: "carol", Reason: "incident 1 over"},
	}
	changedAt := func(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }
	var want []rollout.AuditEntry
	for i, c := range changes {
		want = append(want, update(t, alternate(i, a, b), c, changedAt(i)))
	}
	slices.Reverse(want)

	got := audit(t, b, 10)
	if len(got) != len(want) {
		t.Fatalf("Audit = %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		n := len(changes) - 1 - i
		expectEntry(t, i, got[i], want[i], changes[n], changedAt(n))
		if i+1 < len(want) && !equalState(got[i].Before, got[i+1].After) {
			t.Errorf("entry %d: before %+v is not the after of the entry before it, %+v", i, got[i].Before, got[i+1].After)
		}
	}
	if !equalState(got[len(got)-1].Before, rollout.State{}) {
		t.Errorf("oldest entry: before = %+v, want the zero State", got[len(got)-1].Before)
	}

	if two := audit(t, a, 2); len(two) != 2 || two[0].Reason != "incident 1 over" || two[1].Reason != "canary login" {
		t.Errorf("Audit(2) = %v, want the two newest entries", reasons(two))
	}
}

// testAuditCap checks that the audit keeps the newest smallAuditCap entries
// and drops the older ones, so it cannot grow without bound.
func testAuditCap(t *testing.T, a, b rollout.Store) {
	for i := range 8 {
		c := modeChange(fmt.Sprintf("r%d", i), &rollout.Setting{Mode: policy.ModeEnforce})
		c.Reason = fmt.Sprintf("change %d", i)
		update(t, a, c, time.Now())
	}
	got := audit(t, b, 100)
	want := []string{"change 7", "change 6", "change 5", "change 4", "change 3"}
	if !slices.Equal(reasons(got), want) {
		t.Errorf("Audit after 8 changes with cap %d = %q, want %q", smallAuditCap, reasons(got), want)
	}
}

// testConcurrentUpdates checks that updates racing through both handles
// all land: each route set, one audit entry each, every entry with its own
// version, newest first. Two operators changing different routes at once
// must not undo each other.
func testConcurrentUpdates(t *testing.T, a, b rollout.Store) {
	const n = 40
	updateConcurrently(t, a, b, n)

	st := load(t, a)
	for i := range n {
		name := fmt.Sprintf("route-%02d", i)
		if got, ok := st.Routes[name]; !ok || got.Percent != float64(i) {
			t.Errorf("route %s = %v (present %v), want canary %d%%", name, got, ok, i)
		}
	}
	if len(st.Routes) != n {
		t.Errorf("state has %d routes, want %d", len(st.Routes), n)
	}
	entries := audit(t, b, 1000)
	if len(entries) != n {
		t.Errorf("audit has %d entries, want %d", len(entries), n)
	}
	expectDistinctDescendingVersions(t, entries, n)
}

// testSubscribeInOrder checks that a subscriber gets every state stored
// through either handle, in the order they were stored, and that Subscribe
// returns nil once its context is cancelled: a replica applies what it is
// pushed, so a lost or reordered state would leave it behind the others.
func testSubscribeInOrder(t *testing.T, a, b rollout.Store) {
	got, done, cancel := subscribe(t, b)
	changes := []struct {
		s rollout.Store
		c rollout.Change
	}{
		{a, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "alice", Reason: "through a"}},
		{b, modeChange("login", &rollout.Setting{Mode: policy.ModeCanary, Percent: 5})},
		{a, modeChange("", &rollout.Setting{Mode: policy.ModeEnforce})},
	}
	var want []rollout.State
	for _, ch := range changes {
		want = append(want, update(t, ch.s, ch.c, time.Now()).After)
	}
	timeout := time.After(waitTimeout)
	for i, w := range want {
		if st := receive(t, got, timeout, fmt.Sprintf("notification %d of %d", i+1, len(want))); !equalState(st, w) {
			t.Errorf("notification %d = %+v, want %+v", i, st, w)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Subscribe returned %v after its context was cancelled, want nil", err)
	}
}

// testRestoreOnEmpty checks that Restore on a store that lost its state
// stores the state a replica still knows, pushes it to subscribers, and
// adds no audit entry, since nothing changed from what the replicas knew.
func testRestoreOnEmpty(t *testing.T, a, b rollout.Store) {
	got, _, _ := subscribe(t, b)
	known := knownState()
	mustRestore(t, a, known)
	if st := load(t, b); !equalState(st, known) {
		t.Errorf("Load through the other handle after Restore = %+v, want %+v", st, known)
	}
	if st := receive(t, got, time.After(waitTimeout), "the restored state"); !equalState(st, known) {
		t.Errorf("notification = %+v, want the restored %+v", st, known)
	}
	if entries := audit(t, b, 10); len(entries) != 0 {
		t.Errorf("audit after Restore has %d entries, want none", len(entries))
	}
}

// testRestoreOnStoredState checks that Restore on a store holding a state
// reports false and changes nothing (no state, no audit entry, no
// notification), even when the restored state has a newer version: otherwise
// a replica that lost track could overwrite a change made since.
func testRestoreOnStoredState(t *testing.T, a, b rollout.Store) {
	entry := update(t, a, modeChange("login", &rollout.Setting{Mode: policy.ModeEnforce}), time.Now())
	got, _, _ := subscribe(t, a)

	// Even a newer state must not replace a stored one: Restore is
	// only for a store that has nothing.
	newer := knownState()
	newer.Version = entry.After.Version + 1
	ok, err := b.Restore(t.Context(), newer)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if ok {
		t.Error("Restore on a store holding a state = true, want false")
	}
	if st := load(t, a); !equalState(st, entry.After) {
		t.Errorf("Load after a refused Restore = %+v, want the stored %+v", st, entry.After)
	}
	if entries := audit(t, a, 10); len(entries) != 1 {
		t.Errorf("audit after a refused Restore has %d entries, want the one Update's", len(entries))
	}
	// Notifications arrive in order, so if Restore had published
	// anything it would come before this Update's state.
	next := update(t, b, modeChange("search", &rollout.Setting{Mode: policy.ModeShadow}), time.Now())
	if st := receive(t, got, time.After(waitTimeout), "the Update"); !equalState(st, next.After) {
		t.Errorf("first notification after a refused Restore = %+v, want the next Update's %+v", st, next.After)
	}
}

// testUpdateAfterRestore checks that the first change after a Restore
// builds on the restored state (its before, the kill switch and routes it
// keeps, a version above it), and is what the other handle loads: the point
// of restoring is that the next change does not start from nothing.
func testUpdateAfterRestore(t *testing.T, a, b rollout.Store) {
	known := knownState()
	mustRestore(t, a, known)
	entry := update(t, b, modeChange("search", &rollout.Setting{Mode: policy.ModeShadow}), time.Now())
	if !equalState(entry.Before, known) {
		t.Errorf("Update's before = %+v, want the restored %+v", entry.Before, known)
	}
	after := entry.After
	if after.Kill != rollout.KillBypass {
		t.Errorf("kill after an unrelated change = %v, want the restored bypass", after.Kill)
	}
	if after.Routes["login"] != known.Routes["login"] || after.Routes["search"] != (rollout.Setting{Mode: policy.ModeShadow}) {
		t.Errorf("routes after the change = %v, want the restored login and the new search", after.Routes)
	}
	if after.Version <= known.Version {
		t.Errorf("version after the change %d, not above the restored %d", after.Version, known.Version)
	}
	if st := load(t, a); !equalState(st, after) {
		t.Errorf("Load = %+v, want the state Update returned, %+v", st, after)
	}
}

// testRestoreRefusesInvalid checks that Restore refuses, with an error, a
// state without a version (it would read as "no state" and be restored
// over and over) or one no replica could apply, and stores nothing.
func testRestoreRefusesInvalid(t *testing.T, a, b rollout.Store) {
	noVersion := knownState()
	noVersion.Version = 0
	badKill := knownState()
	badKill.Kill = 7
	badRoute := knownState()
	badRoute.Routes = map[string]rollout.Setting{"login": {Mode: policy.ModeCanary, Percent: 150}}
	for name, st := range map[string]rollout.State{"no version": noVersion, "unknown kill": badKill, "canary above 100": badRoute} {
		if ok, err := a.Restore(t.Context(), st); err == nil || ok {
			t.Errorf("Restore with %s = %v, %v; want false and an error", name, ok, err)
		}
	}
	expectUntouched(t, b)
}

// testSubscribeCancelled checks that Subscribe returns nil, promptly, when
// its context is cancelled: nil tells the caller to stop, where an error
// would make it resubscribe.
func testSubscribeCancelled(t *testing.T, _, b rollout.Store) {
	_, done, cancel := subscribe(t, b)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Subscribe = %v after cancel, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Subscribe still running %v after its context was cancelled", waitTimeout)
	}
}

// load returns s's state, ending the test if Load fails.
func load(t *testing.T, s rollout.Store) rollout.State {
	t.Helper()
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

// audit returns up to limit of s's audit entries, ending the test if Audit
// fails.
func audit(t *testing.T, s rollout.Store, limit int) []rollout.AuditEntry {
	t.Helper()
	entries, err := s.Audit(t.Context(), limit)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return entries
}

// update applies c through s at now, ending the test if Update fails.
func update(t *testing.T, s rollout.Store, c rollout.Change, now time.Time) rollout.AuditEntry {
	t.Helper()
	entry, err := s.Update(t.Context(), c, now)
	if err != nil {
		t.Fatalf("Update %q: %v", c, err)
	}
	return entry
}

// mustRestore restores st through s, ending the test unless s stored it.
func mustRestore(t *testing.T, s rollout.Store, st rollout.State) {
	t.Helper()
	if ok, err := s.Restore(t.Context(), st); err != nil || !ok {
		t.Fatalf("Restore on an empty store = %v, %v; want true", ok, err)
	}
}

// alternate returns the handle the i-th step of a sequence goes through,
// a, b, a, …, so that consecutive steps cross replicas.
func alternate(i int, a, b rollout.Store) rollout.Store {
	return []rollout.Store{a, b}[i%2]
}

// updateConcurrently sets routes route-00 … route-<n-1> to canary i% at
// once, alternating between a and b, and waits for all of them.
func updateConcurrently(t *testing.T, a, b rollout.Store, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		s := alternate(i, a, b)
		wg.Go(func() {
			c := modeChange(fmt.Sprintf("route-%02d", i), &rollout.Setting{Mode: policy.ModeCanary, Percent: float64(i)})
			if _, err := s.Update(t.Context(), c, time.Now()); err != nil {
				errs <- fmt.Errorf("update %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// expectEntry checks the i-th audit entry, newest first, against the entry
// Update returned for change c made at changedAt.
func expectEntry(t *testing.T, i int, got, want rollout.AuditEntry, c rollout.Change, changedAt time.Time) {
	t.Helper()
	if !got.Time.Equal(changedAt) {
		t.Errorf("entry %d: time %v, want the time of change %q", i, got.Time, c)
	}
	if got.Actor != c.Actor || got.Reason != c.Reason || got.Change != c.String() {
		t.Errorf("entry %d: actor %q reason %q change %q, want %q %q %q", i, got.Actor, got.Reason, got.Change, c.Actor, c.Reason, c.String())
	}
	if !equalState(got.Before, want.Before) || !equalState(got.After, want.After) {
		t.Errorf("entry %d: before %+v after %+v, want %+v and %+v", i, got.Before, got.After, want.Before, want.After)
	}
}

// expectDistinctDescendingVersions checks that entries, newest first, have
// strictly decreasing versions, n distinct ones.
func expectDistinctDescendingVersions(t *testing.T, entries []rollout.AuditEntry, n int) {
	t.Helper()
	versions := map[int64]bool{}
	for i, e := range entries {
		versions[e.After.Version] = true
		if i > 0 && e.After.Version >= entries[i-1].After.Version {
			t.Errorf("audit entry %d has version %d, not below the newer entry's %d", i, e.After.Version, entries[i-1].After.Version)
		}
	}
	if len(versions) != n {
		t.Errorf("audit has %d distinct versions, want %d", len(versions), n)
	}
}

// subscribe starts s.Subscribe and returns once it is ready. states yields
// what Subscribe delivers (buffered, so a case may read it late), done
// yields Subscribe's result, and cancel ends it.
func subscribe(t *testing.T, s rollout.Store) (states <-chan rollout.State, done <-chan error, cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	got := make(chan rollout.State, 16)
	ready := make(chan struct{})
	result := make(chan error, 1)
	go func() { result <- s.Subscribe(ctx, ready, func(st rollout.State) { got <- st }) }()
	select {
	case <-ready:
	case err := <-result:
		t.Fatalf("Subscribe returned %v before it was ready", err)
	case <-time.After(waitTimeout):
		t.Fatalf("Subscribe not ready within %v", waitTimeout)
	}
	return got, result, cancel
}

// receive returns the next state from states, ending the test if none
// arrives before timeout fires; what names the awaited state.
func receive(t *testing.T, states <-chan rollout.State, timeout <-chan time.Time, what string) rollout.State {
	t.Helper()
	select {
	case st := <-states:
		return st
	case <-timeout:
		t.Fatalf("no notification of %s within %v", what, waitTimeout)
		return rollout.State{}
	}
}

// expectUntouched checks that s holds the zero State and no audit, as after
// a change or restore that was refused.
func expectUntouched(t *testing.T, s rollout.Store) {
	t.Helper()
	if st := load(t, s); !equalState(st, rollout.State{}) {
		t.Errorf("state after a refused change = %+v, want the zero State", st)
	}
	if entries := audit(t, s, 10); len(entries) != 0 {
		t.Errorf("audit after a refused change has %d entries, want none", len(entries))
	}
}

// knownState is a state a replica might still hold after the store lost
// it: a kill switch, a default and a route override.
func knownState() rollout.State {
	return rollout.State{
		Version:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano(),
		Kill:      rollout.KillBypass,
		Default:   &rollout.Setting{Mode: policy.ModeEnforce},
		Routes:    map[string]rollout.Setting{"login": {Mode: policy.ModeCanary, Percent: 5}},
		UpdatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		UpdatedBy: "alice",
	}
}

// modeChange is a valid change of route's setting (the default when route
// is "") to s.
func modeChange(route string, s *rollout.Setting) rollout.Change {
	return rollout.Change{Kind: rollout.ChangeMode, Route: route, Setting: s, Actor: "alice", Reason: "test"}
}

// reasons lists the entries' reasons, in order.
func reasons(entries []rollout.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Reason
	}
	return out
}

// equalState compares states field by field; times by instant, since a
// store may hand back a different time.Location.
func equalState(a, b rollout.State) bool {
	eqDefault := a.Default == nil && b.Default == nil ||
		a.Default != nil && b.Default != nil && *a.Default == *b.Default
	return a.Version == b.Version && a.Kill == b.Kill && eqDefault &&
		maps.Equal(a.Routes, b.Routes) && a.UpdatedAt.Equal(b.UpdatedAt) && a.UpdatedBy == b.UpdatedBy
}
