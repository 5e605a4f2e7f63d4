package scoring

import (
	"maps"
	"testing"
)

// Real user agents and the headers their browsers send on a top-level
// navigation, as captured from the browsers and tools themselves.
const (
	uaChromeWindows  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeMac      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeLinux    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeAndroid  = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	uaChromeTablet   = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaChromeOS       = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaEdge           = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
	uaOpera          = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0"
	uaSamsung        = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36"
	uaCubotChrome    = "Mozilla/5.0 (Linux; Android 11; CUBOT KINGKONG 5 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.200 Mobile Safari/537.36"
	uaAndroidWebView = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36"
	uaFirefox        = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaFirefoxLinux   = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaFirefoxAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0"
	uaFirefoxESR78   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0"
	uaSafari         = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
	uaSafari15       = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.1 Safari/605.1.15"
	uaSafariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaSafariIPad     = "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1"
	uaChromeIOS      = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
	uaChromeIOS15    = "Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
	uaFirefoxIOS     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15"
	uaChrome79       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.130 Safari/537.36"
	uaChrome85       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/85.0.4183.121 Safari/537.36"

	uaHeadlessChrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
	uaPhantomJS      = "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"

	uaGooglebot       = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/131.0.6778.204 Safari/537.36"
	uaGooglebotMobile = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaBingbot         = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
	uaGPTBot          = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot"
	uaFacebook        = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
	uaBaidu           = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
	uaYahooSlurp      = "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)"
)

// navChrome is Chrome's top-level navigation on https, without the user
// agent and platform hints, which each case adds.
var navChrome = map[string]string{
	"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
	"accept-encoding":           "gzip, deflate, br, zstd",
	"accept-language":           "en-US,en;q=0.9",
	"sec-ch-ua":                 `"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"`,
	"sec-ch-ua-mobile":          "?0",
	"sec-ch-ua-platform":        `"Windows"`,
	"sec-fetch-dest":            "document",
	"sec-fetch-mode":            "navigate",
	"sec-fetch-site":            "none",
	"sec-fetch-user":            "?1",
	"upgrade-insecure-requests": "1",
	"priority":                  "u=0, i",
	":authority":                "shop.example",
	":path":                     "/",
	":method":                   "GET",
	":scheme":                   "https",
}

// navFirefox is Firefox's top-level navigation on https.
var navFirefox = map[string]string{
	"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"accept-encoding":           "gzip, deflate, br, zstd",
	"accept-language":           "en-US,en;q=0.5",
	"sec-fetch-dest":            "document",
	"sec-fetch-mode":            "navigate",
	"sec-fetch-site":            "none",
	"sec-fetch-user":            "?1",
	"upgrade-insecure-requests": "1",
	"priority":                  "u=0, i",
}

// navSafari is Safari's top-level navigation on https (no sec-fetch-user).
var navSafari = map[string]string{
	"accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"accept-encoding": "gzip, deflate, br",
	"accept-language": "en-US,en;q=0.9",
	"sec-fetch-dest":  "document",
	"sec-fetch-mode":  "navigate",
	"sec-fetch-site":  "none",
	"priority":        "u=0, i",
}

// plainHTTP strips what browsers do not send to plain-http origins.
func plainHTTP(h map[string]string) map[string]string {
	return without(h, "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
		"sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user")
}

