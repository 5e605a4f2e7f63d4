package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkCaptchaLa asserts the request follows docs.captcha.la/api-reference:
// POST /v1/validate, X-App-Key and X-App-Secret headers, JSON body
// {"pass_token", "client_ip"} and nothing else.
func checkCaptchaLa(token, ip string) func(t *testing.T, r *http.Request, body []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		t.Helper()
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		if r.URL.Path != "/v1/validate" || r.URL.RawQuery != "" {
			t.Errorf("URL %q, want /v1/validate", r.URL.RequestURI())
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			t.Errorf("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
		}
		if got := r.Header.Get("X-App-Key"); got != testAppKey {
			t.Errorf("X-App-Key %q, want %q", got, testAppKey)
		}
		if got := r.Header.Get("X-App-Secret"); got != testAppSecret {
			t.Errorf("X-App-Secret is not the configured secret")
		}
		var req struct {
			PassToken *string `json:"pass_token"`
			ClientIP  *string `json:"client_ip"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			t.Errorf("body %s: %v", body, err)
			return
		}
		if req.PassToken == nil || *req.PassToken != token {
			t.Errorf("pass_token %v, want %q", req.PassToken, token)
		}
		switch {
		case ip == "" && req.ClientIP != nil:
			t.Errorf("client_ip %q sent, want none", *req.ClientIP)
		case ip != "" && (req.ClientIP == nil || *req.ClientIP != ip):
			t.Errorf("client_ip %v, want %q", req.ClientIP, ip)
		}
	}
}

func TestCaptchaLa(t *testing.T) {
	const success = `{"code":0,"data":{"valid":true,"challenge_id":"ch_xxx","action":"login","uid":null,"captcha_args":{"platform":"web","user_ip":"203.0.113.7","referer":"https://www.example.com/login","pkg":null,"solved_at":1750000000,"risk_score":12}}}`
	cases := []struct {
		name  string
		cfg   func(*Config)
		reply reply
		ip    string // default testIP; "-" sends none
		want  Result
	}{
		{name: "documented success", reply: ok200(success), want: okResult(-1)},
		{name: "success without client_ip", ip: "-", reply: ok200(success), want: okResult(-1)},
		{name: "older documented success", reply: ok200(`{"code":0,"data":{"valid":true,"challenge_id":"ch_xxx","action":"login","uid":null,"client_ip":"1.2.3.4","risk_score":12}}`), want: okResult(-1)},
		{name: "action matches", cfg: func(c *Config) { c.Action = "login" }, reply: ok200(success), want: okResult(-1)},
		{name: "action mismatch", cfg: func(c *Config) { c.Action = "challenge" }, reply: ok200(success), want: fails(ReasonActionMismatch)},
		{name: "action missing", cfg: func(c *Config) { c.Action = "login" }, reply: ok200(`{"code":0,"data":{"valid":true}}`), want: fails(ReasonActionMismatch)},
		{name: "valid false", reply: ok200(`{"code":0,"data":{"valid":false}}`), want: fails(ReasonRejected)},
		{name: "valid false with error", reply: ok200(`{"code":0,"data":{"valid":false,"error":"token_expired"}}`), want: fails(ReasonExpiredOrDuplicate, "token_expired")},
		// Failure codes, from the vendor SDKs' error table.
		{name: "token_consumed", reply: ok200(`{"code":1,"msg":"fail","data":{"valid":false,"error":"token_consumed"}}`), want: fails(ReasonExpiredOrDuplicate, "token_consumed")},
		{name: "invalid_token in msg, PHP empty data", reply: ok200(`{"code":1001,"msg":"invalid_token","data":[]}`), want: fails(ReasonInvalidToken, "invalid_token")},
		{name: "token_action_mismatch", reply: ok200(`{"code":1,"data":{"error":"token_action_mismatch"}}`), want: fails(ReasonActionMismatch, "token_action_mismatch")},
		{name: "invalid_app_secret as 401", reply: reply{status: 401, body: `{"code":401,"msg":"invalid_app_secret","data":null}`}, want: fails(ReasonMisconfigured, "invalid_app_secret")},
		{name: "invalid_app_key", reply: ok200(`{"code":1,"error":"invalid_app_key"}`), want: fails(ReasonMisconfigured, "invalid_app_key")},
		{name: "app_disabled", reply: ok200(`{"code":1,"msg":"app_disabled"}`), want: fails(ReasonMisconfigured, "app_disabled")},
		{name: "rate_limit_exceeded", reply: ok200(`{"code":1,"msg":"rate_limit_exceeded"}`), want: fails(ReasonUnavailable, "rate_limit_exceeded")},
		{name: "unknown human message", reply: ok200(`{"code":7,"msg":"Token not found"}`), want: fails(ReasonRejected, "Token_not_found")},
		{name: "valid true but non-zero code", reply: ok200(`{"code":1,"data":{"valid":true}}`), want: fails(ReasonRejected)},
		{name: "degraded token", reply: ok200(`{"code":0,"data":{"valid":false,"degraded":true,"reason":"quota_exhausted"}}`), want: fails(ReasonUnavailable, "degraded", "quota_exhausted")},
		{name: "echoed secret is redacted", reply: ok200(`{"code":1,"msg":"bad secret ` + testAppSecret + `"}`), want: fails(ReasonRejected, "redacted")},
		// Malformed answers.
		{name: "non-JSON", reply: ok200(`<html>oops</html>`), want: fails(ReasonMalformedResponse)},
		{name: "empty body", reply: ok200(``), want: fails(ReasonMalformedResponse)},
		{name: "valid as string", reply: ok200(`{"code":0,"data":{"valid":"true"}}`), want: fails(ReasonMalformedResponse)},
		{name: "valid missing", reply: ok200(`{"code":0,"data":{"action":"login"}}`), want: fails(ReasonMalformedResponse)},
		{name: "code as string", reply: ok200(`{"code":"0","data":{"valid":true}}`), want: fails(ReasonMalformedResponse)},
		{name: "code missing", reply: ok200(`{"data":{"valid":true}}`), want: fails(ReasonMalformedResponse)},
		{name: "code null", reply: ok200(`{"code":null,"data":{"valid":true}}`), want: fails(ReasonMalformedResponse)},
		{name: "data not an object", reply: ok200(`{"code":0,"data":[true]}`), want: fails(ReasonMalformedResponse)},
		{name: "success-style guess is not the contract", reply: ok200(`{"success":true}`), want: fails(ReasonMalformedResponse)},
		{name: "trailing garbage", reply: ok200(success + `x`), want: fails(ReasonMalformedResponse)},
		// Transport and status failures.
		{name: "HTTP 500 even with success body", reply: reply{status: 500, body: success}, want: fails(ReasonUnavailable)},
		{name: "HTTP 502 page", reply: reply{status: 502, body: `<html>bad gateway</html>`}, want: fails(ReasonUnavailable)},
		{name: "HTTP 404 page", reply: reply{status: 404, body: `not found`}, want: fails(ReasonUnavailable)},
		{name: "never answers", cfg: func(c *Config) { c.Timeout = 250 * time.Millisecond }, reply: reply{hang: true}, want: fails(ReasonUnavailable)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ip := testIP
			if c.ip == "-" {
				ip = ""
			}
			v := newVendor(t, checkCaptchaLa(testToken, ip), c.reply)
			cfg := anyConfig(CaptchaLa, v.url("/v1/validate"))
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			ver := mustNew(t, cfg)
			got := verify(t, ver, testToken, ip)
			wantResult(t, got, c.want)
			noSecret(t, "Result", got)
			if n := v.hits.Load(); n != 1 {
				t.Errorf("vendor got %d requests, want 1", n)
			}
		})
	}
}

// checkCaptchaLaIssue asserts an issue request follows
// docs.captcha.la/api-reference ("Issue Server Token"): POST
// /v1/server/challenge/issue, X-App-Key and X-App-Secret, a form-urlencoded
// body of exactly action, ttl, max_uses=1 and, when given, bind_ip.
func checkCaptchaLaIssue(action, ttl, ip string) func(t *testing.T, r *http.Request, body []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		t.Helper()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/server/challenge/issue" || r.URL.RawQuery != "" {
			t.Errorf("%s %s, want POST /v1/server/challenge/issue", r.Method, r.URL.RequestURI())
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		}
		if r.Header.Get("X-App-Key") != testAppKey || r.Header.Get("X-App-Secret") != testAppSecret {
			t.Errorf("X-App-Key/X-App-Secret are not the configured credentials")
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		want := url.Values{"action": {action}, "ttl": {ttl}, "max_uses": {"1"}}
		if ip != "" {
			want.Set("bind_ip", ip)
		}
		if !reflect.DeepEqual(form, want) {
			t.Errorf("form %v, want %v", form, want)
		}
	}
}

func TestCaptchaLaIssue(t *testing.T) {
	const success = `{"code":0,"data":{"server_token":"sct_0123456789abcdef","expires_in":300,"issued_at":1713600000}}`
	cases := []struct {
		name    string
		cfg     func(*Config)
		ip      string        // sent as the client's address; default testIP
		ttl     time.Duration // asked for; default 5m
		wantTTL string        // the form's ttl; default 300
		wantIP  string        // the form's bind_ip; default testIP
		action  string        // the form's action; default DefaultCaptchaLaAction
		reply   reply
		want    ServerToken
		wantErr *IssueError
	}{
		{name: "documented success", reply: ok200(success), want: ServerToken{Token: "sct_0123456789abcdef", Action: DefaultCaptchaLaAction, ExpiresIn: 5 * time.Minute}},
		{name: "the configured action", cfg: func(c *Config) { c.Action = "login" }, action: "login", reply: ok200(success),
			want: ServerToken{Token: "sct_0123456789abcdef", Action: "login", ExpiresIn: 5 * time.Minute}},
		{name: "no expires_in: the asked lifetime", ttl: 90 * time.Second, wantTTL: "90", reply: ok200(`{"code":0,"data":{"server_token":"sct_ab"}}`),
			want: ServerToken{Token: "sct_ab", Action: DefaultCaptchaLaAction, ExpiresIn: 90 * time.Second}},
		{name: "lifetime rounded up and capped", ttl: time.Hour, wantTTL: "600", reply: ok200(success),
			want: ServerToken{Token: "sct_0123456789abcdef", Action: DefaultCaptchaLaAction, ExpiresIn: 5 * time.Minute}},
		{name: "IPv4-mapped address unmapped", ip: "::ffff:203.0.113.7", wantIP: testIP, reply: ok200(success),
			want: ServerToken{Token: "sct_0123456789abcdef", Action: DefaultCaptchaLaAction, ExpiresIn: 5 * time.Minute}},
		{name: "no address, no binding", ip: "not-an-ip", wantIP: "-", reply: ok200(success),
			want: ServerToken{Token: "sct_0123456789abcdef", Action: DefaultCaptchaLaAction, ExpiresIn: 5 * time.Minute}},
		// Refusals.
		{name: "bad secret as 401", reply: reply{status: 401, body: `{"code":401,"msg":"invalid_app_secret","data":null}`},
			wantErr: &IssueError{Reason: ReasonMisconfigured, Codes: []string{"invalid_app_secret"}}},
		{name: "rate limited", reply: ok200(`{"code":1,"msg":"rate_limit_exceeded"}`),
			wantErr: &IssueError{Reason: ReasonUnavailable, Codes: []string{"rate_limit_exceeded"}}},
		{name: "unknown refusal", reply: ok200(`{"code":9,"data":{"error":"action_not_allowed"}}`),
			wantErr: &IssueError{Reason: ReasonRejected, Codes: []string{"action_not_allowed"}}},
		{name: "echoed secret is redacted", reply: ok200(`{"code":1,"msg":"secret ` + testAppSecret + `"}`),
			wantErr: &IssueError{Reason: ReasonRejected, Codes: []string{"redacted"}}},
		// Answers that are not the contract: never a token put in a page.
		{name: "token without its prefix", reply: ok200(`{"code":0,"data":{"server_token":"0123456789"}}`), wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "token that would break out of an attribute", reply: ok200(`{"code":0,"data":{"server_token":"sct_a\"><script>"}}`), wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "token missing", reply: ok200(`{"code":0,"data":{"expires_in":300}}`), wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "expires_in not a positive integer", reply: ok200(`{"code":0,"data":{"server_token":"sct_ab","expires_in":"300"}}`), wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "code as string", reply: ok200(`{"code":"0","data":{"server_token":"sct_ab"}}`), wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "non-JSON", reply: ok200(`<html>`), wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "success in an error status", reply: reply{status: 400, body: success}, wantErr: &IssueError{Reason: ReasonMalformedResponse}},
		{name: "HTTP 503", reply: reply{status: 503, body: success}, wantErr: &IssueError{Reason: ReasonUnavailable}},
		{name: "never answers", cfg: func(c *Config) { c.Timeout = 250 * time.Millisecond }, reply: reply{hang: true}, wantErr: &IssueError{Reason: ReasonUnavailable}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ip, wantIP := testIP, testIP
			if c.ip != "" {
				ip = c.ip
			}
			switch c.wantIP {
			case "-":
				wantIP = ""
			case "":
			default:
				wantIP = c.wantIP
			}
			ttl, wantTTL, action := 5*time.Minute, "300", DefaultCaptchaLaAction
			if c.ttl != 0 {
				ttl = c.ttl
			}
			if c.wantTTL != "" {
				wantTTL = c.wantTTL
			}
			if c.action != "" {
				action = c.action
			}
			v := newVendor(t, checkCaptchaLaIssue(action, wantTTL, wantIP), c.reply)
			// IssueURL left empty: derived from VerifyURL's origin.
			cfg := anyConfig(CaptchaLa, v.url("/v1/validate"))
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			iss, ok := mustNew(t, cfg).(Issuer)
			if !ok {
				t.Fatal("the captchala verifier is not an Issuer")
			}
			got, err := iss.Issue(context.Background(), ip, ttl)
			if c.wantErr != nil {
				var ie *IssueError
				if !errors.As(err, &ie) || ie.Reason != c.wantErr.Reason || !slices.Equal(ie.Codes, c.wantErr.Codes) {
					t.Errorf("Issue error %v, want %v", err, c.wantErr)
				}
				if got != (ServerToken{}) {
					t.Errorf("Issue gave %+v beside its error", got)
				}
				noSecret(t, "error", err.Error())
			} else if err != nil || got != c.want {
				t.Errorf("Issue = %+v, %v; want %+v", got, err, c.want)
			}
			if n := v.hits.Load(); n != 1 {
				t.Errorf("vendor got %d requests, want 1", n)
			}
		})
	}
}

func TestIssueURL(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     Config
		want    string
		wantErr string
	}{
		{"the documented endpoint", Config{}, CaptchaLaIssueURL, ""},
		{"beside an overridden VerifyURL", Config{VerifyURL: "http://127.0.0.1:8080/v1/validate"}, "http://127.0.0.1:8080/v1/server/challenge/issue", ""},
		{"its own", Config{IssueURL: "https://captcha.internal.example/issue"}, "https://captcha.internal.example/issue", ""},
		{"plain http elsewhere", Config{IssueURL: "http://captcha.example/issue"}, "", "IssueURL: must be https"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.Provider, cfg.AppKey, cfg.AppSecret = CaptchaLa, testAppKey, testAppSecret
			v, err := New(cfg, nil)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("New: %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(*captchala).issueURL; got != c.want {
				t.Errorf("issue URL %q, want %q", got, c.want)
			}
		})
	}
	if _, err := New(Config{Provider: Turnstile, SiteKey: testSiteKey, Secret: testSecret, IssueURL: CaptchaLaIssueURL}, nil); err == nil {
		t.Error("New accepted an IssueURL for turnstile")
	}
}
