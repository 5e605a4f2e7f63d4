package main

// The browsers part: the human classes, from browser header sets, and the
// adversarial bot classes built from those sets (hint-contradiction,
// missing-headers, copied-browser).
//
// Train and test come from different sources, so that detection tuned on
// train can fail on test:
//
//   - train: header sets sampled from Apify's header-generator (npm
//     header-generator, its Bayesian networks and headers-order.json), in
//     browsers_hg.go;
//   - test: the browser signatures of curl-impersonate (lwthiker's and
//     lexiforest's fork), in browsers_sig.go, and captures of real headful
//     browsers on this machine (sources/browsers/captures), in
//     browsers_cap.go.
//
// The adversarial kinds (browsers_adv.go) are made per split from that
// split's human sets only.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

// How many records the part aims for, per class and split.
const (
	humanPerClass = 220
	advPerClass   = 220
)

// bset is one browser request: a header set with its request line, the
// unit human records are made of and adversarial ones built from.
type bset struct {
	class    string // human class
	source   string // source ID
	desc     string // what it is, for notes
	method   string
	scheme   string
	path     string // "" : decorate picks one
	protocol string
	headers  []corpus.Header
	tls      string
	kind     string // "navigate", "subresource" or "fetch"
}

func browsers(dir string, rng *rand.Rand) (*set, error) {
	bdir := filepath.Join(dir, "browsers")
	out := &set{}

	train, trainSrc, err := headerGeneratorSets(filepath.Join(bdir, "header-generator"), rng)
	if err != nil {
		return nil, fmt.Errorf("header-generator: %w", err)
	}
	out.sources = append(out.sources, trainSrc...)

	sig, sigSrc, err := signatureSets(filepath.Join(bdir, "curl-impersonate"), rng)
	if err != nil {
		return nil, fmt.Errorf("curl-impersonate: %w", err)
	}
	out.sources = append(out.sources, sigSrc...)
	capt, capSrc, err := captureSets(filepath.Join(bdir, "captures"), rng)
	if err != nil {
		return nil, fmt.Errorf("captures: %w", err)
	}
	out.sources = append(out.sources, capSrc...)
	test := balanceTest(append(sig, capt...), rng)

	for _, b := range train {
		out.train = append(out.train, humanRecord(b, rng))
	}
	for _, b := range test {
		out.test = append(out.test, humanRecord(b, rng))
	}
	advTrain, advTrainSrc := adversarial("train", "header-generator sets", train, rng)
	advTest, advTestSrc := adversarial("test", "curl-impersonate signatures and the browser captures", test, rng)
	out.train = append(out.train, advTrain...)
	out.test = append(out.test, advTest...)
	out.sources = append(out.sources, advTrainSrc...)
	out.sources = append(out.sources, advTestSrc...)
	return out, nil
}

// maxRepeat is how often a test header set without a path of its own may
// be used, each time on another page and from another address: a person's
// browser sends the same headers to every page.
const maxRepeat = 3

// balanceTest keeps at most humanPerClass test sets per class: per class,
// every source gets an equal share (what one source lacks goes to the
// others), picked at random but in a stable order.
func balanceTest(sets []bset, rng *rand.Rand) []bset {
	byClass := map[string]map[string][]bset{}
	for _, b := range sets {
		if byClass[b.class] == nil {
			byClass[b.class] = map[string][]bset{}
		}
		byClass[b.class][b.source] = append(byClass[b.class][b.source], b)
	}
	var out []bset
	for _, class := range humanClasses() {
		pools := map[string][]bset{}
		var ids []string
		for id, pool := range byClass[class] {
			var rep []bset
			for r := 0; r < maxRepeat; r++ {
				for _, b := range pool {
					if r == 0 || b.path == "" {
						rep = append(rep, b)
					}
				}
			}
			pools[id] = rep
			ids = append(ids, id)
		}
		slices.Sort(ids)
		slices.SortStableFunc(ids, func(a, b string) int { return len(pools[a]) - len(pools[b]) })
		left := humanPerClass
		for i, id := range ids {
			share := left / (len(ids) - i)
			pool := pools[id]
			if len(pool) > share {
				perm := rng.Perm(len(pool))[:share]
				slices.Sort(perm)
				picked := make([]bset, 0, share)
				for _, j := range perm {
					picked = append(picked, pool[j])
				}
				pool = picked
			}
			out = append(out, pool...)
			left -= len(pool)
		}
	}
	return out
}

