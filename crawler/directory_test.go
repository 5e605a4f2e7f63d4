package crawler

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func loadEmbedded(t testing.TB) *Directory {
	t.Helper()
	d, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return d
}

func entryNamed(t testing.TB, d *Directory, name string) Entry {
	t.Helper()
	for _, e := range d.Crawlers {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no crawler %q", name)
	return Entry{}
}

func rangePrefixes(t testing.TB, d *Directory, name string) []netip.Prefix {
	t.Helper()
	for _, l := range d.Ranges {
		if l.Name != name {
			continue
		}
		data, err := d.ReadSnapshot(l)
		if err != nil {
			t.Fatalf("ReadSnapshot(%s): %v", name, err)
		}
		p, err := ParseRanges(l.Format, data)
		if err != nil {
			t.Fatalf("ParseRanges(%s): %v", name, err)
		}
		return p
	}
	t.Fatalf("no range list %q", name)
	return nil
}

func containsAddr(prefixes []netip.Prefix, addr string) bool {
	a := netip.MustParseAddr(addr)
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// longestTokenMatch is the match rule the directory is written for, done
// the slow obvious way as the matcher's oracle: the entry whose token is
// the longest case-insensitive substring of the user agent not right after
// "like ", the leftmost among equally long ones.
func longestTokenMatch(d *Directory, ua string) string {
	ua = asciiLower(ua)
	best, bestLen, bestAt := "", 0, 0
	for _, e := range d.Crawlers {
		for _, t := range e.Tokens {
			tok := asciiLower(t)
			for from := 0; ; {
				i := strings.Index(ua[from:], tok)
				if i < 0 {
					break
				}
				at := from + i
				if !strings.HasSuffix(ua[:at], "like ") {
					if len(t) > bestLen || len(t) == bestLen && at < bestAt {
						best, bestLen, bestAt = e.Name, len(t), at
					}
					break
				}
				from = at + 1
			}
		}
	}
	return best
}

// asciiLower lower-cases ASCII letters only, as the matcher does: a user
// agent's other bytes must not fold into a token's.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// matchName is the name of the crawler the directory's matcher finds in ua,
// "" for none.
func matchName(d *Directory, m *matcher, ua string) string {
	if i := m.match(ua); i >= 0 {
		return d.Crawlers[i].Name
	}
	return ""
}

func TestLoadEmbeddedDirectory(t *testing.T) {
	d := loadEmbedded(t)
	if len(d.Crawlers) < 30 {
		t.Errorf("%d crawlers, want at least 30", len(d.Crawlers))
	}
	if d.Version == "" {
		t.Error("no version")
	}
	referenced := map[string]bool{}
	for _, e := range d.Crawlers {
		if len(e.Sources) == 0 {
			t.Errorf("crawler %q has no source", e.Name)
		}
		if e.Verifiable() {
			for _, s := range e.Sources {
				if !strings.HasPrefix(s, "https://") {
					t.Errorf("verifiable crawler %q cites %q; its facts should come from an https page", e.Name, s)
				}
			}
		} else if e.Note == "" {
			t.Errorf("crawler %q has no verification and no note saying why", e.Name)
		}
		for _, r := range e.Ranges {
			if !slices.ContainsFunc(d.Ranges, func(l RangeList) bool { return l.Name == r }) {
				t.Errorf("crawler %q refers to unknown range list %q", e.Name, r)
			}
			referenced[r] = true
		}
	}
	for _, l := range d.Ranges {
		if !referenced[l.Name] {
			t.Errorf("range list %q is used by no crawler", l.Name)
		}
	}
}

// TestEmbeddedSnapshots checks every shipped range file: it parses, holds a
// plausible number of prefixes, is dated by its own creationTime when it has
// one, and names the commit it was copied from.
func TestEmbeddedSnapshots(t *testing.T) {
	d := loadEmbedded(t)
	// Sanity floors: well under what each snapshot holds, far above what a
	// truncated or wrong file would.
	minPrefixes := map[string]int{
		"google-common-crawlers":                200,
		"google-special-crawlers":               200,
		"google-user-triggered-fetchers-google": 300,
		"bingbot":                               20,
		"applebot":                              10,
		"duckduckbot":                           100,
		"openai-gptbot":                         10,
		"openai-searchbot":                      20,
		"openai-chatgpt-user":                   100,
		"anthropic-bots":                        20,
		"perplexitybot":                         5,
		"perplexity-user":                       3,
		"ahrefs":                                30,
	}
	commitURL := regexp.MustCompile(`^https://github\.com/[^/]+/[^/]+/blob/[0-9a-f]{40}/.+`)
	for _, l := range d.Ranges {
		t.Run(l.Name, func(t *testing.T) {
			data, ok := Snapshot(l)
			if !ok {
				t.Fatalf("no embedded snapshot %s", l.Snapshot)
			}
			p, err := ParseRanges(l.Format, data)
			if err != nil {
				t.Fatalf("ParseRanges: %v", err)
			}
			floor, known := minPrefixes[l.Name]
			if !known {
				t.Fatalf("no sanity count for %s in this test", l.Name)
			}
			if len(p) < floor {
				t.Errorf("%d prefixes, want at least %d", len(p), floor)
			}
			if ct, ok := CreationTime(l.Format, data); ok {
				if got := ct.Format("2006-01-02"); got != l.Retrieved {
					t.Errorf("retrieved %s, but the file's creationTime is %s", l.Retrieved, got)
				}
			}
			if !commitURL.MatchString(l.SnapshotSource) {
				t.Errorf("snapshot_source %q does not name a commit", l.SnapshotSource)
			}
			if !strings.HasPrefix(l.URL, "https://") {
				t.Errorf("url %q is not the operator's https URL", l.URL)
			}
		})
	}
}

// TestEmbeddedFacts asserts facts the operators document, so that a wrong
// snapshot or a mistyped entry fails.
func TestEmbeddedFacts(t *testing.T) {
	d := loadEmbedded(t)
	common := rangePrefixes(t, d, "google-common-crawlers")
	special := rangePrefixes(t, d, "google-special-crawlers")
	// Google's verification page: 66.249.66.1 is crawl-66-249-66-1.googlebot.com
	// (a common crawler), 66.249.90.77 is rate-limited-proxy-66-249-90-77.google.com
	// (a special-case crawler).
	if !containsAddr(common, "66.249.66.1") {
		t.Error("66.249.66.1 (Googlebot, Google's own example) is not in google-common-crawlers")
	}
	if !containsAddr(special, "66.249.90.77") || containsAddr(common, "66.249.90.77") {
		t.Error("66.249.90.77 (Google's rate-limited-proxy example) should be in special-crawlers only")
	}
	// Apple: "originating from the 17.0.0.0 net block".
	apple := netip.MustParsePrefix("17.0.0.0/8")
	for _, p := range rangePrefixes(t, d, "applebot") {
		if !apple.Contains(p.Addr()) || p.Bits() < 8 {
			t.Errorf("applebot prefix %v is outside 17.0.0.0/8", p)
		}
	}
	// Anthropic's crawl block.
	if !containsAddr(rangePrefixes(t, d, "anthropic-bots"), "216.73.216.10") {
		t.Error("216.73.216.10 is not in anthropic-bots")
	}

	categories := map[string]Category{
		"googlebot": Search, "bingbot": Search, "applebot": Search, "duckduckbot": Search,
		"gptbot": AICrawler, "claudebot": AICrawler, "ccbot": AICrawler, "bytespider": AICrawler,
		"chatgpt-user": AIAssistant, "claude-user": AIAssistant, "perplexity-user": AIAssistant,
		"oai-searchbot": AISearch, "claude-searchbot": AISearch, "perplexitybot": AISearch,
		"adsbot-google": Advertising, "mediapartners-google": Advertising,
		"ahrefsbot": SEO, "uptimerobot": Monitoring, "facebookexternalhit": SocialPreview,
		"archive-org-bot": Archiver, "feedly": Feed,
	}
	for name, want := range categories {
		if got := entryNamed(t, d, name).Category; got != want {
			t.Errorf("%s: category %q, want %q", name, got, want)
		}
	}

	verify := map[string]Entry{
		"googlebot":          {Ranges: []string{"google-common-crawlers"}, RDNS: []string{"googlebot.com"}},
		"adsbot-google":      {Ranges: []string{"google-special-crawlers"}, RDNS: []string{"google.com"}},
		"bingbot":            {Ranges: []string{"bingbot"}, RDNS: []string{"search.msn.com"}},
		"applebot":           {Ranges: []string{"applebot"}, RDNS: []string{"applebot.apple.com"}},
		"yandex":             {RDNS: []string{"yandex.ru", "yandex.net", "yandex.com"}},
		"baiduspider":        {RDNS: []string{"baidu.com", "baidu.jp"}},
		"amazonbot":          {RDNS: []string{"crawl.amazonbot.amazon"}},
		"gptbot":             {Ranges: []string{"openai-gptbot"}},
		"chatgpt-agent":      {WebBotAuth: []string{"https://chatgpt.com"}},
		"meta-externalagent": {},
	}
	for name, want := range verify {
		e := entryNamed(t, d, name)
		if !slices.Equal(e.Ranges, want.Ranges) || !slices.Equal(e.RDNS, want.RDNS) || !slices.Equal(e.WebBotAuth, want.WebBotAuth) {
			t.Errorf("%s: verify ranges=%v rdns=%v web_bot_auth=%v; want %v %v %v",
				name, e.Ranges, e.RDNS, e.WebBotAuth, want.Ranges, want.RDNS, want.WebBotAuth)
		}
	}
}

// TestEmbeddedTokensMatchDocumentedUserAgents runs the operators' own sample
// user agents through longest-token matching, and ordinary browsers too.
func TestEmbeddedTokensMatchDocumentedUserAgents(t *testing.T) {
	d := loadEmbedded(t)
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot"},
		{"Googlebot-Image/1.0", "googlebot"},
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; AdsBot-Google-Mobile; +http://www.google.com/mobile/adsbot.html)", "adsbot-google"},
		{"Mediapartners-Google", "mediapartners-google"},
		{"APIs-Google (+https://developers.google.com/webmasters/APIs-Google.html)", "apis-google"},
		{"FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)", "feedfetcher-google"},
		{"GoogleProducer; (+https://developers.google.com/search/docs/crawling-indexing/google-producer)", "googleproducer"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/131.0.0.0 Safari/537.36", "bingbot"},
		// adidxbot's user agent links bingbot.htm: the longer token,
		// "adidxbot", must win over "bingbot".
		{"Mozilla/5.0 (compatible; adidxbot/2.0; +http://www.bing.com/bingbot.htm)", "adidxbot"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.1 Safari/605.1.15 (Applebot/0.1)", "applebot"},
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "yandex"},
		{"Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)", "yandex"},
		{"Mozilla/5.0 (compatible; Baiduspider-render/2.0; +http://www.baidu.com/search/spider.html)", "baiduspider"},
		{"Mozilla/5.0 (compatible; SeznamBot/4.0; +http://napoveda.seznam.cz/seznambot-intro/)", "seznambot"},
		{"Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)", "naver-yeti"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.3; +https://openai.com/gptbot", "gptbot"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36; compatible; OAI-SearchBot/1.3; +https://openai.com/searchbot", "oai-searchbot"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", "chatgpt-user"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "claudebot"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_1) AppleWebKit/600.2.5 (KHTML, like Gecko) Version/8.0.2 Safari/600.2.5 (Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)", "amazonbot"},
		{"CCBot/2.0 (https://commoncrawl.org/faq/)", "ccbot"},
		{"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "ahrefsbot"},
		{"Mozilla/5.0 (compatible; AhrefsSiteAudit/6.1; +http://ahrefs.com/robot/site-audit)", "ahrefssiteaudit"},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebookexternalhit"},
		{"meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", "meta-externalagent"},
		{"Mozilla/5.0 (compatible; Pinterestbot/1.0; +https://www.pinterest.com/bot.html)", "pinterestbot"},
		{"Pinterest/0.2 (+https://www.pinterest.com/bot.html)", "pinterestbot"},
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "slackbot"},
		{"SentryUptimeBot/1.0 (+http://docs.sentry.io/product/monitors/uptime-monitoring/)", "sentry-uptime"},
		{"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "uptimerobot"},
		// "like X" compares, it does not claim.
		{"Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)", "feedly"},
		{"Mozilla/5.0 (compatible; SomeReader/2.1; like FeedFetcher-Google)", ""},
		{"FeedFetcher-Google; (+http://www.google.com/feedfetcher.html); like FeedFetcher-Google", "feedfetcher-google"},
		// Ordinary browsers claim no crawler.
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", ""},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", ""},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", ""},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0", ""},
	}
	m := newMatcher(d.Crawlers)
	for _, tt := range tests {
		if got := matchName(d, m, tt.ua); got != tt.want {
			t.Errorf("%q matched %q, want %q", tt.ua, got, tt.want)
		}
		if got := longestTokenMatch(d, tt.ua); got != tt.want {
			t.Errorf("oracle: %q matched %q, want %q", tt.ua, got, tt.want)
		}
	}
}

func TestCategories(t *testing.T) {
	all := Categories()
	if len(all) != 13 {
		t.Fatalf("%d categories, want 13", len(all))
	}
	seen := map[Category]bool{}
	for _, c := range all {
		if seen[c] {
			t.Errorf("category %q twice", c)
		}
		seen[c] = true
		got, ok := ParseCategory(string(c))
		if !ok || got != c {
			t.Errorf("ParseCategory(%q) = %q, %v", c, got, ok)
		}
	}
	for _, bad := range []string{"", "Search", "ai-crawler", "search ", "bots"} {
		if _, ok := ParseCategory(bad); ok {
			t.Errorf("ParseCategory(%q) accepted", bad)
		}
	}
	all[0] = "mutated"
	if Categories()[0] != Search {
		t.Error("Categories returns shared state")
	}
}

func TestVerifiable(t *testing.T) {
	tests := []struct {
		e    Entry
		want bool
	}{
		{Entry{}, false},
		{Entry{Tokens: []string{"SomeBot"}, Sources: []string{"https://example.com"}}, false},
		{Entry{Ranges: []string{"x"}}, true},
		{Entry{RDNS: []string{"example.com"}}, true},
		{Entry{WebBotAuth: []string{"https://example.com"}}, true},
	}
	for _, tt := range tests {
		if got := tt.e.Verifiable(); got != tt.want {
			t.Errorf("%+v.Verifiable() = %v, want %v", tt.e, got, tt.want)
		}
	}
}

// minimalDirectory is a valid directory the error cases below vary.
const minimalDirectory = `version: 2026-12-02
crawlers:
  - name: examplebot
    operator: Example
    category: search
    tokens: [ExampleBot]
    verify:
      ranges: [example]
      rdns: [crawl.example.com]
    sources: [https://example.com/bot]
ranges:
  - name: example
    format: google-json
    url: https://example.com/bot.json
    snapshot: ranges/example.json
    retrieved: 2026-11-20
    snapshot_source: https://github.com/example/mirror/blob/0123456789abcdef0123456789abcdef01234567/bot.json
`

func TestParseMinimal(t *testing.T) {
	d, err := Parse([]byte(minimalDirectory))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Entry{
		Name: "examplebot", Operator: "Example", Category: Search, Tokens: []string{"ExampleBot"},
		Ranges: []string{"example"}, RDNS: []string{"crawl.example.com"}, Sources: []string{"https://example.com/bot"},
	}
	if len(d.Crawlers) != 1 || !entriesEqual(d.Crawlers[0], want) {
		t.Errorf("crawlers = %+v, want [%+v]", d.Crawlers, want)
	}
	if d.Version != "2026-12-02" || len(d.Ranges) != 1 || d.Ranges[0].Retrieved != "2026-11-20" {
		t.Errorf("directory = %+v", d)
	}
}

func entriesEqual(a, b Entry) bool {
	return a.Name == b.Name && a.Operator == b.Operator && a.Category == b.Category && a.Note == b.Note &&
		slices.Equal(a.Tokens, b.Tokens) && slices.Equal(a.Ranges, b.Ranges) && slices.Equal(a.RDNS, b.RDNS) &&
		slices.Equal(a.WebBotAuth, b.WebBotAuth) && slices.Equal(a.Sources, b.Sources)
}

func TestParseNormalizesSuffixesAndOrigins(t *testing.T) {
	data := strings.Replace(minimalDirectory, "rdns: [crawl.example.com]",
		"rdns: [.Crawl.Example.COM., search.msn.com]\n      web_bot_auth: [\"HTTPS://ChatGPT.com:443/\", \"https://agent.example:8443\"]", 1)
	d, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	e := d.Crawlers[0]
	if want := []string{"crawl.example.com", "search.msn.com"}; !slices.Equal(e.RDNS, want) {
		t.Errorf("RDNS = %v, want %v", e.RDNS, want)
	}
	if want := []string{"https://chatgpt.com", "https://agent.example:8443"}; !slices.Equal(e.WebBotAuth, want) {
		t.Errorf("WebBotAuth = %v, want %v", e.WebBotAuth, want)
	}
}

func TestParseErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(minimalDirectory, old) {
			panic("test fixture does not contain " + old)
		}
		return strings.Replace(minimalDirectory, old, new, 1)
	}
	second := func(entry string) string {
		return replace("ranges:\n", entry+"ranges:\n")
	}
	tests := []struct {
		name, data, want string
	}{
		{"empty file", "", "no keys"},
		{"comments only", "# nothing\n", "no keys"},
		{"not a mapping", "- a\n- b\n", "file: must be a mapping"},
		{"unknown top-level key", replace("version:", "verison: 2026-12-02\nversion:"), `line 1: file: unknown key "verison"`},
		{"missing version", replace("version: 2026-12-02\n", ""), "missing key version"},
		{"bad version", replace("2026-12-02", "December"), `"December" is not a date`},
		{"missing crawlers", "version: 2026-12-02\n", "missing key crawlers"},
		{"no crawlers", "version: 2026-12-02\ncrawlers: []\n", "the directory has no crawler"},
		{"crawlers not a list", "version: 2026-12-02\ncrawlers: {a: b}\n", "crawlers: must be a list"},
		{"unknown crawler key names entry and line", replace("    operator: Example", "    operater: Example\n    operator: Example"), `line 4: crawler "examplebot": unknown key "operater"`},
		{"source spelled singular", replace("    sources: [https://example.com/bot]", "    source: https://example.com/bot\n    sources: [https://example.com/bot]"), `spells it "sources:"`},
		{"repeated key", replace("    category: search", "    category: search\n    category: seo"), `key "category" repeated (first at line 5)`},
		{"bad name", replace("name: examplebot", "name: ExampleBot"), `name "ExampleBot" must be lower-case`},
		{"missing name", replace("  - name: examplebot\n    operator", "  - operator"), "crawlers[0]: missing key name"},
		{"missing operator", replace("    operator: Example\n", ""), "operator is required"},
		{"unknown category", replace("category: search", "category: searchengine"), `line 5: crawler "examplebot": unknown category "searchengine"`},
		{"short token", replace("[ExampleBot]", "[ExB]"), "shorter than 5 characters"},
		{"generic token Google", replace("[ExampleBot]", "[ExampleBot, Google]"), `tokens[1] "Google": a generic word`},
		{"browser word Mozilla", replace("[ExampleBot]", "[Mozilla/5.0]"), "occurs in ordinary browsers' user agents"},
		{"browser word Safari", replace("[ExampleBot]", "[Safari]"), "occurs in ordinary browsers' user agents"},
		{"token with spaces around", replace("[ExampleBot]", `[" ExampleBot"]`), "leading or trailing spaces"},
		{"token with a control character", replace("[ExampleBot]", `["Example\tBot"]`), "printable ASCII"},
		{"token not a scalar", replace("[ExampleBot]", "[[ExampleBot]]"), "tokens[0] must be a single value"},
		{"tokens not a list", replace("[ExampleBot]", "ExampleBot"), "tokens must be a list"},
		{"token twice in one entry", replace("[ExampleBot]", "[ExampleBot, examplebot]"), `token "examplebot" listed twice`},
		{"token shared by two entries", second("  - name: otherbot\n    operator: Other\n    category: seo\n    tokens: [EXAMPLEBOT]\n    sources: [https://other.example/bot]\n"),
			`crawler "otherbot": token "EXAMPLEBOT" is already crawler "examplebot"'s`},
		{"duplicate crawler name", second("  - name: examplebot\n    operator: Other\n    category: seo\n    tokens: [OtherBot]\n    sources: [https://other.example/bot]\n"),
			`crawler "examplebot": name used twice`},
		{"no tokens and no signature", replace("    tokens: [ExampleBot]\n", ""), "no tokens"},
		{"unknown range reference", replace("ranges: [example]", "ranges: [exmaple]"), `line 8: crawler "examplebot": verify.ranges refers to "exmaple"`},
		{"range referenced twice", replace("ranges: [example]", "ranges: [example, example]"), `verify.ranges lists "example" twice`},
		{"unknown verify key", replace("      rdns:", "      dns: [x.example.com]\n      rdns:"), `verify: unknown key "dns"`},
		{"wildcard suffix", replace("[crawl.example.com]", `["*.example.com"]`), "no wildcards"},
		{"single-label suffix", replace("[crawl.example.com]", "[com]"), "single label"},
		{"IP address as suffix", replace("[crawl.example.com]", "[66.249.66.1]"), "an IP address"},
		{"suffix label with underscore", replace("[crawl.example.com]", "[crawl_1.example.com]"), "letters, digits and '-'"},
		{"suffix listed twice", replace("[crawl.example.com]", "[crawl.example.com, .CRAWL.example.com]"), `verify.rdns lists "crawl.example.com" twice`},
		{"http origin", replace("      rdns: [crawl.example.com]", "      web_bot_auth: [http://chatgpt.com]"), "must be an https origin"},
		{"origin with a path", replace("      rdns: [crawl.example.com]", "      web_bot_auth: [https://chatgpt.com/.well-known/http-message-signatures-directory]"), "no path"},
		{"origin with a bad port", replace("      rdns: [crawl.example.com]", "      web_bot_auth: [\"https://chatgpt.com:99999\"]"), `bad port "99999"`},
		{"source not a URL", replace("[https://example.com/bot]", "[example.com/bot]"), "is not an absolute URL"},
		{"source ftp", replace("[https://example.com/bot]", "[ftp://example.com/bot]"), "must be an http or https URL"},
		{"no sources", replace("    sources: [https://example.com/bot]\n", ""), "sources is required"},
		{"disabled in a full directory", replace("    operator: Example", "    disabled: true\n    operator: Example"), "disabled: true belongs in an override file"},
		{"disabled not a bool", replace("    operator: Example", "    disabled: maybe\n    operator: Example"), "disabled must be true or false"},
		{"unknown format", replace("format: google-json", "format: csv"), `range list "example": unknown format "csv" (known: google-json, plain)`},
		{"missing format", replace("    format: google-json\n", ""), "missing key format"},
		{"range url over http", replace("url: https://example.com/bot.json", "url: http://example.com/bot.json"), "must be an https URL"},
		{"missing range url", replace("    url: https://example.com/bot.json\n", ""), "missing key url"},
		{"snapshot escaping the folder", replace("snapshot: ranges/example.json", "snapshot: ../example.json"), "without . or .. elements"},
		{"absolute snapshot", replace("snapshot: ranges/example.json", "snapshot: /etc/passwd"), "relative slash-separated path"},
		{"snapshot without retrieved", replace("    retrieved: 2026-11-20\n", ""), "a snapshot needs retrieved"},
		{"bad retrieved", replace("retrieved: 2026-11-20", "retrieved: 2026-13-01"), `retrieved "2026-13-01" is not a date`},
		{"snapshot source over http", replace("snapshot_source: https://github.com", "snapshot_source: http://github.com"), "snapshot_source"},
		{"duplicate range list", replace("ranges:\n  - name: example", "ranges:\n  - name: example\n    format: plain\n    url: https://example.com/b.txt\n  - name: example"), `range list "example": name used twice`},
		{"unknown range key", replace("    format: google-json", "    fromat: google-json\n    format: google-json"), `range list "example": unknown key "fromat"`},
		{"anchors refused", replace("    tokens: [ExampleBot]", "    tokens: &t [ExampleBot]"), "anchors and aliases are not supported"},
		{"YAML syntax error", "version: [2026\n", "yaml"},
		{"too large", minimalDirectory + "# " + strings.Repeat("x", MaxDirectoryFileSize) + "\n", "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error containing %q", d, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// TestParseReportsEveryProblem checks that an operator sees all mistakes
// of a file in one run.
func TestParseReportsEveryProblem(t *testing.T) {
	data := strings.NewReplacer(
		"category: search", "category: searchengine",
		"[ExampleBot]", "[Ex]",
		"format: google-json", "format: csv",
	).Replace(minimalDirectory)
	_, err := Parse([]byte(data))
	if err == nil {
		t.Fatal("Parse accepted three mistakes")
	}
	for _, want := range []string{`unknown category "searchengine"`, "shorter than 5 characters", `unknown format "csv"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestParseAcceptsSignatureOnlyEntry(t *testing.T) {
	data := strings.Replace(minimalDirectory, "    tokens: [ExampleBot]\n    verify:\n      ranges: [example]\n      rdns: [crawl.example.com]\n",
		"    verify:\n      web_bot_auth: [https://agent.example.com]\n", 1)
	d, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if e := d.Crawlers[0]; len(e.Tokens) != 0 || !slices.Equal(e.WebBotAuth, []string{"https://agent.example.com"}) {
		t.Errorf("entry = %+v", e)
	}
}

func TestSnapshotRefusesPathsOutsideData(t *testing.T) {
	for _, p := range []string{"", "../directory.go", "/etc/passwd", "ranges/../../directory.go", "ranges/missing.json"} {
		if b, ok := Snapshot(RangeList{Snapshot: p}); ok {
			t.Errorf("Snapshot(%q) returned %d bytes", p, len(b))
		}
	}
	if b, ok := Snapshot(RangeList{Snapshot: "ranges/bingbot.json"}); !ok || len(b) == 0 {
		t.Error("Snapshot(ranges/bingbot.json) found nothing")
	}
}

// writeOverride writes an override file and its snapshots into a temporary
// folder and loads it.
func writeOverride(t *testing.T, yaml string, files map[string]string) (*Directory, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "crawlers.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := LoadOverride(path)
	if err != nil {
		t.Fatalf("LoadOverride: %v", err)
	}
	return o, dir
}

func TestMerge(t *testing.T) {
	base := loadEmbedded(t)
	baseCount := len(base.Crawlers)
	googlebotAt := slices.IndexFunc(base.Crawlers, func(e Entry) bool { return e.Name == "googlebot" })

	override, _ := writeOverride(t, `
crawlers:
  # replaces the built-in entry, in place
  - name: googlebot
    operator: Google
    category: other
    tokens: [Googlebot]
    verify:
      ranges: [google-common-crawlers, intranet]
    sources: [https://wiki.internal.example/googlebot]
  # a new crawler, on a new range list
  - name: intranet-crawler
    operator: Example Corp
    category: monitoring
    tokens: [ExampleCorpCrawler]
    verify:
      ranges: [intranet]
    sources: [https://wiki.internal.example/crawler]
  - name: bytespider
    disabled: true
    note: we never want it
ranges:
  - name: intranet
    format: plain
    url: https://wiki.internal.example/crawler-ips.txt
    snapshot: ranges/intranet.txt
    retrieved: 2026-11-30
    snapshot_source: https://wiki.internal.example/crawler-ips.txt
  - name: bingbot
    format: google-json
    url: https://www.bing.com/toolbox/bingbot.json
`, map[string]string{"ranges/intranet.txt": "# ours\r\n10.20.0.0/16\r\n"})

	merged, err := base.Merge(override)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	if got := merged.Crawlers[googlebotAt]; got.Name != "googlebot" || got.Category != Other || !slices.Equal(got.Ranges, []string{"google-common-crawlers", "intranet"}) {
		t.Errorf("googlebot not replaced in place: %+v", got)
	}
	if last := merged.Crawlers[len(merged.Crawlers)-1]; last.Name != "intranet-crawler" {
		t.Errorf("new crawler not appended; last is %q", last.Name)
	}
	if slices.ContainsFunc(merged.Crawlers, func(e Entry) bool { return e.Name == "bytespider" }) {
		t.Error("bytespider was disabled but is still there")
	}
	if len(merged.Crawlers) != baseCount {
		t.Errorf("%d crawlers, want %d (one added, one disabled)", len(merged.Crawlers), baseCount)
	}
	// The base directory is untouched.
	if base.Crawlers[googlebotAt].Category != Search || len(base.Crawlers) != baseCount {
		t.Error("Merge modified its receiver")
	}

	// Snapshots come from where their file said.
	for _, l := range merged.Ranges {
		switch l.Name {
		case "intranet":
			data, err := merged.ReadSnapshot(l)
			if err != nil {
				t.Fatalf("ReadSnapshot(intranet): %v", err)
			}
			p, err := ParseRanges(l.Format, data)
			if err != nil || !containsAddr(p, "10.20.30.40") {
				t.Errorf("intranet snapshot = %v, %v", p, err)
			}
		case "bingbot":
			// Replaced by a list without a snapshot: a refresh must fetch it.
			if _, err := merged.ReadSnapshot(l); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadSnapshot(bingbot) error = %v, want fs.ErrNotExist", err)
			}
		case "applebot":
			data, err := merged.ReadSnapshot(l)
			if err != nil || len(data) == 0 {
				t.Errorf("ReadSnapshot(applebot) from the embedded data = %d bytes, %v", len(data), err)
			}
		}
	}
	if _, err := merged.ReadSnapshot(RangeList{Name: "nonesuch"}); err == nil {
		t.Error("ReadSnapshot of an unknown list succeeded")
	}
}

func TestMergeNilOverrideCopies(t *testing.T) {
	base := loadEmbedded(t)
	got, err := base.Merge(nil)
	if err != nil {
		t.Fatal(err)
	}
	got.Crawlers[0].Tokens[0] = "changed"
	if base.Crawlers[0].Tokens[0] == "changed" {
		t.Error("Merge(nil) shares the receiver's slices")
	}
}

func TestMergeErrors(t *testing.T) {
	tests := []struct {
		name, override, want string
	}{
		{"disable an unknown crawler", "crawlers:\n  - name: nonesuch\n    disabled: true\n", `crawler "nonesuch": disabled, but the directory has no such crawler`},
		{"refer to an unknown range list", "crawlers:\n  - name: mybot\n    operator: Me\n    category: other\n    tokens: [MyOwnBot]\n    verify:\n      ranges: [nonesuch]\n    sources: [https://me.example/bot]\n",
			`crawler "mybot": verify.ranges refers to "nonesuch"`},
		{"claim a built-in token", "crawlers:\n  - name: fakebot\n    operator: Me\n    category: search\n    tokens: [googlebot]\n    sources: [https://me.example/bot]\n",
			`crawler "fakebot": token "googlebot" is already crawler "googlebot"'s`},
	}
	base := loadEmbedded(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := writeOverride(t, tt.override, nil)
			_, err := base.Merge(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Merge error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadOverrideErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nonesuch.yaml"), "no such file"},
		{"empty file", write("empty.yaml", ""), "no keys"},
		{"too large", write("large.yaml", "crawlers: []\n#"+strings.Repeat("x", MaxDirectoryFileSize)), "larger than the limit"},
		{"disabled entry with more keys", write("more.yaml", "crawlers:\n  - name: ccbot\n    disabled: true\n    category: search\n"), "a disabled entry has only name"},
		{"disabled and defined", write("both.yaml", "crawlers:\n  - name: ccbot\n    disabled: true\n  - name: ccbot\n    operator: X\n    category: search\n    tokens: [CCBot]\n    sources: [https://x.example]\n"),
			`crawler "ccbot": both disabled and defined`},
		{"strict keys still apply", write("typo.yaml", "crawler:\n  - name: ccbot\n    disabled: true\n"), `unknown key "crawler"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadOverride(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadOverride error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestLoadOverrideFixture loads the checked-in example override, as an
// operator would point crawlers.directory at it.
func TestLoadOverrideFixture(t *testing.T) {
	o, err := LoadOverride(filepath.Join("testdata", "override", "crawlers.yaml"))
	if err != nil {
		t.Fatalf("LoadOverride: %v", err)
	}
	merged, err := loadEmbedded(t).Merge(o)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	e := entryNamed(t, merged, "status-probe")
	if !slices.Equal(e.Ranges, []string{"status-probe"}) {
		t.Fatalf("status-probe ranges = %v", e.Ranges)
	}
	p := rangePrefixes(t, merged, "status-probe")
	if !containsAddr(p, "198.51.100.7") || !containsAddr(p, "2001:db8:7::1") {
		t.Errorf("status-probe prefixes = %v", p)
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(); err != nil {
			b.Fatal(err)
		}
	}
}
