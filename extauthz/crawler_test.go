package extauthz

import (
	"strings"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

// crawlerPolicy enforces everywhere: search engines are welcome, AI
// crawlers are not on the default route, and login challenges unverified
// crawlers and rate-limits hard.
const crawlerPolicy = `
session_cookie: sid
routes:
  default:
    mode: enforce
    verified_bots: {search: allow, ai_crawler: deny, default: allow}
  login:
    mode: enforce
    unverified_crawlers: challenge
    verified_bots: {ai_crawler: allow}
    limits:
      - {key: route_ip, window: 60s, max: 2}
`

// The shipped directory's crawlers, as their operators document their
// user agents, at addresses of the shipped range snapshots.
var (
	googlebot = map[string]string{
		"user-agent":      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"accept-encoding": "gzip, deflate, br",
		"from":            "googlebot(at)googlebot.com",
	}
	googlebotIP = "66.249.66.1"
	claudebot   = map[string]string{"user-agent": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "accept": "*/*"}
	claudebotIP = "216.73.216.10"
	slackbot    = map[string]string{"user-agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "accept": "*/*"}
)

func crawlerServer(t *testing.T) *Server {
	t.Helper()
	p, err := policy.Parse([]byte(crawlerPolicy))
	if err != nil {
		t.Fatal(err)
	}
	d, err := crawler.Load()
	if err != nil {
		t.Fatal(err)
	}
	v, err := crawler.New(crawler.Config{Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s, err := New(Options{Policy: p, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Crawlers: v, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifiedCrawlerIsNotScored(t *testing.T) {
	s := crawlerServer(t)
	resp := mustCheck(t, s, request("GET", "/", "", googlebotIP, with(googlebot, "x-bot-verified", "forged", "x-bot-verified-category", "forged")))
	h := upstreamHeaders(t, resp)
	want := map[string]string{HeaderScore: "0", HeaderCategory: "verified_bot", HeaderAction: "allow",
		HeaderVerified: "googlebot", HeaderVerifiedCategory: "search", HeaderReasons: "rule.verified_bot"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, h[k], v, h)
		}
	}
	if removed := resp.GetOkResponse().GetHeadersToRemove(); len(removed) != 0 {
		t.Errorf("removes %v: the verified headers are overwritten, not removed", removed)
	}
	md := resp.GetDynamicMetadata().GetFields()
	if md["bot_verified"].GetStringValue() != "googlebot" || md["bot_verified_category"].GetStringValue() != "search" {
		t.Errorf("metadata %v", md)
	}
}

func TestCrawlerOutcomesByPolicy(t *testing.T) {
	s := crawlerServer(t)
	tests := []struct {
		name           string
		path, route    string
		ip             string
		headers        map[string]string
		status         typev3.StatusCode // 0: allowed
		reason, action string
	}{
		{name: "a search engine from its operator's address", path: "/", ip: googlebotIP, headers: googlebot, action: "allow"},
		{name: "an AI crawler from its operator's address, on a route that denies them", path: "/", ip: claudebotIP, headers: claudebot,
			status: typev3.StatusCode_Forbidden, reason: "rule.verified_bot"},
		{name: "the same AI crawler where the route allows them", path: "/login", route: "login", ip: claudebotIP, headers: claudebot, action: "allow"},
		{name: "Googlebot's user agent from elsewhere", path: "/", ip: "203.0.113.9", headers: with(googlebot, "accept", "*/*"),
			status: typev3.StatusCode_Forbidden, reason: "crawler.impersonation"},
		{name: "a link preview nobody can verify, on a content page", path: "/", ip: "203.0.113.9", headers: slackbot, action: "allow"},
		{name: "a link preview on a route that challenges unverified crawlers", path: "/login", route: "login", ip: "203.0.113.9", headers: slackbot,
			status: typev3.StatusCode_Forbidden, reason: ""},
		{name: "a bot of no directory entry", path: "/", ip: "203.0.113.9",
			headers: map[string]string{"user-agent": "Mozilla/5.0 (compatible; HomeGrownBot/0.1; +https://example.org/bot)", "accept": "*/*"}, action: "allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := mustCheck(t, s, request("GET", tt.path, tt.route, tt.ip, tt.headers))
			if tt.status == 0 {
				h := upstreamHeaders(t, resp)
				if h[HeaderAction] != tt.action {
					t.Fatalf("action %q, want %q (%v)", h[HeaderAction], tt.action, h)
				}
				return
			}
			if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != tt.status {
				t.Fatalf("status %v, want %v: %v", got, tt.status, resp)
			}
			if body := resp.GetDeniedResponse().GetBody(); tt.reason != "" && !strings.Contains(body, tt.reason) {
				t.Errorf("body %q does not name %s", body, tt.reason)
			}
		})
	}
}

func TestUnverifiedCrawlersScoreLikelyAutomated(t *testing.T) {
	s := crawlerServer(t)
	homegrown := map[string]string{"user-agent": "HomeGrownBot/0.1 (+https://example.org/bot)", "accept": "*/*"}
	for _, headers := range []map[string]string{slackbot, homegrown} {
		// Slackbot's operator publishes no way to verify it; a bot of no
		// directory entry cannot be verified either.
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.9", headers)))
		if h[HeaderCategory] != "likely_automated" || !strings.HasPrefix(h[HeaderReasons], "crawler.unverified") {
			t.Errorf("%s: %v, want likely_automated led by crawler.unverified", headers["user-agent"], h)
		}
	}
}

func TestVerifiedCrawlerStillHitsHardLimits(t *testing.T) {
	s := crawlerServer(t)
	var last string
	for range 3 {
		resp := mustCheck(t, s, request("GET", "/login", "login", googlebotIP, googlebot))
		last = resp.GetDeniedResponse().GetStatus().GetCode().String()
		if resp.GetDeniedResponse() == nil {
			last = "allowed"
		}
	}
	if last != typev3.StatusCode_TooManyRequests.String() {
		t.Errorf("third request past a limit of 2: %s, want 429", last)
	}
}
