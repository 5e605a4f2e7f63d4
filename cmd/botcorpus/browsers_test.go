package main

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
)

const testSources = "../../testdata/corpus/sources"

var (
	hgOnce sync.Once
	hgTest *hgData
	hgErr  error
)

func loadHG(t *testing.T) *hgData {
	t.Helper()
	hgOnce.Do(func() {
		hgTest, hgErr = loadHeaderGenerator(filepath.Join(testSources, "browsers", "header-generator"))
	})
	if hgErr != nil {
		t.Fatal(hgErr)
	}
	return hgTest
}

func TestParseNetworkTables(t *testing.T) {
	def := `{"nodes":[
	 {"name":"a","parentNames":[],"possibleValues":["x","y"],"conditionalProbabilities":{"x":0.25,"y":0.75}},
	 {"name":"b","parentNames":["a"],"possibleValues":["p","q"],"conditionalProbabilities":
	   {"deeper":{"x":{"p":1}},"skip":{"q":1}}}]}`
	n, err := parseNetwork([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	b := n.Node("b")
	if got := b.P("p", map[string]string{"a": "x"}); got != 1 {
		t.Errorf("P(b=p|a=x) = %v, want 1", got)
	}
	// A parent value the table has no branch for falls to skip.
	if got := b.P("q", map[string]string{"a": "y"}); got != 1 {
		t.Errorf("P(b=q|a=y) = %v, want 1 (skip)", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	count := 0
	const draws = 20000
	for range draws {
		s, ok := n.Sample(rng, nil)
		if !ok {
			t.Fatal("no sample")
		}
		if s["a"] == "x" {
			count++
			if s["b"] != "p" {
				t.Fatalf("a=x but b=%s", s["b"])
			}
		} else if s["b"] != "q" {
			t.Fatalf("a=y but b=%s", s["b"])
		}
	}
	if f := float64(count) / draws; math.Abs(f-0.25) > 0.02 {
		t.Errorf("P(a=x) sampled %.3f, want 0.25", f)
	}
	// Restricting b to p forces a to x: the sampler backtracks.
	for range 100 {
		s, ok := n.SampleRestricted(rng, map[string][]string{"b": {"p"}})
		if !ok || s["a"] != "x" || s["b"] != "p" {
			t.Fatalf("restricted sample %v, %v", s, ok)
		}
	}
	if _, ok := n.SampleRestricted(rng, map[string][]string{"a": {"z"}}); ok {
		t.Error("a sample with an impossible restriction")
	}
	if _, err := parseNetwork([]byte(`{"nodes":[{"name":"b","parentNames":["a"],"conditionalProbabilities":{}}]}`)); err == nil {
		t.Error("a node before its parent parsed")
	}
}

// TestHeaderGeneratorSamplerRespectsTables draws from header-generator's
// networks and checks every drawn value has a non-zero probability given
// its parents, that the user agent is the sampled browser's, and that a
// root node's frequency is its table's.
func TestHeaderGeneratorSamplerRespectsTables(t *testing.T) {
	d := loadHG(t)
	rng := rand.New(rand.NewPCG(7, 7))
	const draws = 4000
	desktop := 0
	for range draws {
		s, ok := d.sample(rng, hgTarget{})
		if !ok {
			t.Fatal("no sample")
		}
		for _, net := range []struct {
			n *bnNetwork
			s map[string]string
		}{{d.input, s.input}, {d.headers, s.headers}} {
			for _, nd := range net.n.Nodes {
				v := net.s[nd.Name]
				if nd.P(v, net.s) <= 0 {
					t.Fatalf("%s=%q has probability 0 given its parents (%v)", nd.Name, v, nd.Parents)
				}
			}
		}
		if s.input["*DEVICE"] == "desktop" {
			desktop++
		}
		// The user agent is the browser's: the *BROWSER node's family.
		browser, _, _ := strings.Cut(s.input["*BROWSER"], "/")
		if s.headers["*BROWSER"] != s.input["*BROWSER"] {
			t.Fatalf("header network's *BROWSER %q is not the input's %q", s.headers["*BROWSER"], s.input["*BROWSER"])
		}
		ua := s.headers["user-agent"]
		if s.input["*HTTP_VERSION"] == "_1.1_" {
			ua = s.headers["User-Agent"]
		}
		if ua == hgMissing {
			continue
		}
		var ok2 bool
		switch browser {
		case "chrome":
			ok2 = strings.Contains(ua, "Chrome/") && !strings.Contains(ua, "Edg")
		case "edge":
			ok2 = strings.Contains(ua, "Edg")
		case "firefox":
			ok2 = strings.Contains(ua, "Firefox/")
		case "safari":
			ok2 = strings.Contains(ua, "Safari/") && !strings.Contains(ua, "Chrome/") && !strings.Contains(ua, "Firefox/")
		}
		if !ok2 && !strings.Contains(ua, "iPhone OS 11_0") { // one made-up chrome/45 entry in the data
			t.Errorf("browser %s drew user agent %q", s.input["*BROWSER"], ua)
		}
	}
	want := d.input.Node("*DEVICE").P("desktop", nil)
	if f := float64(desktop) / draws; math.Abs(f-want) > 0.025 {
		t.Errorf("desktop drawn %.3f of the time, table says %.3f", f, want)
	}
}

func TestHeaderGeneratorTargets(t *testing.T) {
	d := loadHG(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tg := range hgTargets() {
		if tg.browser == "" {
			continue
		}
		for range 50 {
			s, ok := d.sample(rng, tg)
			if !ok {
				t.Fatalf("%s: no sample", tg.class)
			}
			if !strings.HasPrefix(s.input["*BROWSER_HTTP"], tg.browser) || s.input["*DEVICE"] != tg.device ||
				!slices.Contains(tg.systems, s.input["*OPERATING_SYSTEM"]) {
				t.Fatalf("%s: sample %v outside its restriction", tg.class, s.input)
			}
		}
	}
}

func TestHGAcceptLanguage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		if got := hgAcceptLanguage(rng, []string{"en-US", "en"}); got != "en-US,en;q=0.9" {
			t.Fatalf("got %q", got)
		}
		got := hgAcceptLanguage(rng, []string{"de-DE", "de", "en-US", "en"})
		if got != "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7" && got != "en-US,en;q=0.9,de-DE;q=0.8,de;q=0.7" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestAcceptLanguageFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{chromiumAcceptLanguage([]string{"de-DE", "de", "en-US", "en"}), "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"},
		{firefoxAcceptLanguage([]string{"en-US", "en"}, 144), "en-US,en;q=0.5"},
		{firefoxAcceptLanguage([]string{"de-DE", "de", "en-US", "en"}, 117), "de-DE,de;q=0.8,en-US;q=0.5,en;q=0.3"},
		{firefoxAcceptLanguage([]string{"de-DE", "de", "en-US", "en"}, 153), "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"},
		{safariAcceptLanguage([]string{"fr-FR", "fr", "en"}), "fr-FR,fr;q=0.9"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestCapturedAcceptLanguage checks the accept-language writers against
// what the captured browsers sent for the language list of their session.
func TestCapturedAcceptLanguage(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testSources, "browsers", "captures", "*.jsonl"))
	if len(files) == 0 {
		t.Skip("no captures")
	}
	for _, f := range files {
		recs, err := corpus.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var list string
			for _, fld := range strings.Fields(r.Note) {
				if v, ok := strings.CutPrefix(fld, "accept-lang="); ok {
					list = v
				}
			}
			m := parseCaptureNote(r.Note)
			langs := strings.Split(list, ",")
			want := ""
			switch m.browser {
			case "chromium":
				want = chromiumAcceptLanguage(langs)
			case "firefox":
				want = firefoxAcceptLanguage(langs, parseUA(r.Get("user-agent")).major)
			}
			if got := r.Get("accept-language"); got != want {
				t.Fatalf("%s: %s sent %q for %s, writer says %q", f, m.session, got, list, want)
			}
		}
	}
}

func TestParseUAAndClassify(t *testing.T) {
	for _, c := range []struct {
		hs    []corpus.Header
		class string
	}{
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"},
			{"sec-ch-ua", `"Google Chrome";v="147", "Not.A/Brand";v="8", "Chromium";v="147"`}}, corpus.ChromeDesktop},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"},
			{"sec-ch-ua", `"Brave";v="147", "Not.A/Brand";v="8", "Chromium";v="147"`}}, corpus.OtherBrowser},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36 Edg/147.0.0.0"},
			{"sec-ch-ua", `"Microsoft Edge";v="147", "Not.A/Brand";v="8", "Chromium";v="147"`}}, corpus.EdgeDesktop},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Mobile Safari/537.36"}}, corpus.ChromeAndroid},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (Android 13; Mobile; rv:136.0) Gecko/136.0 Firefox/136.0"}}, corpus.FirefoxAndroid},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0"}}, corpus.FirefoxDesktop},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.3 Mobile/15E148 Safari/604.1"}}, corpus.SafariIOS},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15"}}, corpus.SafariDesktop},
		{[]corpus.Header{{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/147.0.0.0 Safari/537.36"}}, ""},
	} {
		got, _ := classify(c.hs)
		if got != c.class {
			t.Errorf("%s: class %q, want %q", c.hs[0][1], got, c.class)
		}
	}
}

func runBrowsers(t *testing.T) *set {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	s, err := browsers(testSources, rng)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBrowsersDeterministic(t *testing.T) {
	a, b := runBrowsers(t), runBrowsers(t)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
}

var docRanges = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// TestBrowsersRecords checks every record is well-formed, the split rule,
// and that each class is what its name says by the rules it is built on.
func TestBrowsersRecords(t *testing.T) {
	s := runBrowsers(t)
	if err := checkSplits(s); err != nil {
		t.Fatal(err)
	}
	srcSplit := map[string]string{}
	for _, src := range s.sources {
		if src.ID == "" || src.What == "" || src.Where == "" {
			t.Errorf("source %+v incomplete", src)
		}
		srcSplit[src.ID] = src.Split
	}
	human := humanClasses()
	bot := []string{corpus.HintContradiction, corpus.MissingHeaders, corpus.CopiedBrowser}
	for split, recs := range map[string][]corpus.Record{"train": s.train, "test": s.test} {
		count := map[string]int{}
		for i, r := range recs {
			where := split + " " + r.Class + " " + r.Source
			count[r.Class]++
			if srcSplit[r.Source] != split {
				t.Fatalf("%s record %d: source in split %q", where, i, srcSplit[r.Source])
			}
			switch r.Label {
			case corpus.Human:
				if !slices.Contains(human, r.Class) {
					t.Fatalf("%s: human class %q", where, r.Class)
				}
				if why := inconsistency(r.Headers, r.Scheme); why != "" {
					t.Errorf("%s: human record inconsistent: %s", where, why)
				}
			case corpus.Bot:
				if !slices.Contains(bot, r.Class) {
					t.Fatalf("%s: bot class %q", where, r.Class)
				}
				if r.Note == "" {
					t.Errorf("%s: no note", where)
				}
				if r.Scheme != "https" {
					t.Errorf("%s: adversarial record over %s", where, r.Scheme)
				}
				why := inconsistency(r.Headers, r.Scheme)
				switch r.Class {
				case corpus.CopiedBrowser:
					if why != "" {
						t.Errorf("%s: copied set inconsistent: %s", where, why)
					}
				case corpus.HintContradiction:
					if why == "" || !(strings.Contains(why, "sec-ch-ua") || strings.Contains(why, "client hints")) {
						t.Errorf("%s: %q does not contradict its hints (%s)", where, r.Note, why)
					}
				case corpus.MissingHeaders:
					if why == "" || !strings.HasPrefix(why, "no ") {
						t.Errorf("%s: %q lacks nothing (%s)", where, r.Note, why)
					}
				}
			default:
				t.Fatalf("%s: label %q", where, r.Label)
			}
			if r.Method == "" || r.Host == "" || !strings.HasPrefix(r.Path, "/") {
				t.Errorf("%s: request line %s %s %s", where, r.Method, r.Host, r.Path)
			}
			if r.Scheme != "https" && r.Scheme != "http" {
				t.Errorf("%s: scheme %q", where, r.Scheme)
			}
			if r.Protocol != "HTTP/1.1" && r.Protocol != "HTTP/2" {
				t.Errorf("%s: protocol %q", where, r.Protocol)
			}
			if r.Route != routeOf(r.Path) {
				t.Errorf("%s: route %q for %s", where, r.Route, r.Path)
			}
			ip, err := netip.ParseAddr(r.Client)
			if err != nil || !slices.ContainsFunc(docRanges, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				t.Errorf("%s: client %q not in a documentation range", where, r.Client)
			}
			if r.Time != nil {
				t.Errorf("%s: a time", where)
			}
			if len(r.Headers) == 0 {
				t.Errorf("%s: no headers", where)
			}
			for _, h := range r.Headers {
				n := h.Name()
				if n == "" || n != strings.ToLower(n) || strings.HasPrefix(n, ":") || strings.ContainsAny(n, " \t\r\n") {
					t.Errorf("%s: header name %q", where, n)
				}
				if slices.Contains(hopByHop, n) {
					t.Errorf("%s: hop-by-hop header %q", where, n)
				}
				if strings.ContainsAny(h.Value(), "\r\n") {
					t.Errorf("%s: header value %q", where, h.Value())
				}
			}
		}
		for _, c := range append(slices.Clone(human), bot...) {
			min := humanPerClass
			if slices.Contains(bot, c) {
				min = advPerClass
			}
			if split == "test" && c == corpus.FirefoxAndroid {
				continue // no test source has Firefox for Android (see the report in SOURCES)
			}
			if count[c] < min {
				t.Errorf("%s: %d records of %s, want %d", split, count[c], c, min)
			}
		}
	}
	// No header set of a test human record is one of train's.
	trainSets := map[string]bool{}
	for _, r := range s.train {
		trainSets[headerKey(r.Headers)] = true
	}
	for _, r := range s.test {
		if r.Label == corpus.Human && trainSets[headerKey(r.Headers)] {
			t.Errorf("test %s record from %s has a train header set", r.Class, r.Source)
		}
	}
}

func headerKey(hs []corpus.Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h[0] + ": " + h[1] + "\n")
	}
	return b.String()
}

func TestSetBrandVersion(t *testing.T) {
	got := setBrandVersion(`"Google Chrome";v="147", "Not.A/Brand";v="8", "Chromium";v="147"`, "140")
	if want := `"Google Chrome";v="140", "Not.A/Brand";v="8", "Chromium";v="140"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
