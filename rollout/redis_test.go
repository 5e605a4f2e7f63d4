package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/rollout/statetest"
)

func TestRedisStoreConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T, auditCap int) (a, b rollout.Store) {
		// A prefix per test keeps them apart on one server.
		opts := rollout.RedisStoreOptions{AuditCap: auditCap, KeyPrefix: fmt.Sprintf("t%d:", n.Add(1))}
		return dialStore(t, srv.URL(), opts), dialStore(t, srv.URL(), opts)
	})
}

// TestRedisStoreConformanceOnCluster runs the same suite on a real Redis
// Cluster: the state, audit and restore keys share the {rollout} tag, the
// transaction and the restore script run on its node, and pub/sub spans the
// cluster.
func TestRedisStoreConformanceOnCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T, auditCap int) (a, b rollout.Store) {
		opts := rollout.RedisStoreOptions{AuditCap: auditCap, KeyPrefix: fmt.Sprintf("c%d:", n.Add(1))}
		return dialStore(t, cluster.URL(), opts), dialStore(t, cluster.URL(), opts)
	})
}

// TestRedisStoreConformanceOnSentinel runs the suite through a
// redis+sentinel URL: a master with a replica behind three real sentinels.
// The transaction, the restore script and pub/sub all go to the master the
// sentinels name.
func TestRedisStoreConformanceOnSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t)
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T, auditCap int) (a, b rollout.Store) {
		opts := rollout.RedisStoreOptions{AuditCap: auditCap, KeyPrefix: fmt.Sprintf("s%d:", n.Add(1))}
		return dialStore(t, sn.URL(), opts), dialStore(t, sn.URL(), opts)
	})
	// The state is on the master, where the sentinels say it is.
	master := redis.NewClient(&redis.Options{Addr: sn.Master().Addr()})
	t.Cleanup(func() { _ = master.Close() })
	keys, err := master.Keys(t.Context(), "s*:{rollout}:state").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("state keys on the master: %v, %v; want some", keys, err)
	}
}