func humanClasses() []string {
	return []string{corpus.ChromeDesktop, corpus.ChromeAndroid, corpus.EdgeDesktop, corpus.FirefoxDesktop,
		corpus.FirefoxAndroid, corpus.SafariDesktop, corpus.SafariIOS, corpus.OtherBrowser}
}

// ---- records ----

// humanRecord makes the human record of a set.
func humanRecord(b bset, rng *rand.Rand) corpus.Record {
	r := baseRecord(b, rng)
	r.Label, r.Class = corpus.Human, b.class
	return r
}

// baseRecord is a set's request with a path (when the set has none), a
// client address and a route.
func baseRecord(b bset, rng *rand.Rand) corpus.Record {
	p := b.path
	if p == "" {
		p = pickPath(rng)
	}
	method := b.method
	if method == "" {
		method = "GET"
	}
	return corpus.Record{
		Source:   b.source,
		Method:   method,
		Scheme:   b.scheme,
		Host:     shopHost,
		Path:     p,
		Protocol: b.protocol,
		Headers:  slices.Clone(b.headers),
		Client:   pickClient(rng),
		TLS:      b.tls,
		Route:    routeOf(p),
	}
}

const shopHost = "shop.example"

var searchTerms = []string{"wool socks", "rain jacket", "coffee grinder", "kinderschuhe", "chaussures femme",
	"zapatillas running", "camping stove", "usb-c cable", "yoga mat", "teapot", "winterjacke herren",
	"sac à dos", "regenschirm", "desk lamp", "laptop sleeve 14", "bluetooth speaker"}

// pickPath picks a page a person opens.
func pickPath(rng *rand.Rand) string {
	switch n := rng.IntN(20); {
	case n < 6:
		return "/"
	case n < 9:
		return "/login"
	case n < 13:
		q := searchTerms[rng.IntN(len(searchTerms))]
		return "/search?q=" + queryEscape(q)
	case n < 16:
		return "/products/" + strconv.Itoa(1000+rng.IntN(9000))
	case n < 17:
		return "/cart"
	case n < 18:
		return "/account/orders"
	default:
		return "/category/outdoor?page=" + strconv.Itoa(2+rng.IntN(5))
	}
}

func queryEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('+')
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// routeOf is the route policy a path falls under.
func routeOf(p string) string {
	switch {
	case p == "/login" || strings.HasPrefix(p, "/login?"):
		return "login"
	case p == "/search" || strings.HasPrefix(p, "/search?"):
		return "search"
	}
	return ""
}

// pickClient picks an address in the documentation ranges (RFC 5737, RFC 3849).
func pickClient(rng *rand.Rand) string {
	switch rng.IntN(5) {
	case 0, 1:
		return "198.51.100." + strconv.Itoa(1+rng.IntN(254))
	case 2, 3:
		return "203.0.113." + strconv.Itoa(1+rng.IntN(254))
	default:
		return fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(0x10000), rng.IntN(0x10000), 1+rng.IntN(0xffff))
	}
}

// ---- header helpers ----

func hget(hs []corpus.Header, name string) (string, bool) {
	for _, h := range hs {
		if h[0] == name {
			return h[1], true
		}
	}
	return "", false
}

func hhas(hs []corpus.Header, name string) bool { _, ok := hget(hs, name); return ok }

// hdel drops every header whose name is in names.
func hdel(hs []corpus.Header, names ...string) []corpus.Header {
	out := make([]corpus.Header, 0, len(hs))
	for _, h := range hs {
		if !slices.Contains(names, h[0]) {
			out = append(out, h)
		}
	}
	return out
}

// hset replaces the value of name where it is, or appends it.
func hset(hs []corpus.Header, name, value string) []corpus.Header {
	out := slices.Clone(hs)
	for i := range out {
		if out[i][0] == name {
			out[i][1] = value
			return out
		}
	}
	return append(out, corpus.Header{name, value})
}

// hinsertAfter inserts name: value after the first of after present (or at
// the end), unless name is there already (then it is set in place).
func hinsertAfter(hs []corpus.Header, name, value string, after ...string) []corpus.Header {
	if hhas(hs, name) {
		return hset(hs, name, value)
	}
	for _, a := range after {
		for i, h := range hs {
			if h[0] == a {
				out := make([]corpus.Header, 0, len(hs)+1)
				out = append(out, hs[:i+1]...)
				out = append(out, corpus.Header{name, value})
				return append(out, hs[i+1:]...)
			}
		}
	}
	return append(slices.Clone(hs), corpus.Header{name, value})
}

// hopByHop are the headers Envoy's connection manager removes before any
// filter sees a request (ConnectionManagerUtility::mutateRequestHeaders),
// and Host, which becomes :authority.
var hopByHop = []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"}

