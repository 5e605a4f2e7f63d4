package envoy

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/botauthz/botauthz/internal/dnstest"
	"github.com/botauthz/botauthz/internal/webbotauthtest"
)

// crawlerPolicy is the policy of TestCrawlerVerificationThroughEnvoy; the
// %q verbs are the test DNS server and the file:// key directory. Both
// routes enforce: the default one lets search engines in and keeps AI
// crawlers out, the login one challenges crawlers nobody can vouch for.
const crawlerPolicy = `
version: crawler-e2e
crawlers:
  reverse_dns: true
  dns_server: %q
  key_directories: {"https://chatgpt.com": %q}
routes:
  default:
    mode: enforce
    verified_bots: {search: allow, ai_crawler: deny, default: allow}
  login:
    mode: enforce
    unverified_crawlers: challenge
`

// The crawlers' user agents, as their operators document them.
const (
	googlebotUA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	claudebotUA = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
	yandexUA    = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
	slackbotUA  = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
)

// crawlerDecision is what the test reads of a decision log line, with the
// crawler group the decision log adds for a claimed crawler.
type crawlerDecision struct {
	Path      string `json:"path"`
	Route     string `json:"route"`
	Score     int    `json:"score"`
	Band      string `json:"band"`
	Action    string `json:"action"`
	Enforced  string `json:"enforced_action"`
	Rule      string `json:"rule"`
	Certainty string `json:"certainty"`
	Reasons   []struct {
		Code string `json:"code"`
	} `json:"reasons"`
	Crawler *struct {
		Verdict  string `json:"verdict"`
		Name     string `json:"name"`
		Category string `json:"category"`
		Method   string `json:"method"`
		Detail   string `json:"detail"`
	} `json:"crawler"`
	raw string
}

func (d crawlerDecision) reasons() []string {
	var codes []string
	for _, r := range d.Reasons {
		codes = append(codes, r.Code)
	}
	return codes
}

// crawlerOf is d's crawler group as "verdict/name/category/method/detail"
// for messages.
func (d crawlerDecision) crawlerOf() string {
	c := d.Crawler
	if c == nil {
		return "(no crawler group)"
	}
	return c.Verdict + "/" + c.Name + "/" + c.Category + "/" + c.Method + "/" + c.Detail
}

// denialBody is a JSON 403: a refusal ({error, reason}) or a challenge
// ({error: challenge_required, challenge_url}).
type denialBody struct {
	Error        string `json:"error"`
	Reason       string `json:"reason"`
	ChallengeURL string `json:"challenge_url"`
}

// jsonDenial reads r's JSON 403 body; ok is false for anything else.
func jsonDenial(r response) (d denialBody, ok bool) {
	if r.status != http.StatusForbidden || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		return d, false
	}
	return d, json.Unmarshal([]byte(r.body), &d) == nil
}

