package challenge

import (
	"html"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/clearance"
)

func TestVerifySuccessSetsClearance(t *testing.T) {
	cases := []struct {
		name       string
		policyYAML string
		wantSecure bool
	}{
		{"secure cookie", "", true},
		{"insecure_cookie", strings.Replace(testPolicyYAML, "  cookie_name: botauthz_clearance\n",
			"  cookie_name: dev_clearance\n  insecure_cookie: true\n", 1), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, withPolicy(testPolicy(t, c.policyYAML)))
			pg := alice.getPage(t, e.h, "login", "/login?next=/a%2Fb&x=1")
			e.clock.Add(10 * time.Second) // solving takes a while
			rec := alice.verify(e.h, answer(html.UnescapeString(pg.token), solve(t, pg.challenge, pg.difficulty)))
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status %d, want 303: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Location"); got != "/login?next=/a%2Fb&x=1" {
				t.Errorf("Location = %q, want the return_to as given", got)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
			}
			ck := clearanceCookie(t, rec, e.policy.Challenge.CookieName)
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure != c.wantSecure {
				t.Errorf("cookie HttpOnly %v SameSite %v Path %q Secure %v, want true Lax / %v",
					ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, c.wantSecure)
			}
			now := e.clock.Now()
			for _, who := range []client{alice, {ipSameNet, uaFirefox}} {
				claims, st := e.signer.Verify(ck.Value, clearance.BindingFor(netip.MustParseAddr(who.ip), who.ua), now)
				if st != clearance.Valid {
					t.Errorf("clearance for %v: %v, want valid", who, st)
				}
				if claims.Provider != Pow || claims.Route != "login" {
					t.Errorf("clearance claims provider %q route %q", claims.Provider, claims.Route)
				}
			}
			if _, st := e.signer.Verify(ck.Value, clearance.BindingFor(netip.MustParseAddr(ipOtherNet), uaFirefox), now); st != clearance.WrongNetwork {
				t.Errorf("clearance from another /24: %v, want wrong_network", st)
			}
			wantOutcomes(t, e.rec.take(), OutcomePassed)
		})
	}
}

