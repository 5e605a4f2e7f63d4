package main

// The automation part of the corpus: declared HTTP libraries and tools
// (library), declared headless browsers (headless), clients without a user
// agent (empty-ua), libraries that send a browser's user agent without the
// headers that browser always sends (missing-headers), Scrapy and Colly
// (scraping-framework), self-declared crawlers (crawler), and the test
// split of library-copied: libraries sending a browser's complete header
// set (captured; its train split is libcopied.go's).
//
// The split rule is the heart of it. The train split comes from what the
// clients' SOURCE CODE says they send, at pinned versions (clients_train.go:
// each profile cites repository@commit:path or package@version), and from
// public facts (clients_headless.go). The test split comes from REAL
// captures made on this machine with `botcorpus capture` (the JSON Lines
// under sources/clients/captures/, listed with tool, version, date and
// command in captures/MANIFEST.jsonl): records multiply a capture over
// hosts, paths of the same kind and client addresses, but keep its headers
// exactly as the client sent them. Constructed kinds (empty-ua and
// missing-headers built from library header sets) are built from train data
// for train and from test captures for test, each under its own source.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

// How many records each class gets in each split (at least; test classes
// built from captures round up to whole copies of the captures).
const (
	clLibraryTrain    = 1400
	clLibraryTest     = 700
	clHeadlessTrain   = 500
	clHeadlessTest    = 400
	clEmptyTrain      = 300
	clEmptyTest       = 300
	clMissingTrain    = 400
	clMissingTest     = 320
	clScrapingTrain   = 240
	clScrapingTest    = 240
	clCrawlerTrain    = 220
	clCrawlerTest     = 220
	clCaptureMultiply = 3 // at least this many copies of each captured request
)

func clients(dir string, rng *rand.Rand) (*set, error) {
	out := &set{}
	caps, err := clLoadCaptures(filepath.Join(dir, "clients", "captures"))
	if err != nil {
		return nil, err
	}
	// Train: transcribed library defaults, and what is built from them.
	profs := clProfiles()
	for _, p := range append(slices.Clone(profs), clNoUAProfiles()...) {
		out.sources = append(out.sources, corpus.Source{ID: p.id, What: p.what, Where: p.where, Split: "train"})
	}
	out.train = append(out.train, clTrainFromProfiles(rng, profs, corpus.Library, clLibraryTrain)...)
	out.train = append(out.train, clTrainFromProfiles(rng, profs, corpus.ScrapingFramework, clScrapingTrain)...)
	out.train = append(out.train, clTrainEmptyUA(rng, profs, clEmptyTrain)...)
	out.train = append(out.train, clTrainMissingHeaders(rng, profs, clMissingTrain)...)
	hl, hlSources := clTrainHeadless(rng, clHeadlessTrain)
	out.train = append(out.train, hl...)
	out.sources = append(out.sources, hlSources...)
	cr, crSources := clCrawlers(rng)
	out.sources = append(out.sources, crSources...)
	out.sources = append(out.sources, clConstructedSources()...)
	// Test: real captures, and what is built from them.
	for _, c := range caps {
		out.sources = append(out.sources, corpus.Source{ID: c.meta.ID, What: c.what(), Where: c.where(), Split: "test"})
	}
	out.test = append(out.test, clTestFromCaptures(rng, caps, corpus.Library, clLibraryTest)...)
	out.test = append(out.test, clTestFromCaptures(rng, caps, corpus.Headless, clHeadlessTest)...)
	out.test = append(out.test, clTestFromCaptures(rng, caps, corpus.ScrapingFramework, clScrapingTest)...)
	emptyCaptured := clTestFromCaptures(rng, caps, corpus.EmptyUA, 0)
	out.test = append(out.test, emptyCaptured...)
	out.test = append(out.test, clTestEmptyUA(rng, caps, clEmptyTest-len(emptyCaptured))...)
	missCaptured := clTestFromCaptures(rng, caps, corpus.MissingHeaders, 0)
	out.test = append(out.test, missCaptured...)
	out.test = append(out.test, clTestMissingHeaders(rng, caps, clMissingTest-len(missCaptured))...)
	for _, r := range cr {
		if strings.HasPrefix(r.Source, "test-") {
			out.test = append(out.test, r)
		} else {
			out.train = append(out.train, r)
		}
	}
	out.test = append(out.test, clTestFromCaptures(rng, caps, corpus.LibraryCopied, 0)...)
	return out, nil
}

// ---- the requests records stand for ----

