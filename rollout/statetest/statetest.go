// Package statetest is the conformance suite for rollout.Store
// implementations: every Store must pass Run.
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

// Run runs the conformance suite. newStores returns two handles on one new,
// empty backend, as two replicas would hold (for an in-process store, the
// same instance twice), keeping at most auditCap audit entries; it registers
// their cleanup with t.
func Run(t *testing.T, newStores func(t *testing.T, auditCap int) (a, b rollout.Store)) {
	t.Run("EmptyBackendHasZeroStateAndNoAudit", func(t *testing.T) {
		a, _ := newStores(t, 10)
		ctx := t.Context()
		st, err := a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !equalState(st, rollout.State{}) {
			t.Errorf("Load on an empty backend = %+v, want the zero State", st)
		}
		entries, err := a.Audit(ctx, 10)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		if len(entries) != 0 {
			t.Errorf("Audit on an empty backend = %d entries, want none", len(entries))
		}
	})

	t.Run("UpdateIsVisibleThroughTheOtherHandle", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
		entry, err := a.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "alice", Reason: "incident 42"}, now)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		want := rollout.State{Version: now.UnixNano(), Kill: rollout.KillBypass, UpdatedAt: now, UpdatedBy: "alice"}
		if !equalState(entry.After, want) {
			t.Errorf("Update returned after = %+v, want %+v", entry.After, want)
		}
		got, err := b.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !equalState(got, want) {
			t.Errorf("Load through the other handle = %+v, want %+v", got, want)
		}

		entry, err = b.Update(ctx, modeChange("login", &rollout.Setting{Mode: policy.ModeCanary, Percent: 12.5}), now.Add(time.Second))
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, err = a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if got.Kill != rollout.KillBypass || got.Routes["login"] != (rollout.Setting{Mode: policy.ModeCanary, Percent: 12.5}) {
			t.Errorf("Load after a second change through the other handle = %+v, want kill bypass and login canary 12.5%%", got)
		}
		if !equalState(got, entry.After) {
			t.Errorf("Load = %+v, want the state Update returned, %+v", got, entry.After)
		}
	})

	t.Run("LoadedStatesAreCopies", func(t *testing.T) {
		a, _ := newStores(t, 10)
		ctx := t.Context()
		entry, err := a.Update(ctx, modeChange("login", &rollout.Setting{Mode: policy.ModeEnforce}), time.Now())
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		entry.After.Routes["login"] = rollout.Setting{Mode: policy.ModeOff}
		st, err := a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		st.Routes["login"] = rollout.Setting{Mode: policy.ModeOff}
		again, err := a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if again.Routes["login"].Mode != policy.ModeEnforce {
			t.Errorf("changing returned states changed the stored one: login = %v", again.Routes["login"])
		}
	})

	t.Run("VersionsStrictlyIncreaseEvenWhenTheClockDoesNot", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		now := time.Now()
		// The same instant twice, then an earlier one: a clock step back
		// must not produce an older version.
		times := []time.Time{now, now, now.Add(-time.Hour), now.Add(time.Millisecond)}
		var last int64
		for i, at := range times {
			s := []rollout.Store{a, b}[i%2]
			entry, err := s.Update(ctx, modeChange("r", &rollout.Setting{Mode: policy.ModeShadow}), at)
			if err != nil {
				t.Fatalf("Update %d: %v", i, err)
			}
			if entry.After.Version <= last {
				t.Errorf("Update %d: version %d, not above the previous %d", i, entry.After.Version, last)
			}
			if entry.Before.Version != last {
				t.Errorf("Update %d: before has version %d, want the previous %d", i, entry.Before.Version, last)
			}
			last = entry.After.Version
		}
	})

	t.Run("ChangeWithoutReasonIsRefusedAndNothingStored", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		_, err := a.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "alice"}, time.Now())
		if !errors.Is(err, rollout.ErrNoReason) {
			t.Fatalf("Update without a reason: err = %v, want ErrNoReason", err)
		}
		expectUntouched(t, b)
	})

	t.Run("InvalidChangesAreRefusedAndNothingStored", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
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
			if _, err := a.Update(ctx, c, time.Now()); err == nil {
				t.Errorf("Update with %s (%v) succeeded, want an error", name, c)
			}
		}
		expectUntouched(t, b)
	})

	t.Run("AuditIsNewestFirstAndComplete", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		changes := []rollout.Change{
			{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "alice", Reason: "incident 1"},
			{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeCanary, Percent: 5}, Actor: "bob", Reason: "canary login"},
			{Kind: rollout.ChangeKill, Kill: rollout.KillNone, Actor: "carol", Reason: "incident 1 over"},
		}
		var want []rollout.AuditEntry
		for i, c := range changes {
			s := []rollout.Store{a, b}[i%2]
			e, err := s.Update(ctx, c, start.Add(time.Duration(i)*time.Minute))
			if err != nil {
				t.Fatalf("Update %d: %v", i, err)
			}
			want = append(want, e)
		}
		slices.Reverse(want)

		got, err := b.Audit(ctx, 10)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("Audit = %d entries, want %d", len(got), len(want))
		}
		for i := range want {
			c := changes[len(changes)-1-i]
			g := got[i]
			if !g.Time.Equal(start.Add(time.Duration(len(changes)-1-i) * time.Minute)) {
				t.Errorf("entry %d: time %v, want the time of change %q", i, g.Time, c)
			}
			if g.Actor != c.Actor || g.Reason != c.Reason || g.Change != c.String() {
				t.Errorf("entry %d: actor %q reason %q change %q, want %q %q %q", i, g.Actor, g.Reason, g.Change, c.Actor, c.Reason, c.String())
			}
			if !equalState(g.Before, want[i].Before) || !equalState(g.After, want[i].After) {
				t.Errorf("entry %d: before %+v after %+v, want %+v and %+v", i, g.Before, g.After, want[i].Before, want[i].After)
			}
			if i+1 < len(want) && !equalState(g.Before, got[i+1].After) {
				t.Errorf("entry %d: before %+v is not the after of the entry before it, %+v", i, g.Before, got[i+1].After)
			}
		}
		if !equalState(got[len(got)-1].Before, rollout.State{}) {
			t.Errorf("oldest entry: before = %+v, want the zero State", got[len(got)-1].Before)
		}

		two, err := a.Audit(ctx, 2)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		if len(two) != 2 || two[0].Reason != "incident 1 over" || two[1].Reason != "canary login" {
			t.Errorf("Audit(2) = %v, want the two newest entries", reasons(two))
		}
	})

	t.Run("AuditKeepsOnlyTheNewestCapEntries", func(t *testing.T) {
		const auditCap = 5
		a, b := newStores(t, auditCap)
		ctx := t.Context()
		for i := range 8 {
			c := modeChange(fmt.Sprintf("r%d", i), &rollout.Setting{Mode: policy.ModeEnforce})
			c.Reason = fmt.Sprintf("change %d", i)
			if _, err := a.Update(ctx, c, time.Now()); err != nil {
				t.Fatalf("Update %d: %v", i, err)
			}
		}
		got, err := b.Audit(ctx, 100)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		want := []string{"change 7", "change 6", "change 5", "change 4", "change 3"}
		if !slices.Equal(reasons(got), want) {
			t.Errorf("Audit after 8 changes with cap %d = %q, want %q", auditCap, reasons(got), want)
		}
	})

	t.Run("ConcurrentUpdatesThroughBothHandlesLoseNothing", func(t *testing.T) {
		const n = 40
		a, b := newStores(t, 100)
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			s := []rollout.Store{a, b}[i%2]
			wg.Go(func() {
				c := modeChange(fmt.Sprintf("route-%02d", i), &rollout.Setting{Mode: policy.ModeCanary, Percent: float64(i)})
				if _, err := s.Update(ctx, c, time.Now()); err != nil {
					errs <- fmt.Errorf("update %d: %w", i, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		st, err := a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for i := range n {
			name := fmt.Sprintf("route-%02d", i)
			if got, ok := st.Routes[name]; !ok || got.Percent != float64(i) {
				t.Errorf("route %s = %v (present %v), want canary %d%%", name, got, ok, i)
			}
		}
		if len(st.Routes) != n {
			t.Errorf("state has %d routes, want %d", len(st.Routes), n)
		}
		entries, err := b.Audit(ctx, 1000)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		if len(entries) != n {
			t.Errorf("audit has %d entries, want %d", len(entries), n)
		}
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
	})

	t.Run("SubscribeReceivesEveryChangeInVersionOrder", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		got := make(chan rollout.State, 16)
		done, cancel := subscribe(t, b, func(st rollout.State) { got <- st })

		changes := []struct {
			s rollout.Store
			c rollout.Change
		}{
			{a, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "alice", Reason: "through a"}},
			{b, modeChange("login", &rollout.Setting{Mode: policy.ModeCanary, Percent: 5})},
			{a, modeChange("", &rollout.Setting{Mode: policy.ModeEnforce})},
		}
		var want []rollout.State
		for i, ch := range changes {
			e, err := ch.s.Update(ctx, ch.c, time.Now())
			if err != nil {
				t.Fatalf("Update %d: %v", i, err)
			}
			want = append(want, e.After)
		}
		timeout := time.After(waitTimeout)
		for i, w := range want {
			select {
			case st := <-got:
				if !equalState(st, w) {
					t.Errorf("notification %d = %+v, want %+v", i, st, w)
				}
			case <-timeout:
				t.Fatalf("received %d of %d notifications within %v", i, len(want), waitTimeout)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Subscribe returned %v after its context was cancelled, want nil", err)
		}
	})

	t.Run("RestoreOnAnEmptyStoreSetsTheStateAndNotifies", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		got := make(chan rollout.State, 16)
		subscribe(t, b, func(st rollout.State) { got <- st })

		known := knownState()
		ok, err := a.Restore(ctx, known)
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if !ok {
			t.Fatal("Restore on an empty store = false, want true")
		}
		st, err := b.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !equalState(st, known) {
			t.Errorf("Load through the other handle after Restore = %+v, want %+v", st, known)
		}
		select {
		case st := <-got:
			if !equalState(st, known) {
				t.Errorf("notification = %+v, want the restored %+v", st, known)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no notification of the restored state within %v", waitTimeout)
		}
		// Nothing changed from what the replicas knew: no audit entry.
		entries, err := b.Audit(ctx, 10)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		if len(entries) != 0 {
			t.Errorf("audit after Restore has %d entries, want none", len(entries))
		}
	})

	t.Run("RestoreOnAStoreWithAStateChangesNothing", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		entry, err := a.Update(ctx, modeChange("login", &rollout.Setting{Mode: policy.ModeEnforce}), time.Now())
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		got := make(chan rollout.State, 16)
		subscribe(t, a, func(st rollout.State) { got <- st })

		// Even a newer state must not replace a stored one: Restore is
		// only for a store that has nothing.
		newer := knownState()
		newer.Version = entry.After.Version + 1
		ok, err := b.Restore(ctx, newer)
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if ok {
			t.Error("Restore on a store holding a state = true, want false")
		}
		st, err := a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !equalState(st, entry.After) {
			t.Errorf("Load after a refused Restore = %+v, want the stored %+v", st, entry.After)
		}
		entries, err := a.Audit(ctx, 10)
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		if len(entries) != 1 {
			t.Errorf("audit after a refused Restore has %d entries, want the one Update's", len(entries))
		}
		// Notifications arrive in order, so if Restore had published
		// anything it would come before this Update's state.
		next, err := b.Update(ctx, modeChange("search", &rollout.Setting{Mode: policy.ModeShadow}), time.Now())
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		select {
		case st := <-got:
			if !equalState(st, next.After) {
				t.Errorf("first notification after a refused Restore = %+v, want the next Update's %+v", st, next.After)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no notification of the Update within %v", waitTimeout)
		}
	})

	t.Run("UpdateAfterRestoreBuildsOnTheRestoredState", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		known := knownState()
		if ok, err := a.Restore(ctx, known); err != nil || !ok {
			t.Fatalf("Restore = %v, %v; want true", ok, err)
		}
		entry, err := b.Update(ctx, modeChange("search", &rollout.Setting{Mode: policy.ModeShadow}), time.Now())
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
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
		st, err := a.Load(ctx)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !equalState(st, after) {
			t.Errorf("Load = %+v, want the state Update returned, %+v", st, after)
		}
	})

	t.Run("RestoreRefusesStatesNoReplicaCouldUse", func(t *testing.T) {
		a, b := newStores(t, 10)
		ctx := t.Context()
		noVersion := knownState()
		noVersion.Version = 0
		badKill := knownState()
		badKill.Kill = 7
		badRoute := knownState()
		badRoute.Routes = map[string]rollout.Setting{"login": {Mode: policy.ModeCanary, Percent: 150}}
		for name, st := range map[string]rollout.State{"no version": noVersion, "unknown kill": badKill, "canary above 100": badRoute} {
			if ok, err := a.Restore(ctx, st); err == nil || ok {
				t.Errorf("Restore with %s = %v, %v; want false and an error", name, ok, err)
			}
		}
		expectUntouched(t, b)
	})

	t.Run("SubscribeReturnsNilWhenItsContextIsCancelled", func(t *testing.T) {
		_, b := newStores(t, 10)
		done, cancel := subscribe(t, b, func(rollout.State) {})
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Subscribe = %v after cancel, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("Subscribe still running %v after its context was cancelled", waitTimeout)
		}
	})
}

// subscribe starts s.Subscribe and returns once it is ready; the returned
// channel yields Subscribe's result, and cancel ends it.
func subscribe(t *testing.T, s rollout.Store, fn func(rollout.State)) (done <-chan error, cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ready := make(chan struct{})
	result := make(chan error, 1)
	go func() { result <- s.Subscribe(ctx, ready, fn) }()
	select {
	case <-ready:
	case err := <-result:
		t.Fatalf("Subscribe returned %v before it was ready", err)
	case <-time.After(waitTimeout):
		t.Fatalf("Subscribe not ready within %v", waitTimeout)
	}
	return result, cancel
}

func expectUntouched(t *testing.T, s rollout.Store) {
	t.Helper()
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !equalState(st, rollout.State{}) {
		t.Errorf("state after a refused change = %+v, want the zero State", st)
	}
	entries, err := s.Audit(t.Context(), 10)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(entries) != 0 {
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

func modeChange(route string, s *rollout.Setting) rollout.Change {
	return rollout.Change{Kind: rollout.ChangeMode, Route: route, Setting: s, Actor: "alice", Reason: "test"}
}

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
