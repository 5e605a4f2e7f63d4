package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/crawler"
)

func TestCrawlerDefaultsLetCrawlersIn(t *testing.T) {
	p := Default()
	r := p.Route("anything")
	if r.VerifiedBotsDefault != ActionAllow || len(r.VerifiedBots) != 0 || r.UnverifiedCrawlers != ActionAllow {
		t.Errorf("default route: verified_bots %v default %v, unverified_crawlers %v; want everything allowed",
			r.VerifiedBots, r.VerifiedBotsDefault, r.UnverifiedCrawlers)
	}
	c := p.Crawlers
	if c.Network || !c.ReverseDNS || c.Refresh != 24*time.Hour || c.Directory != "" || c.DNSServer != "" || len(c.KeyDirectories) != 0 {
		t.Errorf("crawlers defaults %+v: want no network, reverse DNS on, daily refresh", c)
	}
}

func TestVerifiedBotsMergeKeyByKey(t *testing.T) {
	p, err := Parse([]byte(`
routes:
  default:
    verified_bots: {search: allow, ai_crawler: deny}
  login:
    verified_bots: {ai_crawler: allow, seo: challenge, default: deny}
    unverified_crawlers: deny
  search: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		route string
		cat   crawler.Category
		want  Action
	}{
		{"default", crawler.Search, ActionAllow},
		{"default", crawler.AICrawler, ActionDeny},
		{"default", crawler.Feed, ActionAllow}, // the embedded default
		{"search", crawler.AICrawler, ActionDeny},
		{"login", crawler.Search, ActionAllow}, // from the file's default route
		{"login", crawler.AICrawler, ActionAllow},
		{"login", crawler.SEO, ActionChallenge},
		{"login", crawler.Monitoring, ActionDeny},
	}
	for _, tt := range tests {
		if got := p.Route(tt.route).VerifiedBotAction(tt.cat); got != tt.want {
			t.Errorf("route %s, %s: %v, want %v", tt.route, tt.cat, got, tt.want)
		}
	}
	if p.Route("login").UnverifiedCrawlers != ActionDeny || p.Route("search").UnverifiedCrawlers != ActionAllow {
		t.Errorf("unverified_crawlers: login %v, search %v", p.Route("login").UnverifiedCrawlers, p.Route("search").UnverifiedCrawlers)
	}
}

func TestCrawlerSettingsAreValidated(t *testing.T) {
	for doc, want := range map[string]string{
		"routes: {login: {verified_bots: {robots: allow}}}":      "routes.login.verified_bots.robots: unknown category (want default or one of search, ai_crawler",
		"routes: {login: {verified_bots: {search: ratelimit}}}":  `routes.login.verified_bots.search: "ratelimit" is not allow, challenge or deny`,
		"routes: {login: {unverified_crawlers: block}}":          `routes.login.unverified_crawlers: "block" is not allow, challenge or deny`,
		"crawlers: {refresh: 10s}":                               `crawlers.refresh: "10s" is not a duration between 1m0s and 720h0m0s`,
		"crawlers: {dns_server: 127.0.0.1}":                      `crawlers.dns_server: "127.0.0.1" is not host:port`,
		"crawlers: {key_directories: {chatgpt.com: x}}":          `crawlers.key_directories.chatgpt.com: "chatgpt.com" is not an origin`,
		`crawlers: {key_directories: {"https://a.example": ""}}`: `crawlers.key_directories.https://a.example: "" is not an https://, http:// or file:// URL`,
		"crawlers: {reverse_dns: maybe}":                         `crawlers.reverse_dns`,
		"crawlers: {directories: x}":                             "crawlers.directories: unknown key",
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", doc, err, want)
		}
	}
	p, err := Parse([]byte(`crawlers: {network: true, refresh: 6h, dns_server: "10.0.0.2:53", directory: /etc/botauthz/crawlers.yaml,
  key_directories: {"https://chatgpt.com": "file:///etc/botauthz/chatgpt.json"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Crawlers; !c.Network || c.Refresh != 6*time.Hour || c.DNSServer != "10.0.0.2:53" || c.KeyDirectories["https://chatgpt.com"] == "" {
		t.Errorf("crawlers %+v", c)
	}
}