// clKind is what a request does: it decides path, method, body and route.
type clKind int

const (
	clPage     clKind = iota // GET of a page
	clPageHead               // HEAD of a page
	clAPIGet                 // GET of an API
	clAPIPost                // POST of JSON to an API
	clLogin                  // POST of a form to /login
)

var clPagePaths = []string{
	"/", "/products", "/products?page=2", "/products?page=3&sort=price", "/products/4711", "/products/1021",
	"/products/2290/reviews", "/search?q=tea", "/search?q=green+tea&page=2", "/category/coffee", "/cart", "/about",
	"/blog/brewing-guide", "/blog/2026/11/winter-blend", "/help/shipping", "/sitemap.xml", "/robots.txt", "/feed.xml",
	"/account", "/account/orders", "/contact", "/deals", "/new", "/products/7781?ref=home",
}

var clAPIGetPaths = []string{
	"/api/items", "/api/items/4711", "/api/v1/products?limit=50", "/api/v1/products?limit=100&offset=200",
	"/api/v1/products/1021", "/api/cart", "/api/search?q=tea", "/api/v2/inventory?sku=TEA-001", "/api/v1/prices",
	"/api/v1/orders?status=open", "/api/health", "/api/v1/users/me",
}

var clAPIPostPaths = []string{"/api/events", "/api/cart", "/api/v1/orders", "/api/v1/search", "/api/v2/inventory/check", "/api/login"}

var clHosts = []string{"shop.example", "shop.example", "shop.example", "www.shop.example", "api.shop.example"}

// clRoute is the route policy a path falls under.
func clRoute(path string) string {
	switch {
	case path == "/login" || strings.HasPrefix(path, "/login?") || path == "/api/login":
		return "login"
	case strings.HasPrefix(path, "/api/"):
		return "api"
	}
	return ""
}

func clPathFor(rng *rand.Rand, k clKind) string {
	switch k {
	case clAPIGet:
		return clAPIGetPaths[rng.IntN(len(clAPIGetPaths))]
	case clAPIPost:
		return clAPIPostPaths[rng.IntN(len(clAPIPostPaths))]
	case clLogin:
		return "/login"
	}
	return clPagePaths[rng.IntN(len(clPagePaths))]
}

// clPickKind picks a request kind: mostly page and API GETs.
func clPickKind(rng *rand.Rand) clKind {
	switch n := rng.IntN(100); {
	case n < 50:
		return clPage
	case n < 56:
		return clPageHead
	case n < 80:
		return clAPIGet
	case n < 93:
		return clAPIPost
	default:
		return clLogin
	}
}

// clClient is a client address from the documentation ranges.
func clClient(rng *rand.Rand) string {
	switch rng.IntN(5) {
	case 0, 1:
		return fmt.Sprintf("198.51.100.%d", 1+rng.IntN(254))
	case 2, 3:
		return fmt.Sprintf("203.0.113.%d", 1+rng.IntN(254))
	}
	a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(256)), byte(rng.IntN(256)), 0, 0, 0, 0, 0, 0, 0, 0, byte(rng.IntN(256)), byte(1 + rng.IntN(255))})
	return a.String()
}

func clPick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// ---- loading captures ----

// clCaptureMeta is one line of captures/MANIFEST.jsonl.
type clCaptureMeta struct {
	ID      string `json:"id"`
	Label   string `json:"label"`
	Class   string `json:"class"`
	Tool    string `json:"tool"`
	Version string `json:"version"`
	Note    string `json:"note"`
	Date    string `json:"date"`
	Command string `json:"command"`
	// Origins are the capture server's origins as the client saw them;
	// header values naming them (referer, origin) are rewritten to the
	// record's host.
	Origins []string `json:"origins"`
	// Copied names the browser header set a library-copied client was
	// given whole, a file under capture-scripts/ (copied/*.json).
	Copied string `json:"copied,omitempty"`
}

type clCapture struct {
	meta clCaptureMeta
	recs []corpus.Record
}

func (c *clCapture) what() string {
	s := fmt.Sprintf("real capture: %s %s", c.meta.Tool, c.meta.Version)
	if c.meta.Note != "" {
		s += "; " + c.meta.Note
	}
	return s
}

func (c *clCapture) where() string {
	return fmt.Sprintf("captured %s on a Debian 12 machine with `botcorpus capture`; command: `%s`; raw records: sources/clients/captures/%s.jsonl",
		c.meta.Date, strings.ReplaceAll(c.meta.Command, "|", "/"), c.meta.ID)
}

