package main

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
)

func clientsSet(t *testing.T) *set {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte("clients"))
	s, err := clients("../../testdata/corpus/sources", rand.New(rand.NewPCG(seed, h.Sum64())))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var clDocRanges = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}

// Every record is well formed: label, class, request line, protocol,
// lower-case header names without pseudo-headers or HTTP/1 connection
// headers over HTTP/2, a documentation address, a route that fits the path.
func TestClientsRecordsWellFormed(t *testing.T) {
	s := clientsSet(t)
	classes := map[string]bool{corpus.Library: true, corpus.Headless: true, corpus.EmptyUA: true, corpus.MissingHeaders: true,
		corpus.ScrapingFramework: true, corpus.Crawler: true, corpus.LibraryCopied: true}
	name := regexp.MustCompile(`^[a-z0-9!#$%&'*+.^_|~-]+$`)
	for split, recs := range map[string][]corpus.Record{"train": s.train, "test": s.test} {
		for i, r := range recs {
			where := fmt.Sprintf("%s %d (%s, %s)", split, i, r.Source, r.Note)
			if r.Label != corpus.Bot || !classes[r.Class] {
				t.Fatalf("%s: label %q class %q", where, r.Label, r.Class)
			}
			if r.Method != "GET" && r.Method != "HEAD" && r.Method != "POST" {
				t.Errorf("%s: method %q", where, r.Method)
			}
			if (r.Scheme != "https" && r.Scheme != "http") || r.Host == "" || !strings.HasPrefix(r.Path, "/") {
				t.Errorf("%s: request line %s %s %s", where, r.Scheme, r.Host, r.Path)
			}
			if r.Protocol != "HTTP/1.1" && r.Protocol != "HTTP/2" && r.Protocol != "HTTP/1.0" {
				t.Errorf("%s: protocol %q", where, r.Protocol)
			}
			if r.Headers == nil {
				t.Errorf("%s: nil headers", where)
			}
			for _, h := range r.Headers {
				if !name.MatchString(h[0]) || h[0] == "host" {
					t.Errorf("%s: header name %q", where, h[0])
				}
				if r.Protocol == "HTTP/2" && (h[0] == "connection" || h[0] == "keep-alive" || h[0] == "transfer-encoding" || h[0] == "upgrade") {
					t.Errorf("%s: %s over HTTP/2", where, h[0])
				}
				if strings.Contains(h[1], "localhost:18443") || strings.Contains(h[1], "127.0.0.1:18080") {
					t.Errorf("%s: capture origin left in %s: %q", where, h[0], h[1])
				}
			}
			a, err := netip.ParseAddr(r.Client)
			if err != nil || !(clDocRanges[0].Contains(a) || clDocRanges[1].Contains(a) || clDocRanges[2].Contains(a)) {
				t.Errorf("%s: client %q not in a documentation range", where, r.Client)
			}
			if r.Route != clRoute(r.Path) {
				t.Errorf("%s: route %q for %s", where, r.Route, r.Path)
			}
			if r.Time != nil {
				t.Errorf("%s: time set", where)
			}
			switch r.Class {
			case corpus.EmptyUA:
				if r.Get("user-agent") != "" {
					t.Errorf("%s: empty-ua record has user agent %q", where, r.Get("user-agent"))
				}
			case corpus.MissingHeaders:
				ua := r.Get("user-agent")
				if !strings.HasPrefix(ua, "Mozilla/5.0") || r.Scheme != "https" || r.Get("sec-fetch-mode") == "navigate" || r.Get("sec-ch-ua") != "" {
					t.Errorf("%s: missing-headers record: ua %q scheme %s", where, ua, r.Scheme)
				}
			case corpus.Headless:
				ua := r.Get("user-agent")
				if !strings.Contains(ua, "HeadlessChrome/") && !strings.Contains(ua, "PhantomJS/") {
					t.Errorf("%s: headless record without a declared headless user agent: %q", where, ua)
				}
			case corpus.LibraryCopied:
				// libcopied_test.go checks them against the browser sets copied.
				if split != "test" || r.Method != "GET" || !strings.HasPrefix(r.Get("user-agent"), "Mozilla/5.0 (") || r.Get("sec-fetch-dest") != "document" {
					t.Errorf("%s: library-copied record: %s %s, user agent %q", where, split, r.Method, r.Get("user-agent"))
				}
			}
		}
	}
}

