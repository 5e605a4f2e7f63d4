package rollout_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/rollout/statetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, auditCap int) (a, b rollout.Store) {
		s := rollout.NewMemoryStore(auditCap)
		t.Cleanup(func() { _ = s.Close() })
		return s, s
	})
}

// A subscriber that does not return must not hold up Update, and still gets
// every state in order once it goes on.
func TestMemoryStoreSlowSubscriberDoesNotBlockUpdate(t *testing.T) {
	s := rollout.NewMemoryStore(0)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()

	unblock := make(chan struct{})
	var mu sync.Mutex
	var seen []int64
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(ctx, ready, func(st rollout.State) {
			<-unblock
			mu.Lock()
			seen = append(seen, st.Version)
			mu.Unlock()
		})
	}()
	<-ready

	const n = 20
	updated := make(chan []int64, 1)
	go func() {
		var versions []int64
		for i := range n {
			e, err := s.Update(ctx, rollout.Change{Kind: rollout.ChangeMode, Route: "r", Setting: &rollout.Setting{Mode: policy.ModeCanary, Percent: float64(i)}, Actor: "t", Reason: "test"}, time.Now())
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
				return
			}
			versions = append(versions, e.After.Version)
		}
		updated <- versions
	}()
	var want []int64
	select {
	case want = <-updated:
	case <-time.After(10 * time.Second):
		t.Fatal("Updates blocked by a subscriber that does not return")
	}
	close(unblock)

	eventually(t, "every state delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, want) {
		t.Errorf("delivered versions %v, want %v", seen, want)
	}
}

func TestMemoryStoreClosedRefusesWork(t *testing.T) {
	s := rollout.NewMemoryStore(0)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(t.Context(), ready, func(rollout.State) {}) }()
	<-ready
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("Subscribe returned nil after Close, want an error so the caller knows")
	}
	if _, err := s.Load(t.Context()); err == nil {
		t.Error("Load after Close succeeded")
	}
}
