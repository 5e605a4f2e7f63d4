package provider

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNewValid(t *testing.T) {
	cases := []struct {
		name                  string
		cfg                   Config
		wantName, wantSiteKey string
		wantURL               string
		wantTimeout           time.Duration
		wantMinScore          float64
	}{
		{"turnstile defaults", Config{Provider: Turnstile, SiteKey: "1x00000000000000000000AA", Secret: testSecret},
			Turnstile, "1x00000000000000000000AA", TurnstileVerifyURL, DefaultTimeout, 0},
		{"hcaptcha defaults", Config{Provider: HCaptcha, SiteKey: testSiteKey, Secret: testSecret},
			HCaptcha, testSiteKey, HCaptchaVerifyURL, DefaultTimeout, 0},
		{"recaptcha defaults", Config{Provider: ReCAPTCHA, SiteKey: testSiteKey, Secret: testSecret},
			ReCAPTCHA, testSiteKey, ReCAPTCHAVerifyURL, DefaultTimeout, DefaultMinScore},
		{"recaptcha MinScore", Config{Provider: ReCAPTCHA, SiteKey: testSiteKey, Secret: testSecret, MinScore: 0.7, Action: "challenge", Hostname: "www.example.com"},
			ReCAPTCHA, testSiteKey, ReCAPTCHAVerifyURL, DefaultTimeout, 0.7},
		{"captchala public key is AppKey", Config{Provider: CaptchaLa, AppKey: testAppKey, AppSecret: testAppSecret, Action: "login"},
			CaptchaLa, testAppKey, CaptchaLaVerifyURL, DefaultTimeout, 0},
		{"captchala SiteKey equal to AppKey", Config{Provider: CaptchaLa, SiteKey: testAppKey, AppKey: testAppKey, AppSecret: testAppSecret},
			CaptchaLa, testAppKey, CaptchaLaVerifyURL, DefaultTimeout, 0},
		{"loopback http and timeout", Config{Provider: Turnstile, SiteKey: testSiteKey, Secret: testSecret, VerifyURL: "http://127.0.0.1:8080/x", Timeout: time.Second},
			Turnstile, testSiteKey, "http://127.0.0.1:8080/x", time.Second, 0},
		{"localhost http", Config{Provider: HCaptcha, SiteKey: testSiteKey, Secret: testSecret, VerifyURL: "http://localhost/siteverify"},
			HCaptcha, testSiteKey, "http://localhost/siteverify", DefaultTimeout, 0},
		{"ipv6 loopback http", Config{Provider: HCaptcha, SiteKey: testSiteKey, Secret: testSecret, VerifyURL: "http://[::1]:9/siteverify"},
			HCaptcha, testSiteKey, "http://[::1]:9/siteverify", DefaultTimeout, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := New(c.cfg, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if v.Name() != c.wantName || v.SiteKey() != c.wantSiteKey {
				t.Errorf("Name, SiteKey = %q, %q; want %q, %q", v.Name(), v.SiteKey(), c.wantName, c.wantSiteKey)
			}
			var base *verifier
			switch x := v.(type) {
			case *siteverify:
				base = &x.verifier
				if x.minScore != c.wantMinScore && c.wantName == ReCAPTCHA {
					t.Errorf("minScore %v, want %v", x.minScore, c.wantMinScore)
				}
			case *captchala:
				base = &x.verifier
			default:
				t.Fatalf("unexpected type %T", v)
			}
			if base.verifyURL != c.wantURL || base.timeout != c.wantTimeout {
				t.Errorf("verifyURL, timeout = %q, %v; want %q, %v", base.verifyURL, base.timeout, c.wantURL, c.wantTimeout)
			}
			if base.client == nil || base.client.Transport == nil || base.client.CheckRedirect == nil {
				t.Error("nil client did not get a client of its own")
			}
			noSecret(t, "Verifier", v)
		})
	}
}

