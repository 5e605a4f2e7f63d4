package challenge

import (
	"bytes"
	"encoding/hex"
	"html"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

func TestPageHeaders(t *testing.T) {
	hcaptcha := &fakeVerifier{name: provider.HCaptcha, siteKey: "hc-site", result: okResult}
	recaptcha := &fakeVerifier{name: provider.ReCAPTCHA, siteKey: "rc-site", result: okResult}
	captchala := &fakeVerifier{name: provider.CaptchaLa, siteKey: "ak_public", result: okResult}
	e := newEnv(t)
	e2 := newEnv(t, withPolicy(testPolicy(t, `
challenge:
  providers:
    turnstile: {site_key: "1x00000000000000000000AA", secret_env: "TS"}
    hcaptcha: {site_key: "hc-site", secret_env: "HC"}
    recaptcha: {site_key: "rc-site", secret_env: "RC"}
    captchala: {app_key: "ak_public", app_secret_env: "CL"}
routes:
  comments:
    challenge: {provider: hcaptcha}
  rc:
    challenge: {provider: recaptcha}
  cl:
    challenge: {provider: captchala}
`)), withVerifiers(map[string]provider.Verifier{
		provider.Turnstile: e.turnstile, provider.HCaptcha: hcaptcha, provider.ReCAPTCHA: recaptcha, provider.CaptchaLa: captchala,
	}))

	const pow = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'"
	cases := []struct {
		name, route, wantCSP string
		h                    http.Handler
	}{
		{"proof of work", "login", pow, e.h},
		{"default route", "", pow, e.h},
		{"provider without a verifier falls back to pow", "comments", pow, e.h},
		{"turnstile", "signup",
			"default-src 'none'; script-src 'self' https://challenges.cloudflare.com; connect-src 'self'; frame-src https://challenges.cloudflare.com; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'",
			e.h},
		{"hcaptcha adds style-src", "comments",
			"default-src 'none'; script-src 'self' https://hcaptcha.com https://*.hcaptcha.com; connect-src 'self' https://hcaptcha.com https://*.hcaptcha.com; frame-src https://hcaptcha.com https://*.hcaptcha.com; style-src 'self' https://hcaptcha.com https://*.hcaptcha.com; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'",
			e2.h},
		{"recaptcha", "rc",
			"default-src 'none'; script-src 'self' https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/; connect-src 'self'; frame-src https://www.google.com/recaptcha/ https://recaptcha.google.com/recaptcha/; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'",
			e2.h},
		{"captchala", "cl",
			"default-src 'none'; script-src 'self' https://cdn.captcha-cdn.net; connect-src 'self' https://apiv1.captcha.la; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'",
			e2.h},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pg := alice.getPage(t, c.h, c.route, "/x")
			hdr := pg.rec.Header()
			want := map[string]string{
				"Content-Security-Policy": c.wantCSP,
				"Cache-Control":           "no-store",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "same-origin",
				"Content-Type":            "text/html; charset=utf-8",
				"Content-Language":        "en",
				"Vary":                    "Accept-Language",
			}
			for k, v := range want {
				if got := hdr.Get(k); got != v {
					t.Errorf("%s = %q\nwant %q", k, got, v)
				}
			}
		})
	}
}

