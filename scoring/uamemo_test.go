package scoring

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

// memoUAs are user agents of every class, as headerSignals hands them to
// the memo: trimmed and lower-cased.
func memoUAs() []string {
	uas := []string{
		uaChromeWindows, uaChromeMac, uaChromeLinux, uaChromeAndroid, uaChromeTablet, uaChromeOS, uaEdge, uaOpera,
		uaSamsung, uaCubotChrome, uaAndroidWebView, uaFirefox, uaFirefoxLinux, uaFirefoxAndroid, uaFirefoxESR78,
		uaSafari, uaSafari15, uaSafariIPhone, uaSafariIPad, uaChromeIOS, uaChromeIOS15, uaFirefoxIOS, uaChrome79,
		uaChrome85, uaHeadlessChrome, uaPhantomJS, uaGooglebot, uaGooglebotMobile,
		"curl/8.5.0", "python-requests/2.32.3", "Go-http-client/2.0", "Scrapy/2.11 (+https://scrapy.org)",
		"python-requests/2.32 (compatible; Googlebot/2.1)", "x",
		// Longer than the memo keeps: parsed every time.
		uaChromeWindows + strings.Repeat(" padding", 80),
	}
	for i, ua := range uas {
		uas[i] = strings.ToLower(ua)
	}
	return uas
}

// TestUAMemoAnswersAsParsing: what the memo answers, the first time (a
// parse) and after (a lookup), is what parsing the user agent gives.
func TestUAMemoAnswersAsParsing(t *testing.T) {
	m := defaultModel(t)
	memo := newUAMemo()
	for round := range 2 {
		for _, ua := range memoUAs() {
			want := parseUA([]byte(ua), m.agents)
			if got := memo.parse([]byte(ua), m.agents); got != want {
				t.Errorf("round %d, %q: %+v, want %+v", round, ua, got, want)
			}
		}
	}
	if n, want := memo.len(), len(memoUAs())-1; n != want {
		t.Errorf("the memo holds %d user agents, want %d (all but the one too long)", n, want)
	}
	// headerSignals leaves an empty user agent to its zero browser rather
	// than ask the memo, which is what parsing it gives.
	if b := parseBrowser(nil); b != (browser{}) {
		t.Errorf("parseBrowser of nothing: %+v, want the zero browser", b)
	}
}

// TestUAMemoStaysBounded: unique user agents beyond maxUAMemo never grow
// the memo past it, and what it answers stays right through its clearing.
func TestUAMemoStaysBounded(t *testing.T) {
	m := defaultModel(t)
	memo := newUAMemo()
	chrome := []byte(strings.ToLower(uaChromeWindows))
	want := parseUA(chrome, m.agents)
	for i := range 3 * maxUAMemo {
		ua := []byte("python-requests/2." + strconv.Itoa(i))
		if got := memo.parse(ua, m.agents); got.class != classLibrary {
			t.Fatalf("%s: class %d, want a library's", ua, got.class)
		}
		if n := memo.len(); n > maxUAMemo {
			t.Fatalf("after %d user agents the memo holds %d, more than %d", i+1, n, maxUAMemo)
		}
		if got := memo.parse(chrome, m.agents); got != want {
			t.Fatalf("after %d user agents, Chrome: %+v, want %+v", i+1, got, want)
		}
	}
}

// TestUAMemoConcurrent: Checks share a model's memo (run with -race).
func TestUAMemoConcurrent(t *testing.T) {
	m := defaultModel(t)
	uas := memoUAs()
	want := make([]uaParse, len(uas))
	for i, ua := range uas {
		want[i] = parseUA([]byte(ua), m.agents)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(uas)
				if got := m.ua.parse([]byte(uas[k]), m.agents); got != want[k] {
					t.Errorf("%q: %+v, want %+v", uas[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}
