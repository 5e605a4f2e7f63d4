package main

// Train headless browsers from public facts, self-declared crawlers (train
// and test from different vendors' documentation), and the browser user
// agents that missing-headers records borrow.

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

// clChromeFull are real full versions of Chrome stable releases before the
// user agent was reduced to MAJOR.0.0.0 (Chrome 101-113).
var clChromeFull = map[int]string{
	59: "59.0.3071.115", 60: "60.0.3112.113", 63: "63.0.3239.132", 65: "65.0.3325.181", 69: "69.0.3497.100",
	70: "70.0.3538.77", 72: "72.0.3626.121", 74: "74.0.3729.169", 76: "76.0.3809.100", 78: "78.0.3904.108",
	79: "79.0.3945.130", 80: "80.0.3987.149", 83: "83.0.4103.116", 85: "85.0.4183.121", 86: "86.0.4240.198",
	87: "87.0.4280.88", 88: "88.0.4324.190", 89: "89.0.4389.114", 90: "90.0.4430.212", 91: "91.0.4472.124",
	92: "92.0.4515.159", 93: "93.0.4577.82", 94: "94.0.4606.81", 96: "96.0.4664.110", 98: "98.0.4758.102",
	99: "99.0.4844.84", 100: "100.0.4896.127",
}

// clGreaseBrands is Chromium's sec-ch-ua brand list for a major version
// (components/embedder_support/user_agent_utils.cc, GetGreasedUserAgentBrandVersion
// and GenerateBrandVersionList, the algorithm used since Chrome 104; before,
// " Not A;Brand" first): a
// GREASE brand "Not?A_Brand"-like with characters and version picked by the
// major version, permuted with "Chromium" and the product brand.
func clGreaseBrands(major int, product string) string {
	if major < 104 {
		// Chrome 89-103: a fixed GREASE brand and order (103 tried another).
		if product == "" {
			return fmt.Sprintf("\" Not A;Brand\";v=\"99\", \"Chromium\";v=\"%d\"", major)
		}
		if major == 103 {
			return fmt.Sprintf("\".Not/A)Brand\";v=\"99\", %q;v=\"103\", \"Chromium\";v=\"103\"", product)
		}
		return fmt.Sprintf("\" Not A;Brand\";v=\"99\", \"Chromium\";v=\"%d\", %q;v=\"%d\"", major, product, major)
	}
	chars := []string{" ", "(", ":", "-", ".", "/", ")", ";", "=", "?", "_"}
	versions := []string{"8", "99", "24"}
	grease := fmt.Sprintf("%q;v=%q", "Not"+chars[major%len(chars)]+"A"+chars[(major+1)%len(chars)]+"Brand", versions[major%len(versions)])
	chromium := fmt.Sprintf("\"Chromium\";v=\"%d\"", major)
	if product == "" {
		if major%2 == 0 {
			return grease + ", " + chromium
		}
		return chromium + ", " + grease
	}
	prod := fmt.Sprintf("%q;v=\"%d\"", product, major)
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	o := orders[major%6]
	list := make([]string, 3)
	list[o[0]], list[o[1]], list[o[2]] = grease, chromium, prod
	return strings.Join(list, ", ")
}

var clHeadlessPlatforms = []struct{ ua, hint string }{
	{"X11; Linux x86_64", `"Linux"`}, {"X11; Linux x86_64", `"Linux"`}, {"X11; Linux x86_64", `"Linux"`},
	{"Windows NT 10.0; Win64; x64", `"Windows"`}, {"Macintosh; Intel Mac OS X 10_15_7", `"macOS"`},
}

