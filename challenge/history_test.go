package challenge

import (
	"context"
	"html"
	"net/http"
	"testing"
	"time"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/ratelimit"
)

// TestFailedAnswersAreHistory: wrong answers and a token carried to
// another network are recorded as failed challenges of the client's
// address and session; an expired page and a vendor outage are not.
func TestFailedAnswersAreHistory(t *testing.T) {
	store := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	w, err := history.NewWriter(store, history.WriterOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.History = w })
	pg := alice.getPage(t, e.h, "login", "/a")
	tok := html.UnescapeString(pg.token)
	post := func(c client, form map[string][]string, cookie string) {
		req := httptestPost(form)
		req.Header.Set("X-Envoy-External-Address", c.ip)
		req.Header.Set("User-Agent", c.ua)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if rec := httptestRecord(e.h, req); rec.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", rec.Code)
		}
	}
	post(alice, answer(tok, wrongNonce(t, pg.challenge, pg.difficulty)), "session=alice-1")
	post(alice, answer(tok, wrongNonce(t, pg.challenge, pg.difficulty)), "")
	post(client{ipOtherNet, uaFirefox}, answer(tok, solve(t, pg.challenge, pg.difficulty)), "")
	// Not the client's doing: the vendor is down, the page expired.
	e.turnstile.set(provider.Result{Reason: provider.ReasonUnavailable})
	cp := alice.getPage(t, e.h, "signup", "/s")
	post(alice, map[string][]string{"token": {html.UnescapeString(cp.token)}, "cf-turnstile-response": {"x"}}, "")
	readAt := e.clock.Now()
	e.clock.Add(time.Hour)
	post(alice, answer(tok, solve(t, pg.challenge, pg.difficulty)), "")
	w.Close()

	cfg := history.Config{Window: e.policy.History.Window}
	read := func(ent history.Entity, at time.Time) history.Reading {
		cs, plan := cfg.AppendCounters(nil, &ent)
		obs := make([]ratelimit.Observation, len(cs))
		if err := store.Hit(context.Background(), at, cs, obs); err != nil {
			t.Fatal(err)
		}
		return plan.Read(obs)
	}
	if r := read(history.Entity{Client: ipClient}, readAt); r.ChallengeFailed != 2 {
		t.Errorf("alice's address: %v failures, want 2", r.ChallengeFailed)
	}
	if r := read(history.Entity{Session: ratelimit.SessionID("alice-1")}, readAt); r.ChallengeFailed != 1 {
		t.Errorf("alice's session: %v failures, want 1", r.ChallengeFailed)
	}
	if r := read(history.Entity{Client: ipOtherNet}, readAt); r.ChallengeFailed != 1 {
		t.Errorf("the other network: %v failures, want 1 (wrong client)", r.ChallengeFailed)
	}
	if r := read(history.Entity{Client: ipClient}, e.clock.Now()); r.ChallengeFailed != 0 {
		t.Errorf("an hour later, after an expired page: %v failures, want 0", r.ChallengeFailed)
	}
}
