package provider

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svVendor describes one siteverify vendor's documented contract.
type svVendor struct {
	name string
	// path is the documented endpoint's path, mounted on the fake.
	path string
	// fields are the form fields the vendor documents for our request.
	fields func(token, ip string) url.Values
}

var svVendors = []svVendor{
	{
		// POST https://challenges.cloudflare.com/turnstile/v0/siteverify,
		// form secret, response, remoteip.
		name: Turnstile, path: "/turnstile/v0/siteverify",
		fields: func(token, ip string) url.Values {
			return url.Values{"secret": {testSecret}, "response": {token}, "remoteip": {ip}}
		},
	},
	{
		// POST https://api.hcaptcha.com/siteverify, form-urlencoded secret,
		// response, remoteip, sitekey.
		name: HCaptcha, path: "/siteverify",
		fields: func(token, ip string) url.Values {
			return url.Values{"secret": {testSecret}, "response": {token}, "remoteip": {ip}, "sitekey": {testSiteKey}}
		},
	},
	{
		// POST https://www.google.com/recaptcha/api/siteverify, form secret,
		// response, remoteip.
		name: ReCAPTCHA, path: "/recaptcha/api/siteverify",
		fields: func(token, ip string) url.Values {
			return url.Values{"secret": {testSecret}, "response": {token}, "remoteip": {ip}}
		},
	},
}

// checkSiteverify asserts the request is exactly the documented one.
func (sv svVendor) checkSiteverify(token, ip string) func(t *testing.T, r *http.Request, body []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		t.Helper()
		if r.Method != http.MethodPost {
			t.Errorf("%s: method %s, want POST", sv.name, r.Method)
		}
		if r.URL.Path != sv.path {
			t.Errorf("%s: path %q, want %q", sv.name, r.URL.Path, sv.path)
		}
		if r.URL.RawQuery != "" {
			t.Errorf("%s: query %q: the secret must travel in the body", sv.name, r.URL.RawQuery)
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			t.Errorf("%s: Content-Type %q, want application/x-www-form-urlencoded", sv.name, r.Header.Get("Content-Type"))
		}
		got, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("%s: form: %v", sv.name, err)
			return
		}
		want := sv.fields(token, ip)
		if ip == "" {
			want.Del("remoteip")
		}
		if got.Encode() != want.Encode() {
			t.Errorf("%s: form %q, want %q", sv.name, got.Encode(), want.Encode())
		}
	}
}

func (sv svVendor) config(v *vendor) Config {
	return Config{
		Provider:  sv.name,
		SiteKey:   testSiteKey,
		Secret:    testSecret,
		VerifyURL: v.url(sv.path),
		Timeout:   5 * time.Second,
	}
}

// svErrorCodes are each vendor's documented error codes and their Reason.
var svErrorCodes = map[string][]struct{ code, reason string }{
	Turnstile: {
		{"missing-input-secret", ReasonMisconfigured},
		{"invalid-input-secret", ReasonMisconfigured},
		{"missing-input-response", ReasonInvalidToken},
		{"invalid-input-response", ReasonInvalidToken},
		{"timeout-or-duplicate", ReasonExpiredOrDuplicate},
		{"internal-error", ReasonUnavailable},
		{"bad-request", ReasonRejected},
	},
	HCaptcha: {
		{"missing-input-secret", ReasonMisconfigured},
		{"invalid-input-secret", ReasonMisconfigured},
		{"missing-input-response", ReasonInvalidToken},
		{"invalid-input-response", ReasonInvalidToken},
		{"invalid-or-already-seen-response", ReasonExpiredOrDuplicate},
		{"sitekey-secret-mismatch", ReasonMisconfigured},
		{"not-using-dummy-passcode", ReasonMisconfigured},
		{"bad-request", ReasonRejected},
		{"invalid-remoteip", ReasonRejected},
	},
	ReCAPTCHA: {
		{"missing-input-secret", ReasonMisconfigured},
		{"invalid-input-secret", ReasonMisconfigured},
		{"missing-input-response", ReasonInvalidToken},
		{"invalid-input-response", ReasonInvalidToken},
		{"timeout-or-duplicate", ReasonExpiredOrDuplicate},
		{"bad-request", ReasonRejected},
	},
}

