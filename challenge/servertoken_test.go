package challenge

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/challenge/provider"
)

// fakeCaptchaLa follows CaptchaLa's documented server API
// (docs.captcha.la/api-reference) with the state behind it, so a test can
// play the whole flow: POST /v1/server/challenge/issue mints a one-time
// sct_ token bound to bind_ip; the widget, in the visitor's browser, trades
// it for a pt_ pass token (solve, standing in for the vendor's widget API,
// which refuses a server token used twice or from another address); POST
// /v1/validate answers valid once per pass token, then token_consumed.
type fakeCaptchaLa struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	refuse  string        // non-empty: issue answers this error code
	hang    chan struct{} // non-nil: issue waits for the client to give up
	issued  map[string]string
	used    map[string]bool
	passes  map[string]bool // pass token -> consumed
	issues  []url.Values
	checked []string // client_ip of each validate
}

const (
	fakeAppKey    = "ak_fake_public"
	fakeAppSecret = "as_fake_secret_0123456789"
)

func newFakeCaptchaLa(t *testing.T) *fakeCaptchaLa {
	f := &fakeCaptchaLa{t: t, issued: map[string]string{}, used: map[string]bool{}, passes: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCaptchaLa) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeCaptchaLa) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-App-Key") != fakeAppKey || r.Header.Get("X-App-Secret") != fakeAppSecret {
		f.reply(w, http.StatusUnauthorized, map[string]any{"code": 401, "msg": "invalid_app_secret", "data": nil})
		return
	}
	switch r.URL.Path {
	case "/v1/server/challenge/issue":
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			f.t.Errorf("issue Content-Type %q", r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			f.t.Errorf("issue body: %v", err)
		}
		f.mu.Lock()
		f.issues = append(f.issues, r.PostForm)
		refuse, hang := f.refuse, f.hang
		f.mu.Unlock()
		if hang != nil {
			select {
			case <-r.Context().Done():
			case <-hang:
			}
			return
		}
		if refuse != "" {
			f.reply(w, http.StatusOK, map[string]any{"code": 1, "msg": refuse})
			return
		}
		tok := "sct_" + randomHex(f.t)
		f.mu.Lock()
		f.issued[tok] = r.PostForm.Get("bind_ip")
		f.mu.Unlock()
		f.reply(w, http.StatusOK, map[string]any{"code": 0, "data": map[string]any{"server_token": tok, "expires_in": 300, "issued_at": time.Now().Unix()}})
	case "/v1/validate":
		var req struct {
			PassToken string `json:"pass_token"`
			ClientIP  string `json:"client_ip"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.t.Errorf("validate body: %v", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.checked = append(f.checked, req.ClientIP)
		consumed, ok := f.passes[req.PassToken]
		switch {
		case !ok:
			f.reply(w, http.StatusOK, map[string]any{"code": 1001, "msg": "invalid_token", "data": []any{}})
		case consumed:
			f.reply(w, http.StatusOK, map[string]any{"code": 1, "data": map[string]any{"valid": false, "error": "token_consumed"}})
		default:
			f.passes[req.PassToken] = true
			f.reply(w, http.StatusOK, map[string]any{"code": 0, "data": map[string]any{"valid": true, "challenge_id": "ch_1", "action": "default", "uid": nil}})
		}
	default:
		http.NotFound(w, r)
	}
}

// solve is the widget's work in the visitor's browser at ip: it spends the
// server token with the vendor and gets a pass token, or "" when the vendor
// refuses (a token used already, or issued for another address).
func (f *fakeCaptchaLa) solve(serverToken, ip string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	bound, ok := f.issued[serverToken]
	if !ok || f.used[serverToken] || (bound != "" && bound != ip) {
		return ""
	}
	f.used[serverToken] = true
	pt := "pt_" + randomHex(f.t)
	f.passes[pt] = false
	return pt
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

var serverTokenAttr = regexp.MustCompile(`data-server-token="([^"]*)"`)

