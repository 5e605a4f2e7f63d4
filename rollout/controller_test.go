package rollout_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

const changesChannel = "ba:v1:{rollout}:changes"

func killChange(k rollout.Kill, reason string) rollout.Change {
	return rollout.Change{Kind: rollout.ChangeKill, Kill: k, Actor: "sre", Reason: reason}
}

// replica is one botauthz process: its own Redis client and Controller.
type replica struct {
	c   *rollout.Controller
	log *logRecorder
}

func startReplica(t *testing.T, srv *redistest.Server, refresh time.Duration) replica {
	t.Helper()
	rec := newLogRecorder(t)
	c := startController(t, rollout.ControllerOptions{
		Store:   dialStore(t, srv.URL(), rollout.RedisStoreOptions{}),
		Refresh: refresh,
		Logger:  slog.New(rec),
	})
	return replica{c: c, log: rec}
}

// waitSubscribers waits until n clients are subscribed to the changes
// channel, so that what follows is pushed rather than caught up on.
func waitSubscribers(t *testing.T, srv *redistest.Server, n int64) {
	t.Helper()
	raw := rawClient(t, srv)
	eventually(t, "replicas subscribed", func() bool {
		m, err := raw.PubSubNumSub(t.Context(), changesChannel).Result()
		return err == nil && m[changesChannel] == n
	})
}

func TestControllerApplyReachesOtherReplicaThroughPubSub(t *testing.T) {
	srv := redistest.Start(t)
	// No refresh during the test: only pub/sub can carry the change.
	a := startReplica(t, srv, time.Hour)
	b := startReplica(t, srv, time.Hour)
	waitSubscribers(t, srv, 2)

	var took []time.Duration
	for i := range 20 {
		k := []rollout.Kill{rollout.KillBypass, rollout.KillNone}[i%2]
		start := time.Now()
		e, err := a.c.Apply(t.Context(), killChange(k, "drill"))
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		// The replica that made the change has it at once.
		if v := a.c.View(); v.Live.Version != e.After.Version || v.Kill() != k {
			t.Fatalf("A's view right after Apply: version %d kill %v, want %d %v", v.Live.Version, v.Kill(), e.After.Version, k)
		}
		eventually(t, "B sees A's change", func() bool {
			return b.c.View().Live.Version == e.After.Version
		})
		took = append(took, time.Since(start))
		if got := b.c.View().Kill(); got != k {
			t.Fatalf("B's kill switch = %v, want %v", got, k)
		}
	}
	slices.Sort(took)
	t.Logf("propagation from calling A.Apply to B.View showing it, over %d changes: min %v, median %v, max %v",
		len(took), took[0], took[len(took)/2], took[len(took)-1])
}

// deafStore is a Store whose subscription is up but never delivers, as
// when pushed messages are lost.
type deafStore struct{ rollout.Store }

func (deafStore) Subscribe(ctx context.Context, ready chan<- struct{}, _ func(rollout.State)) error {
	close(ready)
	<-ctx.Done()
	return nil
}

