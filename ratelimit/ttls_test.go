package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
)

func TestHashTTLs(t *testing.T) {
	var none *hashTTLs
	none.extend("k", 0, time.Minute)
	none.forget()
	if none.covers("k", 0) {
		t.Error("a nil memory covers a key")
	}

	m := newHashTTLs()
	if m.covers("k", 0) {
		t.Error("an empty memory covers a key")
	}
	m.extend("k", 0, time.Minute)
	for _, c := range []struct {
		now  time.Duration
		want bool
	}{
		{0, true},
		{time.Minute - hashTTLMargin - time.Millisecond, true},
		{time.Minute - hashTTLMargin, false}, // the margin is not relied on
		{time.Minute, false},
	} {
		if got := m.covers("k", int64(c.now)); got != c.want {
			t.Errorf("a TTL of a minute from 0, at %v: covers = %v, want %v", c.now, got, c.want)
		}
	}
	m.extend("k", 0, time.Second) // never shortens
	if !m.covers("k", int64(30*time.Second)) {
		t.Error("a shorter TTL recorded later shortened the one known")
	}
	m.extend("k", int64(time.Minute), time.Minute)
	if !m.covers("k", int64(90*time.Second)) {
		t.Error("a later TTL did not extend the one known")
	}
	m.extend("zero", 0, 0)
	if m.covers("zero", 0) {
		t.Error("a TTL of 0 covers its key")
	}

	// Two generations: a key stays while it is used, and the memory holds
	// at most two generations' keys.
	for i := range 3 * hashTTLsGen {
		m.extend("g"+strconv.Itoa(i), 0, time.Hour)
		if i%1000 == 0 && !m.covers("k", 0) {
			t.Fatalf("a key in use was dropped after %d others", i)
		}
	}
	if m.covers("g0", 0) {
		t.Error("the oldest generation's key is still known")
	}
	if n := len(m.cur) + len(m.old); n > 2*hashTTLsGen {
		t.Errorf("the memory holds %d keys, want at most %d", n, 2*hashTTLsGen)
	}
	if !m.covers("g"+strconv.Itoa(3*hashTTLsGen-1), 0) {
		t.Error("the newest key is not known")
	}

	m.forget()
	if m.covers("k", 0) {
		t.Error("a forgotten key is still known")
	}
}

func TestPlanHitSkipsThePexpireOfAKnownHash(t *testing.T) {
	counters := []Counter{
		{Key: "known", Lane: "60s", Window: time.Minute},
		{Key: "unknown", Lane: "60s", Window: time.Minute},
	}
	m := newHashTTLs()
	m.extend("known", 0, time.Minute)
	plan := planHit(counters, 90_500, m, 0, nil)
	var expires []string
	for _, args := range cmdArgs(plan.cmds) {
		if args[0] == "pexpire" {
			expires = append(expires, args[1].(string))
		}
	}
	if len(expires) != 1 || expires[0] != "unknown" {
		t.Errorf("PEXPIRE of %v, want of the unknown hash only", expires)
	}
	if plan.hashes[0].expire != -1 || plan.hashes[0].ttl != 29_500+60_000 {
		t.Errorf("the known hash's plan %+v, want no PEXPIRE and the TTL its bucket needs", plan.hashes[0])
	}
}

// TestRedisForgetsTTLsOnlyWhenRedisFails: a Hit the caller stopped waiting
// for (the Guard's budget, a cancelled request) says nothing of Redis's
// keys and keeps what the store knows; a Hit Redis failed forgets it.
func TestRedisForgetsTTLsOnlyWhenRedisFails(t *testing.T) {
	srv := redistest.Start(t)
	s, err := DialRedis(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMilli(1_796_376_856_205)
	c := []Counter{{Key: "forget", Lane: "60s", Window: time.Minute}}
	obs := make([]Observation, 1)
	known := func() bool { return s.ttls.covers(c[0].Key, s.ttls.now()) }
	if err := s.Hit(t.Context(), now, c, obs); err != nil {
		t.Fatal(err)
	}
	if !known() {
		t.Fatal("the TTL of a hash the Hit created is not known")
	}

	stopped := false
	for range 100 {
		fired := make(chan time.Time, 1)
		fired <- now
		if err := s.hitWithin(t.Context(), now, c, obs, fired); errors.Is(err, errStopped) {
			stopped = true
			break
		}
	}
	if !stopped {
		t.Fatal("no Hit of 100 was stopped by a stop channel ready before it")
	}
	if !known() {
		t.Error("a stopped Hit forgot the TTLs known")
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.hitWithin(cancelled, now, c, obs, nil); err == nil {
		t.Fatal("a Hit with a cancelled context succeeded")
	}
	if !known() {
		t.Error("a cancelled Hit forgot the TTLs known")
	}

	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	if err := admin.Set(t.Context(), "forget-string", "a string", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	wrong := []Counter{{Key: "forget-string", Lane: "60s", Window: time.Minute}}
	if err := s.Hit(t.Context(), now, wrong, obs); err == nil {
		t.Fatal("a Hit on a string key succeeded, want WRONGTYPE")
	}
	if known() {
		t.Error("a Hit Redis failed left the TTLs known")
	}
}