func TestSiteverify(t *testing.T) {
	for _, sv := range svVendors {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			type tc struct {
				name  string
				cfg   func(*Config)
				reply reply
				ip    string // default testIP; "-" sends none
				want  Result
			}
			cases := []tc{
				{
					name:  "success",
					reply: ok200(`{"success":true,"challenge_ts":"2026-01-02T03:04:05Z","hostname":"www.example.com","error-codes":[]}`),
					want:  okResult(-1),
				},
				{
					name:  "success without remoteip",
					ip:    "-",
					reply: ok200(`{"success":true,"hostname":"www.example.com"}`),
					want:  okResult(-1),
				},
				{
					name:  "failure without codes",
					reply: ok200(`{"success":false}`),
					want:  fails(ReasonRejected),
				},
				{
					name:  "most telling code wins",
					reply: ok200(`{"success":false,"error-codes":["invalid-input-response","invalid-input-secret"]}`),
					want:  fails(ReasonMisconfigured, "invalid-input-response", "invalid-input-secret"),
				},
				{
					name:  "success with error codes is a failure",
					reply: ok200(`{"success":true,"error-codes":["invalid-input-secret"]}`),
					want:  fails(ReasonMisconfigured, "invalid-input-secret"),
				},
				{
					name:  "unknown code",
					reply: ok200(`{"success":false,"error-codes":["something-new"]}`),
					want:  fails(ReasonRejected, "something-new"),
				},
				{
					name:  "hostile codes are bounded",
					reply: ok200(`{"success":false,"error-codes":["a b\nc<script>","` + strings.Repeat("x", 100) + `","","1","2","3","4","5","6","7","8"]}`),
					want:  fails(ReasonRejected, "a_b_c_script_", strings.Repeat("x", 64), "1", "2", "3", "4", "5", "6"),
				},
				{
					name:  "echoed secret is redacted",
					reply: ok200(`{"success":false,"error-codes":["invalid-input-secret","bad secret: ` + testSecret + `"]}`),
					want:  fails(ReasonMisconfigured, "invalid-input-secret", "redacted"),
				},
				// Malformed answers.
				{name: "non-JSON", reply: ok200(`<html>Service Unavailable</html>`), want: fails(ReasonMalformedResponse)},
				{name: "success as string", reply: ok200(`{"success":"true"}`), want: fails(ReasonMalformedResponse)},
				{name: "success as number", reply: ok200(`{"success":1}`), want: fails(ReasonMalformedResponse)},
				{name: "empty body", reply: ok200(``), want: fails(ReasonMalformedResponse)},
				{name: "null", reply: ok200(`null`), want: fails(ReasonMalformedResponse)},
				{name: "array", reply: ok200(`[{"success":true}]`), want: fails(ReasonMalformedResponse)},
				{name: "success missing", reply: ok200(`{"hostname":"www.example.com"}`), want: fails(ReasonMalformedResponse)},
				{name: "trailing garbage", reply: ok200(`{"success":true} {"success":true}`), want: fails(ReasonMalformedResponse)},
				{name: "error-codes not a list", reply: ok200(`{"success":false,"error-codes":"invalid-input-secret"}`), want: fails(ReasonMalformedResponse)},
				{name: "score out of range", reply: ok200(`{"success":true,"score":7}`), want: fails(ReasonMalformedResponse)},
				{name: "oversized body", reply: ok200(`{"success":true,"pad":"` + strings.Repeat("a", 70<<10) + `"}`), want: fails(ReasonMalformedResponse)},
				// Transport and status failures.
				{name: "HTTP 500 even with success body", reply: reply{status: 500, body: `{"success":true}`}, want: fails(ReasonUnavailable)},
				{name: "HTTP 503 empty", reply: reply{status: 503}, want: fails(ReasonUnavailable)},
				{name: "HTTP 429", reply: reply{status: 429, body: `{"success":false}`}, want: fails(ReasonUnavailable)},
				{name: "HTTP 404 page", reply: reply{status: 404, body: `<html>not found</html>`}, want: fails(ReasonUnavailable)},
				{name: "HTTP 400 with codes", reply: reply{status: 400, body: `{"success":false,"error-codes":["invalid-input-secret"]}`}, want: fails(ReasonMisconfigured, "invalid-input-secret")},
				{name: "HTTP 403 claiming success", reply: reply{status: 403, body: `{"success":true}`}, want: fails(ReasonMalformedResponse)},
				{name: "redirect is not followed", reply: reply{status: 302, header: map[string]string{"Location": "/elsewhere"}, body: `{"success":true}`}, want: fails(ReasonUnavailable)},
				{
					name:  "never answers",
					cfg:   func(c *Config) { c.Timeout = 250 * time.Millisecond },
					reply: reply{hang: true},
					want:  fails(ReasonUnavailable),
				},
				{
					name:  "body never finishes",
					cfg:   func(c *Config) { c.Timeout = 250 * time.Millisecond },
					reply: reply{status: 200, body: `{"success":true`, stall: true},
					want:  fails(ReasonUnavailable),
				},
				// Hostname checks.
				{
					name:  "hostname matches case-insensitively",
					cfg:   func(c *Config) { c.Hostname = "www.example.com" },
					reply: ok200(`{"success":true,"hostname":"WWW.Example.com"}`),
					want:  okResult(-1),
				},
				{
					name:  "hostname mismatch",
					cfg:   func(c *Config) { c.Hostname = "www.example.com" },
					reply: ok200(`{"success":true,"hostname":"evil.example.net"}`),
					want:  fails(ReasonHostnameMismatch),
				},
				{
					name:  "hostname missing",
					cfg:   func(c *Config) { c.Hostname = "www.example.com" },
					reply: ok200(`{"success":true}`),
					want:  fails(ReasonHostnameMismatch),
				},
			}
			for _, c := range svErrorCodes[sv.name] {
				cases = append(cases, tc{
					name:  "code " + c.code,
					reply: ok200(`{"success":false,"error-codes":["` + c.code + `"]}`),
					want:  fails(c.reason, c.code),
				})
			}
			if sv.name != HCaptcha {
				cases = append(cases,
					tc{
						name:  "action matches",
						cfg:   func(c *Config) { c.Action = "challenge" },
						reply: ok200(`{"success":true,"action":"challenge"}`),
						want:  okResult(-1),
					},
					tc{
						name:  "action mismatch",
						cfg:   func(c *Config) { c.Action = "challenge" },
						reply: ok200(`{"success":true,"action":"login"}`),
						want:  fails(ReasonActionMismatch),
					},
					tc{
						name:  "action missing",
						cfg:   func(c *Config) { c.Action = "challenge" },
						reply: ok200(`{"success":true}`),
						want:  fails(ReasonActionMismatch),
					},
				)
			}
			if sv.name == HCaptcha {
				cases = append(cases, tc{
					name:  "enterprise score is reported, not judged",
					reply: ok200(`{"success":true,"score":0.9,"score_reason":["x"]}`),
					want:  okResult(0.9),
				})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					ip, sentIP := testIP, testIP
					if c.ip == "-" {
						ip, sentIP = "", ""
					}
					v := newVendor(t, sv.checkSiteverify(testToken, sentIP), c.reply)
					cfg := sv.config(v)
					if c.cfg != nil {
						c.cfg(&cfg)
					}
					got := verify(t, mustNew(t, cfg), testToken, ip)
					wantResult(t, got, c.want)
					noSecret(t, "Result", got)
					if n := v.hits.Load(); n != 1 {
						t.Errorf("vendor got %d requests, want 1", n)
					}
				})
			}
		})
	}
}

