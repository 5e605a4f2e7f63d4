package main

// The train split's browsers: header sets sampled from Apify's
// header-generator data (npm header-generator, data_files/), the way its
// HeaderGenerator.getHeaders makes them:
//
//  1. the input network draws *DEVICE, *OPERATING_SYSTEM, *BROWSER_HTTP
//     ("chrome/147.0.0.0|2": browser, version, HTTP version),
//     *HTTP_VERSION and *BROWSER, restricted to a class's browser, system
//     and device as its options restrict them;
//  2. the header network draws the headers given those;
//  3. accept-language is made from locales; sec-fetch-* are added for
//     Chrome ≥ 76, Firefox ≥ 90 and Edge ≥ 79 (the package fixes
//     sec-fetch-site to same-site; here it is varied, with a matching
//     referer, see navKinds); "*MISSING_VALUE*" headers and "connection:
//     close" are dropped;
//  4. the headers are ordered by headers-order.json for the browser.
//
// Departures, each because header-generator's output would not be a
// browser's: Safari ≥ 16.4 gets sec-fetch-dest, -mode and -site too (Safari
// sends them since 16.4 and headers-order.json lists them for Safari;
// header-generator leaves them out); a few requests go to plain http, where
// browsers send no client hints and no fetch metadata and Chromium and
// Firefox offer no br or zstd (as the captures show); samples whose user agent
// is no plain browser's (HeadlessChrome, crawlers, in-app browsers, made-up
// versions) or whose hints contradict it are drawn again ("only real
// browsers"). The data has only navigation requests (every accept in it is a
// document's), so the train split has no subresource requests.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

const hgMissing = "*MISSING_VALUE*"

// hgData is header-generator's data.
type hgData struct {
	version string
	input   *bnNetwork
	headers *bnNetwork
	order   map[string][]string
}

func loadHeaderGenerator(dir string) (*hgData, error) {
	var pkg struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	if pkg.Name != "header-generator" || pkg.Version == "" {
		return nil, fmt.Errorf("package.json: %s@%s is not header-generator", pkg.Name, pkg.Version)
	}
	d := &hgData{version: pkg.Version}
	if d.input, err = readNetworkZip(filepath.Join(dir, "input-network-definition.zip")); err != nil {
		return nil, err
	}
	if d.headers, err = readNetworkZip(filepath.Join(dir, "header-network-definition.zip")); err != nil {
		return nil, err
	}
	if b, err = os.ReadFile(filepath.Join(dir, "headers-order.json")); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &d.order); err != nil {
		return nil, fmt.Errorf("headers-order.json: %w", err)
	}
	for _, n := range []string{"*BROWSER_HTTP", "*DEVICE", "*OPERATING_SYSTEM"} {
		if d.input.Node(n) == nil {
			return nil, fmt.Errorf("input network has no %s node", n)
		}
	}
	if d.headers.Node("user-agent") == nil || d.headers.Node("User-Agent") == nil {
		return nil, fmt.Errorf("header network has no user-agent node")
	}
	return d, nil
}

// hgTarget is one class's restriction of the input network, as
// header-generator's browsers, operatingSystems and devices options.
type hgTarget struct {
	class    string
	browser  string // *BROWSER_HTTP prefix; "" for any
	systems  []string
	device   string
	maxDraws int
}

func hgTargets() []hgTarget {
	return []hgTarget{
		{corpus.ChromeDesktop, "chrome/", []string{"windows", "macos", "linux"}, "desktop", 20000},
		{corpus.ChromeAndroid, "chrome/", []string{"android"}, "mobile", 20000},
		{corpus.EdgeDesktop, "edge/", []string{"windows", "macos", "linux"}, "desktop", 20000},
		{corpus.FirefoxDesktop, "firefox/", []string{"windows", "macos", "linux"}, "desktop", 20000},
		{corpus.FirefoxAndroid, "firefox/", []string{"android"}, "mobile", 20000},
		{corpus.SafariDesktop, "safari/", []string{"macos"}, "desktop", 20000},
		{corpus.SafariIOS, "safari/", []string{"ios"}, "mobile", 20000},
		{corpus.OtherBrowser, "", nil, "", 60000},
	}
}

// hgSample is one draw: the networks' values.
type hgSample struct {
	input, headers map[string]string
}

