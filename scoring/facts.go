package scoring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// requestKind is what a request is, as the facts are keyed.
type requestKind uint8

// Request kinds.
const (
	kindUnknown     requestKind = iota
	kindNavigation              // sec-fetch-mode navigate, top-level or nested
	kindSubresource             // sec-fetch-mode no-cors: style sheets, scripts, images
	kindFetch                   // sec-fetch-mode cors or same-origin: fetch(), XHR
	kindPreflight               // the CORS OPTIONS request
	numKinds                    // sentinel: one past the last kind
)

// kindNames are the data file's names of the kinds, indexed by requestKind.
var kindNames = [numKinds]string{
	kindNavigation:  "navigation",
	kindSubresource: "subresource",
	kindFetch:       "fetch",
	kindPreflight:   "preflight",
}

// kindOf reads a request's kind from sec-fetch-mode when present: navigate
// is a navigation, no-cors a subresource, cors and same-origin a fetch, or a
// preflight for an OPTIONS with access-control-request-method (browsers send
// their preflights as cors). Without a mode it reads sec-fetch-dest, which a
// browser never sends alone: a document or frame destination is a
// navigation, empty a fetch, anything else a subresource. Without fetch
// metadata (plain http, older browsers, scripts): OPTIONS with
// access-control-request-method is a preflight, and GET or HEAD whose
// accept starts with text/html a navigation; anything else is unknown.
func kindOf(method string, h map[string]string) requestKind {
	preflight := equalFold(method, "options") && trimOWS(h["access-control-request-method"]) != ""
	if mode := trimOWS(h["sec-fetch-mode"]); mode != "" {
		switch {
		case equalFold(mode, "navigate"):
			return kindNavigation
		case equalFold(mode, "no-cors"):
			return kindSubresource
		case equalFold(mode, "cors"), equalFold(mode, "same-origin"):
			if preflight {
				return kindPreflight
			}
			return kindFetch
		}
		// websocket, or a mode no browser sends.
		if preflight {
			return kindPreflight
		}
		return kindUnknown
	}
	if dest := trimOWS(h["sec-fetch-dest"]); dest != "" {
		switch {
		case frameDest(dest):
			return kindNavigation
		case equalFold(dest, "empty"):
			if preflight {
				return kindPreflight
			}
			return kindFetch
		}
		return kindSubresource
	}
	if preflight {
		return kindPreflight
	}
	if (equalFold(method, "get") || equalFold(method, "head")) && hasPrefixFold(trimOWS(h["accept"]), "text/html") {
		return kindNavigation
	}
	return kindUnknown
}

// frameDest reports whether dest is a destination only a navigation has.
func frameDest(dest string) bool {
	for _, d := range [...]string{"document", "iframe", "frame", "embed", "object", "fencedframe"} {
		if equalFold(dest, d) {
			return true
		}
	}
	return false
}

// protocol is the HTTP version a request came over.
type protocol uint8

// Protocols.
const (
	protoUnknown protocol = iota
	protoH1               // HTTP/1.0 and HTTP/1.1
	protoH2
	protoH3
	numProtocols // sentinel: one past the last protocol
)

// protocolNames are the data file's names of the protocols.
var protocolNames = [numProtocols]string{protoH1: "h1", protoH2: "h2", protoH3: "h3"}

// parseProtocol reads the protocol as Envoy names it: "HTTP/1.0",
// "HTTP/1.1", "HTTP/2" or "HTTP/3", in any case. Anything else is unknown.
func parseProtocol(s string) protocol {
	switch {
	case equalFold(s, "http/1.1"), equalFold(s, "http/1.0"):
		return protoH1
	case equalFold(s, "http/2"):
		return protoH2
	case equalFold(s, "http/3"):
		return protoH3
	}
	return protoUnknown
}

// headerID names a header the facts talk about.
type headerID uint8

// The headers of data/browsers.yaml.
const (
	hdrSecFetchSite headerID = iota
	hdrSecFetchMode
	hdrSecFetchDest
	hdrSecFetchUser
	hdrSecChUA
	hdrSecChUAMobile
	hdrSecChUAPlatform
	hdrUpgradeInsecureRequests
	hdrAccept
	hdrAcceptEncoding
	hdrAcceptLanguage
	hdrPriority
	numHeaders // sentinel: one past the last header
)

// A header past 31 would not fit a headerSet: stop the build.
const _ = uint(31 - (numHeaders - 1))