func TestControllerRefreshPicksUpMissedChanges(t *testing.T) {
	srv := redistest.Start(t)
	a := startReplica(t, srv, time.Hour)
	b := startController(t, rollout.ControllerOptions{
		Store:   deafStore{dialStore(t, srv.URL(), rollout.RedisStoreOptions{})},
		Refresh: 200 * time.Millisecond,
	})
	e, err := a.c.Apply(t.Context(), killChange(rollout.KillShadow, "missed push"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	took := eventually(t, "B picks up the change by refresh", func() bool {
		return b.View().Live.Version == e.After.Version
	})
	t.Logf("picked up by refresh after %v", took)
}

func TestControllerSubscriptionSurvivesClientKill(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	// No refresh: after the kill only a restored subscription can carry
	// the change.
	a := startReplica(t, srv, time.Hour)
	b := startReplica(t, srv, time.Hour)
	waitSubscribers(t, srv, 2)

	if err := raw.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	// go-redis resubscribes by itself. What was published in between is
	// lost, which is what the refresh is for (see the test above).
	waitSubscribers(t, srv, 2)
	e, err := a.c.Apply(t.Context(), killChange(rollout.KillBypass, "after kill"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, "B sees the change through the restored subscription", func() bool {
		return b.c.View().Live.Version == e.After.Version
	})
}

func TestControllerKeepsStateThroughRedisOutageAndDataLoss(t *testing.T) {
	srv := redistest.Start(t)
	probe := dialStore(t, srv.URL(), rollout.RedisStoreOptions{})
	a := startReplica(t, srv, 200*time.Millisecond)
	b := startReplica(t, srv, 200*time.Millisecond)

	e, err := a.c.Apply(t.Context(), killChange(rollout.KillBypass, "incident"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, "B sees the kill switch", func() bool { return b.c.View().Kill() == rollout.KillBypass })

	srv.Stop()
	for name, r := range map[string]replica{"A": a, "B": b} {
		eventually(t, name+" notices the outage", func() bool { return r.log.count("store unreachable") > 0 })
		if v := r.c.View(); v.Kill() != rollout.KillBypass || v.Live.Version != e.After.Version {
			t.Errorf("%s during the outage: kill %v version %d, want bypass %d", name, v.Kill(), v.Live.Version, e.After.Version)
		}
	}
	if _, err := a.c.Apply(t.Context(), killChange(rollout.KillNone, "during outage")); err == nil {
		t.Error("Apply succeeded with Redis down")
	}
	if got := a.c.View().Kill(); got != rollout.KillBypass {
		t.Errorf("A's kill switch after a failed Apply = %v, want bypass", got)
	}

	// Redis comes back without its data. The replicas keep their state and
	// the first to find the store empty writes it back.
	srv.Restart()
	eventually(t, "the state is back in Redis", func() bool {
		st, err := probe.Load(t.Context())
		return err == nil && st.Version == e.After.Version && st.Kill == rollout.KillBypass
	})
	eventually(t, "one replica logs that it restored the state", func() bool {
		return a.log.count(restoredMsg)+b.log.count(restoredMsg) == 1
	})
	for name, r := range map[string]replica{"A": a, "B": b} {
		if v := r.c.View(); v.Kill() != rollout.KillBypass || v.Live.Version != e.After.Version {
			t.Errorf("%s after data loss: kill %v version %d, want bypass %d kept", name, v.Kill(), v.Live.Version, e.After.Version)
		}
	}

	// The next change gets a version from the clock, above the kept one,
	// so every replica takes it.
	next, err := b.c.Apply(t.Context(), killChange(rollout.KillShadow, "after data loss"))
	if err != nil {
		t.Fatalf("Apply after restart: %v", err)
	}
	if next.After.Version <= e.After.Version {
		t.Fatalf("version after data loss %d, not above the kept %d", next.After.Version, e.After.Version)
	}
	if next.Before.Version != e.After.Version {
		t.Errorf("change after data loss built on version %d, want the restored %d", next.Before.Version, e.After.Version)
	}
	for name, r := range map[string]replica{"A": a, "B": b} {
		eventually(t, name+" takes the change made after data loss", func() bool {
			v := r.c.View()
			return v.Live.Version == next.After.Version && v.Kill() == rollout.KillShadow
		})
		if n := r.log.count("store had no state"); n > 1 {
			t.Errorf("%s warned about the data loss %d times, want at most once", name, n)
		}
		eventually(t, name+" logs the recovery", func() bool { return r.log.count("store reachable again") > 0 })
	}
}

// restoredMsg is logged by the replica whose Restore filled an empty store.
const restoredMsg = "restored the last known state from this replica"

// An unrelated change after Redis lost its data must build on the state the
// replicas still know, not on the empty store: it must not clear the kill
// switch.
func TestControllerChangeAfterDataLossKeepsTheKillSwitch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refresh time.Duration
	}{
		// No refresh tick comes: Apply alone must restore, as for a
		// change made right after the loss, before any tick.
		{"before any refresh", time.Hour},
		{"with refresh", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			probe := dialStore(t, srv.URL(), rollout.RedisStoreOptions{})
			a := startReplica(t, srv, tc.refresh)
			b := startReplica(t, srv, tc.refresh)
			waitSubscribers(t, srv, 2)

			e, err := a.c.Apply(t.Context(), killChange(rollout.KillBypass, "incident"))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			eventually(t, "B sees the kill switch", func() bool { return b.c.View().Kill() == rollout.KillBypass })

			srv.Restart() // empty: the server keeps nothing on disk
			// Once both subscriptions are back, B's change is pushed
			// to A even without a refresh.
			waitSubscribers(t, srv, 2)
			search := &rollout.Setting{Mode: policy.ModeShadow}
			next, err := b.c.Apply(t.Context(), rollout.Change{
				Kind: rollout.ChangeMode, Route: "search", Setting: search, Actor: "sre", Reason: "unrelated",
			})
			if err != nil {
				t.Fatalf("Apply after data loss: %v", err)
			}
			if next.After.Kill != rollout.KillBypass || next.After.Routes["search"] != *search {
				t.Errorf("state after the change = %+v, want kill bypass kept and search shadow", next.After)
			}
			if next.Before.Version != e.After.Version {
				t.Errorf("change built on version %d, want the known %d", next.Before.Version, e.After.Version)
			}
			if tc.refresh == time.Hour {
				if n := b.log.count(restoredMsg); n != 1 {
					t.Errorf("B logged restoring the state %d times, want once, from Apply", n)
				}
			}
			for name, r := range map[string]replica{"A": a, "B": b} {
				eventually(t, name+" takes the change", func() bool {
					return r.c.View().Live.Version == next.After.Version
				})
				if v := r.c.View(); v.Kill() != rollout.KillBypass || v.Live.Routes["search"] != *search {
					t.Errorf("%s's view after the change: kill %v routes %v, want bypass and search shadow", name, v.Kill(), v.Live.Routes)
				}
			}
			st, err := probe.Load(t.Context())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if st.Version != next.After.Version || st.Kill != rollout.KillBypass {
				t.Errorf("Redis holds version %d kill %v, want %d bypass", st.Version, st.Kill, next.After.Version)
			}
		})
	}
}

// Without any change, a refresh finds the store empty and restores it, so
// that whatever comes next builds on the known state.
func TestControllerRestoresLostStateOnRefresh(t *testing.T) {
	srv := redistest.Start(t)
	probe := dialStore(t, srv.URL(), rollout.RedisStoreOptions{})
	a := startReplica(t, srv, 200*time.Millisecond)
	b := startReplica(t, srv, 200*time.Millisecond)
	if _, err := a.c.Apply(t.Context(), killChange(rollout.KillBypass, "incident")); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	e, err := a.c.Apply(t.Context(), rollout.Change{
		Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeCanary, Percent: 5}, Actor: "sre", Reason: "canary",
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, "B sees both changes", func() bool { return b.c.View().Live.Version == e.After.Version })

	srv.Restart()
	eventually(t, "the state is back in Redis", func() bool {
		st, err := probe.Load(t.Context())
		return err == nil && st.Version == e.After.Version
	})
	st, err := probe.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if st.Kill != rollout.KillBypass || st.Routes["login"] != (rollout.Setting{Mode: policy.ModeCanary, Percent: 5}) {
		t.Errorf("restored state %+v, want kill bypass and login canary 5%%", st)
	}
	// A restore is not a change: the audit trail Redis lost stays empty.
	if entries, err := probe.Audit(t.Context(), 10); err != nil || len(entries) != 0 {
		t.Errorf("audit after the restore = %d entries (%v), want none", len(entries), err)
	}
	eventually(t, "one replica logs that it restored the state", func() bool {
		return a.log.count(restoredMsg)+b.log.count(restoredMsg) == 1
	})
	for name, r := range map[string]replica{"A": a, "B": b} {
		if v := r.c.View(); v.Live.Version != e.After.Version || v.Kill() != rollout.KillBypass {
			t.Errorf("%s's view after the restore: version %d kill %v, want %d bypass", name, v.Live.Version, v.Kill(), e.After.Version)
		}
	}
}

// lossyStore is a Store whose backend a test can swap for an empty one, as
// when Redis loses its data, and whose Restore can be made to fail. Its
// subscription never delivers, so only refreshes and Apply carry state.
type lossyStore struct {
	cur          atomic.Pointer[rollout.MemoryStore]
	failRestore  atomic.Bool
	restoreCalls atomic.Int64
	loads        atomic.Int64
	// hold, when set, stops the next Load after it has read, until the
	// test lets it return.
	hold atomic.Pointer[loadHold]
}

type loadHold struct{ read, release chan struct{} }

func (s *lossyStore) Load(ctx context.Context) (rollout.State, error) {
	st, err := s.cur.Load().Load(ctx)
	if h := s.hold.Swap(nil); h != nil {
		close(h.read)
		<-h.release
	}
	s.loads.Add(1)
	return st, err
}

func (s *lossyStore) Update(ctx context.Context, c rollout.Change, now time.Time) (rollout.AuditEntry, error) {
	return s.cur.Load().Update(ctx, c, now)
}

func (s *lossyStore) Restore(ctx context.Context, st rollout.State) (bool, error) {
	s.restoreCalls.Add(1)
	if s.failRestore.Load() {
		return false, errors.New("restore refused")
	}
	return s.cur.Load().Restore(ctx, st)
}

func (s *lossyStore) Audit(ctx context.Context, limit int) ([]rollout.AuditEntry, error) {
	return s.cur.Load().Audit(ctx, limit)
}

func (s *lossyStore) Subscribe(ctx context.Context, ready chan<- struct{}, _ func(rollout.State)) error {
	close(ready)
	<-ctx.Done()
	return nil
}

func (s *lossyStore) Close() error { return nil }

// A refresh that read the store empty before this replica's first change
// landed has found no loss: the replica knew no state when it read. It
// neither restores nor logs a data loss, and a real loss later is still
// logged.
func TestControllerEmptyStoreBeforeTheFirstChangeIsNoLoss(t *testing.T) {
	store := &lossyStore{}
	store.cur.Store(rollout.NewMemoryStore(0))
	rec := newLogRecorder(t)
	c := startController(t, rollout.ControllerOptions{Store: store, Refresh: 20 * time.Millisecond, Logger: slog.New(rec)})

	h := &loadHold{read: make(chan struct{}), release: make(chan struct{})}
	store.hold.Store(h)
	select {
	case <-h.read:
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh read the store")
	}
	e, err := c.Apply(t.Context(), killChange(rollout.KillBypass, "incident"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	loads := store.loads.Load()
	close(h.release)
	eventually(t, "two more refreshes", func() bool { return store.loads.Load() >= loads+2 })
	if n := rec.count("data lost?"); n != 0 {
		t.Errorf("a data loss was logged %d times before any state was lost", n)
	}
	if v := c.View(); v.Live.Version != e.After.Version || v.Kill() != rollout.KillBypass {
		t.Errorf("view: version %d kill %v, want %d bypass", v.Live.Version, v.Kill(), e.After.Version)
	}

	store.cur.Store(rollout.NewMemoryStore(0))
	eventually(t, "the real loss restored and logged", func() bool { return rec.count(restoredMsg) == 1 })
}

// A failed restore keeps the view, refuses changes that would build on
// nothing, is logged once, and is tried again at every refresh.
func TestControllerRetriesAFailedRestore(t *testing.T) {
	store := &lossyStore{}
	store.cur.Store(rollout.NewMemoryStore(0))
	rec := newLogRecorder(t)
	c := startController(t, rollout.ControllerOptions{Store: store, Refresh: 200 * time.Millisecond, Logger: slog.New(rec)})
	e, err := c.Apply(t.Context(), killChange(rollout.KillBypass, "incident"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}

	store.failRestore.Store(true)
	empty := rollout.NewMemoryStore(0)
	calls := store.restoreCalls.Load()
	store.cur.Store(empty)
	eventually(t, "several refreshes try to restore", func() bool { return store.restoreCalls.Load() >= calls+3 })
	if n := rec.count("restoring the last known one failed"); n != 1 {
		t.Errorf("the failed restore was logged %d times, want once", n)
	}
	if v := c.View(); v.Kill() != rollout.KillBypass || v.Live.Version != e.After.Version {
		t.Errorf("view while the restore fails: kill %v version %d, want bypass %d kept", v.Kill(), v.Live.Version, e.After.Version)
	}
	if _, err := c.Apply(t.Context(), rollout.Change{
		Kind: rollout.ChangeMode, Route: "search", Setting: &rollout.Setting{Mode: policy.ModeShadow}, Actor: "sre", Reason: "unrelated",
	}); err == nil {
		t.Error("Apply succeeded on an empty store it could not restore")
	}
	if st, err := empty.Load(t.Context()); err != nil || st.Version != 0 {
		t.Errorf("empty store after a refused Apply: version %d (%v), want still empty", st.Version, err)
	}

	store.failRestore.Store(false)
	eventually(t, "a refresh restores the state", func() bool {
		st, err := empty.Load(t.Context())
		return err == nil && st.Version == e.After.Version && st.Kill == rollout.KillBypass
	})
	eventually(t, "the restore is logged", func() bool { return rec.count(restoredMsg) == 1 })
}

func TestControllerStartsWithRedisDownAndCatchesUp(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	b := startReplica(t, srv, 200*time.Millisecond)
	if v := b.c.View(); v.Live.Version != 0 || v.Kill() != rollout.KillNone {
		t.Fatalf("view without Redis = %+v, want the zero state", v)
	}
	if b.log.count("store unreachable") == 0 {
		t.Error("the failed initial load was not logged")
	}

	srv.Restart()
	a := startReplica(t, srv, time.Hour)
	e, err := a.c.Apply(t.Context(), killChange(rollout.KillShadow, "after start"))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, "B catches up once Redis is there", func() bool { return b.c.View().Live.Version == e.After.Version })
}

func TestControllerWithMemoryStore(t *testing.T) {
	store := rollout.NewMemoryStore(0)
	rec := newLogRecorder(t)
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	a := startController(t, rollout.ControllerOptions{Store: store, Logger: slog.New(rec), Now: func() time.Time { return now }})
	b := startController(t, rollout.ControllerOptions{Store: store})

	if _, err := a.Apply(t.Context(), rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "sre"}); !errors.Is(err, rollout.ErrNoReason) {
		t.Fatalf("Apply without a reason = %v, want ErrNoReason", err)
	}
	e, err := a.Apply(t.Context(), rollout.Change{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeCanary, Percent: 5}, Actor: "sre", Reason: "canary"})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if e.After.Version != now.UnixNano() || !e.Time.Equal(now) {
		t.Errorf("entry version %d time %v, want from the controller's clock %v", e.After.Version, e.Time, now)
	}
	if got := a.View().Resolve(&policy.Route{Name: "login", Mode: policy.ModeShadow}); got != (rollout.Applied{Mode: policy.ModeCanary, Percent: 5, Source: rollout.SourceLiveRoute}) {
		t.Errorf("A resolves login to %+v right after Apply", got)
	}
	eventually(t, "B sees the change", func() bool { return b.View().Live.Version == e.After.Version })
	if rec.count("change applied") != 1 {
		t.Error("the change was not logged")
	}

	entries, err := b.Audit(t.Context(), 10)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(entries) != 1 || entries[0].Change != "mode login canary 5%" || entries[0].Actor != "sre" {
		t.Errorf("Audit = %+v, want the one change", entries)
	}
}

func TestControllerWithoutStoreFailsToStart(t *testing.T) {
	c := rollout.NewController(rollout.ControllerOptions{})
	if err := c.Start(t.Context()); err == nil {
		t.Error("Start without a Store succeeded")
	}
	if c.View() == nil {
		t.Error("View is nil")
	}
}

// A stalled Redis (connections open, nothing answered) must look like an
// outage, not hang the replica.
func TestControllerKeepsStateWhileRedisIsStalled(t *testing.T) {
	srv := redistest.Start(t)
	a := startReplica(t, srv, 200*time.Millisecond)
	b := startReplica(t, srv, 200*time.Millisecond)
	if _, err := a.c.Apply(t.Context(), killChange(rollout.KillBypass, "incident")); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, "B sees the kill switch", func() bool { return b.c.View().Kill() == rollout.KillBypass })

	srv.Pause()
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			srv.Resume()
		}
	})
	eventually(t, "B notices the stall", func() bool { return b.log.count("store unreachable") > 0 })
	if got := b.c.View().Kill(); got != rollout.KillBypass {
		t.Errorf("B's kill switch during the stall = %v, want bypass", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := a.c.Apply(ctx, killChange(rollout.KillNone, "during stall")); err == nil {
		t.Error("Apply succeeded with Redis stalled")
	}

	srv.Resume()
	resumed = true
	e, err := a.c.Apply(t.Context(), killChange(rollout.KillShadow, "after stall"))
	if err != nil {
		t.Fatalf("Apply after resume: %v", err)
	}
	eventually(t, "B sees the change after the stall", func() bool { return b.c.View().Live.Version == e.After.Version })
	eventually(t, "B logs the recovery", func() bool { return b.log.count("store reachable again") > 0 })
}