// sample draws one sample restricted to t.
func (d *hgData) sample(rng *rand.Rand, t hgTarget) (hgSample, bool) {
	allowed := map[string][]string{}
	if t.browser != "" {
		for _, v := range d.input.Node("*BROWSER_HTTP").Values {
			if strings.HasPrefix(v, t.browser) {
				allowed["*BROWSER_HTTP"] = append(allowed["*BROWSER_HTTP"], v)
			}
		}
	}
	if t.systems != nil {
		allowed["*OPERATING_SYSTEM"] = t.systems
	}
	if t.device != "" {
		allowed["*DEVICE"] = []string{t.device}
	}
	in, ok := d.input.SampleRestricted(rng, allowed)
	if !ok {
		return hgSample{}, false
	}
	known := map[string]string{}
	for _, n := range []string{"*BROWSER", "*OPERATING_SYSTEM", "*DEVICE", "*HTTP_VERSION"} {
		known[n] = in[n]
	}
	hs, ok := d.headers.Sample(rng, known)
	if !ok {
		return hgSample{}, false
	}
	return hgSample{input: in, headers: hs}, true
}

// navKind is how a person came to a page: it sets sec-fetch-site and the
// referer.
type navKind struct {
	name, site, referer string
}

var navKinds = []navKind{
	{"typed", "none", ""},
	{"link", "same-origin", "https://shop.example/"},
	{"search", "cross-site", "https://www.google.com/"},
	{"subdomain", "same-site", "https://blog.shop.example/"},
}

// build turns a sample into a request, or says why it is no browser's.
func (d *hgData) build(rng *rand.Rand, s hgSample, scheme string) (bset, string) {
	bh := s.input["*BROWSER_HTTP"]
	name, rest, _ := strings.Cut(bh, "/")
	ver, httpv, _ := strings.Cut(rest, "|")
	major, _ := strconv.Atoi(strings.SplitN(ver, ".", 2)[0])
	h1 := httpv == "1"

	type kv struct{ k, v string }
	var hs []kv
	seen := map[string]bool{}
	for _, nd := range d.headers.Nodes {
		v := s.headers[nd.Name]
		if strings.HasPrefix(nd.Name, "*") || v == hgMissing || v == "" {
			continue
		}
		if strings.EqualFold(nd.Name, "connection") && v == "close" {
			continue
		}
		if seen[strings.ToLower(nd.Name)] {
			return bset{}, "header " + nd.Name + " twice"
		}
		seen[strings.ToLower(nd.Name)] = true
		hs = append(hs, kv{nd.Name, v})
	}
	al, site, mode, user, dest, ref := "accept-language", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest", "referer"
	if h1 {
		al, site, mode, user, dest, ref = "Accept-Language", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User", "Sec-Fetch-Dest", "Referer"
	}
	hs = append(hs, kv{al, hgAcceptLanguage(rng, localeLists[rng.IntN(len(localeLists))])})
	kind := navKinds[rng.IntN(len(navKinds))]
	if scheme == "http" {
		kind = navKinds[rng.IntN(2)]
		if kind.referer != "" {
			kind.referer = "http://shop.example/"
		}
	}
	fetchMeta := name == "chrome" && major >= 76 || name == "firefox" && major >= 90 || name == "edge" && major >= 79
	safariMeta := false
	if name == "safari" {
		mm := strings.SplitN(ver, ".", 3)
		minor := 0
		if len(mm) > 1 {
			minor, _ = strconv.Atoi(mm[1])
		}
		safariMeta = major*100+minor >= secFetchSafari
	}
	if fetchMeta {
		hs = append(hs, kv{site, kind.site}, kv{mode, "navigate"}, kv{user, "?1"}, kv{dest, "document"})
	} else if safariMeta {
		hs = append(hs, kv{site, kind.site}, kv{mode, "navigate"}, kv{dest, "document"})
	}
	if kind.referer != "" {
		hs = append(hs, kv{ref, kind.referer})
	}

	// Order as headers-order.json says for the browser; the rest after,
	// in the order they came (HeaderGenerator.orderHeaders).
	order := d.order[name]
	var out []corpus.Header
	used := make([]bool, len(hs))
	for _, o := range order {
		for i, h := range hs {
			if !used[i] && h.k == o {
				out = append(out, corpus.Header{strings.ToLower(h.k), h.v})
				used[i] = true
			}
		}
	}
	for i, h := range hs {
		if !used[i] {
			out = append(out, corpus.Header{strings.ToLower(h.k), h.v})
		}
	}
	out = hdel(out, hopByHop...)
	if scheme == "http" {
		out = plainHTTP(out)
	}
	proto := "HTTP/2"
	if h1 {
		proto = "HTTP/1.1"
	}
	b := bset{
		source:   hgSourceID(d.version),
		desc:     fmt.Sprintf("header-generator %s, %s %s", bh, s.input["*OPERATING_SYSTEM"], s.input["*DEVICE"]),
		method:   "GET",
		scheme:   scheme,
		protocol: proto,
		headers:  out,
		kind:     "navigate",
	}
	if why := inconsistency(b.headers, scheme); why != "" {
		return bset{}, why
	}
	class, why := classify(b.headers)
	if class == "" {
		return bset{}, why
	}
	b.class = class
	return b, ""
}