// clLoadCaptures reads the manifest and each capture it lists, in the
// manifest's order.
func clLoadCaptures(dir string) ([]*clCapture, error) {
	f, err := os.Open(filepath.Join(dir, "MANIFEST.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	defer f.Close()
	var out []*clCapture
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m clCaptureMeta
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("clients: MANIFEST.jsonl line %d: %w", line, err)
		}
		recs, err := corpus.ReadFile(filepath.Join(dir, m.ID+".jsonl"))
		if err != nil {
			return nil, fmt.Errorf("clients: %w", err)
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("clients: capture %s has no records", m.ID)
		}
		out = append(out, &clCapture{meta: m, recs: recs})
	}
	return out, sc.Err()
}

// clKindOf is the kind of a captured request, for choosing other paths of
// the same kind; subresources and special paths keep theirs.
func clKindOf(r *corpus.Record) (clKind, bool) {
	p := r.Path
	switch {
	case strings.HasPrefix(p, "/static/") || p == "/favicon.ico" || p == "/robots.txt":
		return 0, false
	case r.Method == "GET" && strings.HasPrefix(p, "/api/"):
		return clAPIGet, true
	case r.Method == "POST" && strings.HasPrefix(p, "/api/"):
		return clAPIPost, true
	case r.Method == "POST" && p == "/login":
		return clLogin, true
	case r.Method == "HEAD":
		return clPageHead, true
	case r.Method == "GET":
		return clPage, true
	}
	return 0, false
}

// clFromCapture makes a corpus record from a captured one: another host
// (and the origins in header values with it), client address and, for
// requests of a kind, path; headers, method, protocol and JA4 as captured.
func clFromCapture(rng *rand.Rand, c *clCapture, r *corpus.Record, samePath bool) corpus.Record {
	host := clPick(rng, clHosts)
	out := corpus.Record{
		Label: c.meta.Label, Class: c.meta.Class, Source: c.meta.ID,
		Method: r.Method, Scheme: r.Scheme, Host: host, Path: r.Path, Protocol: r.Protocol,
		Client: clClient(rng), TLS: r.TLS, Note: c.meta.Note,
	}
	if k, ok := clKindOf(r); ok && !samePath {
		// A browser's navigation keeps its path: its subresources' referers name it.
		if !(c.meta.Class == corpus.Headless && k == clPage) {
			out.Path = clPathFor(rng, k)
		}
	}
	out.Route = clRoute(out.Path)
	out.Headers = make([]corpus.Header, len(r.Headers))
	for i, h := range r.Headers {
		v := h[1]
		for _, o := range c.meta.Origins {
			if strings.Contains(v, o) {
				scheme, _, _ := strings.Cut(o, "://")
				v = strings.ReplaceAll(v, o, scheme+"://"+host)
			}
		}
		out.Headers[i] = corpus.Header{h[0], v}
	}
	return out
}

// clTestFromCaptures makes at least n records of class from the captures of
// that class (n 0: clCaptureMultiply copies of each captured request).
func clTestFromCaptures(rng *rand.Rand, caps []*clCapture, class string, n int) []corpus.Record {
	var base []struct {
		c *clCapture
		r *corpus.Record
	}
	for _, c := range caps {
		if c.meta.Class != class {
			continue
		}
		for i := range c.recs {
			if class == corpus.MissingHeaders && c.recs[i].Scheme != "https" {
				// Over plain http a browser sends no sec-fetch-* or client
				// hints either: only https requests show what is missing.
				continue
			}
			base = append(base, struct {
				c *clCapture
				r *corpus.Record
			}{c, &c.recs[i]})
		}
	}
	if len(base) == 0 {
		return nil
	}
	copies := clCaptureMultiply
	if n > 0 {
		copies = max(copies, (n+len(base)-1)/len(base))
	}
	var out []corpus.Record
	for i := 0; i < copies; i++ {
		for _, b := range base {
			out = append(out, clFromCapture(rng, b.c, b.r, i == 0))
		}
	}
	return out
}