// The split rule: every record's source is listed once, for its own split;
// test sources are real captures or constructed from them (or other
// vendors' crawlers), train sources transcriptions and public facts.
func TestClientsSplitRule(t *testing.T) {
	s := clientsSet(t)
	if err := checkSplits(s); err != nil {
		t.Fatal(err)
	}
	split := map[string]string{}
	for _, src := range s.sources {
		if _, dup := split[src.ID]; dup {
			t.Errorf("source %s listed twice", src.ID)
		}
		split[src.ID] = src.Split
		switch {
		case src.Split == "train" && !strings.HasPrefix(src.ID, "train-"):
			t.Errorf("train source %s", src.ID)
		case src.Split == "test" && !strings.HasPrefix(src.ID, "capture-") && !strings.HasPrefix(src.ID, "test-"):
			t.Errorf("test source %s", src.ID)
		}
		if src.What == "" || src.Where == "" {
			t.Errorf("source %s: what %q where %q", src.ID, src.What, src.Where)
		}
	}
	// No train user agent of a captured client version: the captured
	// versions are kept out of the transcriptions.
	testUA := map[string]bool{}
	for _, r := range s.test {
		if r.Class == corpus.Library && strings.HasPrefix(r.Source, "capture-") {
			testUA[r.Get("user-agent")] = true
		}
	}
	for _, r := range s.train {
		if ua := r.Get("user-agent"); r.Class == corpus.Library && testUA[ua] && !strings.HasPrefix(ua, "Go-http-client") && ua != "Ruby" && ua != "node" && ua != "node-fetch" && ua != "got (https://github.com/sindresorhus/got)" && ua != "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)" {
			t.Errorf("train record %s has the captured user agent %q", r.Source, ua)
		}
	}
	// The browser user agents that missing-headers records borrow differ
	// between the splits.
	for _, a := range clBrowserUAsTrain {
		for _, b := range clBrowserUAsTest {
			if a.ua == b.ua {
				t.Errorf("browser user agent in both splits: %s", a.ua)
			}
		}
	}
}

func TestClientsCounts(t *testing.T) {
	s := clientsSet(t)
	for split, recs := range map[string][]corpus.Record{"train": s.train, "test": s.test} {
		n := map[string]int{}
		for _, r := range recs {
			n[r.Class]++
		}
		for _, c := range []string{corpus.Library, corpus.Headless, corpus.EmptyUA, corpus.MissingHeaders, corpus.ScrapingFramework, corpus.Crawler} {
			if n[c] < 200 {
				t.Errorf("%s: %d %s records, want at least 200", split, n[c], c)
			}
		}
	}
}

func TestClientsDeterministic(t *testing.T) {
	a, b := clientsSet(t), clientsSet(t)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
}

// Every transcribed client cites where its defaults come from: a
// repository at a commit and a path, or a package at a version; and its
// versions look like releases.
func TestClientsTranscriptionsCited(t *testing.T) {
	commit := regexp.MustCompile(`@[0-9a-f]{40}\b.*:[\w./-]+\.\w+`)
	pkg := regexp.MustCompile(`^[\w.-]+@[\w.+-]+:[\w./-]+`)
	for _, p := range append(clProfiles(), clNoUAProfiles()...) {
		if !commit.MatchString(p.where) && !pkg.MatchString(p.where) {
			t.Errorf("%s: where %q cites no repository@commit:path or package@version:path", p.id, p.where)
		}
		if len(p.versions) == 0 || p.tmpl == nil || p.h2 == nil || p.what == "" || p.tool == "" {
			t.Errorf("%s: incomplete profile", p.id)
		}
		for _, v := range p.versions {
			if v.v == "" {
				t.Errorf("%s: a version without a number", p.id)
			}
			if p.class != corpus.EmptyUA && v.ua == "" {
				t.Errorf("%s %s: no user agent", p.id, v.v)
			}
		}
	}
}