// ---- user agents ----

// uaInfo is what a browser's user agent says.
type uaInfo struct {
	engine  string // "chromium", "firefox", "safari"; "" when not a browser this part knows
	product string // "chrome", "edge", "firefox", "safari", "other"
	major   int    // Chrome/Edge: Chromium major; Firefox: major; Safari: Version/ major
	minor   int    // Safari: Version/ minor
	os      string // "Windows", "macOS", "Linux", "Chrome OS", "Android", "iOS"
	mobile  bool   // a phone: "Mobile" (Chromium, Firefox), iPhone (Safari)
	odd     string // why the user agent is no plain browser's, or ""
}

var (
	reChrome  = regexp.MustCompile(`Chrome/(\d+)\.`)
	reFirefox = regexp.MustCompile(`Firefox/(\d+)\.`)
	reVersion = regexp.MustCompile(`Version/(\d+)(?:\.(\d+))?`)
)

// oddTokens mark user agents of automation, crawlers and in-app or embedded
// browsers: not a person's plain browser.
var oddTokens = []string{"HeadlessChrome", "compatible;", "bot", "Bot", "spider", "crawl", "pageburst", "LarkUrl",
	"GrokApp", "Electron", "wv)", "Lighthouse", "PhantomJS", "FBAN", "FBAV", "Instagram", "Line/"}

// otherProducts are browsers on Chromium or WebKit that the user agent
// names (they are other-browser, not Chrome or Safari).
var otherProducts = []string{"OPR/", "Opera", "SamsungBrowser/", "YaBrowser/", "Vivaldi", "Brave", "EdgA/", "EdgiOS/",
	"CriOS/", "FxiOS/", "UCBrowser", "DuckDuckGo", "Atom/", "Whale/", "Silk/", "MiuiBrowser"}

func parseUA(ua string) uaInfo {
	var u uaInfo
	for _, t := range oddTokens {
		if strings.Contains(ua, t) {
			u.odd = "user agent has " + strings.TrimSpace(t)
			return u
		}
	}
	if !strings.HasPrefix(ua, "Mozilla/5.0 (") {
		u.odd = "not a Mozilla/5.0 user agent"
		return u
	}
	switch {
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"), strings.Contains(ua, "iPod"):
		u.os = "iOS"
		u.mobile = strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPod")
	case strings.Contains(ua, "Android"):
		u.os = "Android"
		u.mobile = strings.Contains(ua, "Mobile")
	case strings.Contains(ua, "Windows NT"):
		u.os = "Windows"
	case strings.Contains(ua, "Macintosh"):
		u.os = "macOS"
	case strings.Contains(ua, "CrOS"):
		u.os = "Chrome OS"
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		u.os = "Linux"
	default:
		u.odd = "unknown system"
		return u
	}
	for _, t := range otherProducts {
		if strings.Contains(ua, t) {
			u.product = "other"
			break
		}
	}
	switch {
	case reFirefox.MatchString(ua) && strings.Contains(ua, "Gecko/"):
		u.engine = "firefox"
		u.major, _ = strconv.Atoi(reFirefox.FindStringSubmatch(ua)[1])
		if u.product == "" {
			u.product = "firefox"
		}
		if u.os == "Android" && !strings.Contains(ua, "Mobile") && !strings.Contains(ua, "Tablet") {
			u.odd = "Firefox on Android without Mobile or Tablet"
		}
		if u.os == "iOS" {
			u.odd = "Firefox user agent on iOS"
		}
	case reChrome.MatchString(ua) && strings.Contains(ua, "AppleWebKit/537.36"):
		u.engine = "chromium"
		u.major, _ = strconv.Atoi(reChrome.FindStringSubmatch(ua)[1])
		if u.product == "" {
			u.product = "chrome"
			if strings.Contains(ua, " Edg/") {
				u.product = "edge"
			}
		}
		if u.os == "iOS" {
			u.odd = "Chromium user agent on iOS"
		}
		if u.major < 70 {
			u.odd = "Chrome version below 70"
		}
	case reVersion.MatchString(ua) && strings.Contains(ua, "Safari/") && strings.Contains(ua, "AppleWebKit/605"):
		u.engine = "safari"
		m := reVersion.FindStringSubmatch(ua)
		u.major, _ = strconv.Atoi(m[1])
		u.minor, _ = strconv.Atoi(m[2])
		if u.product == "" {
			u.product = "safari"
		}
		if u.os != "iOS" && u.os != "macOS" {
			u.odd = "Safari user agent off Apple systems"
		}
		if u.os == "iOS" && !strings.Contains(ua, "Mobile/") {
			u.odd = "iOS Safari user agent without Mobile/"
		}
	default:
		u.odd = "no browser engine this part knows"
	}
	return u
}