// headerNames are the lower-case names of the headers, indexed by headerID.
var headerNames = [numHeaders]string{
	hdrSecFetchSite:            "sec-fetch-site",
	hdrSecFetchMode:            "sec-fetch-mode",
	hdrSecFetchDest:            "sec-fetch-dest",
	hdrSecFetchUser:            "sec-fetch-user",
	hdrSecChUA:                 "sec-ch-ua",
	hdrSecChUAMobile:           "sec-ch-ua-mobile",
	hdrSecChUAPlatform:         "sec-ch-ua-platform",
	hdrUpgradeInsecureRequests: "upgrade-insecure-requests",
	hdrAccept:                  "accept",
	hdrAcceptEncoding:          "accept-encoding",
	hdrAcceptLanguage:          "accept-language",
	hdrPriority:                "priority",
}

// headerName returns the lower-case header name of h.
func headerName(h headerID) string {
	if h >= numHeaders {
		return ""
	}
	return headerNames[h]
}

// headerSet is a set of headers, one bit per headerID.
type headerSet uint32

// has reports whether h is in s.
func (s headerSet) has(h headerID) bool { return h < numHeaders && s&(1<<h) != 0 }

// coding is a content coding whose offer the facts track.
type coding uint8

// Codings.
const (
	codingBr coding = iota
	codingZstd
	numCodings // sentinel: one past the last coding
)

// codingNames are the data file's (and accept-encoding's) coding names.
var codingNames = [numCodings]string{codingBr: "br", codingZstd: "zstd"}

// codingSet is a set of codings, one bit per coding.
type codingSet uint8

// has reports whether c is in s.
func (s codingSet) has(c coding) bool { return c < numCodings && s&(1<<c) != 0 }

// schemeSet is a set of schemes: http, https.
type schemeSet uint8

const (
	schemeHTTP schemeSet = 1 << iota
	schemeHTTPS
)

// schemeOf is the scheme bit of a request.
func schemeOf(secure bool) schemeSet {
	if secure {
		return schemeHTTPS
	}
	return schemeHTTP
}

// version is a browser version, compared as major then minor.
type version struct{ major, minor int }

// neverMajor is a major version no browser reaches: an except of "never".
const neverMajor = 1 << 30

// atLeast reports whether b's version is v or later.
func (b *browser) atLeast(v version) bool {
	return b.major > v.major || b.major == v.major && b.minor >= v.minor
}

// vendor is a member of a family whose releases are numbered apart from
// the family's engine and sometimes lag it: the data file names exceptions
// for it.
type vendor uint8

// Vendors.
const (
	vendorNone         vendor = iota
	vendorSamsung             // Samsung Internet: "SamsungBrowser/" with a Chrome token
	vendorOperaAndroid        // Opera for Android: "OPR/" on Android
	numVendors                // sentinel: one past the last vendor
)

// vendorNames are the data file's names of the vendors.
var vendorNames = [numVendors]string{vendorSamsung: "samsung", vendorOperaAndroid: "opera-android"}

// grid is a set of (kind, protocol) pairs, one bit per known kind and
// known protocol: the places a fact holds.
type grid uint16

// A grid must hold every known kind × protocol pair.
const _ = uint(16 - int(numKinds-1)*int(numProtocols-1))

// gridBit is the bit of the pair (k, p), both known.
func gridBit(k requestKind, p protocol) grid {
	return 1 << (uint(k-1)*uint(numProtocols-1) + uint(p-1))
}

// gridOf is the set of pairs of any of kinds and any of protos, each a
// bitmask indexed by requestKind or protocol.
func gridOf(kinds, protos uint8) grid {
	var g grid
	for k := kindNavigation; k < numKinds; k++ {
		for p := protoH1; p < numProtocols; p++ {
			if kinds&(1<<k) != 0 && protos&(1<<p) != 0 {
				g |= gridBit(k, p)
			}
		}
	}
	return g
}

// allKinds and allProtocols are the bitmasks of every known kind and
// protocol, as gridOf takes them.
const (
	allKinds     = uint8(1<<numKinds-1) &^ 1
	allProtocols = uint8(1<<numProtocols-1) &^ 1
)

