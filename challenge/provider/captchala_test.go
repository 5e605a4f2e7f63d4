package provider

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
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
