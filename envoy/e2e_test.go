package envoy

import (
	"encoding/json"
	"fmt"
	"github.com/botauthz/botauthz/internal/otlptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFrontProxyConfigIsValidForEnvoy(t *testing.T) {
	bin := envoyBinary(t)
	// The shipped file with the certificate `make certs` would write.
	certFile, keyFile, _ := selfSigned(t)
	conf := filepath.Join(t.TempDir(), "front-proxy.yaml")
	if err := os.WriteFile(conf, []byte(envoyConfig(t, certFile, keyFile, map[string]string{})), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--mode", "validate", "-c", conf, "-l", "error").CombinedOutput()
	if err != nil {
		t.Fatalf("envoy --mode validate: %v\n%s", err, out)
	}
}

func TestPairedPolicyIsValid(t *testing.T) {
	out, err := exec.Command(botauthzBin, "-check-config", "botauthz.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("botauthz -check-config botauthz.yaml: %v\n%s", err, out)
	}
	for _, route := range []string{"login", "api", "default"} {
		if !strings.Contains(string(out), "route "+route) {
			t.Errorf("policy summary lacks route %s:\n%s", route, out)
		}
	}
}

// TestDecisionPathEndToEnd drives real HTTP requests through a real Envoy into
// botauthz with a real Redis behind it, once for each of Envoy's encodings of
// the headers. Each subtest poses as its own client IP so the velocity
// counters of one do not leak into another.
func TestDecisionPathEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	for _, encoding := range []string{headerMap, headersMap} {
		t.Run(encoding, func(t *testing.T) { testDecisionPath(t, encoding) })
	}
}