// plainHTTP is what a browser sends to a plain-http origin instead: no
// client hints, no fetch metadata, and (Chromium, Firefox) no br or zstd.
func plainHTTP(hs []corpus.Header) []corpus.Header {
	var out []corpus.Header
	ua, _ := hget(hs, "user-agent")
	u := parseUA(ua)
	for _, h := range hs {
		if strings.HasPrefix(h[0], "sec-ch-") || strings.HasPrefix(h[0], "sec-fetch-") {
			continue
		}
		if h[0] == "accept-encoding" && (u.engine == "chromium" || u.engine == "firefox") {
			var keep []string
			for _, e := range strings.Split(h[1], ",") {
				if e = strings.TrimSpace(e); e != "br" && e != "zstd" {
					keep = append(keep, e)
				}
			}
			h[1] = strings.Join(keep, ", ")
		}
		out = append(out, h)
	}
	return out
}

// hgAcceptLanguage is HeaderGenerator._getAcceptLanguageField: the locales
// without a region first ("high level"), then those with one whose language
// no high-level locale has; both lists shuffled; each high-level locale
// preceded by the locales that contain it; q falls by 0.1 from the second.
func hgAcceptLanguage(rng *rand.Rand, locales []string) string {
	var high []string
	for _, l := range locales {
		if !strings.Contains(l, "-") {
			high = append(high, l)
		}
	}
	for _, l := range locales {
		if slices.Contains(high, l) {
			continue
		}
		covered := false
		for _, h := range high {
			if strings.Contains(l, h) {
				covered = true
				break
			}
		}
		if !covered {
			high = append(high, l)
		}
	}
	high = slices.Clone(high)
	ls := slices.Clone(locales)
	shuffle(rng, high)
	shuffle(rng, ls)
	var order []string
	for _, h := range high {
		for _, l := range ls {
			if strings.Contains(l, h) && !slices.Contains(high, l) {
				order = append(order, l)
			}
		}
		order = append(order, h)
	}
	var b strings.Builder
	for i, l := range order {
		if i == 0 {
			b.WriteString(l)
		} else {
			fmt.Fprintf(&b, ",%s;q=%s", l, strconv.FormatFloat(1-float64(i)*0.1, 'f', -1, 64))
		}
	}
	return b.String()
}

// shuffle is utils.shuffleArray (Fisher–Yates from the end).
func shuffle(rng *rand.Rand, a []string) {
	for i := len(a) - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		a[i], a[j] = a[j], a[i]
	}
}

func hgSourceID(version string) string { return "header-generator-" + version }

// headerGeneratorSets makes the train split's human sets: humanPerClass per
// class where the networks allow.
func headerGeneratorSets(dir string, rng *rand.Rand) ([]bset, []corpus.Source, error) {
	d, err := loadHeaderGenerator(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []bset
	skipped, drawn := 0, 0
	for _, t := range hgTargets() {
		got := 0
		for draw := 0; draw < t.maxDraws && got < humanPerClass; draw++ {
			s, ok := d.sample(rng, t)
			if !ok {
				break
			}
			drawn++
			scheme := "https"
			if rng.IntN(16) == 0 {
				scheme = "http"
			}
			if strings.HasPrefix(s.input["*BROWSER_HTTP"], "safari/") {
				scheme = "https" // what Safari sends to http origins is not in any source here
			}
			b, why := d.build(rng, s, scheme)
			if why != "" || b.class != t.class {
				skipped++
				continue
			}
			out = append(out, b)
			got++
		}
	}
	src := corpus.Source{
		ID: hgSourceID(d.version),
		What: "Apify header-generator's Bayesian networks and headers-order.json, sampled in Go per class " +
			"(browser, system and device restricted as its options do); navigations only, sec-fetch-site varied " +
			"with a matching referer, sec-fetch-* added for Safari ≥ 16.4, 1 in 16 to plain http; " +
			fmt.Sprintf("draws with odd user agents or contradicting hints, or of another class than the one drawn for, redrawn (%d of %d)", skipped, drawn),
		Where: "npm header-generator@" + d.version + " data_files/{input-network-definition.zip,header-network-definition.zip,headers-order.json} (Apache-2.0)",
		Split: "train",
	}
	return out, []corpus.Source{src}, nil
}