// platformHint is the sec-ch-ua-platform a Chromium browser sends on os.
func platformHint(os string) string {
	switch os {
	case "Windows", "macOS", "Linux", "Android", "Chrome OS", "iOS":
		return `"` + os + `"`
	}
	return `"Unknown"`
}

// brand is one entry of sec-ch-ua.
type brand struct {
	name, version string
}

var reBrand = regexp.MustCompile(`"([^"]*)"\s*;\s*v\s*=\s*"([^"]*)"`)

func parseBrands(v string) []brand {
	var out []brand
	for _, m := range reBrand.FindAllStringSubmatch(v, -1) {
		out = append(out, brand{m[1], m[2]})
	}
	return out
}

// greaseBrand reports a GREASE entry ("Not A(Brand", " Not;A Brand", …).
func greaseBrand(name string) bool {
	return strings.Contains(name, "Not") && strings.Contains(name, "Brand")
}

// vendorBrands are sec-ch-ua brands that name Chrome and Edge.
var vendorBrands = map[string]string{"Google Chrome": "chrome", "Microsoft Edge": "edge"}

// classify is the human class of a browser request, or why it is none.
func classify(hs []corpus.Header) (string, string) {
	ua, _ := hget(hs, "user-agent")
	u := parseUA(ua)
	if u.odd != "" {
		return "", u.odd
	}
	switch u.engine {
	case "firefox":
		if u.product != "firefox" {
			return corpus.OtherBrowser, ""
		}
		if u.os == "Android" {
			return corpus.FirefoxAndroid, ""
		}
		return corpus.FirefoxDesktop, ""
	case "safari":
		if u.product != "safari" {
			return corpus.OtherBrowser, ""
		}
		if u.os == "iOS" {
			return corpus.SafariIOS, ""
		}
		return corpus.SafariDesktop, ""
	case "chromium":
		product := u.product
		if v, ok := hget(hs, "sec-ch-ua"); ok {
			// The brand list names the product: a brand beside Chromium,
			// Chrome, Edge and GREASE is another browser (Brave, Opera,
			// Vivaldi, …), and Chromium alone is a Chromium build.
			vendor := ""
			for _, b := range parseBrands(v) {
				switch {
				case greaseBrand(b.name), b.name == "Chromium":
				case vendorBrands[b.name] != "" && vendor == "":
					vendor = vendorBrands[b.name]
				default:
					vendor = "other"
				}
			}
			switch {
			case vendor == "":
				product = "other"
			case vendor != product:
				product = "other"
			}
		}
		switch {
		case product == "chrome" && u.os == "Android":
			return corpus.ChromeAndroid, ""
		case product == "chrome":
			return corpus.ChromeDesktop, ""
		case product == "edge" && u.os != "Android":
			return corpus.EdgeDesktop, ""
		}
		return corpus.OtherBrowser, ""
	}
	return "", "no browser engine"
}

// Versions from which browsers always send a header over https. The
// missing-headers class drops them from such browsers; human sets must have
// them.
const (
	secFetchChromium = 80 // Chrome and Edge (Chrome sends fetch metadata since 76)
	secFetchFirefox  = 90
	secFetchSafari   = 1604 // 16.4, as major*100+minor
	clientHintsFrom  = 90   // sec-ch-ua from Chromium browsers (sent since 89)
)

// sendsSecFetch reports whether the browser always sends sec-fetch-* over https.
func sendsSecFetch(u uaInfo) bool {
	switch u.engine {
	case "chromium":
		return u.major >= secFetchChromium
	case "firefox":
		return u.major >= secFetchFirefox
	case "safari":
		return u.major*100+u.minor >= secFetchSafari
	}
	return false
}

// sendsHints reports whether the browser always sends sec-ch-ua over https.
func sendsHints(u uaInfo) bool { return u.engine == "chromium" && u.major >= clientHintsFrom }

