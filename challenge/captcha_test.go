package challenge

import (
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
)

// captchaAnswer is what a page with the Turnstile widget posts.
func captchaAnswer(token, widgetToken string) url.Values {
	return url.Values{"token": {token}, "cf-turnstile-response": {widgetToken}}
}

func TestCaptchaPass(t *testing.T) {
	e := newEnv(t)
	pg := alice.getPage(t, e.h, "signup", "/signup?step=2")
	rec := alice.verify(e.h, captchaAnswer(html.UnescapeString(pg.token), "XXXX.DUMMY.TOKEN.XXXX"))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signup?step=2" {
		t.Fatalf("status %d Location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if got := e.turnstile.lastCall(); got != (verifyCall{"XXXX.DUMMY.TOKEN.XXXX", ipClient}) {
		t.Errorf("verifier called with %+v, want the widget's token and the client's address", got)
	}
	ck := clearanceCookie(t, rec, e.policy.Challenge.CookieName)
	claims, st := e.signer.Verify(ck.Value, clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox), e.clock.Now())
	if st != clearance.Valid || claims.Provider != provider.Turnstile || claims.Route != "signup" {
		t.Errorf("clearance %v provider %q route %q", st, claims.Provider, claims.Route)
	}
	wantOutcomes(t, e.rec.take(), OutcomePassed)
}

func TestCaptchaFailures(t *testing.T) {
	cases := []struct {
		name, reason, want string
	}{
		{"rejected", provider.ReasonRejected, "provider_rejected"},
		{"invalid token", provider.ReasonInvalidToken, "provider_invalid_token"},
		{"expired or duplicate", provider.ReasonExpiredOrDuplicate, "provider_expired_or_duplicate"},
		{"hostname mismatch", provider.ReasonHostnameMismatch, "provider_hostname_mismatch"},
		{"action mismatch", provider.ReasonActionMismatch, "provider_action_mismatch"},
		{"low score", provider.ReasonLowScore, "provider_low_score"},
		{"misconfigured", provider.ReasonMisconfigured, "provider_misconfigured"},
		{"vendor unavailable", provider.ReasonUnavailable, "provider_unavailable"},
		{"malformed vendor answer", provider.ReasonMalformedResponse, "provider_malformed_response"},
		{"a reason we do not know stays in the set", "novel_reason", "provider_rejected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.turnstile.set(failResult(c.reason))
			pg := alice.getPage(t, e.h, "signup", "/s")
			tok := html.UnescapeString(pg.token)
			rec := alice.verify(e.h, captchaAnswer(tok, "widget-token"))
			if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
				t.Fatalf("status %d cookies %v, want a 403 without cookie", rec.Code, rec.Result().Cookies())
			}
			got := e.rec.take()
			wantOutcomes(t, got, c.want)
			if len(got) == 1 && (got[0].route != "signup" || got[0].provider != provider.Turnstile) {
				t.Errorf("labels %v", got[0])
			}
			// The challenge was not spent: a good widget token still passes.
			e.turnstile.set(okResult)
			if rec := alice.verify(e.h, captchaAnswer(tok, "widget-token-2")); rec.Code != http.StatusSeeOther {
				t.Errorf("retry after %s: status %d", c.reason, rec.Code)
			}
		})
	}
}

func TestCaptchaTokenChecksComeFirst(t *testing.T) {
	e := newEnv(t)
	pg := alice.getPage(t, e.h, "signup", "/s")
	tok := html.UnescapeString(pg.token)
	// Not the vendor's business: a token for someone else never reaches it.
	client{ipOtherNet, uaFirefox}.verify(e.h, captchaAnswer(tok, "w"))
	alice.verify(e.h, captchaAnswer(tamper(t, tok), "w"))
	e.turnstile.mu.Lock()
	calls := len(e.turnstile.calls)
	e.turnstile.mu.Unlock()
	if calls != 0 {
		t.Errorf("verifier called %d times for answers refused by our own token", calls)
	}
	wantOutcomes(t, e.rec.take(), OutcomeWrongClient, OutcomeBadToken)
}

func TestCaptchaReplay(t *testing.T) {
	e := newEnv(t)
	pg := alice.getPage(t, e.h, "signup", "/s")
	tok := html.UnescapeString(pg.token)
	alice.verify(e.h, captchaAnswer(tok, "w1"))
	if rec := alice.verify(e.h, captchaAnswer(tok, "w2")); rec.Code != http.StatusForbidden {
		t.Fatalf("second redemption: status %d", rec.Code)
	}
	wantOutcomes(t, e.rec.take(), OutcomePassed, OutcomeReplayed)
}

func TestCaptchaProviderRemovedAfterIssue(t *testing.T) {
	before := newEnv(t)
	pg := alice.getPage(t, before.h, "signup", "/s")
	after := newEnv(t, withVerifiers(nil))
	rec := alice.verify(after.h, captchaAnswer(html.UnescapeString(pg.token), "w"))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	wantOutcomes(t, after.rec.take(), "provider_misconfigured")
}
