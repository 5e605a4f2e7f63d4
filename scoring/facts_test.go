package scoring

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
)

// User agents of the facts tests, real ones as their browsers send them.
const (
	factsUAChrome85      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/85.0.4183.121 Safari/537.36"
	factsUAChrome92      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/92.0.4515.159 Safari/537.36"
	factsUAChrome120     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	factsUAChrome123     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"
	factsUAChrome131     = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	factsUASamsung22     = "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/22.0 Chrome/111.0.5563.116 Mobile Safari/537.36"
	factsUASamsung26     = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
	factsUASamsung27     = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36"
	factsUAOperaAndroid  = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36 OPR/86.0.0.0"
	factsUAOperaDesktop  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0"
	factsUAWebView       = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36"
	factsUAFirefox78     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0"
	factsUAFirefox125    = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
	factsUAFirefox133    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0"
	factsUAFirefox153    = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"
	factsUASafari12      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Safari/605.1.15"
	factsUASafari163     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.3 Safari/605.1.15"
	factsUASafari164     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.4 Safari/605.1.15"
	factsUASafari18      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
	factsUASafari26      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15"
	factsUACriOS177      = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
	factsUACriOS158      = "Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
	factsUAChromeNoMajor = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/ Safari/537.36"

	factsAcceptChrome  = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	factsAcceptFirefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

// factsBrowser parses a user agent as the scorer does.
func factsBrowser(ua string) browser {
	var buf [maxUserAgent]byte
	return parseBrowser(lowerInto(buf[:], trimOWS(ua)))
}

// mustFacts loads the embedded facts.
func mustFacts(t testing.TB) *browserFacts {
	t.Helper()
	f, err := loadBrowserFacts()
	if err != nil {
		t.Fatalf("data/browsers.yaml: %v", err)
	}
	return f
}

// headersOf builds a headerSet.
func headersOf(hs ...headerID) headerSet {
	var s headerSet
	for _, h := range hs {
		s |= 1 << h
	}
	return s
}

// fmtHeaders lists the set's header names, for test failures.
func fmtHeaders(s headerSet) string {
	var names []string
	for h := headerID(0); h < numHeaders; h++ {
		if s.has(h) {
			names = append(names, headerName(h))
		}
	}
	return "{" + strings.Join(names, " ") + "}"
}

func TestEmbeddedBrowserFactsParse(t *testing.T) {
	f := mustFacts(t)
	for _, e := range []engine{engineChromium, engineFirefox, engineWebKit} {
		fam := &f.families[e]
		if fam.accept == "" {
			t.Errorf("engine %d has no navigation accept", e)
		}
		if len(fam.headers[hdrAccept]) == 0 || len(fam.codings[codingBr]) == 0 {
			t.Errorf("engine %d: no accept or br fact", e)
		}
		if len(fam.headers[hdrSecFetchUser]) != 0 {
			t.Errorf("engine %d: sec-fetch-user is only sent on user-activated navigations, never always", e)
		}
	}
}

// minimalFacts is the smallest valid data file: every family accounts for
// every header under not_always.
func minimalFacts() string {
	var b strings.Builder
	b.WriteString("families:\n")
	for _, fam := range []string{"chromium", "firefox", "webkit"} {
		fmt.Fprintf(&b, "  %s:\n    navigation_accept: {prefix: text/html, source: test}\n    not_always:\n", fam)
		for _, h := range headerNames {
			fmt.Fprintf(&b, "      %s: test\n", h)
		}
	}
	return b.String()
}

func TestMinimalBrowserFactsExpectNothing(t *testing.T) {
	f, err := parseBrowserFacts([]byte(minimalFacts()))
	if err != nil {
		t.Fatalf("parseBrowserFacts(minimal): %v", err)
	}
	b := factsBrowser(factsUAChrome131)
	if got := f.expected(&b, kindNavigation, true, protoH2); got != 0 {
		t.Errorf("expected = %s, want nothing", fmtHeaders(got))
	}
	if !f.navigationAccept(&b, "TEXT/HTML") || f.navigationAccept(&b, "*/*") {
		t.Error("navigation accept prefix text/html not applied")
	}
}

func TestParseBrowserFactsRejectsBadFiles(t *testing.T) {
	full := string(browsersYAML)
	minimal := minimalFacts()
	// replace replaces the first old in s, failing the test if there is none:
	// a fixture that no longer changes anything tests nothing.
	replace := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("fixture: %q not in the file", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"not a mapping", "- families\n", "cannot unmarshal"},
		{"unknown top-level key", full + "extra: 1\n", "field extra not found"},
		{"two documents", full + "---\nfamilies: {}\n", "more than one YAML document"},
		{"unknown family", replace(full, "\n  webkit:\n", "\n  webkitt:\n"), `unknown family "webkitt"`},
		{"missing family", "families: {}\n", "family chromium is missing"},
		{"unknown family key", replace(minimal, "    not_always:\n", "    sometimes:\n"), "field sometimes not found"},
		{"unknown fact key", replace(full, `since: "76"`, `from: "76"`), "field from not found"},
		{"unknown header", replace(full, "      sec-fetch-site:\n        - since:", "      sec-fetch-sight:\n        - since:"), `chromium: headers: unknown header "sec-fetch-sight"`},
		{"unknown kind", replace(full, "kinds: [navigation, subresource, fetch]", "kinds: [navigate, subresource, fetch]"), `chromium: headers: sec-fetch-site[0]: unknown kind "navigate"`},
		{"kind twice", replace(full, "kinds: [preflight]", "kinds: [preflight, preflight]"), "sec-fetch-site[1]: kind preflight twice"},
		{"no kinds", replace(full, "kinds: [preflight]", "kinds: []"), "sec-fetch-site[1]: no kinds"},
		{"unknown scheme", replace(full, "schemes: [https]", "schemes: [wss]"), `sec-fetch-site[0]: unknown scheme "wss"`},
		{"no schemes", replace(full, "schemes: [https]", "schemes: []"), "sec-fetch-site[0]: no schemes"},
		{"unknown protocol", replace(full, "protocols: [h2, h3]", "protocols: [h2, quic]"), `chromium: headers: priority[0]: unknown protocol "quic"`},
		{"empty protocols", replace(full, "protocols: [h2, h3]", "protocols: []"), "priority[0]: protocols is empty"},
		{"malformed version", replace(full, `since: "16.4"`, `since: "16.x"`), `webkit: headers: sec-fetch-site[0]: since: version "16.x" is not major[.minor]`},
		{"three-part version", replace(full, `since: "16.4"`, `since: "16.4.1"`), `version "16.4.1" is not major[.minor]`},
		{"version zero", replace(full, `since: "76"`, `since: "0"`), `version "0" is not major[.minor]`},
		{"no version", replace(full, `since: "76"`, `since: ""`), `version "" is not major[.minor]`},
		{"negative version", replace(full, `since: "76"`, `since: "-76"`), `version "-76" is not major[.minor]`},
		{"unknown vendor", replace(full, `except: {samsung: "115"}`, `except: {samsang: "115"}`), `sec-ch-ua[0]: except: unknown vendor "samsang"`},
		{"bad except version", replace(full, `except: {samsung: "115"}`, `except: {samsung: soon}`), `except: samsung: version "soon"`},
		{"no source", replace(full, "          source: *chromium-preflight", `          source: ""`), "sec-fetch-mode[1]: no source"},
		{"differs without bcd", replace(full, "          source: *chromium-preflight", "          differs: x\n          source: *chromium-preflight"), "differs without bcd"},
		{"bcd not a header", replace(full, "bcd: http.headers.Sec-Fetch-Site", "bcd: css.properties.color"), `bcd: "css.properties.color" is not an http.headers feature`},
		{"header with no facts", replace(minimal, "      priority: test\n", "    headers:\n      priority: []\n"), "headers: priority: no facts"},
		{"header in both lists", replace(full, "    not_always:\n      sec-fetch-user: >-\n        Only on user-activated", "    not_always:\n      accept: dup\n      sec-fetch-user: >-\n        Only on user-activated"), "firefox: not_always: accept also has facts under headers"},
		{"header not accounted for", replace(minimal, "      priority: test\n", ""), "chromium: header priority is neither under headers nor under not_always"},
		{"unknown not_always header", replace(minimal, "      priority: test\n", "      prio: test\n"), `not_always: unknown header "prio"`},
		{"not_always without reason", replace(minimal, "      priority: test\n", "      priority: \"\"\n"), "not_always: priority: no reason"},
		{"unknown coding", replace(full, "      br:\n        - since: \"51\"", "      gzip:\n        - since: \"51\""), `chromium: codings: unknown coding "gzip"`},
		{"coding with kinds", replace(full, "      br:\n        - since: \"51\"", "      br:\n        - since: \"51\"\n          kinds: [navigation]"), "codings: br[0]: a coding fact has no kinds or protocols"},
		{"no navigation accept", replace(minimal, "    navigation_accept: {prefix: text/html, source: test}\n", ""), "chromium: navigation_accept is missing"},
		{"empty navigation accept", replace(full, `prefix: "text/html,application/xhtml+xml,application/xml;q=0.9,"`, `prefix: ""`), `chromium: navigation_accept: prefix "" is empty`},
		{"navigation accept without source", replace(minimal, "source: test}", "source: \"\"}"), "chromium: navigation_accept: no source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseBrowserFacts([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseBrowserFacts: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		method string
		h      map[string]string
		want   requestKind
	}{
		{"navigate", "GET", map[string]string{"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}, kindNavigation},
		{"navigate in upper case", "GET", map[string]string{"sec-fetch-mode": " NAVIGATE "}, kindNavigation},
		{"iframe navigation", "GET", map[string]string{"sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe"}, kindNavigation},
		{"form POST navigation", "POST", map[string]string{"sec-fetch-mode": "navigate", "accept": "text/html"}, kindNavigation},
		{"no-cors image", "GET", map[string]string{"sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}, kindSubresource},
		{"cors fetch", "GET", map[string]string{"sec-fetch-mode": "cors", "sec-fetch-dest": "empty"}, kindFetch},
		{"same-origin POST", "POST", map[string]string{"sec-fetch-mode": "same-origin", "sec-fetch-dest": "empty"}, kindFetch},
		{"cors preflight", "OPTIONS", map[string]string{"sec-fetch-mode": "cors", "access-control-request-method": "PUT"}, kindPreflight},
		{"cors OPTIONS without request method", "OPTIONS", map[string]string{"sec-fetch-mode": "cors"}, kindFetch},
		{"websocket", "GET", map[string]string{"sec-fetch-mode": "websocket", "sec-fetch-dest": "websocket"}, kindUnknown},
		{"mode wins over accept", "GET", map[string]string{"sec-fetch-mode": "cors", "accept": "text/html"}, kindFetch},
		{"dest document without mode", "GET", map[string]string{"sec-fetch-dest": "document"}, kindNavigation},
		{"dest script without mode", "GET", map[string]string{"sec-fetch-dest": "script"}, kindSubresource},
		{"dest empty without mode", "GET", map[string]string{"sec-fetch-dest": "empty"}, kindFetch},
		{"preflight without fetch metadata", "OPTIONS", map[string]string{"access-control-request-method": "POST"}, kindPreflight},
		{"preflight in lower case", "options", map[string]string{"access-control-request-method": "POST"}, kindPreflight},
		{"plain-http navigation", "GET", map[string]string{"accept": factsAcceptChrome}, kindNavigation},
		{"HEAD accepting HTML", "HEAD", map[string]string{"accept": " Text/HTML,*/*"}, kindNavigation},
		{"POST accepting HTML", "POST", map[string]string{"accept": "text/html"}, kindUnknown},
		{"GET accepting anything", "GET", map[string]string{"accept": "*/*"}, kindUnknown},
		{"no headers", "GET", nil, kindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindOf(tt.method, tt.h); got != tt.want {
				t.Errorf("kindOf(%q, %v) = %d, want %d", tt.method, tt.h, got, tt.want)
			}
		})
	}
}

func TestParseProtocol(t *testing.T) {
	tests := []struct {
		s    string
		want protocol
	}{
		{"HTTP/1.1", protoH1}, {"HTTP/1.0", protoH1}, {"http/1.1", protoH1},
		{"HTTP/2", protoH2}, {"http/2", protoH2},
		{"HTTP/3", protoH3}, {"Http/3", protoH3},
		{"", protoUnknown}, {"HTTP/2.0", protoUnknown}, {"h2", protoUnknown}, {"HTTP/1.1 ", protoUnknown}, {"SPDY/3", protoUnknown},
	}
	for _, tt := range tests {
		if got := parseProtocol(tt.s); got != tt.want {
			t.Errorf("parseProtocol(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestHeaderNamesAndSets(t *testing.T) {
	for h := headerID(0); h < numHeaders; h++ {
		if name := headerName(h); name == "" || name != strings.ToLower(name) {
			t.Errorf("headerName(%d) = %q", h, name)
		}
		if s := headersOf(h); !s.has(h) || s.has((h+1)%numHeaders) {
			t.Errorf("headerSet of %s: has is wrong", headerName(h))
		}
	}
	if headerName(numHeaders) != "" || headerSet(^uint32(0)).has(numHeaders) {
		t.Error("an out-of-range headerID is a header")
	}
}

func TestParseBrowserVendor(t *testing.T) {
	tests := []struct {
		ua   string
		want vendor
	}{
		{factsUASamsung22, vendorSamsung},
		{factsUAOperaAndroid, vendorOperaAndroid},
		{factsUAOperaDesktop, vendorNone}, // Opera on the desktop follows Chromium
		{factsUAChrome131, vendorNone},
		{factsUAFirefox153, vendorNone},
	}
	for _, tt := range tests {
		if b := factsBrowser(tt.ua); b.vendor != tt.want {
			t.Errorf("parseBrowser(%q).vendor = %d, want %d", tt.ua, b.vendor, tt.want)
		}
	}
}

func TestFactsExpected(t *testing.T) {
	fetchMeta := headersOf(hdrSecFetchSite, hdrSecFetchMode, hdrSecFetchDest)
	hints := headersOf(hdrSecChUA, hdrSecChUAMobile, hdrSecChUAPlatform)
	always := headersOf(hdrAccept, hdrAcceptEncoding, hdrAcceptLanguage)
	uir := headersOf(hdrUpgradeInsecureRequests)
	prio := headersOf(hdrPriority)
	tests := []struct {
		name   string
		ua     string
		kind   requestKind
		secure bool
		proto  protocol
		want   headerSet
	}{
		{"Chrome 120 https navigation", factsUAChrome120, kindNavigation, true, protoH2, fetchMeta | hints | uir | always},
		{"Chrome 120 https navigation, protocol unknown", factsUAChrome120, kindNavigation, true, protoUnknown, fetchMeta | hints | uir | always},
		{"Chrome 120 plain http navigation", factsUAChrome120, kindNavigation, false, protoH1, uir | always},
		{"Chrome 120 https subresource", factsUAChrome120, kindSubresource, true, protoH2, fetchMeta | hints | always},
		{"Chrome 120 https fetch", factsUAChrome120, kindFetch, true, protoH1, fetchMeta | hints | always},
		{"Chrome 120 CORS preflight: no hints", factsUAChrome120, kindPreflight, true, protoH2, fetchMeta | always},
		{"Chrome 120 plain http preflight", factsUAChrome120, kindPreflight, false, protoH1, always},
		{"Chrome 120 unknown kind: what every kind but preflights has", factsUAChrome120, kindUnknown, true, protoH2, fetchMeta | hints | always},
		{"Chrome 85: fetch metadata, no hints", factsUAChrome85, kindNavigation, true, protoH2, fetchMeta | uir | always},
		{"Chrome 85 preflight: before the preflight facts", factsUAChrome85, kindPreflight, true, protoH2, 0},
		{"Chrome 85 unknown kind: never a preflight", factsUAChrome85, kindUnknown, true, protoH2, fetchMeta | always},
		{"Chrome 92: no platform hint yet", factsUAChrome92, kindNavigation, true, protoH2, fetchMeta | headersOf(hdrSecChUA, hdrSecChUAMobile) | uir | always},
		{"Chrome 131 h2 navigation: priority", factsUAChrome131, kindNavigation, true, protoH2, fetchMeta | hints | uir | always | prio},
		{"Chrome 131 h3 navigation: priority", factsUAChrome131, kindNavigation, true, protoH3, fetchMeta | hints | uir | always | prio},
		{"Chrome 131 HTTP/1.1 navigation: no priority", factsUAChrome131, kindNavigation, true, protoH1, fetchMeta | hints | uir | always},
		{"Chrome 131 h2 subresource: no priority", factsUAChrome131, kindSubresource, true, protoH2, fetchMeta | hints | always},
		{"Samsung Internet 22 (Chromium 111): no hints", factsUASamsung22, kindNavigation, true, protoH2, fetchMeta | uir | always},
		{"Samsung Internet 26 (Chromium 122): no priority yet", factsUASamsung26, kindNavigation, true, protoH2, fetchMeta | hints | uir | always},
		{"Samsung Internet 27 (Chromium 125)", factsUASamsung27, kindNavigation, true, protoH2, fetchMeta | hints | uir | always | prio},
		{"Opera for Android", factsUAOperaAndroid, kindNavigation, true, protoH2, fetchMeta | hints | uir | always | prio},
		{"Firefox 153 h2 navigation", factsUAFirefox153, kindNavigation, true, protoH2, fetchMeta | uir | always | prio},
		{"Firefox 153 HTTP/1.1 navigation", factsUAFirefox153, kindNavigation, true, protoH1, fetchMeta | uir | always | prio},
		{"Firefox 153 navigation, protocol unknown", factsUAFirefox153, kindNavigation, true, protoUnknown, fetchMeta | uir | always | prio},
		{"Firefox 153 plain http navigation", factsUAFirefox153, kindNavigation, false, protoH1, uir | always | prio},
		{"Firefox 153 h2 fetch: no priority", factsUAFirefox153, kindFetch, true, protoH2, fetchMeta | always},
		{"Firefox 153 preflight: no fetch metadata claimed", factsUAFirefox153, kindPreflight, true, protoH2, always},
		{"Firefox 133 h2 navigation", factsUAFirefox133, kindNavigation, true, protoH2, fetchMeta | uir | always | prio},
		{"Firefox 133 HTTP/1.1 navigation: not known to send priority", factsUAFirefox133, kindNavigation, true, protoH1, fetchMeta | uir | always},
		{"Firefox 133 navigation, protocol unknown", factsUAFirefox133, kindNavigation, true, protoUnknown, fetchMeta | uir | always},
		{"Firefox 78: before fetch metadata", factsUAFirefox78, kindNavigation, true, protoH2, uir | always},
		{"Safari 16.3: no fetch metadata", factsUASafari163, kindNavigation, true, protoH2, always},
		{"Safari 16.4: fetch metadata", factsUASafari164, kindNavigation, true, protoH2, fetchMeta | always},
		{"Safari 16.4 plain http", factsUASafari164, kindNavigation, false, protoH1, always},
		{"Safari 18.1: no priority or upgrade-insecure-requests claimed", factsUASafari18, kindNavigation, true, protoH2, fetchMeta | always},
		{"Safari 18.1 preflight: nothing claimed", factsUASafari18, kindPreflight, true, protoH2, 0},
		{"Chrome on iOS 17.7 is WebKit: no hints", factsUACriOS177, kindNavigation, true, protoH2, fetchMeta | always},
		{"Chrome on iOS 15.8: no fetch metadata", factsUACriOS158, kindNavigation, true, protoH2, always},
		{"Android WebView: nothing", factsUAWebView, kindNavigation, true, protoH2, 0},
		{"Chrome without a version: nothing", factsUAChromeNoMajor, kindNavigation, true, protoH2, 0},
		{"curl: nothing", "curl/8.5.0", kindNavigation, true, protoH2, 0},
		{"no user agent: nothing", "", kindNavigation, true, protoH2, 0},
	}
	f := mustFacts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := factsBrowser(tt.ua)
			if got := f.expected(&b, tt.kind, tt.secure, tt.proto); got != tt.want {
				t.Errorf("expected = %s, want %s", fmtHeaders(got), fmtHeaders(tt.want))
			}
		})
	}
}

func TestFactsCodings(t *testing.T) {
	br := codingSet(1 << codingBr)
	both := br | 1<<codingZstd
	tests := []struct {
		name   string
		ua     string
		secure bool
		want   codingSet
	}{
		{"Chrome 120 https", factsUAChrome120, true, br},
		{"Chrome 123 https", factsUAChrome123, true, both},
		{"Chrome 131 plain http", factsUAChrome131, false, 0},
		{"Samsung Internet 26 (Chromium 122)", factsUASamsung26, true, br},
		{"Samsung Internet 27 (Chromium 125)", factsUASamsung27, true, both},
		{"Opera for Android: never zstd", factsUAOperaAndroid, true, br},
		{"Opera on the desktop", factsUAOperaDesktop, true, both},
		{"Firefox 125 https", factsUAFirefox125, true, br},
		{"Firefox 153 https", factsUAFirefox153, true, both},
		{"Firefox 153 plain http", factsUAFirefox153, false, 0},
		{"Safari 12.1: br not on every macOS", factsUASafari12, true, 0},
		{"Safari 16.4 https", factsUASafari164, true, br},
		{"Safari 26.0: zstd not claimed", factsUASafari26, true, br},
		{"Safari 16.4 plain http: not claimed", factsUASafari164, false, 0},
		{"Chrome on iOS 17.7", factsUACriOS177, true, br},
		{"Android WebView", factsUAWebView, true, 0},
		{"curl", "curl/8.5.0", true, 0},
	}
	f := mustFacts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := factsBrowser(tt.ua)
			if got := f.codings(&b, tt.secure); got != tt.want {
				t.Errorf("codings = %b, want %b", got, tt.want)
			}
		})
	}
	if codingSet(0xff).has(numCodings) {
		t.Error("an out-of-range coding is in a set")
	}
}

func TestFactsNavigationAccept(t *testing.T) {
	tests := []struct {
		name   string
		ua     string
		accept string
		want   bool
	}{
		{"Chrome's", factsUAChrome120, factsAcceptChrome, true},
		{"Chrome with Firefox's", factsUAChrome120, factsAcceptFirefox, true},
		{"Chrome in upper case, padded", factsUAChrome120, "  " + strings.ToUpper(factsAcceptChrome), true},
		{"Chrome with */*", factsUAChrome120, "*/*", false},
		{"Chrome with text/html alone", factsUAChrome120, "text/html", false},
		{"Chrome with a reordered list", factsUAChrome120, "application/xhtml+xml,text/html,application/xml;q=0.9,*/*;q=0.8", false},
		{"Firefox's", factsUAFirefox153, factsAcceptFirefox, true},
		{"Firefox with */*", factsUAFirefox153, "*/*", false},
		{"Safari's", factsUASafari18, factsAcceptFirefox, true},
		{"Chrome on iOS with WebKit's", factsUACriOS177, factsAcceptFirefox, true},
		{"Safari empty", factsUASafari18, "", false},
		{"Android WebView: its app decides", factsUAWebView, "*/*", true},
		{"curl: no family", "curl/8.5.0", "*/*", true},
	}
	f := mustFacts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := factsBrowser(tt.ua)
			if got := f.navigationAccept(&b, tt.accept); got != tt.want {
				t.Errorf("navigationAccept(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

// bcdStatement is one BCD support statement, as the extract keeps it.
type bcdStatement struct {
	VersionAdded          any    `json:"version_added"` // a string, false or null
	VersionRemoved        any    `json:"version_removed"`
	Flags                 []any  `json:"flags"`
	Prefix                string `json:"prefix"`
	AlternativeName       string `json:"alternative_name"`
	PartialImplementation bool   `json:"partial_implementation"`
}

// bcdFamilies are the BCD browsers whose versions number each family the
// way the facts do: Chrome majors, Firefox majors, Safari and iOS versions.
var bcdFamilies = map[string][]string{
	"chromium": {"chrome", "chrome_android"},
	"firefox":  {"firefox", "firefox_android"},
	"webkit":   {"safari", "safari_ios"},
}

// bcdSince returns the first version from which a browser supports a
// feature plainly (no flag, prefix, other name or partial implementation,
// not removed), if any.
func bcdSince(statements []bcdStatement) (version, bool) {
	var first version
	found := false
	for _, s := range statements {
		added, ok := s.VersionAdded.(string)
		if !ok || len(s.Flags) > 0 || s.Prefix != "" || s.AlternativeName != "" || s.PartialImplementation {
			continue
		}
		if removed, _ := s.VersionRemoved.(string); removed != "" {
			continue
		}
		v, err := parseVersion(added) // "≤79" and "preview" fail: not a plain version
		if err != nil {
			continue
		}
		if !found || v.major < first.major || v.major == first.major && v.minor < first.minor {
			first, found = v, true
		}
	}
	return first, found
}

func TestBrowserFactsAgreeWithBCD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "bcd-http-headers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var x struct {
		Version  string `json:"bcd_version"`
		Features map[string]struct {
			Support map[string][]bcdStatement `json:"support"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &x); err != nil {
		t.Fatalf("bcd-http-headers.json: %v", err)
	}
	file, err := decodeFactsFile(browsersYAML)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	cited := map[string]bool{}
	for _, famName := range sortedKeys(file.Families) {
		fam := file.Families[famName]
		check := func(what string, ff factFile) {
			if ff.BCD == "" {
				return
			}
			cited[ff.BCD] = true
			feat, ok := x.Features[ff.BCD]
			if !ok {
				t.Errorf("%s %s: BCD feature %s is not in the extract: add it to cmd/botfacts and rerun it", famName, what, ff.BCD)
				return
			}
			since, err := parseVersion(ff.Since)
			if err != nil {
				t.Errorf("%s %s: %v", famName, what, err)
				return
			}
			// The family's version is the later of its BCD browsers': a fact
			// keyed by Chrome major holds on Android only when Chrome for
			// Android has caught up.
			var want version
			supported := true
			var seen []string
			for _, b := range bcdFamilies[famName] {
				v, ok := bcdSince(feat.Support[b])
				if !ok {
					supported = false
					seen = append(seen, b+" none")
					continue
				}
				seen = append(seen, fmt.Sprintf("%s %d.%d", b, v.major, v.minor))
				if v.major > want.major || v.major == want.major && v.minor > want.minor {
					want = v
				}
			}
			checked++
			agrees := supported && since == want
			differs := strings.TrimSpace(ff.Differs) != ""
			switch {
			case !agrees && !differs:
				t.Errorf("%s %s: since %s, BCD %s (%s): explain the difference in differs", famName, what, ff.Since, ff.BCD, strings.Join(seen, ", "))
			case agrees && differs:
				t.Errorf("%s %s: since %s agrees with BCD %s, yet differs explains a difference", famName, what, ff.Since, ff.BCD)
			}
		}
		for _, h := range sortedKeys(fam.Headers) {
			for i, ff := range fam.Headers[h] {
				check(fmt.Sprintf("%s[%d]", h, i), ff)
			}
		}
		for _, c := range sortedKeys(fam.Codings) {
			for i, ff := range fam.Codings[c] {
				check(fmt.Sprintf("coding %s[%d]", c, i), ff)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no fact names a BCD feature")
	}
	// The extract holds only what the file cites, in a fact or in a reason.
	for feat := range x.Features {
		if !cited[feat] && !strings.Contains(string(browsersYAML), feat) {
			t.Errorf("the extract holds %s, which data/browsers.yaml does not cite", feat)
		}
	}
	t.Logf("%d facts checked against BCD %s", checked, x.Version)
}

// browserRecord is one real browser request: a capture or a signature.
type browserRecord struct {
	source   string // file and line or signature name
	method   string
	scheme   string
	protocol string
	headers  map[string]string
	order    []string // header names as sent
	tls      string   // JA4, when the capture recorded it
	human    bool
	tool     bool // an HTTP library or tool, not a browser (headless ones are browsers)
}

// readCaptures reads the human records of the capture files: every request
// the real browsers made.
func readCaptures(t *testing.T) []browserRecord {
	t.Helper()
	files, err := filepath.Glob("../testdata/corpus/sources/browsers/captures/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture files (%v)", err)
	}
	var out []browserRecord
	for _, name := range files {
		out = append(out, readRecords(t, name, func(r *corpus.Record) bool { return r.Label == corpus.Human })...)
	}
	return out
}

// readSignatures reads the corpus records made from curl-impersonate's
// browser signatures (cmd/botcorpus parses them): each a real browser's
// first navigation over h2 and https, with the variations the generator
// adds (sec-fetch-site and a matching referer, accept-language).
func readSignatures(t *testing.T) []browserRecord {
	t.Helper()
	return readRecords(t, "../testdata/corpus/test.jsonl", func(r *corpus.Record) bool {
		return r.Label == corpus.Human && strings.HasPrefix(r.Source, "curl-impersonate")
	})
}

// readRecords reads the records of a corpus file that keep accepts.
func readRecords(t *testing.T, name string, keep func(*corpus.Record) bool) []browserRecord {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := corpus.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []browserRecord
	for i := range recs {
		r := &recs[i]
		if !keep(r) {
			continue
		}
		pairs := make([][2]string, len(r.Headers))
		order := make([]string, len(r.Headers))
		for j, h := range r.Headers {
			pairs[j], order[j] = h, h[0]
		}
		out = append(out, browserRecord{
			source:   fmt.Sprintf("%s#%d (%s)", filepath.Base(name), i+1, r.Source),
			method:   r.Method,
			scheme:   r.Scheme,
			protocol: r.Protocol,
			headers:  headerMap(pairs),
			order:    order,
			tls:      r.TLS,
			human:    r.Label == corpus.Human,
			tool:     r.Label == corpus.Bot && r.Class != corpus.Headless,
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no records", name)
	}
	return out
}

// headerMap makes Envoy's header map of a request's header list: names
// lower case, repeated fields joined with ", ".
func headerMap(pairs [][2]string) map[string]string {
	h := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k := strings.ToLower(p[0])
		if old, ok := h[k]; ok {
			h[k] = old + ", " + p[1]
		} else {
			h[k] = p[1]
		}
	}
	return h
}

// offersCoding reports whether an accept-encoding value lists coding.
func offersCoding(ae, coding string) bool {
	for item := range strings.SplitSeq(ae, ",") {
		name, _, _ := strings.Cut(item, ";")
		if strings.EqualFold(strings.TrimSpace(name), coding) {
			return true
		}
	}
	return false
}

// TestCaptureFactsHoldForRealBrowsers is the test that the facts never call
// a real browser a bot: every header expected is present, every coding
// always offered is offered, and every navigation's accept begins as its
// family's does, on every human request of the captures and signatures.
func TestCaptureFactsHoldForRealBrowsers(t *testing.T) {
	f := mustFacts(t)
	captures, signatures := readCaptures(t), readSignatures(t)
	type group struct {
		engine  engine
		kind    requestKind
		secure  bool
		proto   protocol
		n       int
		present [numHeaders]int
		want    headerSet
	}
	groups := map[string]*group{}
	var asserted [numEngines]int
	for _, r := range slices.Concat(captures, signatures) {
		b := factsBrowser(r.headers["user-agent"])
		if b.engine == engineOther || b.webview {
			t.Errorf("%s: user agent %q is no browser the facts know", r.source, r.headers["user-agent"])
			continue
		}
		k := kindOf(r.method, r.headers)
		secure := r.scheme == "https"
		p := parseProtocol(r.protocol)
		if p == protoUnknown {
			t.Errorf("%s: protocol %q", r.source, r.protocol)
		}
		want := f.expected(&b, k, secure, p)
		for h := headerID(0); h < numHeaders; h++ {
			if !want.has(h) {
				continue
			}
			asserted[b.engine]++
			if _, ok := r.headers[headerName(h)]; !ok {
				t.Errorf("%s: %s %s %s (kind %d) has no %s, which the facts say it always sends", r.source, r.method, r.scheme, r.protocol, k, headerName(h))
			}
		}
		// An unknown kind or protocol must never expect more than the known one.
		for _, w := range []headerSet{f.expected(&b, kindUnknown, secure, p), f.expected(&b, k, secure, protoUnknown)} {
			if w&^want != 0 {
				t.Errorf("%s: expects %s for an unknown kind or protocol, more than %s", r.source, fmtHeaders(w), fmtHeaders(want))
			}
		}
		if r.headers["range"] == "" {
			codings := f.codings(&b, secure)
			for c := coding(0); c < numCodings; c++ {
				if codings.has(c) && !offersCoding(r.headers["accept-encoding"], codingNames[c]) {
					t.Errorf("%s: accept-encoding %q lacks %s, which the facts say it always offers", r.source, r.headers["accept-encoding"], codingNames[c])
				}
			}
		}
		if k == kindNavigation && !f.navigationAccept(&b, r.headers["accept"]) {
			t.Errorf("%s: navigation accept %q does not begin as the family's", r.source, r.headers["accept"])
		}

		key := fmt.Sprintf("engine %d kind %d secure %v proto %d", b.engine, k, secure, p)
		g := groups[key]
		if g == nil {
			g = &group{engine: b.engine, kind: k, secure: secure, proto: p, want: want}
			groups[key] = g
		}
		g.n++
		g.want &= want
		for h := headerID(0); h < numHeaders; h++ {
			if _, ok := r.headers[headerName(h)]; ok {
				g.present[h]++
			}
		}
	}
	for _, e := range []engine{engineChromium, engineFirefox, engineWebKit} {
		if asserted[e] == 0 {
			t.Errorf("engine %d: no header was ever expected, the test proves nothing for it", e)
		}
	}
	t.Logf("%d capture records and %d signatures checked (%d expected headers asserted)",
		len(captures), len(signatures), asserted[engineChromium]+asserted[engineFirefox]+asserted[engineWebKit])
	// What the data would support beyond the facts, for whoever extends them:
	// headers on every request of a group that no fact expects.
	for _, key := range sortedKeys(groups) {
		g := groups[key]
		var extra []string
		for h := headerID(0); h < numHeaders; h++ {
			if g.present[h] == g.n && !g.want.has(h) {
				extra = append(extra, headerName(h))
			}
		}
		t.Logf("%s: %d requests, expected %s, always present too: %v", key, g.n, fmtHeaders(g.want), extra)
	}
}

func TestFactsDoNotAllocate(t *testing.T) {
	f := mustFacts(t)
	b := factsBrowser(factsUAChrome131)
	h := map[string]string{"sec-fetch-mode": "navigate", "accept": factsAcceptChrome}
	var set headerSet
	var codings codingSet
	var ok bool
	var kind requestKind
	for name, fn := range map[string]func(){
		"expected":         func() { set = f.expected(&b, kindNavigation, true, protoH2) },
		"expected unknown": func() { set = f.expected(&b, kindUnknown, true, protoUnknown) },
		"codings":          func() { codings = f.codings(&b, true) },
		"navigationAccept": func() { ok = f.navigationAccept(&b, factsAcceptChrome) },
		"kindOf":           func() { kind = kindOf("GET", h) },
		"parseProtocol":    func() { kind = requestKind(parseProtocol("HTTP/2")) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s allocates %v times per run", name, n)
		}
	}
	_, _, _, _ = set, codings, ok, kind
}

func BenchmarkFactsExpected(b *testing.B) {
	f := mustFacts(b)
	br := factsBrowser(factsUAChrome131)
	var set headerSet
	b.ReportAllocs()
	for b.Loop() {
		set |= f.expected(&br, kindNavigation, true, protoH2)
	}
	_ = set
}

func BenchmarkFactsPerRequest(b *testing.B) {
	f := mustFacts(b)
	br := factsBrowser(factsUAFirefox153)
	h := map[string]string{"sec-fetch-mode": "navigate", "accept": factsAcceptFirefox}
	ok := true
	b.ReportAllocs()
	for b.Loop() {
		k := kindOf("GET", h)
		set := f.expected(&br, k, true, parseProtocol("HTTP/2"))
		c := f.codings(&br, true)
		ok = ok && f.navigationAccept(&br, h["accept"]) && set != 0 && c != 0
	}
	if !ok {
		b.Fatal("facts expected nothing")
	}
}
