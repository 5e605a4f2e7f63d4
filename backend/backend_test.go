package backend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/backend"
	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/ratelimit/storetest"
	"github.com/botauthz/botauthz/rollout"
)

func open(t *testing.T, url string) *backend.Backend {
	t.Helper()
	b, err := backend.Open(t.Context(), url, backend.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// replicaState is what one replica sees of the three stores after the
// other replica counted a hit, pulled the kill switch and redeemed a
// challenge.
type replicaState struct {
	count    int64
	kill     rollout.Kill
	redeemed bool
}

// TestReplicasShareStateOnlyWhereTheKindSays opens the same URL twice, as
// two replicas would, and checks each of the three stores is shared for
// Redis and private for memory://: what the Shared field promises.
func TestReplicasShareStateOnlyWhereTheKindSays(t *testing.T) {
	srv := redistest.Start(t)
	for _, c := range []struct {
		url     string
		kind    string
		shared  bool
		guarded bool
	}{
		{"", "memory", false, false},
		{"memory://", "memory", false, false},
		{srv.URL(), "redis", true, true},
	} {
		t.Run(c.kind+" "+c.url, func(t *testing.T) {
			a, b := open(t, c.url), open(t, c.url)
			if a.Kind != c.kind || a.Shared != c.shared || (a.Guard != nil) != c.guarded || (a.Memory != nil) == c.guarded {
				t.Errorf("kind %q shared %v guard %v memory %v, want %q %v %v %v", a.Kind, a.Shared, a.Guard != nil, a.Memory != nil, c.kind, c.shared, c.guarded, !c.guarded)
			}
			ctx := t.Context()
			now := time.Now()
			key := ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7")
			counter := []ratelimit.Counter{{Key: key, Lane: "60s", Window: time.Minute}}
			obs := make([]ratelimit.Observation, 1)
			if err := a.Counters.Hit(ctx, now, counter, obs); err != nil {
				t.Fatalf("replica a Hit: %v", err)
			}
			if _, err := a.Rollout.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "test", Reason: "drill"}, now); err != nil {
				t.Fatalf("replica a Update: %v", err)
			}
			if first, err := a.Redeemer.Redeem(ctx, "challenge-1", time.Minute); err != nil || !first {
				t.Fatalf("replica a Redeem: %v, %v", first, err)
			}

			var seen replicaState
			if err := b.Counters.Hit(ctx, now, counter, obs); err != nil {
				t.Fatalf("replica b Hit: %v", err)
			}
			seen.count = obs[0].Cur
			st, err := b.Rollout.Load(ctx)
			if err != nil {
				t.Fatalf("replica b Load: %v", err)
			}
			seen.kill = st.Kill
			first, err := b.Redeemer.Redeem(ctx, "challenge-1", time.Minute)
			if err != nil {
				t.Fatalf("replica b Redeem: %v", err)
			}
			seen.redeemed = !first

			want := replicaState{}
			if c.shared {
				want = replicaState{count: 1, kill: rollout.KillShadow, redeemed: true}
			}
			if seen != want {
				t.Errorf("replica b sees %+v, want %+v", seen, want)
			}
			if c.shared {
				// Clean for the next case on the same server.
				if _, err := a.Rollout.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillNone, Actor: "test", Reason: "drill over"}, now); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestOpenRefusesWhatItCannotOpen(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"ftp://example.com", `unknown scheme "ftp"`},
		{"127.0.0.1:6379", "not a URL"},
		{"memory://somewhere", "takes no host"},
		{"memory://?max_keys=10", "takes no host"},
		{"redis://:s3cret@127.0.0.1:6379/x", "xxxxx"},
	} {
		_, err := backend.Open(context.Background(), c.url, backend.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want an error with %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): the error shows the password: %v", c.url, err)
		}
	}
	// Every scheme the table has is named when one is unknown.
	_, err := backend.Open(context.Background(), "ftp://x", backend.Options{})
	for _, s := range backend.Schemes() {
		if !strings.Contains(err.Error(), s+"://") {
			t.Errorf("the unknown-scheme error does not name %s://: %v", s, err)
		}
	}
}

// counters opens url's backend for the counter suite, which closes the
// counters itself: the backend's Close then closes the rest, and its error
// about the counters' client already closed is expected.
func counters(t *testing.T, url string) ratelimit.Store {
	t.Helper()
	b, err := backend.Open(t.Context(), url, backend.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b.Counters
}

// TestCountersOpenedByURLConform runs the counter stores' conformance
// suite on the counters each kind of backend opens, as botauthz uses them
// (Redis behind its Guard).
func TestCountersOpenedByURLConform(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) ratelimit.Store { return counters(t, backend.Memory) })
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { admin.Close() })
		storetest.Run(t, func(t *testing.T) ratelimit.Store {
			if err := admin.FlushDB(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHDB: %v", err)
			}
			return counters(t, srv.URL())
		})
	})
}