func TestPageContent(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, route, returnTo string
		wantRoute, wantProv   string
		wantDifficulty        int
		wantReturnTo          string
	}{
		{"route difficulty", "login", "/login?next=/a", "login", Pow, 2, "/login?next=/a"},
		{"default difficulty", "default", "/", "default", Pow, DefaultDifficulty, "/"},
		{"unknown route is the default", "nosuchroute", "/a", "default", Pow, DefaultDifficulty, "/a"},
		{"no route is the default", "", "/a", "default", Pow, DefaultDifficulty, "/a"},
		{"unsafe return_to: scheme-relative", "login", "//evil.example/x", "login", Pow, 2, "/"},
		{"unsafe return_to: absolute", "login", "https://evil.example/", "login", Pow, 2, "/"},
		{"unsafe return_to: encoded CRLF", "login", "/a%0d%0aSet-Cookie:x=1", "login", Pow, 2, "/"},
		{"unsafe return_to: markup", "login", `//evil.example/"><script>`, "login", Pow, 2, "/"},
		{"captcha route", "signup", "/signup", "signup", provider.Turnstile, DefaultDifficulty, "/signup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pg := alice.getPage(t, e.h, c.route, c.returnTo)
			tok, err := e.h.keys.parse(html.UnescapeString(pg.token))
			if err != nil {
				t.Fatalf("embedded token does not verify: %v", err)
			}
			if tok.route != c.wantRoute || tok.provider != c.wantProv || tok.returnTo != c.wantReturnTo {
				t.Errorf("token route %q provider %q return_to %q, want %q %q %q",
					tok.route, tok.provider, tok.returnTo, c.wantRoute, c.wantProv, c.wantReturnTo)
			}
			if tok.iat != t0.Unix() || tok.exp != t0.Add(5*time.Minute).Unix() {
				t.Errorf("token issued %d expires %d, want %d and %d (policy ttl 5m)", tok.iat, tok.exp, t0.Unix(), t0.Add(5*time.Minute).Unix())
			}
			if want := (clearance.Binding{Prefix: netip.MustParsePrefix("203.0.113.0/24"), UserAgent: uaFirefox}).Digest(); tok.client != want {
				t.Errorf("token bound to %+v, want %+v (203.0.113.0/24 and Firefox)", tok.client, want)
			}
			if !tok.client.Matches(clearance.BindingFor(netip.MustParseAddr(ipSameNet), uaFirefox)) {
				t.Error("token not bound to the requester's /24 and user agent")
			}
			if pg.provider != c.wantProv {
				t.Errorf("data-provider = %q, want %q", pg.provider, c.wantProv)
			}
			if c.wantProv == Pow {
				if tok.difficulty != c.wantDifficulty || pg.difficulty != c.wantDifficulty {
					t.Errorf("difficulty token %d page %d, want %d", tok.difficulty, pg.difficulty, c.wantDifficulty)
				}
				if pg.challenge != hex.EncodeToString(tok.id[:]) {
					t.Errorf("data-challenge %q is not the token's id", pg.challenge)
				}
				if !strings.Contains(pg.body, `<progress id="botauthz-progress"`) {
					t.Error("no progress bar")
				}
			} else {
				for _, want := range []string{
					`<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>`,
					`class="cf-turnstile" data-sitekey="1x00000000000000000000AA" data-callback="botauthzSolved"`,
					`<button type="submit">`,
				} {
					if !strings.Contains(pg.body, want) {
						t.Errorf("page lacks %s", want)
					}
				}
				if pg.challenge != "" {
					t.Error("a CAPTCHA page carries a proof-of-work challenge")
				}
			}
			checkSelfContained(t, pg.body, e.h)
			if strings.Contains(pg.body, "evil.example") {
				t.Error("page echoes an unsafe return_to")
			}
		})
	}
}

var inlineHandlerRe = regexp.MustCompile(`\son[a-z]+\s*=`)

// checkSelfContained checks the page needs nothing the strict CSP forbids.
func checkSelfContained(t *testing.T, body string, h *Handler) {
	t.Helper()
	if !strings.Contains(body, `<noscript><p class="notice">This check needs JavaScript`) {
		t.Error("no <noscript> explanation")
	}
	if !strings.Contains(body, `<script src="`+ScriptPath+"?v="+h.scriptVersion+`" defer></script>`) {
		t.Error("page does not load the versioned script")
	}
	if strings.Count(body, "<script") != strings.Count(body, "<script src=") {
		t.Error("page has an inline script")
	}
	for _, bad := range []string{"<style", "style=", "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q, which the CSP forbids", bad)
		}
	}
	if m := inlineHandlerRe.FindString(body); m != "" {
		t.Errorf("page has an inline event handler %q", m)
	}
	if !strings.Contains(body, `action="`+VerifyPath+`"`) {
		t.Error("form does not post to the verify path")
	}
}