func testDecisionPath(t *testing.T, encoding string) {
	h := startHarnessOpts(t, harnessOptions{encoding: encoding})

	t.Run("plain http is sent to https", func(t *testing.T) {
		resp, err := h.client.Get(h.plain + "/login?next=/account")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := h.proxy + "/login?next=/account"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
			t.Errorf("status %d location %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})

	t.Run("a browser reaches the upstream with a score", func(t *testing.T) {
		r := h.do(t, "GET", "/", "203.0.113.10", chrome)
		if r.status != 200 || r.upstream == nil {
			t.Fatalf("status %d body %q, want 200 from the upstream", r.status, r.body)
		}
		if got := r.upstream.Get("X-Bot-Score"); got == "" {
			t.Fatal("upstream got no x-bot-score")
		} else if n, _ := strconv.Atoi(got); n < 30 {
			t.Errorf("browser scored %d, want human (>= 30)", n)
		}
		for h, want := range map[string]string{"X-Bot-Category": "likely_human", "X-Bot-Action": "allow", "X-Bot-Mode": "shadow"} {
			if got := r.upstream.Get(h); got != want {
				t.Errorf("upstream %s = %q, want %q", h, got, want)
			}
		}
		if r.upstream.Get("X-Envoy-Auth-Failure-Mode-Allowed") != "" {
			t.Error("request passed by Envoy's failure mode, not by botauthz")
		}
	})

	t.Run("a browser is allowed on an enforced route", func(t *testing.T) {
		// With header_map unread, this browser had no user agent: 403 ua.missing.
		r := h.do(t, "GET", "/login", "203.0.113.18", chrome)
		if r.status != 200 || r.upstream == nil {
			t.Fatalf("status %d body %q, want 200 from the upstream", r.status, r.body)
		}
		if got := r.upstream.Get("X-Bot-Reasons"); strings.Contains(got, "ua.missing") {
			t.Errorf("reasons %q: botauthz did not read the user agent", got)
		}
	})

	t.Run("a repeated user agent is read whole", func(t *testing.T) {
		// Both lines count: the last alone is a Chrome user agent (allowed),
		// the first alone is curl (challenged), both together is denied as a
		// library.
		r := h.raw(t, "GET /login HTTP/1.1", "203.0.113.19",
			"User-Agent: curl/8.5.0", "User-Agent: "+chrome["User-Agent"], "Accept: application/json")
		var body struct{ Error, Reason string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 403 || body.Reason != "ua.library" {
			t.Fatalf("status %d body %q, want 403 for ua.library", r.status, r.body)
		}
	})

	t.Run("bytes that are not UTF-8 get a decision", func(t *testing.T) {
		lines := []string{"Cookie: session=\xc3("}
		for k, v := range chrome {
			if k == "User-Agent" {
				v += " \xff\xfe"
			}
			lines = append(lines, k+": "+v)
		}
		r := h.raw(t, "GET /api/orders HTTP/1.1", "203.0.113.20", lines...)
		if r.status != 200 || r.upstream == nil {
			t.Fatalf("status %d body %q, want 200 from the upstream", r.status, r.body)
		}
		if r.upstream.Get("X-Bot-Score") == "" || r.upstream.Get("X-Envoy-Auth-Failure-Mode-Allowed") != "" {
			t.Errorf("upstream headers %v, want botauthz's decision", r.upstream)
		}
	})

	t.Run("forged x-bot headers never reach the upstream", func(t *testing.T) {
		r := h.do(t, "GET", "/", "203.0.113.11", curlAPI,
			"X-Bot-Score", "99", "X-Bot-Category", "likely_human", "X-Bot-Verified", "yes", "X-Bot-Reasons", "none", "X-Bot-Degraded", "false")
		if r.status != 200 || r.upstream == nil {
			t.Fatalf("status %d body %q; the default route is shadow and must let curl through", r.status, r.body)
		}
		if got := r.upstream.Values("X-Bot-Score"); len(got) != 1 || got[0] == "99" {
			t.Errorf("upstream x-bot-score = %q, want botauthz's one value", got)
		}
		if got := r.upstream.Get("X-Bot-Category"); got == "likely_human" {
			t.Errorf("upstream x-bot-category = %q: the forged value survived", got)
		}
		if got := r.upstream.Values("X-Bot-Verified"); len(got) != 0 {
			t.Errorf("upstream got forged x-bot-verified %q", got)
		}
		if got := r.upstream.Values("X-Bot-Degraded"); len(got) != 0 {
			t.Errorf("upstream got forged x-bot-degraded %q", got)
		}
		if got := r.upstream.Get("X-Bot-Reasons"); !strings.HasPrefix(got, "ua.library") {
			t.Errorf("upstream x-bot-reasons = %q, want botauthz's reasons", got)
		}
		// Shadow shows what enforce would do.
		if got := r.upstream.Get("X-Bot-Action"); got != "deny" {
			t.Errorf("upstream x-bot-action = %q, want deny (curl declares automation)", got)
		}
	})

	t.Run("a script posing as Chrome navigating to login is redirected to the challenge", func(t *testing.T) {
		r := h.do(t, "GET", "/login?next=/account", "203.0.113.12", fakerNavigation)
		if r.status != 302 {
			t.Fatalf("status %d body %q, want 302", r.status, r.body)
		}
		loc, err := url.Parse(r.header.Get("Location"))
		if err != nil || loc.Path != "/.botauthz/challenge" || loc.Host != "" {
			t.Fatalf("location %q, want a relative URL to /.botauthz/challenge", r.header.Get("Location"))
		}
		if got := loc.Query().Get("return_to"); got != "/login?next=/account" {
			t.Errorf("return_to = %q, want the original path", got)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("cache-control = %q", r.header.Get("Cache-Control"))
		}
		// The challenge page itself is routed past ext_authz.
		page := h.do(t, "GET", loc.String(), "203.0.113.12", fakerNavigation)
		if page.status != 200 || !strings.Contains(page.body, "Checking your browser") {
			t.Errorf("challenge page: status %d body %q", page.status, page.body)
		}
	})

	t.Run("a script posing as Chrome calling the login API gets a 403 naming the challenge", func(t *testing.T) {
		r := h.do(t, "POST", "/login", "203.0.113.13", fakerAPI)
		if r.status != 403 {
			t.Fatalf("status %d body %q, want 403", r.status, r.body)
		}
		var body struct {
			Error        string `json:"error"`
			ChallengeURL string `json:"challenge_url"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("body %q is not JSON: %v", r.body, err)
		}
		if u, err := url.Parse(body.ChallengeURL); body.Error != "challenge_required" || err != nil ||
			u.Path != "/.botauthz/challenge" || u.Query().Get("return_to") != "/login" || u.Query().Get("route") != "login" {
			t.Errorf("body = %+v", body)
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("content-type = %q", r.header.Get("Content-Type"))
		}
	})

	t.Run("a client with no headers at all is denied on login", func(t *testing.T) {
		r := h.do(t, "GET", "/login", "203.0.113.14", map[string]string{})
		if r.status != 403 {
			t.Fatalf("status %d body %q, want 403", r.status, r.body)
		}
		var body struct{ Error, Reason string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error != "forbidden" || body.Reason == "" {
			t.Errorf("body %q, want JSON forbidden with a reason", r.body)
		}
	})

	t.Run("exceeding the login limit gets 429 with retry-after", func(t *testing.T) {
		const ip = "203.0.113.15"
		// botauthz.yaml: login route_ip max 5 per 60s.
		for i := range 5 {
			if r := h.do(t, "GET", "/login", ip, chrome); r.status != 200 {
				t.Fatalf("request %d: status %d body %q, want 200 under the limit", i+1, r.status, r.body)
			}
		}
		r := h.do(t, "GET", "/login", ip, chrome)
		if r.status != 429 {
			t.Fatalf("6th request: status %d, want 429", r.status)
		}
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 120 {
			t.Errorf("retry-after = %q, want whole seconds within two windows", r.header.Get("Retry-After"))
		}
		if got := r.header.Get("Ratelimit-Policy"); got != `"login-route_ip";q=5;w=60` {
			t.Errorf("ratelimit-policy = %q", got)
		}
		if got := r.header.Get("Ratelimit"); !strings.HasPrefix(got, `"login-route_ip";r=0;t=`) {
			t.Errorf("ratelimit = %q", got)
		}
		if !strings.Contains(r.body, "Too many requests") {
			t.Errorf("a browser should get the HTML page, got %q", r.body)
		}
		// Another client is unaffected.
		if r := h.do(t, "GET", "/login", "203.0.113.16", chrome); r.status != 200 {
			t.Errorf("another client: status %d, want 200", r.status)
		}
	})

	t.Run("health checks bypass ext_authz", func(t *testing.T) {
		if r := h.do(t, "GET", "/healthz", "203.0.113.17", map[string]string{}); r.status != 200 {
			t.Errorf("status %d, want 200", r.status)
		}
	})

	t.Run("redis slow or down degrades instead of failing", func(t *testing.T) {
		check := func(t *testing.T, ip string) {
			t.Helper()
			r := h.do(t, "GET", "/", ip, chrome)
			if r.status != 200 || r.upstream == nil {
				t.Fatalf("browser: status %d body %q", r.status, r.body)
			}
			// Had botauthz missed Envoy's 250 ms timeout, Envoy would have
			// let the request through on its failure mode and said so.
			if r.upstream.Get("X-Envoy-Auth-Failure-Mode-Allowed") != "" {
				t.Fatal("botauthz did not answer within Envoy's timeout")
			}
			if r.upstream.Get("X-Bot-Degraded") != "true" || r.upstream.Get("X-Bot-Score") == "" {
				t.Errorf("upstream headers %v, want a score marked degraded", r.upstream)
			}
			// Decisions still work without velocity.
			if r := h.do(t, "GET", "/login", ip, fakerNavigation); r.status != 302 {
				t.Errorf("a faker on login while degraded: status %d, want 302", r.status)
			}
		}
		errorsBefore := h.envoyStat(t, "http.ingress_http.ext_authz.botauthz.error")

		h.redis.Pause() // slow: Redis accepts but never answers
		t.Run("paused", func(t *testing.T) {
			for i := range 3 {
				check(t, "203.0.113."+strconv.Itoa(20+i))
			}
		})
		h.redis.Resume()

		h.redis.Stop() // down: connections refused
		t.Run("stopped", func(t *testing.T) {
			for i := range 3 {
				check(t, "203.0.113."+strconv.Itoa(30+i))
			}
		})

		if got := h.envoyStat(t, "http.ingress_http.ext_authz.botauthz.error"); got != errorsBefore {
			t.Errorf("envoy counted %d ext_authz errors while Redis was away", got-errorsBefore)
		}

		h.redis.Restart()
		waitFor(t, "velocity back after redis restart", 15*time.Second, func() error {
			r := h.do(t, "GET", "/", "203.0.113.40", chrome)
			if r.upstream == nil || r.upstream.Get("X-Bot-Degraded") != "" {
				return fmt.Errorf("status %d, x-bot-degraded %q", r.status, r.upstream.Get("X-Bot-Degraded"))
			}
			return nil
		})
	})

	t.Run("live mode changes apply through envoy without a restart", func(t *testing.T) {
		const ip = "203.0.113.50"
		bot := map[string]string{} // no headers at all: scores 1, decided deny
		r := h.do(t, "GET", "/", ip, bot)
		if r.status != 200 || r.upstream.Get("X-Bot-Action") != "deny" || r.upstream.Get("X-Bot-Mode") != "shadow" {
			t.Fatalf("bot on the shadow route: status %d, upstream %v; want it through with x-bot-action deny in shadow", r.status, r.upstream)
		}

		botctl(t, h.botAdmin, "mode", "default", "enforce", "--reason", "e2e: enforce default")
		waitFor(t, "bot stopped after botctl mode default enforce", 5*time.Second, func() error {
			if r := h.do(t, "GET", "/", ip, bot); r.status != 403 {
				return fmt.Errorf("status %d", r.status)
			}
			return nil
		})

		botctl(t, h.botAdmin, "kill", "bypass", "--reason", "e2e: kill")
		waitFor(t, "bot passes after botctl kill bypass", 5*time.Second, func() error {
			r := h.do(t, "GET", "/", ip, bot)
			if r.status != 200 || r.upstream.Get("X-Bot-Mode") != "bypass" {
				return fmt.Errorf("status %d mode %q", r.status, r.upstream.Get("X-Bot-Mode"))
			}
			return nil
		})

		botctl(t, h.botAdmin, "unkill", "--reason", "e2e: done")
		botctl(t, h.botAdmin, "mode", "default", "inherit", "--reason", "e2e: done")
		audit := botctl(t, h.botAdmin, "audit")
		for _, want := range []string{"mode default enforce", "kill bypass", "e2e: kill"} {
			if !strings.Contains(audit, want) {
				t.Errorf("botctl audit lacks %q:\n%s", want, audit)
			}
		}
	})

	t.Run("envoy's request span and botauthz's Check span form one trace", func(t *testing.T) {
		if r := h.do(t, "GET", "/api/orders?traced=1", "203.0.113.60", chrome); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		// Envoy's OpenTelemetry tracer flushes every few seconds.
		spans := h.collector.WaitFor(t, 30*time.Second, func(s []otlptest.Span) bool {
			return checkUnderEnvoy(s) != nil
		})
		check := checkUnderEnvoy(spans)
		if check.Attributes["bot.route"] != "api" {
			t.Errorf("Check span attributes %v, want bot.route api", check.Attributes)
		}
	})

	t.Run("non-allow decisions are logged as JSON with a truncated client IP", func(t *testing.T) {
		var found bool
		for _, line := range strings.Split(h.botauthz.out.String(), "\n") {
			if !strings.Contains(line, `"msg":"decision"`) {
				continue
			}
			var d struct {
				Route, ClientIP, Action string
				Score                   int
			}
			var raw map[string]any
			if err := json.Unmarshal([]byte(line), &raw); err != nil {
				t.Fatalf("decision line is not JSON: %v: %s", err, line)
			}
			d.Route, _ = raw["route"].(string)
			d.ClientIP, _ = raw["client_ip"].(string)
			d.Action, _ = raw["action"].(string)
			if strings.HasPrefix(d.ClientIP, "203.0.113.") && d.ClientIP != "203.0.113.0" {
				t.Errorf("decision log holds a full client IP: %s", line)
			}
			if d.Route == "login" && d.Action == "challenge" && d.ClientIP == "203.0.113.0" {
				found = true
			}
		}
		if !found {
			t.Errorf("no decision line for the faker's challenge on login:\n%s", h.botauthz.out.String())
		}
	})

	t.Run("SIGTERM drains and exits 0", func(t *testing.T) {
		if err := h.botauthz.stop(t, 20*time.Second); err != nil {
			t.Errorf("botauthz exit: %v", err)
		}
		if out := h.botauthz.out.String(); !strings.Contains(out, "draining") || !strings.Contains(out, "stopped") {
			t.Errorf("botauthz did not log its drain:\n%s", out)
		}
	})
}

// checkUnderEnvoy finds a botauthz Check span whose parent is a span Envoy
// exported in the same trace, or nil.
func checkUnderEnvoy(spans []otlptest.Span) *otlptest.Span {
	envoySpans := map[string]bool{}
	for _, s := range spans {
		if s.ServiceName == "envoy-front-proxy" {
			envoySpans[s.TraceID+"/"+s.SpanID] = true
		}
	}
	for i, s := range spans {
		if s.ServiceName == "botauthz" && s.Name == "envoy.service.auth.v3.Authorization/Check" &&
			strings.Contains(fmt.Sprint(s.Attributes["bot.route"]), "api") && envoySpans[s.TraceID+"/"+s.ParentSpanID] {
			return &spans[i]
		}
	}
	return nil
}