// clTestEmptyUA makes n empty-ua records from the test library captures
// with the user agent removed (a script that deletes it) or emptied.
func clTestEmptyUA(rng *rand.Rand, caps []*clCapture, n int) []corpus.Record {
	pool := clCapturedWithUA(caps)
	var out []corpus.Record
	for len(out) < n && len(pool) > 0 {
		b := clPick(rng, pool)
		r := clFromCapture(rng, b.c, b.r, false)
		r.Class, r.Source = corpus.EmptyUA, "test-constructed-empty-ua"
		if rng.IntN(3) == 0 {
			r.Headers = clSetValue(r.Headers, "user-agent", "")
			r.Note = fmt.Sprintf("%s (%s) capture with the user-agent value emptied", b.c.meta.Tool, b.c.meta.ID)
		} else {
			r.Headers = clDelete(r.Headers, "user-agent")
			r.Note = fmt.Sprintf("%s (%s) capture with the user-agent header removed", b.c.meta.Tool, b.c.meta.ID)
		}
		out = append(out, r)
	}
	return out
}

// clTestMissingHeaders makes n missing-headers records from the test
// library captures: a browser user agent (test list) in place of the
// library's, sometimes with accept and accept-language copied from that
// browser; https only, where the browser would send sec-fetch-*.
func clTestMissingHeaders(rng *rand.Rand, caps []*clCapture, n int) []corpus.Record {
	pool := clCapturedWithUA(caps)
	var https []clCaptured
	for _, b := range pool {
		if b.r.Scheme == "https" {
			https = append(https, b)
		}
	}
	var out []corpus.Record
	for len(out) < n && len(https) > 0 {
		b := clPick(rng, https)
		r := clFromCapture(rng, b.c, b.r, false)
		bu := clPick(rng, clBrowserUAsTest)
		r.Class, r.Source = corpus.MissingHeaders, "test-constructed-missing-headers"
		r.Headers = clSpoof(rng, r.Headers, bu)
		r.Note = fmt.Sprintf("%s (%s) capture with a %s user agent%s", b.c.meta.Tool, b.c.meta.ID, bu.family, clCopiedNote(r.Headers, bu))
		out = append(out, r)
	}
	return out
}

type clCaptured struct {
	c *clCapture
	r *corpus.Record
}

// clCapturedWithUA lists the library captures' requests that have a user
// agent, in order.
func clCapturedWithUA(caps []*clCapture) []clCaptured {
	var out []clCaptured
	for _, c := range caps {
		if c.meta.Class != corpus.Library {
			continue
		}
		for i := range c.recs {
			if c.recs[i].Get("user-agent") != "" {
				out = append(out, clCaptured{c, &c.recs[i]})
			}
		}
	}
	return out
}

// ---- header list helpers ----

func clIndex(hs []corpus.Header, name string) int {
	for i, h := range hs {
		if h[0] == name {
			return i
		}
	}
	return -1
}

func clDelete(hs []corpus.Header, name string) []corpus.Header {
	return slices.DeleteFunc(slices.Clone(hs), func(h corpus.Header) bool { return h[0] == name })
}

// clSetValue sets the first header named name in place, or appends it.
func clSetValue(hs []corpus.Header, name, value string) []corpus.Header {
	hs = slices.Clone(hs)
	if i := clIndex(hs, name); i >= 0 {
		hs[i][1] = value
		return hs
	}
	return append(hs, corpus.Header{name, value})
}

// clBrowserUA is a real browser user agent string, with the accept and
// accept-language that browser sends for a page.
type clBrowserUA struct {
	family, ua, accept, lang string
}

// clSpoof puts a browser user agent in place of the client's (where the
// client sent it, or first), and sometimes copies the browser's accept and
// accept-language too, as scripts that "look like a browser" do.
func clSpoof(rng *rand.Rand, hs []corpus.Header, bu clBrowserUA) []corpus.Header {
	if clIndex(hs, "user-agent") >= 0 {
		hs = clSetValue(hs, "user-agent", bu.ua)
	} else {
		hs = append([]corpus.Header{{"user-agent", bu.ua}}, hs...)
	}
	if rng.IntN(2) == 0 {
		if i := clIndex(hs, "accept"); i < 0 || hs[i][1] == "*/*" || strings.HasPrefix(hs[i][1], "application/json, text/plain") {
			hs = clSetValue(hs, "accept", bu.accept)
		}
		hs = clSetValue(hs, "accept-language", bu.lang)
	}
	return hs
}

func clCopiedNote(hs []corpus.Header, bu clBrowserUA) string {
	if i := clIndex(hs, "accept-language"); i >= 0 && hs[i][1] == bu.lang {
		return ", accept and accept-language copied from it"
	}
	return ""
}

// clSortedKeys returns a map's keys in order.
func clSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clItoa(n int) string { return strconv.Itoa(n) }