// need is the grid a header's facts must cover for it to be expected on a
// request of kind k over p: the pair itself, or every kind (protocol) in
// place of an unknown one. An unknown kind is never a preflight: kindOf
// recognises every preflight (OPTIONS with access-control-request-method)
// whatever else it carries, so it stands for navigation, subresource or
// fetch.
func need(k requestKind, p protocol) grid {
	kinds, protos := allKinds&^(1<<kindPreflight), allProtocols
	if k != kindUnknown && k < numKinds {
		kinds = 1 << k
	}
	if p != protoUnknown && p < numProtocols {
		protos = 1 << p
	}
	return gridOf(kinds, protos)
}

// fact is one fact of the data file: from since on, to schemes, a header is
// always sent on the pairs of where, or a coding always offered.
type fact struct {
	since   version
	where   grid // unused for codings
	schemes schemeSet
	except  [numVendors]version // the vendor's own since, if not zero
}

// holds reports whether the fact holds for b on this scheme, wherever it
// holds.
func (f *fact) holds(b *browser, scheme schemeSet) bool {
	if f.schemes&scheme == 0 {
		return false
	}
	since := f.since
	if e := f.except[b.vendor]; b.vendor != vendorNone && e != (version{}) {
		since = e
	}
	return b.atLeast(since)
}

// familyFacts are one family's facts.
type familyFacts struct {
	headers [numHeaders][]fact
	codings [numCodings][]fact
	accept  string // lower case: every navigation's accept begins so
}

// browserFacts is data/browsers.yaml parsed: immutable, built once.
type browserFacts struct {
	families [numEngines]familyFacts
}

// numEngines is one past the last engine.
const numEngines = engineWebKit + 1

// family returns the facts of b's family, or nil for no browser the facts
// know: engineOther, and Android WebView, whose app decides its headers.
func (f *browserFacts) family(b *browser) *familyFacts {
	if f == nil || b == nil || b.webview || b.engine == engineOther || b.engine >= numEngines {
		return nil
	}
	return &f.families[b.engine]
}

// expected returns the headers browser b always sends on a request of kind
// k over the given scheme and protocol. For kindUnknown only headers sent
// on every kind but preflights count (see need); for protoUnknown only
// headers sent on every protocol. engineOther and a webview (b.webview) send none for sure.
func (f *browserFacts) expected(b *browser, k requestKind, secure bool, p protocol) headerSet {
	fam := f.family(b)
	if fam == nil {
		return 0
	}
	want := need(k, p)
	scheme := schemeOf(secure)
	var set headerSet
	for h := range fam.headers {
		// A header's facts may split the pairs between them (a later since
		// for preflights, another for HTTP/1.1): together they must cover
		// every pair wanted.
		var covered grid
		for i := range fam.headers[h] {
			if ft := &fam.headers[h][i]; ft.holds(b, scheme) {
				covered |= ft.where
			}
		}
		if covered&want == want {
			set |= 1 << h
		}
	}
	return set
}

// codings returns the accept-encoding codings b always offers on this
// scheme. They hold for requests without a range header: browsers ask for
// identity alone when they send one (media, resumed downloads, scripts'
// range fetches).
func (f *browserFacts) codings(b *browser, secure bool) codingSet {
	fam := f.family(b)
	if fam == nil {
		return 0
	}
	scheme := schemeOf(secure)
	var set codingSet
	for c := range fam.codings {
		for i := range fam.codings[c] {
			if fam.codings[c][i].holds(b, scheme) {
				set |= 1 << c
				break
			}
		}
	}
	return set
}

// navigationAccept reports whether accept (trimmed) begins as every
// navigation of b's family does, ignoring ASCII case. For a user agent of
// no known family it is true: there is nothing to contradict.
func (f *browserFacts) navigationAccept(b *browser, accept string) bool {
	fam := f.family(b)
	if fam == nil || fam.accept == "" {
		return true
	}
	return hasPrefixFold(trimOWS(accept), fam.accept)
}

// hasPrefixFold reports whether s begins with prefix, a lower-case ASCII
// string, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFold(s[:len(prefix)], prefix)
}

// loadBrowserFacts parses the embedded data/browsers.yaml.
func loadBrowserFacts() (*browserFacts, error) {
	return parseBrowserFacts(browsersYAML)
}

// factsFile is the shape of data/browsers.yaml.
type factsFile struct {
	Families map[string]familyFile `yaml:"families"`
}

// familyFile is one family of data/browsers.yaml.
type familyFile struct {
	NavigationAccept *acceptFile           `yaml:"navigation_accept"`
	Headers          map[string][]factFile `yaml:"headers"`
	Codings          map[string][]factFile `yaml:"codings"`
	NotAlways        map[string]string     `yaml:"not_always"`
}

