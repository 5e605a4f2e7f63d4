// Package corpus is the labelled request corpus that botauthz's detection is
// developed and judged on: the record format (JSON Lines), the classes, and
// reading and writing it. cmd/botcorpus makes the corpus from public data;
// cmd/boteval runs the production Check over it.
package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// The labels.
const (
	Human = "human"
	Bot   = "bot"
)

// Record is one labelled request, as a JSON line:
//
//	{"label":"bot","class":"library","source":"curl-8.14.1-capture","method":"GET","scheme":"https",
//	 "host":"shop.example","path":"/","protocol":"HTTP/2",
//	 "headers":[["user-agent","curl/8.14.1"],["accept","*/*"]],
//	 "client":"203.0.113.7","tls":"t13d1516h2_8daaf6152771_02713d6af862","time":"2026-12-02T10:00:00Z"}
type Record struct {
	// Label is Human or Bot.
	Label string `json:"label"`
	// Class is the kind of client within the label (see Classes).
	Class string `json:"class"`
	// Source names the entry of the corpus' SOURCES file the record comes from.
	Source string `json:"source,omitempty"`
	// Method, Scheme, Host and Path are the request line; Path includes the
	// query string.
	Method string `json:"method"`
	Scheme string `json:"scheme"`
	Host   string `json:"host"`
	Path   string `json:"path"`
	// Protocol is "HTTP/1.1", "HTTP/2" or "HTTP/3"; empty when unknown.
	Protocol string `json:"protocol,omitempty"`
	// Headers are the request's headers in the order the client sent them,
	// names lower-cased as Envoy passes them on, pseudo-headers left out
	// (they are Method, Scheme, Host and Path). A repeated header is repeated.
	Headers []Header `json:"headers"`
	// Client is the client's IP address; empty for a default.
	Client string `json:"client,omitempty"`
	// TLS is the client's TLS fingerprint (JA4) when known.
	TLS string `json:"tls,omitempty"`
	// Time is when the request was made, for velocity; nil when it does not
	// matter.
	Time *time.Time `json:"time,omitempty"`
	// Route names the route policy (Envoy's context_extensions route); empty
	// is the default route.
	Route string `json:"route,omitempty"`
	// Note says what a constructed record changed, for people reading it.
	Note string `json:"note,omitempty"`
}

// Header is one header line: name and value, as a two-element JSON array.
type Header [2]string

// Name is the header's name.
func (h Header) Name() string { return h[0] }

// Value is the header's value.
func (h Header) Value() string { return h[1] }

// Get returns the value of the first header named name, or "".
func (r *Record) Get(name string) string {
	for _, h := range r.Headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// Class names. Human classes are browser families by device; bot classes are
// kinds of automation. Gated classes are those the test suite holds to a
// detection rate (see cmd/boteval).
const (
	// Human.
	ChromeDesktop  = "chrome-desktop"
	ChromeAndroid  = "chrome-android"
	EdgeDesktop    = "edge-desktop"
	FirefoxDesktop = "firefox-desktop"
	FirefoxAndroid = "firefox-android"
	SafariDesktop  = "safari-desktop"
	SafariIOS      = "safari-ios"
	OtherBrowser   = "other-browser" // Opera, Samsung Internet, Brave, …

	// Bot, gated.
	Library           = "library"            // a declared HTTP library or tool: curl, python-requests, …
	Headless          = "headless"           // a declared headless browser: HeadlessChrome, PhantomJS, …
	EmptyUA           = "empty-ua"           // no user agent at all, or an empty one
	HintContradiction = "hint-contradiction" // client hints contradict the user agent
	MissingHeaders    = "missing-headers"    // a browser user agent without headers its version always sends

	// Bot, measured but not gated.
	ScrapingFramework = "scraping-framework" // Scrapy, Colly, … with their own user agents
	CopiedBrowser     = "copied-browser"     // a browser's exact header set sent by a script: headers cannot tell
	Crawler           = "crawler"            // self-declared crawlers: the verified-bots issue's

	// LibraryCopied is a browser's complete header set sent through an HTTP
	// library: the library's header order, protocol and additions.
	LibraryCopied = "library-copied"
)

// Gated returns the bot classes the test split must stop at least 97 % of.
func Gated() []string {
	return []string{Library, Headless, EmptyUA, HintContradiction, MissingHeaders}
}

// Source is one entry of the SOURCES file: where records came from.
type Source struct {
	// ID is what records name in their Source field.
	ID string `json:"id"`
	// What says what the source is.
	What string `json:"what"`
	// Where is a package and version, or a repository, commit and path, or
	// how a capture was made (tool, version, date).
	Where string `json:"where"`
	// Split is "train" or "test": a source feeds one split only.
	Split string `json:"split"`
}

// Read reads JSON Lines records from r. Blank lines are skipped; a line
// that is not a record is an error naming its line number.
func Read(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("corpus: line %d: %w", line, err)
		}
		if rec.Label != Human && rec.Label != Bot {
			return nil, fmt.Errorf("corpus: line %d: label %q is not %q or %q", line, rec.Label, Human, Bot)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	return out, nil
}

// ReadFile reads a JSON Lines file of records.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	recs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// Write writes records to w as JSON Lines.
func Write(w io.Writer, recs []Record) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("corpus: write: %w", err)
		}
	}
	return nil
}