// The captures are what real clients sent: each listed one has records of
// its class and a dated, versioned manifest line.
func TestClientsCapturesManifest(t *testing.T) {
	caps, err := clLoadCaptures("../../testdata/corpus/sources/clients/captures")
	if err != nil {
		t.Fatal(err)
	}
	date := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	classes := map[string]int{}
	for _, c := range caps {
		m := c.meta
		if !strings.HasPrefix(m.ID, "capture-") || m.Tool == "" || m.Version == "" || !date.MatchString(m.Date) || m.Command == "" || len(m.Origins) == 0 {
			t.Errorf("manifest line %+v", m)
		}
		classes[m.Class]++
		for _, r := range c.recs {
			if r.Source != m.ID || r.Class != m.Class {
				t.Errorf("%s: record of source %s class %s", m.ID, r.Source, r.Class)
			}
		}
	}
	for _, c := range []string{corpus.Library, corpus.Headless, corpus.EmptyUA, corpus.MissingHeaders, corpus.ScrapingFramework, corpus.LibraryCopied} {
		if classes[c] == 0 {
			t.Errorf("no capture of class %s", c)
		}
	}
}

// A capture's headers survive into the test records unchanged but for the
// origins in their values.
func TestClientsCaptureHeadersKept(t *testing.T) {
	caps, err := clLoadCaptures("../../testdata/corpus/sources/clients/captures")
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]bool{}
	for _, c := range caps {
		for _, r := range c.recs {
			sets[c.meta.ID+"|"+clNameList(r.Headers)] = true
		}
	}
	s := clientsSet(t)
	for _, r := range s.test {
		if strings.HasPrefix(r.Source, "capture-") && !sets[r.Source+"|"+clNameList(r.Headers)] {
			t.Errorf("test record of %s has headers no capture sent: %v", r.Source, r.Headers)
		}
	}
}

func clNameList(hs []corpus.Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h[0])
		b.WriteByte(',')
	}
	return b.String()
}

func TestClGreaseBrands(t *testing.T) {
	for _, c := range []struct {
		major   int
		product string
		want    string
	}{
		// Measured on this machine (Chromium 156, capture-chromium-156-headless-new).
		{156, "", `"Not:A-Brand";v="8", "Chromium";v="156"`},
		// Widely published Chrome strings.
		{120, "Google Chrome", `"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"`},
		{110, "Google Chrome", `"Chromium";v="110", "Not A(Brand";v="24", "Google Chrome";v="110"`},
		{98, "Google Chrome", `" Not A;Brand";v="99", "Chromium";v="98", "Google Chrome";v="98"`},
	} {
		if got := clGreaseBrands(c.major, c.product); got != c.want {
			t.Errorf("clGreaseBrands(%d, %q) = %s, want %s", c.major, c.product, got, c.want)
		}
	}
}

func TestClFill(t *testing.T) {
	p := &clProfile{inPlace: true}
	u := clUser{hs: []corpus.Header{{"accept", "application/json"}, {"authorization", "Bearer x"}}, ct: "application/json", cl: "12"}
	got := clFill(p, []string{"user-agent: {ua}", "accept: */*", "{user}", "{cl}", "{ct}"}, map[string]string{"ua": "curl/8.5.0"}, u)
	want := []corpus.Header{{"user-agent", "curl/8.5.0"}, {"accept", "application/json"}, {"authorization", "Bearer x"}, {"content-length", "12"}, {"content-type", "application/json"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("in place: %v, want %v", got, want)
	}
	p = &clProfile{}
	got = clFill(p, []string{"{user}", "accept: */*", "user-agent: {ua}"}, map[string]string{"ua": ""}, clUser{hs: []corpus.Header{{"accept", "text/html"}}, cookie: "a=1"})
	want = []corpus.Header{{"accept", "text/html"}, {"cookie", "a=1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("user slot: %v, want %v", got, want)
	}
}