// acceptFile is a family's navigation_accept.
type acceptFile struct {
	Prefix string `yaml:"prefix"`
	Source string `yaml:"source"`
}

// factFile is one fact of data/browsers.yaml; codings have no kinds or
// protocols.
type factFile struct {
	Since     string            `yaml:"since"`
	Kinds     []string          `yaml:"kinds"`
	Schemes   []string          `yaml:"schemes"`
	Protocols []string          `yaml:"protocols"`
	Except    map[string]string `yaml:"except"`
	BCD       string            `yaml:"bcd"`
	Differs   string            `yaml:"differs"`
	Source    string            `yaml:"source"`
}

// factFamilies maps the data file's family keys to engines.
var factFamilies = map[string]engine{"chromium": engineChromium, "firefox": engineFirefox, "webkit": engineWebKit}

// decodeFactsFile decodes data/browsers.yaml strictly: unknown keys and a
// second document are errors.
func decodeFactsFile(data []byte) (*factsFile, error) {
	var file factsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("browser facts: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("browser facts: more than one YAML document")
	}
	return &file, nil
}

// parseBrowserFacts parses data/browsers.yaml. It is strict: unknown keys,
// families, headers, codings, kinds, schemes, protocols and vendors,
// malformed versions, facts without a source or a place to hold, a header
// a family does not account for, and a BCD difference without a BCD
// feature are errors naming the entry.
func parseBrowserFacts(data []byte) (*browserFacts, error) {
	file, err := decodeFactsFile(data)
	if err != nil {
		return nil, err
	}
	f := &browserFacts{}
	for _, name := range sortedKeys(file.Families) {
		e, ok := factFamilies[name]
		if !ok {
			return nil, fmt.Errorf("browser facts: unknown family %q", name)
		}
		if err := f.families[e].parse(file.Families[name]); err != nil {
			return nil, fmt.Errorf("browser facts: %s: %w", name, err)
		}
	}
	for _, name := range sortedKeys(factFamilies) {
		if _, ok := file.Families[name]; !ok {
			return nil, fmt.Errorf("browser facts: family %s is missing", name)
		}
	}
	return f, nil
}

// parse fills fam from one family of the data file.
func (fam *familyFacts) parse(in familyFile) error {
	if in.NavigationAccept == nil {
		return errors.New("navigation_accept is missing")
	}
	prefix := strings.TrimSpace(in.NavigationAccept.Prefix)
	if prefix == "" || !printableASCII(prefix) {
		return fmt.Errorf("navigation_accept: prefix %q is empty or not printable ASCII", in.NavigationAccept.Prefix)
	}
	if strings.TrimSpace(in.NavigationAccept.Source) == "" {
		return errors.New("navigation_accept: no source")
	}
	fam.accept = strings.ToLower(prefix)

	var accounted [numHeaders]bool
	for _, name := range sortedKeys(in.Headers) {
		h, ok := lookup(headerNames[:], name)
		if !ok {
			return fmt.Errorf("headers: unknown header %q", name)
		}
		facts := in.Headers[name]
		if len(facts) == 0 {
			return fmt.Errorf("headers: %s: no facts (list it under not_always instead)", name)
		}
		for i, ff := range facts {
			ft, err := ff.parse(true)
			if err != nil {
				return fmt.Errorf("headers: %s[%d]: %w", name, i, err)
			}
			fam.headers[h] = append(fam.headers[h], ft)
		}
		accounted[h] = true
	}
	for _, name := range sortedKeys(in.NotAlways) {
		h, ok := lookup(headerNames[:], name)
		if !ok {
			return fmt.Errorf("not_always: unknown header %q", name)
		}
		if accounted[h] {
			return fmt.Errorf("not_always: %s also has facts under headers", name)
		}
		if strings.TrimSpace(in.NotAlways[name]) == "" {
			return fmt.Errorf("not_always: %s: no reason", name)
		}
		accounted[h] = true
	}
	for h, ok := range accounted {
		if !ok {
			return fmt.Errorf("header %s is neither under headers nor under not_always", headerNames[h])
		}
	}
	for _, name := range sortedKeys(in.Codings) {
		c, ok := lookup(codingNames[:], name)
		if !ok {
			return fmt.Errorf("codings: unknown coding %q", name)
		}
		if len(in.Codings[name]) == 0 {
			return fmt.Errorf("codings: %s: no facts", name)
		}
		for i, ff := range in.Codings[name] {
			ft, err := ff.parse(false)
			if err != nil {
				return fmt.Errorf("codings: %s[%d]: %w", name, i, err)
			}
			fam.codings[c] = append(fam.codings[c], ft)
		}
	}
	return nil
}