// clHeadlessRecord makes one request of a headless Chrome of a major
// version: a navigation or a subresource (script, image, fetch).
func clHeadlessRecord(rng *rand.Rand, major int, oldHeadless bool, product string) (corpus.Record, string) {
	full := fmt.Sprintf("%d.0.0.0", major)
	if f, ok := clChromeFull[major]; ok {
		full = f
	}
	plat := clPick(rng, clHeadlessPlatforms)
	ua := fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/%s Safari/537.36", plat.ua, full)
	brandProduct := product
	if oldHeadless {
		brandProduct = "HeadlessChrome"
	}
	var hs []corpus.Header
	add := func(n, v string) { hs = append(hs, corpus.Header{n, v}) }
	hints := major >= 89
	secFetch := major >= 76
	ae := "gzip, deflate, br"
	if major >= 123 {
		ae = "gzip, deflate, br, zstd"
	}
	// Old headless sent no Accept-Language (navigator.languages was empty)
	// unless told one; new headless sends the default locale's.
	lang := ""
	if !oldHeadless {
		lang = "en-US,en;q=0.9"
	}
	host := clPick(rng, clHosts)
	page := clPick(rng, clPagePaths[:16])
	kind := rng.IntN(10)
	method, path := "GET", page
	var note string
	switch {
	case kind < 5: // navigation
		if hints {
			add("sec-ch-ua", clGreaseBrands(major, brandProduct))
			add("sec-ch-ua-mobile", "?0")
			if major >= 93 {
				add("sec-ch-ua-platform", plat.hint)
			}
		}
		add("upgrade-insecure-requests", "1")
		add("user-agent", ua)
		acc := "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8"
		switch {
		case major >= 110:
			acc = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
		case major >= 85:
			acc = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.9"
		case major >= 76:
			acc = "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3"
		}
		add("accept", acc)
		if secFetch {
			add("sec-fetch-site", "none")
			add("sec-fetch-mode", "navigate")
			add("sec-fetch-user", "?1")
			add("sec-fetch-dest", "document")
		}
		add("accept-encoding", ae)
		if lang != "" {
			add("accept-language", lang)
		}
		if major >= 124 {
			add("priority", "u=0, i")
		}
		note = "navigation"
	default: // subresource
		dest, acc, mode, prio := "script", "*/*", "no-cors", ""
		switch kind {
		case 5, 6:
			path = clPick(rng, []string{"/static/app.js", "/static/vendor.js", "/assets/main.js"})
		case 7:
			dest, acc, path, prio = "image", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", clPick(rng, []string{"/static/logo.png", "/images/hero.jpg", "/favicon.ico"}), "i"
		default:
			dest, mode, path, prio = "empty", "cors", clPick(rng, clAPIGetPaths), "u=1, i"
		}
		if hints {
			if major >= 93 {
				add("sec-ch-ua-platform", plat.hint)
			}
			add("user-agent", ua)
			add("sec-ch-ua", clGreaseBrands(major, brandProduct))
			add("sec-ch-ua-mobile", "?0")
		} else {
			add("user-agent", ua)
		}
		add("accept", acc)
		if secFetch {
			add("sec-fetch-site", "same-origin")
			add("sec-fetch-mode", mode)
			add("sec-fetch-dest", dest)
		}
		add("referer", "https://"+host+page)
		add("accept-encoding", ae)
		if lang != "" {
			add("accept-language", lang)
		}
		if major >= 124 && prio != "" {
			add("priority", prio)
		}
		note = dest + " subresource"
	}
	mode := "new headless (--headless=new)"
	if oldHeadless {
		mode = "old headless"
	}
	return corpus.Record{
		Label: corpus.Bot, Class: corpus.Headless, Method: method, Scheme: "https", Host: host, Path: path,
		Protocol: "HTTP/2", Headers: hs, Client: clClient(rng), Route: clRoute(path),
		Note: fmt.Sprintf("HeadlessChrome %d, %s, %s (constructed from public facts)", major, mode, note),
	}, ua
}