// with returns a copy of base with the key/value pairs set.
func with(base map[string]string, kv ...string) map[string]string {
	h := maps.Clone(base)
	if h == nil {
		h = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// without returns a copy of base without the keys.
func without(base map[string]string, keys ...string) map[string]string {
	h := maps.Clone(base)
	for _, k := range keys {
		delete(h, k)
	}
	return h
}

// hdr builds a header map from key/value pairs.
func hdr(kv ...string) map[string]string { return with(nil, kv...) }

func defaultModel(t testing.TB) *Model {
	t.Helper()
	m, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return m
}

// firedCodes returns every code that fired for r, in Code order.
func firedCodes(r *Result) []Code {
	var codes []Code
	for c := Code(1); c < numCodes; c++ {
		if r.fired.has(c) {
			codes = append(codes, c)
		}
	}
	return codes
}

// checkResult verifies the invariants every scored Result keeps: the score
// is the logistic model's over the features that fired, overruled only by
// the certainty rule whose signals fired; the reasons are the weighted
// features and the rule's signals, once each, the rule's first, each part
// most costly first, ties in Code order.
func checkResult(t testing.TB, m *Model, r *Result) {
	t.Helper()
	if r.Score < 1 || r.Score > 99 {
		t.Fatalf("score %d outside 1..99", r.Score)
	}
	if r.Band != BandOf(r.Score) {
		t.Fatalf("band %v, BandOf(%d) = %v", r.Band, r.Score, BandOf(r.Score))
	}
	if signals(r.Features) != r.fired&modelFeatures {
		t.Fatalf("features %v are not the fired features", r.Features)
	}
	z := m.weights.Bias
	for c := Code(1); c < numCodes; c++ {
		if r.Features.Has(c) {
			z += m.weights.Of(c)
		}
	}
	modelScore := probabilityScore(sigmoid(min(max(z, -40), 40)))
	want, rule := modelScore, signals(0)
	switch {
	case r.fired&declaredSignals != 0:
		want, rule = 1, declaredSignals
		if r.Certainty != Declared {
			t.Fatalf("declared automation fired, certainty %v", r.Certainty)
		}
	case r.fired&impersonationSignals != 0:
		want, rule = 1, impersonationSignals
		if r.Certainty != Impersonation {
			t.Fatalf("crawler.impersonation fired, certainty %v", r.Certainty)
		}
	case r.fired&unverifiedSignals != 0:
		want, rule = min(modelScore, maxContradictionScore), unverifiedSignals
		if r.Certainty != UnverifiedCrawler {
			t.Fatalf("crawler.unverified fired, certainty %v", r.Certainty)
		}
	case r.fired&contradictionSignals != 0 && !r.fired.has(ClearanceValid):
		want, rule = min(modelScore, maxContradictionScore), contradictionSignals
		if r.Certainty != Contradiction {
			t.Fatalf("a contradiction fired, certainty %v", r.Certainty)
		}
	default:
		if r.Certainty != NoCertainty {
			t.Fatalf("certainty %v without its signals", r.Certainty)
		}
	}
	if r.Score != want {
		t.Fatalf("score %d, want %d (model %d from log-odds %.4f, certainty %v)", r.Score, want, modelScore, z, r.Certainty)
	}
	var seen [numCodes]bool
	reasons := r.Reasons()
	for i, reason := range reasons {
		if !reason.Code.valid() || seen[reason.Code] {
			t.Fatalf("reason %d (%v) invalid or repeated in %v", i, reason.Code, reasons)
		}
		seen[reason.Code] = true
		switch {
		case rule.has(reason.Code):
			if reason.Weight != modelScore-r.Score {
				t.Fatalf("rule reason %v costs %d, the rule took %d", reason.Code, reason.Weight, modelScore-r.Score)
			}
		case r.Features.Has(reason.Code) && m.weights.Of(reason.Code) != 0:
			if w := probabilityScore(sigmoid(min(max(z, -40), 40)-m.weights.Of(reason.Code))) - modelScore; reason.Weight != w {
				t.Fatalf("reason %v costs %d, want %d", reason.Code, reason.Weight, w)
			}
		default:
			t.Fatalf("reason %v neither the rule's nor a weighted feature", reason.Code)
		}
		if i > 0 {
			prev := reasons[i-1]
			switch prevLead, curLead := rule.has(prev.Code), rule.has(reason.Code); {
			case !prevLead && curLead:
				t.Fatalf("a reason of the deciding rule (%v) after another: %v", reason.Code, reasons)
			case prevLead == curLead && (prev.Weight < reason.Weight || prev.Weight == reason.Weight && prev.Code > reason.Code):
				t.Fatalf("reasons out of order: %v", reasons)
			}
		}
	}
	for c := Code(1); c < numCodes; c++ {
		if (rule.has(c) && r.fired.has(c) || r.Features.Has(c) && m.weights.Of(c) != 0) && !seen[c] {
			t.Fatalf("%v fired but is not among the reasons %v", c, reasons)
		}
	}
}