// parse checks one fact and compiles it. A header fact (header true) needs
// kinds and may name protocols; a coding fact has neither.
func (ff *factFile) parse(header bool) (fact, error) {
	var ft fact
	var err error
	if ft.since, err = parseVersion(ff.Since); err != nil {
		return fact{}, fmt.Errorf("since: %w", err)
	}
	if len(ff.Schemes) == 0 {
		return fact{}, errors.New("no schemes")
	}
	for _, s := range ff.Schemes {
		var bit schemeSet
		switch s {
		case "http":
			bit = schemeHTTP
		case "https":
			bit = schemeHTTPS
		default:
			return fact{}, fmt.Errorf("unknown scheme %q", s)
		}
		if ft.schemes&bit != 0 {
			return fact{}, fmt.Errorf("scheme %s twice", s)
		}
		ft.schemes |= bit
	}
	if header {
		kinds, err := bitsOf("kind", kindNames[:], ff.Kinds)
		if err != nil {
			return fact{}, err
		}
		if kinds == 0 {
			return fact{}, errors.New("no kinds")
		}
		protos := allProtocols
		if ff.Protocols != nil {
			if protos, err = bitsOf("protocol", protocolNames[:], ff.Protocols); err != nil {
				return fact{}, err
			}
			if protos == 0 {
				return fact{}, errors.New("protocols is empty (leave it out for all)")
			}
		}
		ft.where = gridOf(kinds, protos)
	} else if ff.Kinds != nil || ff.Protocols != nil {
		return fact{}, errors.New("a coding fact has no kinds or protocols")
	}
	for _, name := range sortedKeys(ff.Except) {
		v, ok := lookup(vendorNames[:], name)
		if !ok {
			return fact{}, fmt.Errorf("except: unknown vendor %q", name)
		}
		if ff.Except[name] == "never" {
			ft.except[v] = version{major: neverMajor}
			continue
		}
		if ft.except[v], err = parseVersion(ff.Except[name]); err != nil {
			return fact{}, fmt.Errorf("except: %s: %w", name, err)
		}
	}
	if ff.BCD != "" && !strings.HasPrefix(ff.BCD, "http.headers.") {
		return fact{}, fmt.Errorf("bcd: %q is not an http.headers feature", ff.BCD)
	}
	if strings.TrimSpace(ff.Differs) != "" && ff.BCD == "" {
		return fact{}, errors.New("differs without bcd: a difference from what?")
	}
	if strings.TrimSpace(ff.Source) == "" {
		return fact{}, errors.New("no source")
	}
	return ft, nil
}

// parseVersion reads "major" or "major.minor", each of 1 to 6 digits, the
// major not 0.
func parseVersion(s string) (version, error) {
	majorText, minorText, dotted := strings.Cut(s, ".")
	major, ok := parseDigits(majorText)
	if !ok || major == 0 {
		return version{}, fmt.Errorf("version %q is not major[.minor]", s)
	}
	v := version{major: major}
	if dotted {
		if v.minor, ok = parseDigits(minorText); !ok {
			return version{}, fmt.Errorf("version %q is not major[.minor]", s)
		}
	}
	return v, nil
}

// parseDigits reads 1 to 6 decimal digits and nothing else.
func parseDigits(s string) (int, bool) {
	n, used := leadingUint(s)
	return n, used > 0 && used == len(s)
}

// bitsOf turns a list of names into a bitmask indexed by their position in
// names, refusing unknown and repeated names.
func bitsOf(what string, names []string, list []string) (uint8, error) {
	var bits uint8
	for _, s := range list {
		i, ok := lookup(names, s)
		if !ok {
			return 0, fmt.Errorf("unknown %s %q", what, s)
		}
		if bits&(1<<i) != 0 {
			return 0, fmt.Errorf("%s %s twice", what, s)
		}
		bits |= 1 << i
	}
	return bits, nil
}

// lookup returns the index of name, not empty, in names.
func lookup(names []string, name string) (int, bool) {
	if name == "" {
		return 0, false
	}
	i := slices.Index(names, name)
	return i, i >= 0
}

// printableASCII reports whether s has only printable ASCII bytes.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// sortedKeys returns m's keys in order, so that errors name the same entry
// on every run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