// inconsistency says what in a browser request contradicts its user agent
// or lacks a header its version always sends, or "": the rules the
// hint-contradiction and missing-headers classes break, so human sets must
// keep them.
func inconsistency(hs []corpus.Header, scheme string) string {
	ua, ok := hget(hs, "user-agent")
	if !ok || ua == "" {
		return "no user agent"
	}
	u := parseUA(ua)
	if u.odd != "" {
		return u.odd
	}
	chUA, hasCH := hget(hs, "sec-ch-ua")
	if u.engine != "chromium" {
		for _, h := range hs {
			if strings.HasPrefix(h[0], "sec-ch-ua") {
				return "client hints from a non-Chromium user agent"
			}
		}
	} else if hasCH {
		for _, b := range parseBrands(chUA) {
			if b.name == "HeadlessChrome" {
				return "HeadlessChrome brand"
			}
			if (b.name == "Chromium" || vendorBrands[b.name] != "") && b.version != strconv.Itoa(u.major) {
				return "sec-ch-ua " + b.name + " " + b.version + " but user agent " + strconv.Itoa(u.major)
			}
		}
		if p, ok := hget(hs, "sec-ch-ua-platform"); ok && p != platformHint(u.os) {
			return "sec-ch-ua-platform " + p + " on " + u.os
		}
		if m, ok := hget(hs, "sec-ch-ua-mobile"); ok && (m == "?1") != u.mobile {
			return "sec-ch-ua-mobile " + m + " for mobile=" + strconv.FormatBool(u.mobile)
		}
	}
	if scheme == "https" {
		if sendsHints(u) && !hasCH {
			return "no sec-ch-ua"
		}
		if sendsSecFetch(u) && !(hhas(hs, "sec-fetch-site") && hhas(hs, "sec-fetch-mode") && hhas(hs, "sec-fetch-dest")) {
			return "no sec-fetch-*"
		}
	}
	if !hhas(hs, "accept") {
		return "no accept"
	}
	if !hhas(hs, "accept-language") {
		return "no accept-language"
	}
	if !hhas(hs, "accept-encoding") {
		return "no accept-encoding"
	}
	return ""
}

// ---- accept-language as browsers write it ----

// localeLists are language preference lists people set (a region tag, its
// language, and English after it).
var localeLists = [][]string{
	{"en-US", "en"}, {"en-GB", "en"}, {"de-DE", "de", "en-US", "en"}, {"de", "en-US", "en"},
	{"fr-FR", "fr", "en-US", "en"}, {"fr", "en"}, {"es-ES", "es"}, {"es-419", "es", "en"},
	{"it-IT", "it", "en-US", "en"}, {"pt-BR", "pt", "en-US", "en"}, {"nl-NL", "nl", "en-US", "en"},
	{"pl-PL", "pl", "en-US", "en"}, {"ja", "en-US", "en"}, {"zh-CN", "zh", "en"}, {"ko-KR", "ko", "en-US", "en"},
	{"ru-RU", "ru", "en-US", "en"}, {"sv-SE", "sv", "en-US", "en"}, {"tr-TR", "tr", "en-US", "en"},
	{"en-US"}, {"en-CA", "en", "fr-CA", "fr"},
}

// chromiumAcceptLanguage writes a list as Chromium does: the first without
// a q, then q=0.9, 0.8, … (net::HttpUtil::GenerateAcceptLanguageHeader; the
// captures of Chromium check it).
func chromiumAcceptLanguage(list []string) string {
	var b strings.Builder
	q := 10
	for i, l := range list {
		if i == 0 {
			b.WriteString(l)
		} else {
			fmt.Fprintf(&b, ",%s;q=0.%d", l, q)
		}
		if q > 1 {
			q--
		}
	}
	return b.String()
}

// firefoxAcceptLanguage writes a list as Firefox of that major version
// does. Up to Firefox 144 at least (curl-impersonate's signatures: "en-US,en;q=0.5"),
// q falls by 1/n per entry, with one decimal below ten entries (rounded
// half up), the first without a q (netwerk's PrepareAcceptLanguages). The
// Firefox 153 ESR captured here steps by 0.1 as Chromium does
// ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"); versions between are in no
// source here and are taken to step by 0.1 too.
func firefoxAcceptLanguage(list []string, major int) string {
	if major > 144 {
		return chromiumAcceptLanguage(list)
	}
	n := len(list)
	var b strings.Builder
	for i, l := range list {
		if i == 0 {
			b.WriteString(l)
			continue
		}
		q := 1 - float64(i)/float64(n)
		if n < 10 {
			fmt.Fprintf(&b, ",%s;q=%.1f", l, float64(int(q*10+0.5))/10)
		} else {
			fmt.Fprintf(&b, ",%s;q=%.2f", l, float64(int(q*100+0.5))/100)
		}
	}
	return b.String()
}

// safariAcceptLanguage is what Safari sends: only the first language, with
// its base language after it when it has a region.
func safariAcceptLanguage(list []string) string {
	first := list[0]
	if i := strings.IndexByte(first, '-'); i > 0 {
		return first + "," + first[:i] + ";q=0.9"
	}
	return first
}
