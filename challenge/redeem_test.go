package challenge

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/redisurl"
)

func newTestMemoryRedeemer(max int, c *clock) *MemoryRedeemer {
	m := NewMemoryRedeemer(max)
	m.now = c.Now
	return m
}

func TestMemoryRedeemer(t *testing.T) {
	ctx := context.Background()
	type step struct {
		advance time.Duration
		id      string
		ttl     time.Duration
		first   bool
	}
	cases := []struct {
		name    string
		max     int
		steps   []step
		wantLen int
	}{
		{"first then second", 10, []step{
			{0, "a", time.Minute, true},
			{0, "a", time.Minute, false},
			{0, "b", time.Minute, true},
		}, 2},
		{"forgotten once expired", 10, []step{
			{0, "a", time.Minute, true},
			{time.Minute - time.Nanosecond, "a", time.Minute, false},
			{time.Nanosecond, "a", time.Minute, true},
		}, 1},
		{"expired entries swept", 10, []step{
			{0, "a", time.Second, true},
			{0, "b", time.Second, true},
			{0, "c", time.Hour, true},
			{time.Second, "d", time.Hour, true},
		}, 2},
		{"bounded: the soonest to expire makes room", 2, []step{
			{0, "long", time.Hour, true},
			{0, "short", time.Minute, true},
			{0, "new", time.Hour, true},
			{0, "long", time.Hour, false},
			{0, "new", time.Hour, false},
		}, 2},
		{"bounded: a forgotten id redeems again", 2, []step{
			{0, "long", time.Hour, true},
			{0, "short", time.Minute, true},
			{0, "new", time.Hour, true},
			{0, "short", time.Minute, true},
		}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: t0}
			m := newTestMemoryRedeemer(c.max, clk)
			for i, s := range c.steps {
				clk.Add(s.advance)
				first, err := m.Redeem(ctx, s.id, s.ttl)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if first != s.first {
					t.Errorf("step %d: Redeem(%q) first = %v, want %v", i, s.id, first, s.first)
				}
			}
			if got := m.len(); got != c.wantLen {
				t.Errorf("len = %d, want %d", got, c.wantLen)
			}
		})
	}
}

func TestMemoryRedeemerRefusesNonPositiveTTL(t *testing.T) {
	m := NewMemoryRedeemer(0)
	if m.max != DefaultMemoryEntries {
		t.Errorf("max = %d, want the default", m.max)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := m.Redeem(context.Background(), "a", ttl); err == nil {
			t.Errorf("ttl %v accepted", ttl)
		}
	}
}

func TestMemoryRedeemerConcurrentFirstIsUnique(t *testing.T) {
	m := NewMemoryRedeemer(100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range 16 {
		wg.Go(func() {
			first, err := m.Redeem(context.Background(), "same", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("%d first redemptions, want 1", firsts)
	}
}

func newRedisClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	// No retries: a stopped server should fail the call at once rather than
	// after go-redis's backoff.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisRedeemer(t *testing.T) {
	srv := redistest.Start(t)
	c := newRedisClient(t, srv)
	r := NewRedisRedeemer(c)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		first, err := r.Redeem(ctx, "0123abcd", 90*time.Second+500*time.Microsecond)
		if err != nil || first != want {
			t.Fatalf("redemption %d: first %v err %v, want %v", i+1, first, err, want)
		}
	}
	pttl, err := c.PTTL(ctx, "ba:v1:{challenge}:0123abcd").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > 90*time.Second+time.Millisecond {
		t.Errorf("PTTL = %v, want a positive ttl of at most 90.001s", pttl)
	}
	if _, err := r.Redeem(ctx, "x", 0); err == nil {
		t.Error("ttl 0 accepted")
	}
}

// TestRedisSharedByReplicas runs two handlers ("replicas") with the same keys
// on one Redis.
func TestRedisSharedByReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := newEnv(t, withRedeemer(NewRedisRedeemer(newRedisClient(t, srv))))
	b := newEnv(t, withRedeemer(NewRedisRedeemer(newRedisClient(t, srv))))

	pg := alice.getPage(t, a.h, "login", "/x")
	form := answer(html.UnescapeString(pg.token), solve(t, pg.challenge, pg.difficulty))
	if rec := alice.verify(b.h, form); rec.Code != http.StatusSeeOther {
		t.Fatalf("redeemed on b: status %d: %s", rec.Code, rec.Body)
	}
	if rec := alice.verify(a.h, form); rec.Code != http.StatusForbidden {
		t.Fatalf("replayed on a: status %d, want 403", rec.Code)
	}
	wantOutcomes(t, b.rec.take(), OutcomePassed)
	wantOutcomes(t, a.rec.take(), OutcomeReplayed)
}

func TestRedisDownFallsBackToMemory(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, withRedeemer(NewRedisRedeemer(newRedisClient(t, srv))))

	// Redeemed while Redis was up, then Redis goes away: this replica
	// still remembers it.
	pg := alice.getPage(t, e.h, "login", "/x")
	before := answer(html.UnescapeString(pg.token), solve(t, pg.challenge, pg.difficulty))
	if rec := alice.verify(e.h, before); rec.Code != http.StatusSeeOther {
		t.Fatalf("with redis up: status %d", rec.Code)
	}
	e.rec.take()
	srv.Stop()

	pg = alice.getPage(t, e.h, "login", "/y")
	during := answer(html.UnescapeString(pg.token), solve(t, pg.challenge, pg.difficulty))
	cases := []struct {
		name string
		form url.Values
		code int
		want []string
	}{
		{"a new answer passes", during, http.StatusSeeOther, []string{OutcomeRedeemDegraded, OutcomePassed}},
		{"its replay on the same replica is refused", during, http.StatusForbidden, []string{OutcomeRedeemDegraded, OutcomeReplayed}},
		{"an answer redeemed before the outage is refused", before, http.StatusForbidden, []string{OutcomeRedeemDegraded, OutcomeReplayed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if rec := alice.verify(e.h, c.form); rec.Code != c.code {
				t.Fatalf("status %d, want %d", rec.Code, c.code)
			}
			wantOutcomes(t, e.rec.take(), c.want...)
		})
	}
}

// TestRedisRedeemerOnSentinel redeems through a redis+sentinel URL, as
// botauthz does with -redis: the key lands on the master the sentinels name.
func TestRedisRedeemerOnSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t)
	client, err := redisurl.NewClient(sn.URL(), redisurl.Options{MaxRetries: -1, DialerRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	r := NewRedisRedeemer(client)
	for i, want := range []bool{true, false} {
		first, err := r.Redeem(t.Context(), "5e471ne1", time.Minute)
		if err != nil || first != want {
			t.Fatalf("redemption %d: first %v err %v, want %v", i+1, first, err, want)
		}
	}
	master := newRedisClient(t, sn.Master())
	if pttl, err := master.PTTL(t.Context(), "ba:v1:{challenge}:5e471ne1").Result(); err != nil || pttl <= 0 {
		t.Errorf("PTTL on the master = %v, %v: want the redemption there", pttl, err)
	}
}
