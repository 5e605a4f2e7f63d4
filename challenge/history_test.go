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
// address and session; a vendor outage (bob) and an expired page (carol)
// are not.
func TestFailedAnswersAreHistory(t *testing.T) {
	store := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	w, err := history.NewWriter(store, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.History = w })
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
	bob, carol := client{"192.0.2.7", uaChrome}, client{"192.0.2.200", uaFirefox}
	pg := alice.getPage(t, e.h, "login", "/a")
	tok := html.UnescapeString(pg.token)
	carolPage := carol.getPage(t, e.h, "login", "/c")
	post(alice, answer(tok, wrongNonce(t, pg.challenge, pg.difficulty)), "session=alice-1")
	post(alice, answer(tok, wrongNonce(t, pg.challenge, pg.difficulty)), "")
	post(client{ipOtherNet, uaFirefox}, answer(tok, solve(t, pg.challenge, pg.difficulty)), "")
	e.turnstile.set(provider.Result{Reason: provider.ReasonUnavailable})
	cp := bob.getPage(t, e.h, "signup", "/s")
	post(bob, map[string][]string{"token": {html.UnescapeString(cp.token)}, "cf-turnstile-response": {"x"}}, "")
	readAt := e.clock.Now()
	e.clock.Add(time.Hour)
	ct := html.UnescapeString(carolPage.token)
	post(carol, answer(ct, solve(t, carolPage.challenge, carolPage.difficulty)), "")
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
	// Two wrong answers within one flush of the writer count once.
	if r := read(history.Entity{Client: ipClient}, readAt); r.ChallengeFailed != 1 {
		t.Errorf("alice's address: %v failures, want 1", r.ChallengeFailed)
	}
	if r := read(history.Entity{Session: ratelimit.SessionID("alice-1")}, readAt); r.ChallengeFailed != 1 {
		t.Errorf("alice's session: %v failures, want 1", r.ChallengeFailed)
	}
	if r := read(history.Entity{Client: ipOtherNet}, readAt); r.ChallengeFailed != 1 {
		t.Errorf("the other network: %v failures, want 1 (wrong client)", r.ChallengeFailed)
	}
	if r := read(history.Entity{Client: bob.ip}, readAt); r.ChallengeFailed != 0 {
		t.Errorf("bob, whose CAPTCHA vendor was down: %v failures, want 0", r.ChallengeFailed)
	}
	if r := read(history.Entity{Client: carol.ip}, e.clock.Now()); r.ChallengeFailed != 0 {
		t.Errorf("carol, whose page expired: %v failures, want 0", r.ChallengeFailed)
	}
}