// with is a copy of profile with the given name-value pairs set.
func with(profile map[string]string, kv ...string) map[string]string {
	out := maps.Clone(profile)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// describe is a one-line account of a response for failure messages.
func describe(r response) string {
	if r.upstream != nil {
		return fmt.Sprintf("status %d, upstream x-bot-score %q, x-bot-category %q, x-bot-reasons %q, x-bot-verified %q",
			r.status, r.upstream.Get("X-Bot-Score"), r.upstream.Get("X-Bot-Category"), r.upstream.Get("X-Bot-Reasons"),
			r.upstream.Values("X-Bot-Verified"))
	}
	return fmt.Sprintf("status %d, location %q, body %q", r.status, r.header.Get("Location"), strings.TrimSpace(r.body))
}

// TestCrawlerVerificationThroughEnvoy runs crawler verification on the
// whole path, client → Envoy → botauthz → upstream, with a real DNS
// server for reverse DNS and Cloudflare's web-bot-auth package signing as
// a Web Bot Auth agent: a crawler verified by its operator's published
// ranges, by forward-confirmed reverse DNS or by its signature reaches the
// app with x-bot-verified; one that fails verification is an impersonator
// and denied; an honest crawler nobody can verify gets the route's
// unverified_crawlers action.
func TestCrawlerVerificationThroughEnvoy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	signer := webbotauthtest.NewSigner(t) // skips (or fails) before Envoy starts when node is missing

	zone := dnstest.NewZone()
	dnsServer := dnstest.Start(t, zone)
	// YandexBot's address forward-confirms; the spoofed one's PTR names a
	// yandex.com host that does not resolve back to it. 203.0.113.9 has no
	// PTR at all (NXDOMAIN).
	const (
		yandexIP      = "192.0.2.10"
		yandexHost    = "spider-192-0-2-10.yandex.com"
		spoofIP       = "192.0.2.20"
		spoofHost     = "spider-192-0-2-20.yandex.com"
		fakeGoogleIP  = "203.0.113.9"
		googlebotIP   = "66.249.66.1"   // in google-common-crawlers: 66.249.66.0/27
		claudebotIP   = "216.73.216.10" // in anthropic-bots: 216.73.216.0/22
		agentClientIP = "203.0.113.50"
	)
	zone.SetPTR(t, yandexIP, yandexHost)
	zone.SetHost(t, yandexHost, yandexIP)
	zone.SetPTR(t, spoofIP, spoofHost)
	zone.SetHost(t, spoofHost, "198.51.100.7")

	dir := t.TempDir()
	agentKey, strangerKey := webbotauthtest.NewKey(t), webbotauthtest.NewKey(t)
	keysFile := filepath.Join(dir, "chatgpt-keys.json")
	if err := os.WriteFile(keysFile, webbotauthtest.JWKS(t, agentKey), 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	policy := fmt.Sprintf(crawlerPolicy, dnsServer, (&url.URL{Scheme: "file", Path: keysFile}).String())
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every decision is logged, allows included, to be read back.
	h := startHarnessOpts(t, harnessOptions{policy: policyFile, args: []string{"-decision-log-allow-sample", "1"}})
	// h.do sends the listener's address as Host, which Envoy passes on as
	// :authority: what a Web Bot Auth signature covers.
	authority := strings.TrimPrefix(h.proxy, "https://")

	// decisions waits for at least n decision log lines on path and
	// returns them in order: a line reaches the test through botauthz's
	// stdout pipe a little after the response reaches the client.
	decisions := func(t *testing.T, path string, n int) []crawlerDecision {
		t.Helper()
		var found []crawlerDecision
		waitFor(t, fmt.Sprintf("%d decision log lines on %s", n, path), 20*time.Second, func() error {
			found = found[:0]
			for line := range strings.Lines(h.botauthz.out.String()) {
				if !strings.Contains(line, `"msg":"decision"`) {
					continue
				}
				var d crawlerDecision
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					return fmt.Errorf("a decision line is not JSON: %v: %s", err, line)
				}
				if d.Path == path {
					d.raw = strings.TrimSpace(line)
					found = append(found, d)
				}
			}
			if len(found) < n {
				return fmt.Errorf("%d so far", len(found))
			}
			return nil
		})
		return found
	}
	// lastDecision is the decision on the last of n requests to path.
	lastDecision := func(t *testing.T, path string, n int) crawlerDecision {
		t.Helper()
		ds := decisions(t, path, n)
		return ds[len(ds)-1]
	}
	checkCrawler := func(t *testing.T, d crawlerDecision, verdict, name, category, method, detail string) {
		t.Helper()
		c := d.Crawler
		if c == nil || c.Verdict != verdict || c.Name != name || c.Category != category || c.Method != method || c.Detail != detail {
			t.Errorf("decision on %s: crawler %s, want %s/%s/%s/%s/%s\n%s", d.Path, d.crawlerOf(),
				verdict, name, category, method, detail, d.raw)
		}
	}

	// verified checks that r reached the app as the verified crawler name
	// of category, with a verified bot's headers and nothing a client sent
	// in their place.
	verified := func(t *testing.T, what string, r response, name, category string) {
		t.Helper()
		if r.status != http.StatusOK || r.upstream == nil {
			t.Errorf("%s: %s; want 200 to the app", what, describe(r))
			return
		}
		up := r.upstream
		for header, want := range map[string]string{
			"X-Bot-Verified": name, "X-Bot-Verified-Category": category, "X-Bot-Category": "verified_bot",
			"X-Bot-Score": "0", "X-Bot-Reasons": "rule.verified_bot", "X-Bot-Action": "allow",
		} {
			if got := up.Values(header); len(got) != 1 || got[0] != want {
				t.Errorf("%s: upstream %s %q, want exactly %q", what, header, got, want)
			}
		}
	}
	// notVerified checks that r, allowed, reached the app as an unverified
	// crawler: scored likely automated for crawler.unverified, and without
	// the x-bot-verified headers the client sent. It reports whether it
	// did.
	notVerified := func(t *testing.T, what string, r response) bool {
		t.Helper()
		if r.status != http.StatusOK || r.upstream == nil {
			t.Errorf("%s: %s; want 200 to the app", what, describe(r))
			return false
		}
		ok := true
		up := r.upstream
		if v, c := up.Values("X-Bot-Verified"), up.Values("X-Bot-Verified-Category"); len(v) != 0 || len(c) != 0 {
			t.Errorf("%s: the app got x-bot-verified %q, x-bot-verified-category %q on a request that is not verified", what, v, c)
			ok = false
		}
		if c := up.Get("X-Bot-Category"); c != "likely_automated" {
			t.Errorf("%s: upstream x-bot-category %q, want likely_automated", what, c)
			ok = false
		}
		if s, err := strconv.Atoi(up.Get("X-Bot-Score")); err != nil || s > 29 {
			t.Errorf("%s: upstream x-bot-score %q, want at most 29", what, up.Get("X-Bot-Score"))
			ok = false
		}
		if reasons := up.Get("X-Bot-Reasons"); reasons != "crawler.unverified" && !strings.HasPrefix(reasons, "crawler.unverified,") {
			t.Errorf("%s: upstream x-bot-reasons %q, want crawler.unverified first", what, reasons)
			ok = false
		}
		return ok
	}
	// impersonator checks that r is the JSON 403 of an impersonation.
	impersonator := func(t *testing.T, what string, r response) {
		t.Helper()
		if d, ok := jsonDenial(r); !ok || d.Error != "forbidden" || d.Reason != "crawler.impersonation" {
			t.Errorf("%s: %s; want a JSON 403 for crawler.impersonation", what, describe(r))
		}
	}
	// untilImpersonation polls path as ip with headers until it is denied
	// as an impersonation; until then each answer must be an unverified
	// crawler let through (a reverse DNS answer still pending). It returns
	// the number of requests sent.
	untilImpersonation := func(t *testing.T, path, ip string, headers map[string]string) int {
		t.Helper()
		n := 0
		var last response
		waitFor(t, path+" denied as an impersonation", 15*time.Second, func() error {
			last = h.do(t, "GET", path, ip, headers)
			n++
			if d, ok := jsonDenial(last); ok && d.Reason == "crawler.impersonation" {
				return nil
			}
			if n == 1 {
				t.Logf("%s, first request: %s", path, describe(last))
			}
			if !notVerified(t, fmt.Sprintf("%s, request %d (reverse DNS pending)", path, n), last) {
				t.FailNow() // neither pending nor denied: polling on cannot help
			}
			return fmt.Errorf("request %d: %s", n, describe(last))
		})
		impersonator(t, path, last)
		return n
	}
	// untilVerified polls path as ip with headers until it reaches the app
	// verified; until then each answer must be an unverified crawler let
	// through. It returns the last answer and the number of requests sent.
	untilVerified := func(t *testing.T, path, ip string, headers map[string]string) (response, int) {
		t.Helper()
		n := 0
		var last response
		waitFor(t, path+" verified", 15*time.Second, func() error {
			last = h.do(t, "GET", path, ip, headers)
			n++
			if last.status == http.StatusOK && last.upstream.Get("X-Bot-Verified") != "" {
				return nil
			}
			if !notVerified(t, fmt.Sprintf("%s, request %d (verification pending)", path, n), last) {
				t.FailNow() // neither pending nor verified: polling on cannot help
			}
			return fmt.Errorf("request %d: %s", n, describe(last))
		})
		return last, n
	}

	googlebot := map[string]string{
		"User-Agent":      googlebotUA,
		"Accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Encoding": "gzip, deflate, br",
		"From":            "googlebot(at)googlebot.com",
	}

	t.Run("googlebot from Google's published ranges is verified", func(t *testing.T) {
		const path = "/crawl/googlebot"
		// The client's own x-bot-verified headers are overwritten, not
		// passed on beside botauthz's.
		r := h.do(t, "GET", path, googlebotIP, with(googlebot, "X-Bot-Verified", "somebot", "X-Bot-Verified-Category", "ai_crawler"))
		verified(t, "googlebot from "+googlebotIP, r, "googlebot", "search")

		d := lastDecision(t, path, 1)
		checkCrawler(t, d, "verified", "googlebot", "search", "ranges", "google-common-crawlers")
		if d.Score != 0 || d.Band != "verified_bot" || d.Rule != "rule.verified_bot" || d.Action != "allow" || d.Enforced != "allow" {
			t.Errorf("decision: score %d, band %q, rule %q, %s enforced as %s; want 0, verified_bot, rule.verified_bot, allow\n%s",
				d.Score, d.Band, d.Rule, d.Action, d.Enforced, d.raw)
		}
		// An address in the ranges needs no DNS.
		if n := zone.QueryCount(dns.TypePTR, dnstest.ReverseName(t, googlebotIP)); n != 0 {
			t.Errorf("%d PTR queries for %s, an address in Google's published ranges", n, googlebotIP)
		}
	})

	t.Run("googlebot's user agent from elsewhere is an impersonator", func(t *testing.T) {
		const path = "/crawl/fake-googlebot"
		// An API-style accept gets the JSON denial, which names the reason.
		// The client claims to be verified itself: it must never reach the
		// app that way.
		fake := with(googlebot, "Accept", "*/*", "X-Bot-Verified", "googlebot", "X-Bot-Verified-Category", "search")
		n := untilImpersonation(t, path, fakeGoogleIP, fake)

		d := lastDecision(t, path, n)
		checkCrawler(t, d, "impersonation", "googlebot", "search", "reverse_dns", "")
		if d.Score != 1 || d.Enforced != "deny" || d.Certainty != "impersonation" || len(d.Reasons) == 0 || d.Reasons[0].Code != "crawler.impersonation" {
			t.Errorf("decision: score %d, enforced %s, certainty %q, reasons %q; want 1, deny, impersonation, crawler.impersonation first\n%s",
				d.Score, d.Enforced, d.Certainty, d.reasons(), d.raw)
		}
		// The definitive answer came from the test's DNS server.
		if q := zone.QueryCount(dns.TypePTR, dnstest.ReverseName(t, fakeGoogleIP)); q == 0 {
			t.Errorf("no PTR query for %s reached the DNS server %s", fakeGoogleIP, dnsServer)
		}
		// Known now: the next request is denied at once.
		impersonator(t, "again", h.do(t, "GET", path, fakeGoogleIP, fake))
	})

	t.Run("a verified AI crawler is denied where the route denies ai_crawler", func(t *testing.T) {
		claudebot := map[string]string{"User-Agent": claudebotUA, "Accept": "*/*", "Accept-Encoding": "gzip, deflate, br"}
		// The login route inherits default's verified_bots.
		for _, path := range []string{"/crawl/claudebot", "/login/claudebot"} {
			r := h.do(t, "GET", path, claudebotIP, claudebot)
			if d, ok := jsonDenial(r); !ok || d.Error != "forbidden" || d.Reason != "rule.verified_bot" {
				t.Errorf("ClaudeBot on %s: %s; want a JSON 403 for rule.verified_bot", path, describe(r))
			}
			d := lastDecision(t, path, 1)
			checkCrawler(t, d, "verified", "claudebot", "ai_crawler", "ranges", "anthropic-bots")
			if d.Rule != "rule.verified_bot" || d.Action != "deny" || d.Enforced != "deny" {
				t.Errorf("decision on %s: rule %q, %s enforced as %s; want rule.verified_bot, deny\n%s", path, d.Rule, d.Action, d.Enforced, d.raw)
			}
		}
	})

	yandex := map[string]string{"User-Agent": yandexUA, "Accept": "*/*", "Accept-Encoding": "gzip, deflate, br"}

	t.Run("yandexbot is verified by forward-confirmed reverse DNS", func(t *testing.T) {
		const path = "/crawl/yandex"
		r, n := untilVerified(t, path, yandexIP, yandex)
		verified(t, "YandexBot from "+yandexIP, r, "yandex", "search")
		checkCrawler(t, lastDecision(t, path, n), "verified", "yandex", "search", "reverse_dns", yandexHost)
		if q := zone.QueryCount(dns.TypeA, yandexHost); q == 0 {
			t.Errorf("no A query for %s: the PTR answer was not forward-confirmed", yandexHost)
		}
	})

	t.Run("yandexbot with a PTR that does not resolve back is an impersonator", func(t *testing.T) {
		const path = "/crawl/yandex-spoofed"
		n := untilImpersonation(t, path, spoofIP, yandex)
		checkCrawler(t, lastDecision(t, path, n), "impersonation", "yandex", "search", "reverse_dns", "")
		if q := zone.QueryCount(dns.TypeA, spoofHost); q == 0 {
			t.Errorf("no A query for %s: the PTR name was never forward-checked", spoofHost)
		}
	})

	t.Run("an unverifiable link preview gets the route's unverified_crawlers action", func(t *testing.T) {
		slackbot := map[string]string{"User-Agent": slackbotUA, "Accept": "*/*", "Accept-Encoding": "gzip,deflate"}
		// default: allow, with the score of an unverified crawler; a
		// client-sent x-bot-verified does not get through.
		const path = "/crawl/slackbot"
		r := h.do(t, "GET", path, "198.51.100.20", with(slackbot, "X-Bot-Verified", "googlebot", "X-Bot-Verified-Category", "search"))
		notVerified(t, "Slackbot on "+path, r)
		d := lastDecision(t, path, 1)
		checkCrawler(t, d, "unverified", "slackbot", "social_preview", "", "")
		if d.Certainty != "unverified_crawler" || d.Enforced != "allow" {
			t.Errorf("decision on %s: certainty %q, enforced %s; want unverified_crawler, allow\n%s", path, d.Certainty, d.Enforced, d.raw)
		}

		// login: challenge. An API-style request is told where the
		// challenge is; a page navigation is redirected there.
		const api, page = "/login/slackbot-api", "/login/slackbot-page"
		r = h.do(t, "GET", api, "198.51.100.20", slackbot)
		if d, ok := jsonDenial(r); !ok || d.Error != "challenge_required" || !strings.HasPrefix(d.ChallengeURL, "/.botauthz/challenge?route=login&") {
			t.Errorf("Slackbot on %s: %s; want the JSON challenge 403 of the login route", api, describe(r))
		}
		r = h.do(t, "GET", page, "198.51.100.20", with(slackbot, "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"))
		if u, err := url.Parse(r.header.Get("Location")); r.status != http.StatusFound || err != nil || u.Path != "/.botauthz/challenge" ||
			u.Query().Get("route") != "login" || u.Query().Get("return_to") != page {
			t.Errorf("Slackbot on %s: %s; want a 302 to the login route's challenge", page, describe(r))
		}
		for _, p := range []string{api, page} {
			d := lastDecision(t, p, 1)
			checkCrawler(t, d, "unverified", "slackbot", "social_preview", "", "")
			if d.Action != "challenge" || d.Enforced != "challenge" {
				t.Errorf("decision on %s: %s enforced as %s; want challenge\n%s", p, d.Action, d.Enforced, d.raw)
			}
		}
	})

	t.Run("web bot auth: a signature by the agent's key verifies, another key's is an impersonation", func(t *testing.T) {
		sign := func(key webbotauthtest.Key, host, path string) map[string]string {
			now := time.Now()
			s := signer.Sign(t, webbotauthtest.Job{JWK: key.PrivateJWK(), URL: "https://" + host + path,
				SignatureAgent: `"https://chatgpt.com"`, Created: now.Unix(), Expires: now.Add(5 * time.Minute).Unix()})
			if s.KeyID != key.ID {
				t.Fatalf("web-bot-auth signed with keyid %q, want the key's thumbprint %q", s.KeyID, key.ID)
			}
			headers := maps.Clone(chrome)
			for k, v := range s.Headers {
				headers[k] = v
			}
			return headers
		}

		// ChatGPT agent browses with Chrome's user agent: only its
		// signature says what it is. The key directory is read in the
		// background at start.
		const path = "/crawl/agent"
		r, n := untilVerified(t, path, agentClientIP, sign(agentKey, authority, path))
		verified(t, "a request signed by the chatgpt.com key", r, "chatgpt-agent", "ai_assistant")
		checkCrawler(t, lastDecision(t, path, n), "verified", "chatgpt-agent", "ai_assistant", "web_bot_auth", agentKey.ID)

		// A key the directory does not hold: the same request, denied.
		// The navigation's accept gets the HTML page; the decision log
		// says why.
		const forged = "/crawl/agent-forged"
		r = h.do(t, "GET", forged, agentClientIP, sign(strangerKey, authority, forged))
		if r.status != http.StatusForbidden {
			t.Errorf("a request signed by a key not in the directory: %s; want 403", describe(r))
		}
		d := lastDecision(t, forged, 1)
		checkCrawler(t, d, "impersonation", "chatgpt-agent", "ai_assistant", "web_bot_auth", "unknown_key")
		if len(d.Reasons) == 0 || d.Reasons[0].Code != "crawler.impersonation" || d.Enforced != "deny" {
			t.Errorf("decision on %s: reasons %q, enforced %s; want crawler.impersonation first, deny\n%s", forged, d.reasons(), d.Enforced, d.raw)
		}
		// The same, asking for JSON: the denial names the reason.
		impersonator(t, "a fetch signed by a key not in the directory",
			h.do(t, "GET", forged, agentClientIP, with(sign(strangerKey, authority, forged),
				"Accept", "application/json", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "Sec-Fetch-Site", "same-origin")))

		// The agent's own key, but signed for another host: the signature
		// covers @authority, so it does not verify here.
		const elsewhere = "/crawl/agent-elsewhere"
		r = h.do(t, "GET", elsewhere, agentClientIP, with(sign(agentKey, "shop.example", elsewhere), "Accept", "application/json"))
		impersonator(t, "a request signed for another authority", r)
		checkCrawler(t, lastDecision(t, elsewhere, 1), "impersonation", "chatgpt-agent", "ai_assistant", "web_bot_auth", "bad_signature")
	})
}