func TestReCAPTCHAScore(t *testing.T) {
	sv := svVendors[2]
	cases := []struct {
		name     string
		minScore float64
		body     string
		want     Result
	}{
		{"v3 above default", 0, `{"success":true,"score":0.9,"action":"challenge"}`, okResult(0.9)},
		{"v3 at default", 0, `{"success":true,"score":0.5}`, okResult(0.5)},
		{"v3 below default", 0, `{"success":true,"score":0.3}`, Result{Reason: ReasonLowScore, Score: 0.3}},
		{"v3 below MinScore", 0.7, `{"success":true,"score":0.6}`, Result{Reason: ReasonLowScore, Score: 0.6}},
		{"v3 at MinScore", 0.7, `{"success":true,"score":0.7}`, okResult(0.7)},
		{"v3 low MinScore", 0.1, `{"success":true,"score":0.2}`, okResult(0.2)},
		{"v2 answer, no MinScore", 0, `{"success":true,"hostname":"www.example.com"}`, okResult(-1)},
		{"v2 answer, MinScore set", 0.5, `{"success":true,"hostname":"www.example.com"}`, fails(ReasonMisconfigured)},
		{"failure keeps score", 0, `{"success":false,"score":0.1,"error-codes":["timeout-or-duplicate"]}`, Result{Reason: ReasonExpiredOrDuplicate, Codes: []string{"timeout-or-duplicate"}, Score: 0.1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := newVendor(t, sv.checkSiteverify(testToken, testIP), ok200(c.body))
			cfg := sv.config(v)
			cfg.MinScore = c.minScore
			wantResult(t, verify(t, mustNew(t, cfg), testToken, testIP), c.want)
		})
	}
}