// captchaLaEnv is a handler whose "cl" route challenges with a real
// CaptchaLa verifier talking to f.
func captchaLaEnv(t *testing.T, f *fakeCaptchaLa, timeout time.Duration) *env {
	t.Helper()
	v, err := provider.New(provider.Config{
		Provider: provider.CaptchaLa, AppKey: fakeAppKey, AppSecret: fakeAppSecret,
		VerifyURL: f.srv.URL + "/v1/validate", Timeout: timeout,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, withPolicy(testPolicy(t, `
challenge:
  providers:
    captchala: {app_key: "`+fakeAppKey+`", app_secret_env: "CL"}
routes:
  cl:
    challenge: {provider: captchala}
`)), withVerifiers(map[string]provider.Verifier{provider.CaptchaLa: v}))
}

func captchaLaAnswer(token, passToken string) url.Values {
	return url.Values{"token": {token}, "captchala_token": {passToken}}
}

// TestCaptchaLaServerToken plays the flow the vendor documents: the page
// carries a fresh server token bound to the visitor's address, the widget
// spends it for a pass token, the answer is validated once.
func TestCaptchaLaServerToken(t *testing.T) {
	f := newFakeCaptchaLa(t)
	e := captchaLaEnv(t, f, 0)

	pg := alice.getPage(t, e.h, "cl", "/checkout")
	sct := submatch(serverTokenAttr, pg.body)
	if !strings.HasPrefix(sct, "sct_") || !strings.Contains(pg.body, `data-action="default"`) {
		t.Fatalf("the page carries no server token and action:\n%s", pg.body)
	}
	f.mu.Lock()
	issue := f.issues[0]
	f.mu.Unlock()
	if issue.Get("bind_ip") != ipClient || issue.Get("max_uses") != "1" || issue.Get("action") != "default" || issue.Get("ttl") != "300" {
		t.Errorf("issued with %v, want bound to %s, one use, action default, the challenge's 300 s", issue, ipClient)
	}

	// Bound to alice: the same token is no use from another network.
	if pt := f.solve(sct, ipOtherNet); pt != "" {
		t.Fatal("the vendor let a server token issued for alice be used from another address")
	}
	pt := f.solve(sct, ipClient)
	if pt == "" {
		t.Fatal("the widget could not spend its own server token")
	}
	if f.solve(sct, ipClient) != "" {
		t.Fatal("a server token was spent twice")
	}
	tok := html.UnescapeString(pg.token)
	rec := alice.verify(e.h, captchaLaAnswer(tok, pt))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/checkout" {
		t.Fatalf("answer: status %d Location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	clearanceCookie(t, rec, e.policy.Challenge.CookieName)
	wantOutcomes(t, e.rec.take(), OutcomePassed)

	// Replay: the same answer again is refused, whoever would catch it
	// first (our one-time challenge token, or the vendor's spent pass).
	if rec := alice.verify(e.h, captchaLaAnswer(tok, pt)); rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
		t.Errorf("replayed answer: status %d cookies %v, want 403 without cookie", rec.Code, rec.Result().Cookies())
	}
	// The vendor's own single use, on a fresh page: a pass token spent
	// already is refused by the vendor.
	pg2 := alice.getPage(t, e.h, "cl", "/checkout")
	if sct2 := submatch(serverTokenAttr, pg2.body); sct2 == sct || sct2 == "" {
		t.Errorf("a second page got server token %q, want a fresh one", sct2)
	}
	e.rec.take()
	if rec := alice.verify(e.h, captchaLaAnswer(html.UnescapeString(pg2.token), pt)); rec.Code != http.StatusForbidden {
		t.Errorf("a spent pass token on a fresh page: status %d, want 403", rec.Code)
	}
	wantOutcomes(t, e.rec.take(), "provider_expired_or_duplicate")

	// A HEAD spends no server token.
	f.mu.Lock()
	before := len(f.issues)
	f.mu.Unlock()
	if rec := alice.do(e.h, http.MethodHead, URL("/checkout", "cl"), nil); rec.Code != http.StatusOK {
		t.Errorf("HEAD: status %d", rec.Code)
	}
	f.mu.Lock()
	after := len(f.issues)
	f.mu.Unlock()
	if after != before {
		t.Errorf("HEAD issued %d server tokens", after-before)
	}
}

// TestCaptchaLaServerTokenRefusedOrLate: when the vendor refuses to issue
// a token, or does not answer within the verifier's timeout, the visitor
// gets a page saying to retry (503, Retry-After), never a widget that
// cannot start.
func TestCaptchaLaServerTokenRefusedOrLate(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(f *fakeCaptchaLa)
	}{
		{"refused", func(f *fakeCaptchaLa) { f.refuse = "app_disabled" }},
		{"never answers", func(f *fakeCaptchaLa) {
			f.hang = make(chan struct{})
			f.t.Cleanup(func() { close(f.hang) })
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeCaptchaLa(t)
			c.setup(f)
			e := captchaLaEnv(t, f, 200*time.Millisecond)
			rec := alice.do(e.h, http.MethodGet, URL("/checkout", "cl"), nil)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
			}
			body := rec.Body.String()
			if strings.Contains(body, "botauthz-widget") || !strings.Contains(body, html.EscapeString(URL("/checkout", "cl"))) {
				t.Errorf("want a page without the widget that links to a fresh challenge:\n%s", body)
			}
			if csp, want := rec.Header().Get("Content-Security-Policy"), e.h.styleFor(e.policy).failCSP; csp != want {
				t.Errorf("CSP %q, want the failure pages' %q", csp, want)
			}
			if ev := e.rec.take(); len(ev) != 0 {
				t.Errorf("events %v: a page that could not start is no answer", ev)
			}
		})
	}
}
