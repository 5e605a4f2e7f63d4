package scoring

import (
	"slices"
	"strings"
	"testing"
)

// TestCalibration pins the behaviour the default weights are tuned for.
func TestCalibration(t *testing.T) {
	m := defaultModel(t)
	chromeNav := with(navChrome, "user-agent", uaChromeWindows)
	tests := []struct {
		name     string
		req      Request
		min, max int
	}{
		{
			name: "Chrome navigation over https with all its headers is likely human",
			req:  Request{Method: "GET", Scheme: "https", Headers: chromeNav},
			min:  90, max: 99,
		},
		{
			name: "Chrome over plain http without hints or fetch metadata is likely human",
			req:  Request{Method: "GET", Scheme: "http", Headers: plainHTTP(chromeNav)},
			min:  90, max: 99,
		},
		{
			name: "Firefox over https without client hints is likely human",
			req:  Request{Method: "GET", Scheme: "https", Headers: with(navFirefox, "user-agent", uaFirefox)},
			min:  90, max: 99,
		},
		{
			name: "Safari over https without client hints is likely human",
			req:  Request{Method: "GET", Scheme: "https", Headers: with(navSafari, "user-agent", uaSafari)},
			min:  90, max: 99,
		},
		// Declared automation scores 1 whatever else it sends.
		{
			name: "curl with only accept */* is declared automation",
			req:  Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", "curl/8.5.0", "accept", "*/*")},
			min:  1, max: 1,
		},
		{
			name: "python-requests with accept and accept-encoding is declared automation",
			req: Request{Method: "GET", Scheme: "https", Headers: hdr(
				"user-agent", "python-requests/2.31.0", "accept", "*/*",
				"accept-encoding", "gzip, deflate", "connection", "keep-alive")},
			min: 1, max: 1,
		},
		{
			name: "curl with a browser's full accept headers is still declared automation",
			req: Request{Method: "GET", Scheme: "https", Headers: hdr(
				"user-agent", "curl/8.14.1", "accept", "text/html,application/xhtml+xml,*/*;q=0.8",
				"accept-language", "en-US,en;q=0.9", "accept-encoding", "gzip, deflate, br")},
			min: 1, max: 1,
		},
		{
			name: "Node's fetch (undici) is declared automation",
			req: Request{Method: "GET", Scheme: "https", Headers: hdr(
				"user-agent", "node", "accept", "*/*", "accept-language", "*", "sec-fetch-mode", "cors",
				"accept-encoding", "gzip, deflate")},
			min: 1, max: 1,
		},
		{
			name: "new-headless Chromium (HeadlessChrome in the user agent only) is declared automation",
			req: Request{Method: "GET", Scheme: "https", Headers: with(navChrome,
				"user-agent", uaHeadlessChrome, "sec-ch-ua-platform", `"Linux"`)},
			min: 1, max: 1,
		},
		// Contradictions score at most 29 on that alone.
		{
			name: "a platform that contradicts sec-ch-ua-platform is a contradiction",
			req:  Request{Method: "GET", Scheme: "https", Headers: with(chromeNav, "sec-ch-ua-platform", `"macOS"`)},
			min:  2, max: 29,
		},
		{
			name: "a browser user agent with neither accept nor accept-language is a contradiction",
			req:  Request{Method: "GET", Scheme: "http", Headers: without(plainHTTP(chromeNav), "accept", "accept-language")},
			min:  2, max: 29,
		},
		{
			name: "a Chrome user agent over https without hints or fetch metadata is a contradiction",
			req: Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", uaChromeWindows,
				"accept", "text/html", "accept-language", "en-US", "accept-encoding", "gzip, deflate, br")},
			min: 2, max: 29,
		},
		// A version newer than the facts know is no contradiction by itself.
		{
			name: "Chrome 250 with all its headers is likely human",
			req: Request{Method: "GET", Scheme: "https", Headers: with(chromeNav,
				"user-agent", strings.ReplaceAll(uaChromeWindows, "Chrome/131", "Chrome/250"),
				"sec-ch-ua", `"Chromium";v="250", "Google Chrome";v="250", "Not_A Brand";v="24"`)},
			min: 90, max: 99,
		},
		{
			name: "no user agent and no accept headers scores 1",
			req:  Request{Method: "GET", Scheme: "https", Headers: hdr(":path", "/login")},
			min:  1, max: 1,
		},
		{
			name: "HeadlessChrome over https scores below 30",
			req: Request{Method: "GET", Scheme: "https", Headers: with(navChrome,
				"user-agent", uaHeadlessChrome,
				"sec-ch-ua", `"HeadlessChrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`,
				"sec-ch-ua-platform", `"Linux"`)},
			min: 1, max: 29,
		},
		{
			name: "old-headless Puppeteer without accept-language over plain http scores below 30",
			req: Request{Method: "GET", Scheme: "http", Headers: without(plainHTTP(with(navChrome,
				"user-agent", uaHeadlessChrome)), "accept-language")},
			min: 1, max: 29,
		},
		{
			name: "library faking a Chrome user agent with no other headers over https scores below 30",
			req:  Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", uaChromeWindows)},
			min:  1, max: 29,
		},
		{
			name: "Go's client with a Chrome user agent over https scores below 30",
			req:  Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", uaChromeWindows, "accept-encoding", "gzip")},
			min:  1, max: 29,
		},
		{
			name: "python-requests with a Chrome user agent over https scores below 30",
			req:  Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", uaChromeWindows, "accept", "*/*", "accept-encoding", "gzip, deflate")},
			min:  1, max: 29,
		},
		{
			name: "Googlebot with its real headers is an unverified crawler until verification proves it",
			req: Request{Method: "GET", Scheme: "https", Headers: hdr(
				"user-agent", uaGooglebot,
				"accept", "text/html,application/xhtml+xml,application/signed-exchange;v=b3,application/xml;q=0.9,*/*;q=0.8",
				"accept-encoding", "gzip, deflate, br",
				"from", "googlebot(at)googlebot.com")},
			min: 29, max: 29, // the model would say 80+; verification, not the model, judges crawlers
		},
		{
			name: "a scraper claiming to be a bot is an unverified crawler",
			req:  Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", "Mozilla/5.0 (compatible; MyBot/1.0)", "accept", "*/*")},
			min:  2, max: 29,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			m.Score(&tt.req, &r)
			checkResult(t, m, &r)
			if r.Score < tt.min || r.Score > tt.max {
				t.Errorf("score %d (%v), want %d..%d; reasons %v", r.Score, r.Band, tt.min, tt.max, r.Reasons())
			}
		})
	}
}

// TestSignals checks which signals fire, case by case. want is the exact set.
func TestSignals(t *testing.T) {
	m := defaultModel(t)
	chromeNav := with(navChrome, "user-agent", uaChromeWindows)
	androidNav := with(navChrome, "user-agent", uaChromeAndroid, "sec-ch-ua-mobile", "?1", "sec-ch-ua-platform", `"Android"`)
	tests := []struct {
		name   string
		scheme string // "https" unless set
		method string
		h      map[string]string
		want   []Code
	}{
		// Browsers as they really are: nothing fires.
		{name: "Chrome on Windows navigation fires nothing", h: chromeNav},
		{name: "Chrome on macOS navigation fires nothing", h: with(navChrome, "user-agent", uaChromeMac, "sec-ch-ua-platform", `"macOS"`)},
		{name: "Chrome on Linux navigation fires nothing", h: with(navChrome, "user-agent", uaChromeLinux, "sec-ch-ua-platform", `"Linux"`)},
		{name: "Chrome on ChromeOS navigation fires nothing", h: with(navChrome, "user-agent", uaChromeOS, "sec-ch-ua-platform", `"Chrome OS"`)},
		{name: "Chrome on Android phone navigation fires nothing", h: androidNav},
		{name: "Chrome on Android tablet (no Mobile token) fires nothing", h: with(androidNav, "user-agent", uaChromeTablet, "sec-ch-ua-mobile", "?0")},
		{name: "Chrome on Android in desktop-site mode (Linux UA, Android platform) fires nothing", h: with(androidNav, "user-agent", uaChromeLinux, "sec-ch-ua-mobile", "?0")},
		{name: "Edge navigation fires nothing", h: with(navChrome, "user-agent", uaEdge, "sec-ch-ua", `"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"`)},
		{name: "Opera with its own brand version fires nothing", h: with(navChrome, "user-agent", uaOpera, "sec-ch-ua", `"Opera";v="116", "Chromium";v="131", "Not_A Brand";v="24"`)},
		{name: "Samsung Internet fires nothing", h: with(androidNav, "user-agent", uaSamsung, "sec-ch-ua", `"Samsung Internet";v="27.0", "Chromium";v="125", "Not.A/Brand";v="24"`)},
		{name: "Chrome on a CUBOT phone is not a crawler", h: with(androidNav, "user-agent", uaCubotChrome)},
		{name: "Chrome fetch() subresource fires nothing", h: with(chromeNav, "accept", "*/*", "sec-fetch-dest", "empty", "sec-fetch-mode", "cors", "sec-fetch-site", "same-origin", "sec-fetch-user", "")},
		{name: "Chrome CORS preflight without client hints fires nothing", method: "OPTIONS", h: with(without(chromeNav, "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "sec-fetch-user"),
			"accept", "*/*", "access-control-request-method", "PUT", "sec-fetch-mode", "cors", "sec-fetch-dest", "empty", "sec-fetch-site", "cross-site")},
		{name: "Firefox navigation fires nothing", h: with(navFirefox, "user-agent", uaFirefox)},
		{name: "Firefox on Android fires nothing", h: with(navFirefox, "user-agent", uaFirefoxAndroid)},
		{name: "Safari on macOS fires nothing", h: with(navSafari, "user-agent", uaSafari)},
		{name: "Safari on iPhone fires nothing", h: with(navSafari, "user-agent", uaSafariIPhone)},
		{name: "Safari on iPad fires nothing", h: with(navSafari, "user-agent", uaSafariIPad)},
		{name: "Chrome on iOS (WebKit, no client hints) fires nothing", h: with(navSafari, "user-agent", uaChromeIOS)},
		{name: "Firefox on iOS fires nothing", h: with(navSafari, "user-agent", uaFirefoxIOS)},
		{name: "Android WebView without client hints or fetch metadata fires nothing", h: with(plainHTTP(navChrome), "user-agent", uaAndroidWebView)},
		{name: "Safari 15 predates fetch metadata", h: with(plainHTTP(navSafari), "user-agent", uaSafari15)},
		{name: "Chrome on iOS 15 predates fetch metadata", h: with(plainHTTP(navSafari), "user-agent", uaChromeIOS15)},
		{name: "Firefox 78 predates fetch metadata", h: with(plainHTTP(navFirefox), "user-agent", uaFirefoxESR78)},
		{name: "Chrome 79 predates client hints and sec-fetch-dest", h: with(without(navChrome, "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "sec-fetch-dest"), "user-agent", uaChrome79)},
		{name: "Chrome 79 sends sec-fetch-site and -mode (since 76)", h: with(plainHTTP(navChrome), "user-agent", uaChrome79), want: []Code{FetchMissing}},
		{name: "Chrome 85 sends fetch metadata but predates client hints", h: with(without(chromeNav, "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"), "user-agent", uaChrome85)},
		{name: "Chrome 85 without fetch metadata fires fetch.missing only", h: with(plainHTTP(navChrome), "user-agent", uaChrome85), want: []Code{FetchMissing}},
		{name: "scheme is matched case-insensitively", scheme: "HTTPS", h: with(plainHTTP(navChrome), "user-agent", uaChromeWindows), want: []Code{HintsMissing, FetchMissing}},

		// Plain http: no client-hint or fetch expectations.
		{name: "Chrome over http without hints fires nothing", scheme: "http", h: plainHTTP(chromeNav)},
		{name: "Safari over http without fetch metadata fires nothing", scheme: "http", h: plainHTTP(with(navSafari, "user-agent", uaSafari))},

		// User agents.
		{name: "empty user agent is missing", h: with(navFirefox, "user-agent", "  "), want: []Code{UAMissing}},
		{name: "curl is a library", h: hdr("user-agent", "curl/8.5.0", "accept", "*/*"), want: []Code{UALibrary, AcceptLanguageMissing, AcceptEncodingMissing}},
		{name: "library prefix is case-insensitive", h: hdr("user-agent", "CURL/8.5.0", "accept", "*/*", "accept-language", "en", "accept-encoding", "br"), want: []Code{UALibrary}},
		{name: "Go-http-client is a library", h: hdr("user-agent", "Go-http-client/2.0", "accept-encoding", "gzip"), want: []Code{UALibrary, AcceptMissing, AcceptLanguageMissing}},
		{name: "Wget is a library", h: hdr("user-agent", "Wget/1.21.4", "accept", "*/*", "accept-encoding", "identity"), want: []Code{UALibrary, AcceptLanguageMissing}},
		{name: "okhttp after an app name is a library", h: hdr("user-agent", "ShopApp/5.2 okhttp/4.12.0", "accept-encoding", "gzip"), want: []Code{UALibrary, AcceptMissing, AcceptLanguageMissing}},
		{name: "aiohttp is a library", h: hdr("user-agent", "Python/3.12 aiohttp/3.9.5", "accept", "*/*", "accept-encoding", "gzip, deflate"), want: []Code{UALibrary, AcceptLanguageMissing}},
		{name: "Node fetch is a library", h: hdr("user-agent", "node", "accept", "*/*", "accept-language", "*", "accept-encoding", "gzip, deflate", "sec-fetch-mode", "cors"), want: []Code{UALibrary}},
		{name: "Java HttpURLConnection is a library", h: hdr("user-agent", "Java/17.0.9", "accept", "*/*"), want: []Code{UALibrary, AcceptLanguageMissing, AcceptEncodingMissing}},
		{name: "Apache HttpClient is a library", h: hdr("user-agent", "Apache-HttpClient/4.5.14 (Java/17.0.9)", "accept-encoding", "gzip,deflate"), want: []Code{UALibrary, AcceptMissing, AcceptLanguageMissing}},
		{name: "PowerShell inside a Mozilla string is a library", h: hdr("user-agent", "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) PowerShell/7.4.6"), want: []Code{UALibrary, AcceptMissing, AcceptLanguageMissing, AcceptEncodingMissing}},
		{name: "Scrapy with a home page is a library, not a crawler", h: hdr("user-agent", "Scrapy/2.11.2 (+https://scrapy.org)", "accept", "text/html", "accept-language", "en", "accept-encoding", "gzip, deflate, br"), want: []Code{UALibrary}},
		{name: "PostmanRuntime is a library", h: hdr("user-agent", "PostmanRuntime/7.42.0", "accept", "*/*", "accept-encoding", "gzip, deflate, br"), want: []Code{UALibrary, AcceptLanguageMissing}},
		{name: "HeadlessChrome user agent is headless", scheme: "http", h: plainHTTP(with(navChrome, "user-agent", uaHeadlessChrome)), want: []Code{UAHeadless}},
		{name: "PhantomJS is headless", h: hdr("user-agent", uaPhantomJS, "accept", "*/*", "accept-language", "en-US,*", "accept-encoding", "gzip, deflate"), want: []Code{UAHeadless}},
		{name: "Googlebot is a crawler without browser expectations", h: hdr("user-agent", uaGooglebot, "accept", "text/html", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},
		{name: "Googlebot smartphone's Chrome token brings no hint or fetch expectations", h: hdr("user-agent", uaGooglebotMobile, "accept", "text/html", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},
		{name: "a crawler still needs accept headers", h: hdr("user-agent", uaGooglebotMobile), want: []Code{UACrawler, AcceptMissing, AcceptLanguageMissing, AcceptEncodingMissing, CrawlerUnverified}},
		{name: "bingbot is a crawler", h: hdr("user-agent", uaBingbot, "accept", "*/*", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},
		{name: "GPTBot is a crawler", h: hdr("user-agent", uaGPTBot, "accept", "*/*", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},
		{name: "facebookexternalhit is a crawler", h: hdr("user-agent", uaFacebook, "accept", "*/*", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},
		{name: "Baiduspider is a crawler", h: hdr("user-agent", uaBaidu, "accept", "*/*", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},
		{name: "Yahoo Slurp is a crawler", h: hdr("user-agent", uaYahooSlurp, "accept", "*/*", "accept-encoding", "gzip", "accept-language", "en"), want: []Code{UACrawler, CrawlerUnverified}},

		// Accept headers.
		{name: "missing accept fires", h: without(chromeNav, "accept"), want: []Code{AcceptMissing}},
		{name: "empty accept-language fires", h: with(chromeNav, "accept-language", ""), want: []Code{AcceptLanguageMissing, BrowserHeadersMissing}},
		{name: "whitespace accept-encoding fires", h: with(chromeNav, "accept-encoding", " \t"), want: []Code{AcceptEncodingMissing}},

		// Client hints.
		{name: "Chrome UA over https without sec-ch-ua fires hints.missing", h: without(chromeNav, "sec-ch-ua"), want: []Code{HintsMissing}},
		{name: "Chrome UA without any hints or fetch metadata fires both", h: plainHTTP(chromeNav), want: []Code{HintsMissing, FetchMissing}},
		{name: "Firefox sending sec-ch-ua is a mismatch", h: with(navFirefox, "user-agent", uaFirefox, "sec-ch-ua", navChrome["sec-ch-ua"]), want: []Code{HintsMismatch}},
		{name: "Safari sending sec-ch-ua-platform is a mismatch", h: with(navSafari, "user-agent", uaSafari, "sec-ch-ua-platform", `"macOS"`), want: []Code{HintsMismatch}},
		{name: "Chrome on iOS sending sec-ch-ua is a mismatch", h: with(navSafari, "user-agent", uaChromeIOS, "sec-ch-ua", navChrome["sec-ch-ua"]), want: []Code{HintsMismatch}},
		{name: "curl sending copied client hints is a library and a mismatch", h: with(chromeNav, "user-agent", "curl/8.5.0"), want: []Code{UALibrary, HintsMismatch}},
		{name: "Chromium brand version other than the UA major is a mismatch", h: with(chromeNav, "sec-ch-ua", `"Google Chrome";v="120", "Chromium";v="120", "Not_A Brand";v="24"`), want: []Code{HintsMismatch}},
		{name: "platform Windows with a macOS UA is a mismatch", h: with(chromeNav, "user-agent", uaChromeMac), want: []Code{HintsMismatch}},
		{name: "platform macOS with an Android UA is a mismatch", h: with(androidNav, "sec-ch-ua-platform", `"macOS"`), want: []Code{HintsMismatch}},
		{name: "mobile ?1 with a desktop UA is a mismatch", h: with(chromeNav, "sec-ch-ua-mobile", "?1"), want: []Code{HintsMismatch}},
		{name: "mobile ?0 with a phone UA is a mismatch", h: with(androidNav, "sec-ch-ua-mobile", "?0"), want: []Code{HintsMismatch}},
		{name: "unknown platform matches any UA", h: with(chromeNav, "sec-ch-ua-platform", `"Unknown"`)},
		{name: "garbage sec-ch-ua is a mismatch", h: with(chromeNav, "sec-ch-ua", `"\"`), want: []Code{HintsMismatch}},
		{name: "unterminated brand list is a mismatch", h: with(chromeNav, "sec-ch-ua", `"Chromium";v="131",`), want: []Code{HintsMismatch}},
		{name: "HeadlessChrome brand behind an overridden Chrome UA fires hints.headless", h: with(chromeNav, "sec-ch-ua", `"HeadlessChrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`), want: []Code{HintsHeadless}},

		// Fetch metadata.
		{name: "Firefox over https without fetch metadata fires fetch.missing", h: plainHTTP(with(navFirefox, "user-agent", uaFirefox)), want: []Code{FetchMissing}},
		{name: "Safari on iPhone over https without fetch metadata fires fetch.missing", h: plainHTTP(with(navSafari, "user-agent", uaSafariIPhone)), want: []Code{FetchMissing}},
		{name: "Chrome on iOS over https without fetch metadata fires fetch.missing", h: plainHTTP(with(navSafari, "user-agent", uaChromeIOS)), want: []Code{FetchMissing}},
		{name: "one missing sec-fetch header is enough", h: without(chromeNav, "sec-fetch-dest"), want: []Code{FetchMissing}},
		{name: "an Android user agent with platform Linux is a mismatch", h: with(androidNav, "sec-ch-ua-platform", `"Linux"`), want: []Code{HintsMismatch}},
		{name: "a ChromeOS user agent with platform Linux is no mismatch", h: with(navChrome, "user-agent", uaChromeOS, "sec-ch-ua-platform", `"Linux"`)},
		{name: "a browser without accept and accept-language fires browser.headers_missing", h: without(chromeNav, "accept", "accept-language"),
			want: []Code{AcceptMissing, AcceptLanguageMissing, BrowserHeadersMissing}},
		{name: "a browser with accept but without accept-language fires browser.headers_missing", h: without(chromeNav, "accept-language"),
			want: []Code{AcceptLanguageMissing, BrowserHeadersMissing}},
		{name: "a library without accept and accept-language is no browser contradiction", h: hdr("user-agent", "Go-http-client/1.1", "accept-encoding", "gzip"),
			want: []Code{UALibrary, AcceptMissing, AcceptLanguageMissing}},
		{name: "navigate with an image destination is inconsistent", h: with(chromeNav, "sec-fetch-dest", "image"), want: []Code{FetchInconsistent}},
		{name: "navigate into an iframe is consistent", h: with(chromeNav, "sec-fetch-dest", "iframe", "sec-fetch-site", "cross-site", "sec-fetch-user", "")},
		{name: "sec-fetch-user on a cors request is inconsistent", h: with(chromeNav, "sec-fetch-mode", "cors", "sec-fetch-dest", "empty"), want: []Code{FetchInconsistent}},
		{name: "sec-fetch-user without a mode is inconsistent over http too", scheme: "http", h: with(plainHTTP(chromeNav), "sec-fetch-user", "?1"), want: []Code{FetchInconsistent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme := tt.scheme
			if scheme == "" {
				scheme = "https"
			}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req := Request{Method: method, Scheme: scheme, Headers: tt.h}
			var r Result
			m.Score(&req, &r)
			checkResult(t, m, &r)
			if got := firedCodes(&r); !slices.Equal(got, tt.want) {
				t.Errorf("fired %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVelocity(t *testing.T) {
	m := defaultModel(t)
	human := with(navChrome, "user-agent", uaChromeWindows)
	tests := []struct {
		name string
		v    []Velocity
		want []Code
	}{
		{name: "estimate over threshold fires", v: []Velocity{{Code: VelocityIP, Estimate: 121, Threshold: 120}}, want: []Code{VelocityIP}},
		{name: "estimate at threshold does not fire", v: []Velocity{{Code: VelocityIP, Estimate: 120, Threshold: 120}}},
		{name: "zero threshold never fires", v: []Velocity{{Code: VelocitySubnet, Estimate: 1e9, Threshold: 0}}},
		{name: "negative threshold never fires", v: []Velocity{{Code: VelocitySubnet, Estimate: 1e9, Threshold: -1}}},
		{name: "NaN estimate never fires", v: []Velocity{{Code: VelocitySession, Estimate: nan(), Threshold: 1}}},
		{name: "non-velocity code is ignored", v: []Velocity{{Code: UALibrary, Estimate: 10, Threshold: 1}, {Code: 200, Estimate: 10, Threshold: 1}}},
		{name: "the same code twice fires once", v: []Velocity{{Code: VelocityRouteIP, Estimate: 10, Threshold: 1}, {Code: VelocityRouteIP, Estimate: 20, Threshold: 1}}, want: []Code{VelocityRouteIP}},
		{
			name: "all four fire together",
			v: []Velocity{
				{Code: VelocityIP, Estimate: 2, Threshold: 1}, {Code: VelocitySubnet, Estimate: 2, Threshold: 1},
				{Code: VelocitySession, Estimate: 2, Threshold: 1}, {Code: VelocityRouteIP, Estimate: 2, Threshold: 1},
			},
			want: []Code{VelocityIP, VelocitySubnet, VelocitySession, VelocityRouteIP},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Method: "GET", Scheme: "https", Headers: human, Velocity: tt.v}
			var r Result
			m.Score(&req, &r)
			checkResult(t, m, &r)
			if got := firedCodes(&r); !slices.Equal(got, tt.want) {
				t.Errorf("fired %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScoreReasonsMostCostlyFirst(t *testing.T) {
	m := tuned(t, Tuning{Weights: map[Code]float64{VelocityIP: -2, VelocityRouteIP: -2, VelocitySubnet: -1}})
	req := Request{Method: "GET", Scheme: "https", Headers: with(navFirefox, "user-agent", uaFirefox), Velocity: []Velocity{
		{Code: VelocityRouteIP, Estimate: 2, Threshold: 1},
		{Code: VelocitySubnet, Estimate: 2, Threshold: 1},
		{Code: VelocityIP, Estimate: 2, Threshold: 1},
	}}
	var r Result
	m.Score(&req, &r)
	checkResult(t, m, &r)
	got := r.Reasons()
	if len(got) != 3 || got[0].Code != VelocityIP || got[1].Code != VelocityRouteIP || got[2].Code != VelocitySubnet {
		t.Fatalf("reasons %v, want velocity.ip, velocity.route_ip (equal cost, Code order), velocity.subnet", got)
	}
	if got[0].Weight != got[1].Weight || got[1].Weight <= got[2].Weight {
		t.Errorf("costs %v", got)
	}
	if s, want := string(r.AppendReasons(nil, 2)), "velocity.ip,velocity.route_ip"; s != want {
		t.Errorf("AppendReasons(nil, 2) = %q, want %q", s, want)
	}
}

// TestScoreIsTheLogisticModel pins the arithmetic on weights chosen here:
// score = round(100 / (1 + e^−(bias + Σ w))) within 1–99; a reason costs
// the score without it minus the score with it.
func TestScoreIsTheLogisticModel(t *testing.T) {
	m := testModel(t, 2, map[Code]float64{VelocityIP: -2, VelocitySession: -1})
	req := Request{Method: "GET", Scheme: "https", Headers: with(navFirefox, "user-agent", uaFirefox),
		Velocity: []Velocity{{Code: VelocityIP, Estimate: 2, Threshold: 1}, {Code: VelocitySession, Estimate: 2, Threshold: 1}}}
	var r Result
	m.Score(&req, &r)
	// σ(2−2−1) = 0.2689 → 27; without velocity.ip σ(1) = 0.7311 → 73;
	// without velocity.session σ(0) → 50.
	want := []Reason{{VelocityIP, 73 - 27}, {VelocitySession, 50 - 27}}
	if r.Score != 27 || r.Certainty != NoCertainty || !slices.Equal(r.Reasons(), want) {
		t.Fatalf("score %d reasons %v, want 27 and %v", r.Score, r.Reasons(), want)
	}
	if r.Features.String() != "velocity.ip,velocity.session" {
		t.Errorf("features %q", r.Features)
	}
}

func TestTuningZeroWeightTurnsASignalOff(t *testing.T) {
	m := defaultModel(t)
	curl := Request{Scheme: "https", Headers: hdr("user-agent", "curl/8.5.0", "accept", "*/*", "accept-language", "en", "accept-encoding", "gzip")}
	off := tuned(t, Tuning{Weights: map[Code]float64{UALibrary: 0}})
	var r Result
	off.Score(&curl, &r)
	checkResult(t, off, &r)
	if r.Certainty != NoCertainty || slices.Contains(firedCodes(&r), UALibrary) {
		t.Errorf("ua.library off: certainty %v, fired %v", r.Certainty, firedCodes(&r))
	}
	m.Score(&curl, &r)
	if r.Certainty != Declared {
		t.Errorf("the shipped model no longer declares curl: %v", r.Certainty)
	}
	velocity := Request{Method: "GET", Scheme: "https", Headers: with(navFirefox, "user-agent", uaFirefox),
		Velocity: []Velocity{{Code: VelocityIP, Estimate: 2, Threshold: 1}}}
	off = tuned(t, Tuning{Weights: map[Code]float64{VelocityIP: 0}})
	off.Score(&velocity, &r)
	if len(r.Reasons()) != 0 || r.Features != 0 {
		t.Errorf("velocity.ip off: reasons %v features %v", r.Reasons(), r.Features)
	}
}

func TestTuningRejectsWhatIsNoWeight(t *testing.T) {
	m := defaultModel(t)
	for name, tu := range map[string]Tuning{
		"a weight for a certainty signal": {Weights: map[Code]float64{HintsMismatch: -1}},
		"NaN":                             {Weights: map[Code]float64{VelocityIP: nan()}},
		"beyond MaxWeight":                {Weights: map[Code]float64{VelocityIP: -MaxWeight - 1}},
		"an unknown code":                 {Weights: map[Code]float64{numCodes: -1}},
		"a positive weight for a sign of automation (an old points file)": {Weights: map[Code]float64{AcceptMissing: 10}},
		"a negative weight for a passed challenge":                        {Weights: map[Code]float64{ClearanceValid: -1}},
	} {
		if _, err := m.With(tu); err == nil {
			t.Errorf("%s: With succeeded", name)
		}
	}
}

func TestBehindProxyTurnsTheProtocolFeatureOff(t *testing.T) {
	req := Request{Method: "GET", Scheme: "https", Protocol: "HTTP/1.1", Headers: with(navFirefox, "user-agent", uaFirefox)}
	var r Result
	defaultModel(t).Score(&req, &r)
	if !r.Features.Has(ProtocolHTTP1) {
		t.Fatalf("Firefox over HTTP/1.1 on https: features %v, want protocol.http1", r.Features)
	}
	tuned(t, Tuning{BehindProxy: true}).Score(&req, &r)
	if r.Features.Has(ProtocolHTTP1) {
		t.Errorf("behind a proxy: features %v, want no protocol.http1", r.Features)
	}
}

// tuned is the shipped model with t applied.
func tuned(t *testing.T, tu Tuning) *Model {
	t.Helper()
	m, err := defaultModel(t).With(tu)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testModel is a model with the given bias and weights, every other
// feature at 0.
func testModel(t *testing.T, bias float64, weights map[Code]float64) *Model {
	t.Helper()
	w := Weights{Bias: bias}
	for c, v := range weights {
		if err := w.Set(c, v); err != nil {
			t.Fatal(err)
		}
	}
	data, err := w.Encode(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadData(Data{Weights: data})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestScoreNilRequestIsNotScored(t *testing.T) {
	m := defaultModel(t)
	r := Result{Score: 42, Band: LikelyHuman}
	r.add(UALibrary, 60)
	m.Score(nil, &r)
	if r.Score != 0 || r.Band != NotScored || len(r.Reasons()) != 0 {
		t.Errorf("got score %d band %v reasons %v, want a cleared not-scored result", r.Score, r.Band, r.Reasons())
	}
	m.Score(&Request{}, nil) // must not panic
}

func TestScoreReusedResultIsReset(t *testing.T) {
	m := defaultModel(t)
	var r Result
	m.Score(&Request{Scheme: "https"}, &r)
	m.Score(&Request{Scheme: "https", Headers: with(navChrome, "user-agent", uaChromeWindows)}, &r)
	if r.Certainty != NoCertainty || r.Band != LikelyHuman || len(r.Reasons()) != 0 {
		t.Errorf("score %d reasons %v after rescoring a browser, want likely human and none", r.Score, r.Reasons())
	}
}

func TestScoreSurvivesAbsurdHeaders(t *testing.T) {
	m := defaultModel(t)
	huge := strings.Repeat("Chrome/", 1<<16)
	tests := []struct {
		name string
		h    map[string]string
	}{
		{"huge user agent", hdr("user-agent", huge, "sec-ch-ua", huge)},
		{"non-UTF-8 everywhere", hdr("user-agent", "\xff\xfeChrome/\xc0\x80", "sec-ch-ua", "\"\xff\";v=\"\xfe\"", "sec-ch-ua-platform", "\"\xff", "sec-fetch-mode", "\x00")},
		{"quote soup sec-ch-ua", hdr("user-agent", uaChromeWindows, "sec-ch-ua", strings.Repeat(`"\";`, 10000))},
		{"version overflow", hdr("user-agent", "Mozilla/5.0 Chrome/99999999999999999999999999.0 Safari/537.36", "sec-ch-ua", `"Chromium";v="99999999999999999999999"`)},
		{"lone quote platform", hdr("user-agent", uaChromeWindows, "sec-ch-ua-platform", `"`)},
		{"bot at the very end", hdr("user-agent", "cu"+"bot")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			m.Score(&Request{Scheme: "https", Headers: tt.h}, &r)
			checkResult(t, m, &r)
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