// TestLocalRejects checks tokens that must never reach the vendor.
func TestLocalRejects(t *testing.T) {
	type tc struct {
		provider string
		token    string
	}
	var cases []tc
	for _, p := range []string{Turnstile, HCaptcha, ReCAPTCHA, CaptchaLa} {
		cases = append(cases,
			tc{p, ""},
			tc{p, "   \n"},
			tc{p, strings.Repeat("t", maxTokenBytes+1)},
		)
	}
	cases = append(cases, tc{Turnstile, strings.Repeat("t", maxTurnstileToken+1)})
	for _, c := range cases {
		t.Run(c.provider+"/len"+strconv.Itoa(len(c.token)), func(t *testing.T) {
			t.Parallel()
			v := newVendor(t, func(t *testing.T, _ *http.Request, _ []byte) {
				t.Errorf("token of length %d was sent to the vendor", len(c.token))
			}, ok200(`{"success":true,"code":0,"data":{"valid":true}}`))
			got := verify(t, mustNew(t, anyConfig(c.provider, v.url("/v"))), c.token, testIP)
			wantResult(t, got, fails(ReasonInvalidToken))
			if n := v.hits.Load(); n != 0 {
				t.Errorf("vendor got %d requests, want 0", n)
			}
		})
	}
}

func TestRemoteIPNormalised(t *testing.T) {
	cases := []struct{ in, sent string }{
		{"203.0.113.7", "203.0.113.7"},
		{" 2001:db8::1 ", "2001:db8::1"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"203.0.113.7:443", ""},
		{"not an ip", ""},
		{"", ""},
	}
	sv := svVendors[0]
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			v := newVendor(t, sv.checkSiteverify(testToken, c.sent), ok200(`{"success":true}`))
			wantResult(t, verify(t, mustNew(t, sv.config(v)), testToken, c.in), okResult(-1))
		})
	}
}

// TestCallerCancel: the caller's context bounds the call too.
func TestCallerCancel(t *testing.T) {
	sv := svVendors[0]
	v := newVendor(t, func(*testing.T, *http.Request, []byte) {}, reply{hang: true})
	ver := mustNew(t, sv.config(v)) // 5s Timeout: the caller gives up first
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantResult(t, ver.Verify(ctx, testToken, testIP), fails(ReasonUnavailable))
}

// TestUnreachable: nothing listening is unavailable, not an error.
func TestUnreachable(t *testing.T) {
	v := newVendor(t, func(*testing.T, *http.Request, []byte) {}, ok200(`{}`))
	u := v.url("/siteverify")
	v.srv.Close()
	wantResult(t, verify(t, mustNew(t, anyConfig(HCaptcha, u)), testToken, testIP), fails(ReasonUnavailable))
}

// TestCallerClient: a caller's client is used as given.
func TestCallerClient(t *testing.T) {
	sv := svVendors[1]
	var used bool
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})
	v := newVendor(t, sv.checkSiteverify(testToken, testIP), ok200(`{"success":true}`))
	ver, err := New(sv.config(v), &http.Client{Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	wantResult(t, verify(t, ver, testToken, testIP), okResult(-1))
	if !used {
		t.Error("the caller's client was not used")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func anyConfig(provider, verifyURL string) Config {
	c := Config{Provider: provider, VerifyURL: verifyURL, Timeout: 5 * time.Second}
	if provider == CaptchaLa {
		c.AppKey, c.AppSecret = testAppKey, testAppSecret
	} else {
		c.SiteKey, c.Secret = testSiteKey, testSecret
	}
	return c
}