func TestVerifyRefusals(t *testing.T) {
	// Each case gets a fresh handler and page for alice on route login;
	// attempt posts (and may first tamper with the clock or the token)
	// and returns the response of the answer under test.
	type fixture struct {
		e     *env
		pg    page
		token string
		nonce string
	}
	cases := []struct {
		name    string
		attempt func(t *testing.T, f *fixture) *http.Response
		want    string
	}{
		{"wrong nonce", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer(f.token, wrongNonce(t, f.pg.challenge, f.pg.difficulty))).Result()
		}, OutcomeWrongAnswer},
		{"missing nonce", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, url.Values{"token": {f.token}}).Result()
		}, OutcomeWrongAnswer},
		{"nonce with other characters", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer(f.token, f.nonce+" ")).Result()
		}, OutcomeWrongAnswer},
		{"over-long nonce", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer(f.token, strings.Repeat("0", maxNonceLen-len(f.nonce)+1)+f.nonce)).Result()
		}, OutcomeWrongAnswer},
		{"replay", func(t *testing.T, f *fixture) *http.Response {
			if rec := alice.verify(f.e.h, answer(f.token, f.nonce)); rec.Code != http.StatusSeeOther {
				t.Fatalf("first answer: status %d", rec.Code)
			}
			f.e.rec.take()
			return alice.verify(f.e.h, answer(f.token, f.nonce)).Result()
		}, OutcomeReplayed},
		{"replay from the same /24", func(t *testing.T, f *fixture) *http.Response {
			alice.verify(f.e.h, answer(f.token, f.nonce))
			f.e.rec.take()
			return client{ipSameNet, uaFirefox}.verify(f.e.h, answer(f.token, f.nonce)).Result()
		}, OutcomeReplayed},
		{"expired", func(t *testing.T, f *fixture) *http.Response {
			f.e.clock.Add(5 * time.Minute)
			return alice.verify(f.e.h, answer(f.token, f.nonce)).Result()
		}, OutcomeExpired},
		{"issued too far in the future", func(t *testing.T, f *fixture) *http.Response {
			f.e.clock.Add(-clockSkew - time.Second)
			return alice.verify(f.e.h, answer(f.token, f.nonce)).Result()
		}, OutcomeExpired},
		{"tampered payload", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer(tamper(t, f.token), f.nonce)).Result()
		}, OutcomeBadToken},
		{"tampered mac", func(t *testing.T, f *fixture) *http.Response {
			i := strings.LastIndexByte(f.token, '.') + 1
			tok := f.token[:i] + flipChar(f.token[i:i+1]) + f.token[i+1:]
			return alice.verify(f.e.h, answer(tok, f.nonce)).Result()
		}, OutcomeBadToken},
		{"key id swapped", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer(strings.Replace(f.token, "c1.k1.", "c1.k2.", 1), f.nonce)).Result()
		}, OutcomeBadToken},
		{"token with a line break", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer(f.token[:10]+"\n"+f.token[10:], f.nonce)).Result()
		}, OutcomeBadToken},
		{"empty token", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer("", f.nonce)).Result()
		}, OutcomeBadToken},
		{"garbage token", func(t *testing.T, f *fixture) *http.Response {
			return alice.verify(f.e.h, answer("c1.k1.AAAA.BBBB", f.nonce)).Result()
		}, OutcomeBadToken},
		{"a clearance cookie is no token", func(t *testing.T, f *fixture) *http.Response {
			v := f.e.signer.Issue(clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox), Pow, "login", t0)
			return alice.verify(f.e.h, answer(v, f.nonce)).Result()
		}, OutcomeBadToken},
		{"body over 16 KiB", func(t *testing.T, f *fixture) *http.Response {
			form := answer(f.token, f.nonce)
			form.Set("padding", strings.Repeat("x", maxFormBytes))
			return alice.verify(f.e.h, form).Result()
		}, OutcomeBadToken},
		{"another /24", func(t *testing.T, f *fixture) *http.Response {
			return client{ipOtherNet, uaFirefox}.verify(f.e.h, answer(f.token, f.nonce)).Result()
		}, OutcomeWrongClient},
		{"another user agent", func(t *testing.T, f *fixture) *http.Response {
			return client{ipClient, uaChrome}.verify(f.e.h, answer(f.token, f.nonce)).Result()
		}, OutcomeWrongClient},
		{"IPv6 client from another /64", func(t *testing.T, f *fixture) *http.Response {
			v6 := client{"2001:db8:1:2::7", uaFirefox}
			pg := v6.getPage(t, f.e.h, "login", "/cart?item=1")
			tok := html.UnescapeString(pg.token)
			nonce := solve(t, pg.challenge, pg.difficulty)
			return client{"2001:db8:1:3::7", uaFirefox}.verify(f.e.h, answer(tok, nonce)).Result()
		}, OutcomeWrongClient},
		{"unknown client address", func(t *testing.T, f *fixture) *http.Response {
			// No Envoy header and a peer address that is no IP address.
			req := httptestPost(answer(f.token, f.nonce))
			req.RemoteAddr = "pipe"
			return serve(f.e.h, req)
		}, OutcomeWrongClient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			pg := alice.getPage(t, e.h, "login", "/cart?item=1")
			f := &fixture{e: e, pg: pg, token: html.UnescapeString(pg.token), nonce: solve(t, pg.challenge, pg.difficulty)}
			resp := c.attempt(t, f)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403: %s", resp.StatusCode, body)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("a refusal set cookies: %v", resp.Cookies())
			}
			if got := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(got, "default-src 'none'") || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("refusal headers %v", resp.Header)
			}
			got := e.rec.take()
			wantOutcomes(t, got, c.want)
			// A trusted token's failure links back to the same challenge;
			// an untrusted one's to a fresh one for "/".
			retry := URL("/cart?item=1", "login")
			if c.want == OutcomeBadToken {
				retry = URL("/", "")
				if len(got) == 1 && (got[0].route != unknownLabel || got[0].provider != unknownLabel) {
					t.Errorf("labels of an untrusted token: %v, want unknown", got[0])
				}
			} else if len(got) == 1 && (got[0].route != "login" || got[0].provider != Pow) {
				t.Errorf("labels %v, want login and pow", got[0])
			}
			if !strings.Contains(body, `<a href="`+html.EscapeString(retry)+`">Try again</a>`) {
				t.Errorf("no try-again link to %s in:\n%s", retry, body)
			}
		})
	}
}