func dialStore(t *testing.T, url string, opts rollout.RedisStoreOptions) *rollout.RedisStore {
	t.Helper()
	s, err := rollout.DialRedisStore(url, opts)
	if err != nil {
		t.Fatalf("DialRedisStore: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rawClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDialRedisStoreNeverPrintsThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://user:s3cret@localhost:notaport/0",
		"redis://user:s3cret@localhost:6379/notadb",
		"http://user:s3cret@localhost:6379/0",
		"redis://user:s3cret@localhost:6379/0?dial_timeout=soon",
		"redis://user:s3cret@local host:6379/0",
	} {
		_, err := rollout.DialRedisStore(u, rollout.RedisStoreOptions{})
		if err == nil {
			t.Errorf("DialRedisStore(%q) succeeded, want an error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("DialRedisStore(%q) error %q contains the password", u, err)
		}
	}
}

// The keys and the channel are part of the contract with other tools
// (botctl, an SRE with redis-cli), so they are checked by name.
func TestRedisStoreKeysAndChannel(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	s := dialStore(t, srv.URL(), rollout.RedisStoreOptions{AuditCap: 2})
	ctx := t.Context()

	sub := raw.Subscribe(ctx, "ba:v1:{rollout}:changes")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	var last rollout.AuditEntry
	for i := range 3 {
		e, err := s.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "alice", Reason: fmt.Sprint("r", i)}, time.Now())
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		last = e
	}

	var st rollout.State
	b, err := raw.Get(ctx, "ba:v1:{rollout}:state").Bytes()
	if err != nil {
		t.Fatalf("GET state: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Version != last.After.Version || st.Kill != rollout.KillShadow {
		t.Errorf("state key = %s (%v), want the last state as JSON", b, err)
	}
	if n, err := raw.LLen(ctx, "ba:v1:{rollout}:audit").Result(); err != nil || n != 2 {
		t.Errorf("audit list length = %d (%v), want the cap, 2", n, err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if err := json.Unmarshal([]byte(msg.Payload), &st); err != nil || st.Kill != rollout.KillShadow {
		t.Errorf("published %s (%v), want a State", msg.Payload, err)
	}
	// The hash tag keeps both keys in one Cluster slot.
	s1, _ := raw.ClusterKeySlot(ctx, "ba:v1:{rollout}:state").Result()
	s2, _ := raw.ClusterKeySlot(ctx, "ba:v1:{rollout}:audit").Result()
	if s1 != s2 {
		t.Errorf("state and audit keys hash to slots %d and %d", s1, s2)
	}
}

// Restore writes the same key and publishes on the same channel as Update,
// and survives the loss of Redis's script cache, which the restart that
// makes a restore necessary also causes.
func TestRedisStoreRestoreUsesTheStateKeyAndChannel(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	s := dialStore(t, srv.URL(), rollout.RedisStoreOptions{})
	ctx := t.Context()

	sub := raw.Subscribe(ctx, "ba:v1:{rollout}:changes")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	known := rollout.State{Version: 42, Kill: rollout.KillBypass, UpdatedBy: "alice"}
	for i := range 2 {
		if ok, err := s.Restore(ctx, known); err != nil || !ok {
			t.Fatalf("Restore %d on an empty store = %v, %v; want true", i, ok, err)
		}
		var st rollout.State
		b, err := raw.Get(ctx, "ba:v1:{rollout}:state").Bytes()
		if err != nil {
			t.Fatalf("GET state: %v", err)
		}
		if err := json.Unmarshal(b, &st); err != nil || st.Version != 42 || st.Kill != rollout.KillBypass {
			t.Errorf("state key after Restore %d = %s (%v), want the restored state as JSON", i, b, err)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if err := json.Unmarshal([]byte(msg.Payload), &st); err != nil || st.Version != 42 {
			t.Errorf("published %s (%v) after Restore %d, want the restored state", msg.Payload, err, i)
		}
		if n, err := raw.Exists(ctx, "ba:v1:{rollout}:audit").Result(); err != nil || n != 0 {
			t.Errorf("audit list exists (%d, %v) after Restore %d, want none: a restore is not a change", n, err, i)
		}
		// Lose the data and the cached script, as a restart does.
		if err := raw.Del(ctx, "ba:v1:{rollout}:state").Err(); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
	}
}

func TestRedisStoreSkipsUndecodableMessages(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	s := dialStore(t, srv.URL(), rollout.RedisStoreOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	got := make(chan rollout.State, 4)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, ready, func(st rollout.State) { got <- st }) }()
	<-ready

	if err := raw.Publish(ctx, "ba:v1:{rollout}:changes", "not json").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Publish(ctx, "ba:v1:{rollout}:changes", `{"version":7,"kill":"sideways"}`).Err(); err != nil {
		t.Fatal(err)
	}
	e, err := s.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "a", Reason: "r"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-got:
		if st.Version != e.After.Version {
			t.Errorf("first delivered state has version %d, want the valid one, %d", st.Version, e.After.Version)
		}
	case <-time.After(waitFor):
		t.Fatal("valid state not delivered")
	}
	if n := s.Undecodable(); n != 2 {
		t.Errorf("Undecodable = %d, want 2", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Subscribe = %v after cancel, want nil", err)
	}
}

func TestRedisStoreFailsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	s := dialStore(t, srv.URL(), rollout.RedisStoreOptions{})
	srv.Stop()
	ctx := t.Context()

	if _, err := s.Load(ctx); err == nil {
		t.Error("Load succeeded with Redis down")
	}
	if _, err := s.Update(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "a", Reason: "r"}, time.Now()); err == nil {
		t.Error("Update succeeded with Redis down")
	}
	if _, err := s.Audit(ctx, 10); err == nil {
		t.Error("Audit succeeded with Redis down")
	}
	if _, err := s.Restore(ctx, rollout.State{Version: 1, Kill: rollout.KillBypass}); err == nil {
		t.Error("Restore succeeded with Redis down")
	}
	ready := make(chan struct{})
	err := s.Subscribe(ctx, ready, func(rollout.State) {})
	if err == nil {
		t.Error("Subscribe returned nil with Redis down, want an error so the caller retries")
	}
	select {
	case <-ready:
		t.Error("Subscribe closed ready although it never subscribed")
	default:
	}
}

func TestRedisStoreLeavesTheCallersClientOpen(t *testing.T) {
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	s := rollout.NewRedisStore(raw, rollout.RedisStoreOptions{KeyPrefix: "own:"})
	if _, err := s.Update(t.Context(), rollout.Change{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeEnforce}, Actor: "a", Reason: "r"}, time.Now()); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := raw.Exists(t.Context(), "own:{rollout}:state").Err(); err != nil {
		t.Errorf("caller's client unusable after the store's Close: %v", err)
	}
	ready := make(chan struct{})
	if err := s.Subscribe(t.Context(), ready, func(rollout.State) {}); !errors.Is(err, rollout.ErrStoreClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrStoreClosed", err)
	}
}