func TestNewInvalid(t *testing.T) {
	ts := func(mod func(*Config)) Config {
		c := Config{Provider: Turnstile, SiteKey: testSiteKey, Secret: testSecret}
		mod(&c)
		return c
	}
	cl := func(mod func(*Config)) Config {
		c := Config{Provider: CaptchaLa, AppKey: testAppKey, AppSecret: testAppSecret}
		mod(&c)
		return c
	}
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no provider", ts(func(c *Config) { c.Provider = "" }), "Provider"},
		{"unknown provider", ts(func(c *Config) { c.Provider = "recaptcha-v3" }), "Provider"},
		{"secret in provider", ts(func(c *Config) { c.Provider = testSecret }), "Provider"},
		{"provider case", ts(func(c *Config) { c.Provider = "Turnstile" }), "Provider"},
		{"no site key", ts(func(c *Config) { c.SiteKey = "" }), "SiteKey"},
		{"no secret", ts(func(c *Config) { c.Secret = "" }), "Secret"},
		{"secret with newline", ts(func(c *Config) { c.Secret = testSecret + "\n" }), "Secret"},
		{"secret with control char", ts(func(c *Config) { c.Secret = "ab\x00" + testSecret }), "Secret"},
		{"app key on turnstile", ts(func(c *Config) { c.AppKey = testAppKey }), "AppKey"},
		{"app secret on turnstile", ts(func(c *Config) { c.AppSecret = testAppSecret }), "AppSecret"},
		{"plain http", ts(func(c *Config) { c.VerifyURL = "http://siteverify.example.com/x" }), "VerifyURL"},
		{"relative url", ts(func(c *Config) { c.VerifyURL = "/siteverify" }), "VerifyURL"},
		{"ftp url", ts(func(c *Config) { c.VerifyURL = "ftp://example.com/" }), "VerifyURL"},
		{"url with credentials", ts(func(c *Config) { c.VerifyURL = "https://user:" + testSecret + "@example.com/" }), "VerifyURL"},
		{"url with fragment", ts(func(c *Config) { c.VerifyURL = "https://example.com/#x" }), "VerifyURL"},
		{"bad url", ts(func(c *Config) { c.VerifyURL = "https://exa mple.com/%zz" + testSecret }), "VerifyURL"},
		{"negative timeout", ts(func(c *Config) { c.Timeout = -time.Second }), "Timeout"},
		{"hostname with scheme", ts(func(c *Config) { c.Hostname = "https://www.example.com" }), "Hostname"},
		{"hostname with space", ts(func(c *Config) { c.Hostname = "www.example.com " }), "Hostname"},
		{"min score on turnstile", ts(func(c *Config) { c.MinScore = 0.5 }), "MinScore"},
		{"min score above 1", Config{Provider: ReCAPTCHA, SiteKey: testSiteKey, Secret: testSecret, MinScore: 1.5}, "MinScore"},
		{"min score negative", Config{Provider: ReCAPTCHA, SiteKey: testSiteKey, Secret: testSecret, MinScore: -0.1}, "MinScore"},
		{"min score NaN", Config{Provider: ReCAPTCHA, SiteKey: testSiteKey, Secret: testSecret, MinScore: math.NaN()}, "MinScore"},
		{"action on hcaptcha", Config{Provider: HCaptcha, SiteKey: testSiteKey, Secret: testSecret, Action: "x"}, "Action"},
		{"captchala no app key", cl(func(c *Config) { c.AppKey = "" }), "AppKey"},
		{"captchala no app secret", cl(func(c *Config) { c.AppSecret = "" }), "AppSecret"},
		{"captchala app secret with CRLF", cl(func(c *Config) { c.AppSecret = "x\r\nX-Evil: 1" + testAppSecret }), "AppSecret"},
		{"captchala with Secret", cl(func(c *Config) { c.Secret = testSecret }), "Secret"},
		{"captchala other SiteKey", cl(func(c *Config) { c.SiteKey = "other" }), "SiteKey"},
		{"captchala hostname", cl(func(c *Config) { c.Hostname = "www.example.com" }), "Hostname"},
		{"captchala min score", cl(func(c *Config) { c.MinScore = 0.5 }), "MinScore"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := New(c.cfg, nil)
			if err == nil {
				t.Fatalf("New = %v, want an error about %s", v, c.field)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %q is not a *ConfigError", err)
			}
			if ce.Field != c.field {
				t.Errorf("error %q names field %q, want %q", err, ce.Field, c.field)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %q does not name %s", err, c.field)
			}
			noSecret(t, "error", err)
		})
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := Config{Provider: CaptchaLa, AppKey: testAppKey, AppSecret: testAppSecret, Secret: testSecret}
	noSecret(t, "Config", cfg, &cfg)
	if s := cfg.String(); !strings.Contains(s, "REDACTED") || !strings.Contains(s, testAppKey) {
		t.Errorf("String() = %q, want public fields shown and secrets redacted", s)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", cfg)
	if strings.Contains(buf.String(), testSecret) || strings.Contains(buf.String(), testAppSecret) {
		t.Errorf("slog output leaks a secret: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"provider":"captchala"`) {
		t.Errorf("slog output lacks the provider: %s", buf.String())
	}
}

func TestCSPSources(t *testing.T) {
	cases := []struct {
		provider               string
		script, frame, connect []string
		style                  []string
	}{
		{Turnstile,
			[]string{"https://challenges.cloudflare.com"},
			[]string{"https://challenges.cloudflare.com"},
			nil, nil},
		{HCaptcha,
			[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
			[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
			[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"},
			[]string{"https://hcaptcha.com", "https://*.hcaptcha.com"}},
		{ReCAPTCHA,
			[]string{"https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"},
			[]string{"https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"},
			nil, nil},
		{CaptchaLa,
			[]string{"https://cdn.captcha-cdn.net"},
			nil,
			[]string{"https://apiv1.captcha.la"}, nil},
		{"unknown", nil, nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.provider, func(t *testing.T) {
			script, frame, connect := CSPSources(c.provider)
			if !reflect.DeepEqual(script, c.script) || !reflect.DeepEqual(frame, c.frame) || !reflect.DeepEqual(connect, c.connect) {
				t.Errorf("CSPSources = %q, %q, %q; want %q, %q, %q", script, frame, connect, c.script, c.frame, c.connect)
			}
			if style := CSPStyleSources(c.provider); !reflect.DeepEqual(style, c.style) {
				t.Errorf("CSPStyleSources = %q, want %q", style, c.style)
			}
			if len(script) > 0 {
				// Each call returns fresh slices: a caller may append.
				script[0] = "mutated"
				if again, _, _ := CSPSources(c.provider); again[0] == "mutated" {
					t.Error("CSPSources shares its slices between calls")
				}
			}
		})
	}
}

func TestWidget(t *testing.T) {
	cases := []struct {
		provider                  string
		script, class, tokenField string
	}{
		{Turnstile, "https://challenges.cloudflare.com/turnstile/v0/api.js", "cf-turnstile", "cf-turnstile-response"},
		{HCaptcha, "https://js.hcaptcha.com/1/api.js", "h-captcha", "h-captcha-response"},
		{ReCAPTCHA, "https://www.google.com/recaptcha/api.js", "g-recaptcha", "g-recaptcha-response"},
		{CaptchaLa, "https://cdn.captcha-cdn.net/captchala-loader.js", "", "captchala_token"},
		{"unknown", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.provider, func(t *testing.T) {
			script, class, field := Widget(c.provider)
			if script != c.script || class != c.class || field != c.tokenField {
				t.Errorf("Widget = %q, %q, %q; want %q, %q, %q", script, class, field, c.script, c.class, c.tokenField)
			}
			if script == "" {
				return
			}
			// The widget script must be allowed by the provider's own CSP.
			allowed, _, _ := CSPSources(c.provider)
			ok := false
			for _, src := range allowed {
				ok = ok || cspAllows(t, src, script)
			}
			if !ok {
				t.Errorf("script %q is not covered by script-src %q", script, allowed)
			}
		})
	}
}

// cspAllows is enough of CSP source matching for https host sources: an
// exact or "*." wildcard host, and a path prefix when the source ends in "/".
func cspAllows(t *testing.T, src, target string) bool {
	t.Helper()
	s, err := url.Parse(src)
	if err != nil {
		t.Fatalf("source %q: %v", src, err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("target %q: %v", target, err)
	}
	if s.Scheme != u.Scheme {
		return false
	}
	host := s.Host
	if strings.HasPrefix(host, "*.") {
		if !strings.HasSuffix(u.Host, host[1:]) {
			return false
		}
	} else if host != u.Host {
		return false
	}
	return s.Path == "" || strings.HasPrefix(u.Path, s.Path)
}