func TestPageObservesIssuedChallenges(t *testing.T) {
	e := newEnv(t)
	alice.getPage(t, e.h, "login", "/")
	alice.getPage(t, e.h, "signup", "/")
	alice.getPage(t, e.h, "nope", "/")
	if rec := alice.do(e.h, http.MethodHead, URL("/", "login"), nil); rec.Code != http.StatusOK {
		t.Errorf("HEAD status %d", rec.Code)
	}
	want := []event{{"login", Pow, ""}, {"signup", provider.Turnstile, ""}, {"default", Pow, ""}}
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if len(e.rec.issued) != len(want) {
		t.Fatalf("issued = %v, want %v (HEAD issues nothing)", e.rec.issued, want)
	}
	for i := range want {
		if e.rec.issued[i] != want[i] {
			t.Errorf("issued[%d] = %v, want %v", i, e.rec.issued[i], want[i])
		}
	}
}

func TestProviderFallbackIsLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	for range 3 {
		if pg := alice.getPage(t, e.h, "comments", "/"); pg.provider != Pow {
			t.Fatalf("provider %q, want the pow fallback", pg.provider)
		}
	}
	if n := strings.Count(logs.String(), "no verifier configured"); n != 1 {
		t.Errorf("fallback logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, target string
		want                 int
		allow                string
	}{
		{"page", http.MethodGet, Path, http.StatusOK, ""},
		{"page HEAD", http.MethodHead, Path, http.StatusOK, ""},
		{"page POST", http.MethodPost, Path, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"script", http.MethodGet, ScriptPath, http.StatusOK, ""},
		{"script POST", http.MethodPost, ScriptPath, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"verify GET", http.MethodGet, VerifyPath, http.StatusMethodNotAllowed, "POST"},
		{"other path under the prefix", http.MethodGet, Prefix + "other", http.StatusNotFound, ""},
		{"sub-path of the page", http.MethodGet, Path + "/other", http.StatusNotFound, ""},
		{"prefix itself", http.MethodGet, Prefix, http.StatusNotFound, ""},
		{"elsewhere", http.MethodGet, "/elsewhere", http.StatusNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := alice.do(e.h, c.method, c.target, nil)
			if rec.Code != c.want {
				t.Errorf("status %d, want %d", rec.Code, c.want)
			}
			if got := rec.Header().Get("Allow"); got != c.allow {
				t.Errorf("Allow = %q, want %q", got, c.allow)
			}
		})
	}
}

func TestNewHandlerRefusesBadOptions(t *testing.T) {
	p := testPolicy(t, "")
	pol := func() *policy.Policy { return p }
	signer, err := clearance.NewSigner(clearance.Options{Keys: []clearance.Key{testKey("k1")}})
	if err != nil {
		t.Fatal(err)
	}
	short := testKey("short")
	short.Secret = short.Secret[:16]
	cases := []struct {
		name string
		opts Options
	}{
		{"no policy", Options{Signer: signer, Keys: []clearance.Key{testKey("k1")}}},
		{"neither signer nor keys", Options{Policy: pol}},
		{"keys without signer", Options{Policy: pol, Keys: []clearance.Key{testKey("k1")}}},
		{"signer without keys", Options{Policy: pol, Signer: signer}},
		{"short secret", Options{Policy: pol, Signer: signer, Keys: []clearance.Key{short}}},
		{"bad key id", Options{Policy: pol, Signer: signer, Keys: []clearance.Key{{ID: "a b", Secret: testKey("x").Secret}}}},
		{"duplicate key id", Options{Policy: pol, Signer: signer, Keys: []clearance.Key{testKey("k1"), testKey("k1")}}},
		{"nil verifier", Options{Policy: pol, Signer: signer, Keys: []clearance.Key{testKey("k1")},
			Verifiers: map[string]provider.Verifier{provider.Turnstile: nil}}},
		{"unknown provider", Options{Policy: pol, Signer: signer, Keys: []clearance.Key{testKey("k1")},
			Verifiers: map[string]provider.Verifier{"friendlycaptcha": &fakeVerifier{name: "friendlycaptcha"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewHandler(c.opts); err == nil {
				t.Error("NewHandler accepted it")
			} else if strings.Contains(err.Error(), string(testKey("k1").Secret)) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}