// clTrainHeadless makes n headless records: HeadlessChrome across versions
// in old headless (59-131, with "HeadlessChrome" as the sec-ch-ua product
// brand from 89, no accept-language) and new headless (112-146: only the
// user agent says HeadlessChrome), and PhantomJS.
func clTrainHeadless(rng *rand.Rand, n int) ([]corpus.Record, []corpus.Source) {
	srcs := []corpus.Source{
		{ID: "train-headless-chrome", Split: "train",
			What:  "constructed: HeadlessChrome requests (navigation, script, image, fetch) for Chrome 59-146: old headless (HeadlessChrome in the user agent and as the sec-ch-ua brand, no accept-language, until its removal in 132) and new headless (--headless=new, Chrome >= 112: HeadlessChrome in the user agent only); Puppeteer and Playwright launch these modes and keep the user agent",
			Where: "Chromium source: headless/public/headless_browser.cc (product name HeadlessChrome), content/common/user_agent.cc (user agent format), components/embedder_support/user_agent_utils.cc (sec-ch-ua GREASE brand list); Chrome stable release versions; developer.chrome.com/docs/chromium/headless and /docs/chromium/new-headless"},
		{ID: "train-phantomjs", Split: "train",
			What:  "constructed: PhantomJS 1.9.8 and 2.1.1 page requests (QtWebKit): user agent names PhantomJS",
			Where: "github.com/ariya/phantomjs@d9cda3dcd26b0e463533c5cc96e39c0f39fc32c1 (2.1.1):src/webpage.cpp, src/phantom.cpp (user agent from QtWebKit with application name PhantomJS/version)"},
	}
	var out []corpus.Record
	for i := 0; i < n; i++ {
		switch {
		case i%12 == 11:
			v := clPick(rng, []string{"2.1.1", "2.1.1", "1.9.8"})
			wk := "538.1"
			if v == "1.9.8" {
				wk = "534.34"
			}
			path := clPick(rng, clPagePaths)
			out = append(out, corpus.Record{
				Label: corpus.Bot, Class: corpus.Headless, Source: "train-phantomjs", Method: "GET", Scheme: clPick(rng, []string{"https", "https", "http"}),
				Host: clPick(rng, clHosts), Path: path, Protocol: "HTTP/1.1", Client: clClient(rng), Route: clRoute(path),
				Headers: []corpus.Header{
					{"user-agent", fmt.Sprintf("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/%s (KHTML, like Gecko) PhantomJS/%s Safari/%s", wk, v, wk)},
					{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
					{"connection", "Keep-Alive"}, {"accept-encoding", "gzip, deflate"}, {"accept-language", "en-US,*"},
				},
				Note: "PhantomJS " + v + " page load (constructed)",
			})
		case i%2 == 0: // old headless
			major := 59 + rng.IntN(131-59+1)
			r, _ := clHeadlessRecord(rng, major, true, "")
			r.Source = "train-headless-chrome"
			out = append(out, r)
		default: // new headless, Chromium or Google Chrome builds
			major := 112 + rng.IntN(146-112+1)
			product := clPick(rng, []string{"", "Google Chrome"})
			r, _ := clHeadlessRecord(rng, major, false, product)
			r.Source = "train-headless-chrome"
			out = append(out, r)
		}
	}
	return out, srcs
}

// ---- browsers' user agents, for missing-headers ----

func clChromeUA(plat string, major int, mobile bool) clBrowserUA {
	m := ""
	if mobile {
		m = "Mobile "
	}
	return clBrowserUA{family: fmt.Sprintf("Chrome %d", major),
		ua:     fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 %sSafari/537.36", plat, major, m),
		accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
		lang:   "en-US,en;q=0.9"}
}

func clEdgeUA(major int) clBrowserUA {
	b := clChromeUA("Windows NT 10.0; Win64; x64", major, false)
	b.family = fmt.Sprintf("Edge %d", major)
	b.ua += fmt.Sprintf(" Edg/%d.0.0.0", major)
	return b
}

func clFirefoxUA(plat string, major int) clBrowserUA {
	acc := "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	if major >= 128 {
		acc = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	}
	return clBrowserUA{family: fmt.Sprintf("Firefox %d", major),
		ua:     fmt.Sprintf("Mozilla/5.0 (%s; rv:%d.0) Gecko/20100101 Firefox/%d.0", plat, major, major),
		accept: acc, lang: "en-US,en;q=0.5"}
}