func TestWrongAnswerDoesNotSpendTheChallenge(t *testing.T) {
	e := newEnv(t)
	pg := alice.getPage(t, e.h, "login", "/a")
	tok := html.UnescapeString(pg.token)
	for range 3 {
		if rec := alice.verify(e.h, answer(tok, wrongNonce(t, pg.challenge, pg.difficulty))); rec.Code != http.StatusForbidden {
			t.Fatalf("wrong nonce: status %d", rec.Code)
		}
	}
	// Another client, too, must not spend it.
	client{ipOtherNet, uaFirefox}.verify(e.h, answer(tok, solve(t, pg.challenge, pg.difficulty)))
	if rec := alice.verify(e.h, answer(tok, solve(t, pg.challenge, pg.difficulty))); rec.Code != http.StatusSeeOther {
		t.Fatalf("right nonce after wrong ones: status %d: %s", rec.Code, rec.Body)
	}
	wantOutcomes(t, e.rec.take(), OutcomeWrongAnswer, OutcomeWrongAnswer, OutcomeWrongAnswer, OutcomeWrongClient, OutcomePassed)
}

func TestRotatedKeys(t *testing.T) {
	old := newEnv(t, withKeys("2026-10"))
	pg := alice.getPage(t, old.h, "login", "/a")
	tok, nonce := html.UnescapeString(pg.token), solve(t, pg.challenge, pg.difficulty)
	cases := []struct {
		name string
		keys []string
		want int
	}{
		{"previous key still in the set", []string{"2026-11", "2026-10"}, http.StatusSeeOther},
		{"previous key dropped", []string{"2026-11"}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rotated := newEnv(t, withKeys(c.keys...))
			if rec := alice.verify(rotated.h, answer(tok, nonce)); rec.Code != c.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
			if c.want == http.StatusForbidden {
				wantOutcomes(t, rotated.rec.take(), OutcomeBadToken)
			}
			// New tokens are signed with the first key.
			if pg := alice.getPage(t, rotated.h, "login", "/"); !strings.HasPrefix(pg.token, "c1.2026-11.") {
				t.Errorf("new token %q not signed by the first key", pg.token)
			}
		})
	}
}

func TestXFFTrustedHopsFindTheClient(t *testing.T) {
	e := newEnv(t, withPolicy(testPolicy(t, testPolicyYAML+"client_ip:\n  xff_trusted_hops: 1\n")))
	get := httptestGet(URL("/", "login"))
	get.Header.Set("X-Forwarded-For", "198.51.100.1, "+ipClient)
	get.Header.Set("User-Agent", uaFirefox)
	rec := httptestRecord(e.h, get)
	tok, err := e.h.keys.parse(html.UnescapeString(submatch(tokenRe, rec.Body.String())))
	if err != nil {
		t.Fatal(err)
	}
	if want := (clearance.Binding{Prefix: netip.MustParsePrefix("203.0.113.0/24"), UserAgent: uaFirefox}).Digest(); tok.client != want {
		t.Errorf("token bound to %+v, want %+v (the trusted hop's entry, 203.0.113.0/24)", tok.client, want)
	}
}

// TestSecureCookieOverHTTPIsWarnedAbout: a browser drops a Secure cookie
// set over plain http, so the visitor would be challenged in a loop; the
// operator is told, once a minute at most.
func TestSecureCookieOverHTTPIsWarnedAbout(t *testing.T) {
	var logs strings.Builder
	e := newEnv(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	pass := func(proto string) {
		t.Helper()
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if proto != "" {
				r.Header.Set("X-Forwarded-Proto", proto)
			}
			e.h.ServeHTTP(w, r)
		})
		pg := alice.getPage(t, e.h, "login", "/")
		if rec := alice.verify(h, answer(html.UnescapeString(pg.token), solve(t, pg.challenge, pg.difficulty))); rec.Code != http.StatusSeeOther {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	warnings := func() int {
		return strings.Count(logs.String(), "Secure clearance cookie was set in answer to a plain http request")
	}

	pass("https")
	if n := warnings(); n != 0 {
		t.Fatalf("warned %d times about an https visitor:\n%s", n, logs.String())
	}
	pass("http")
	if n := warnings(); n != 1 {
		t.Fatalf("warned %d times after an http visitor, want 1:\n%s", n, logs.String())
	}
	pass("") // no proxy in front: the connection's own scheme, plain
	if n := warnings(); n != 1 {
		t.Errorf("warned %d times within a minute, want once", n)
	}
	e.clock.Add(secureWarnEvery)
	pass("HTTP")
	if n := warnings(); n != 2 {
		t.Errorf("warned %d times a minute later, want 2", n)
	}
}