func clSafariUA(ver string, ios string) clBrowserUA {
	b := clBrowserUA{family: "Safari " + ver,
		accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", lang: "en-US,en;q=0.9"}
	if ios != "" {
		b.ua = fmt.Sprintf("Mozilla/5.0 (iPhone; CPU iPhone OS %s like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%s Mobile/15E148 Safari/604.1", ios, ver)
	} else {
		b.ua = fmt.Sprintf("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%s Safari/605.1.15", ver)
	}
	return b
}

// clBrowserUAsTrain and clBrowserUAsTest are disjoint: train spoofs older
// browser versions, test the current ones.
var clBrowserUAsTrain, clBrowserUAsTest = func() ([]clBrowserUA, []clBrowserUA) {
	var train, test []clBrowserUA
	for _, m := range []int{100, 104, 108, 110, 112, 114, 116, 118, 119, 120, 122, 124, 126, 128, 130, 131, 133, 135, 137, 139} {
		train = append(train, clChromeUA("Windows NT 10.0; Win64; x64", m, false), clChromeUA("Macintosh; Intel Mac OS X 10_15_7", m, false))
		if m%4 == 0 {
			train = append(train, clChromeUA("Linux; Android 10; K", m, true), clChromeUA("X11; Linux x86_64", m, false), clEdgeUA(m))
		}
	}
	for _, m := range []int{102, 109, 115, 119, 121, 123, 125, 128, 131, 133, 136} {
		train = append(train, clFirefoxUA("Windows NT 10.0; Win64; x64", m), clFirefoxUA("X11; Linux x86_64", m))
	}
	for _, v := range [][2]string{{"15.6", ""}, {"16.5", ""}, {"17.1", ""}, {"17.4", ""}, {"18.3", ""}, {"16.6", "16_6"}, {"17.5", "17_5"}, {"18.3", "18_3"}} {
		train = append(train, clSafariUA(v[0], v[1]))
	}
	for _, m := range []int{140, 141, 142, 143} {
		test = append(test, clChromeUA("Windows NT 10.0; Win64; x64", m, false), clChromeUA("Macintosh; Intel Mac OS X 10_15_7", m, false),
			clChromeUA("Linux; Android 10; K", m, true), clEdgeUA(m))
	}
	for _, m := range []int{140, 143, 145, 147} {
		test = append(test, clFirefoxUA("Windows NT 10.0; Win64; x64", m), clFirefoxUA("Macintosh; Intel Mac OS X 10.15", m))
	}
	for _, v := range [][2]string{{"26.0", ""}, {"26.1", ""}, {"26.0", "18_7"}, {"26.1", "18_7"}} {
		test = append(test, clSafariUA(v[0], v[1]))
	}
	return train, test
}()

// ---- crawlers ----

type clCrawler struct {
	name, ua, accept, from, ae string
}

// clCrawlers makes the crawler records: train from Google's and Bing's
// documented crawlers, test from other vendors' documented crawlers.
func clCrawlers(rng *rand.Rand) ([]corpus.Record, []corpus.Source) {
	html := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	train := []clCrawler{
		{"Googlebot desktop", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "text/html,application/xhtml+xml,application/signed-exchange;v=b3,application/xml;q=0.9,*/*;q=0.8", "googlebot(at)googlebot.com", "gzip, deflate, br"},
		{"Googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "text/html,application/xhtml+xml,application/signed-exchange;v=b3,application/xml;q=0.9,*/*;q=0.8", "googlebot(at)googlebot.com", "gzip, deflate, br"},
		{"Googlebot desktop (Chrome UA)", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/131.0.6778.204 Safari/537.36", "text/html,application/xhtml+xml,application/signed-exchange;v=b3,application/xml;q=0.9,*/*;q=0.8", "googlebot(at)googlebot.com", "gzip, deflate, br"},
		{"Googlebot-Image", "Googlebot-Image/1.0", "image/avif,image/webp,image/*,*/*;q=0.8", "googlebot(at)googlebot.com", "gzip, deflate, br"},
		{"Google-InspectionTool", "Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)", html, "", "gzip, deflate, br"},
		{"AdsBot-Google", "AdsBot-Google (+http://www.google.com/adsbot.html)", html, "", "gzip, deflate, br"},
		{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "*/*", "bingbot(at)microsoft.com", "gzip, deflate"},
		{"bingbot Chrome", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36", "*/*", "bingbot(at)microsoft.com", "gzip, deflate"},
		{"bingbot mobile", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.1938.76 Mobile Safari/537.36 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "*/*", "bingbot(at)microsoft.com", "gzip, deflate"},
	}
	test := []clCrawler{
		{"DuckDuckBot", "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", html, "", "gzip, deflate"},
		{"Applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", html, "", "gzip, deflate, br"},
		{"YandexBot", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "*/*", "", "gzip,deflate,br"},
		{"Baiduspider", "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "*/*", "", "gzip"},
		{"GPTBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "*/*", "", "gzip, deflate, br"},
		{"ClaudeBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "*/*", "", "gzip, deflate, br"},
		{"PerplexityBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "*/*", "", "gzip, deflate"},
		{"facebookexternalhit", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "*/*", "", "gzip, deflate"},
		{"Twitterbot", "Twitterbot/1.0", "*/*", "", "gzip, deflate"},
	}
	srcs := []corpus.Source{
		{ID: "train-crawlers-google-bing", Split: "train",
			What:  "constructed: Google's and Bing's self-declared crawlers (Googlebot desktop/smartphone, Googlebot-Image, Google-InspectionTool, AdsBot-Google, bingbot); user agents as documented, other headers typical of those crawlers (from header where they send one)",
			Where: "developers.google.com/search/docs/crawling-indexing/overview-google-crawlers and /google-common-crawlers; www.bing.com/webmasters/help/which-crawlers-does-bing-use-8c184ec0"},
		{ID: "test-crawlers-other-vendors", Split: "test",
			What:  "constructed: other vendors' self-declared crawlers (DuckDuckBot, Applebot, YandexBot, Baiduspider, GPTBot, ClaudeBot, PerplexityBot, facebookexternalhit, Twitterbot); user agents as documented",
			Where: "duckduckgo.com/duckduckgo-help-pages/results/duckduckbot; support.apple.com/en-us/119829 (Applebot); yandex.com/support/webmaster/robot-workings/check-yandex-robots.html; www.baidu.com/search/spider.html; platform.openai.com/docs/bots; support.anthropic.com (ClaudeBot); docs.perplexity.ai/guides/bots; developers.facebook.com/docs/sharing/webmasters/web-crawlers; developer.x.com/en/docs/x-for-websites/cards/guides/getting-started"},
	}
	var out []corpus.Record
	mk := func(c clCrawler, src string) corpus.Record {
		path := clPick(rng, clPagePaths)
		proto := clPick(rng, []string{"HTTP/1.1", "HTTP/1.1", "HTTP/2"})
		var hs []corpus.Header
		if proto != "HTTP/2" { // HTTP/2 has no connection header
			hs = append(hs, corpus.Header{"connection", "keep-alive"})
		}
		hs = append(hs, corpus.Header{"accept", c.accept})
		if c.from != "" {
			hs = append(hs, corpus.Header{"from", c.from})
		}
		hs = append(hs, corpus.Header{"user-agent", c.ua}, corpus.Header{"accept-encoding", c.ae})
		if rng.IntN(5) == 0 {
			hs = append(hs, corpus.Header{"if-modified-since", "Mon, 30 Nov 2026 08:00:00 GMT"})
		}
		return corpus.Record{
			Label: corpus.Bot, Class: corpus.Crawler, Source: src, Method: "GET", Scheme: clPick(rng, []string{"https", "https", "https", "http"}),
			Host: clPick(rng, clHosts), Path: path, Protocol: proto,
			Headers: hs, Client: clClient(rng), Route: clRoute(path), Note: c.name + " (constructed from its documented user agent)",
		}
	}
	for i := 0; i < clCrawlerTrain; i++ {
		out = append(out, mk(train[i%len(train)], "train-crawlers-google-bing"))
	}
	for i := 0; i < clCrawlerTest; i++ {
		out = append(out, mk(test[i%len(test)], "test-crawlers-other-vendors"))
	}
	return out, srcs
}
