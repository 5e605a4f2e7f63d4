package scoring

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Velocity is one velocity counter's reading: its Code fires when Estimate
// is above Threshold. A Threshold of 0 or less never fires, and a Code that
// is not a velocity code is ignored.
type Velocity struct {
	Code      Code
	Estimate  float64
	Threshold float64
}

// ClearanceState is what the request's clearance cookie says.
type ClearanceState uint8

// Clearance states.
const (
	// NoClearance: the request carries no clearance cookie.
	NoClearance ClearanceState = iota
	// ValidClearance: a clearance this client earned by passing a challenge.
	ValidClearance
	// InvalidClearance: a clearance cookie that does not verify for this
	// client (forged, expired, rebound, unknown key).
	InvalidClearance
)

// Request is what the model looks at.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Scheme is the request's scheme. "https" turns on the client-hint and
	// fetch-metadata expectations: browsers send neither to plain-http
	// origins.
	Scheme string
	// Protocol is the HTTP version the client spoke to Envoy: "HTTP/1.0",
	// "HTTP/1.1", "HTTP/2" or "HTTP/3"; empty when unknown.
	Protocol string
	// Headers has lower-case keys, as Envoy sends them. Pseudo-headers such
	// as ":path" may be present and are ignored.
	Headers map[string]string
	// HeaderOrder is the header names in the order the client sent them;
	// nil when unknown (Envoy sends the order only with
	// encode_raw_headers), which never counts against the request.
	HeaderOrder []string
	// TLS is the client's JA4 TLS fingerprint as Envoy computed it
	// ("t13d1516h2_8daaf6152771_02713d6af862"); empty when unknown, which
	// never counts against the request. Pass it only from a header Envoy
	// overwrites: a client can write any header.
	TLS string
	// Velocity holds the readings of the route's velocity counters.
	Velocity []Velocity
	// Clearance is what the clearance cookie says.
	Clearance ClearanceState
	// Network is what network reputation knows of the client's address
	// (package reputation): the kinds of the sets holding it, and whether
	// its autonomous system is a hosting provider's.
	Network Network
	// History is what the client's and its session's recent past say
	// (package history).
	History History
	// Crawler is what verification found about the crawler the request
	// claims to be (package crawler); NoCrawlerClaim when it claims none
	// or was not verified. A verified crawler is not scored at all: do not
	// pass CrawlerVerified here.
	Crawler CrawlerClaim
}

// Network is what network reputation says of the client's address, one
// bit per feature.
type Network uint8

// The network facts.
const (
	NetworkDatacenter Network = 1 << iota
	NetworkTor
	NetworkListed
	NetworkHosting
)

// networkSignals fires the network reputation features.
func networkSignals(n Network, fired *signals) {
	if n&NetworkDatacenter != 0 {
		fired.fire(IPDatacenter)
	}
	if n&NetworkTor != 0 {
		fired.fire(IPTor)
	}
	if n&NetworkListed != 0 {
		fired.fire(IPListed)
	}
	if n&NetworkHosting != 0 {
		fired.fire(ASNHosting)
	}
}

// History is what the client's and its session's recent past say, one bit
// per feature. Package history decides when each is set.
type History uint8

// The history facts.
const (
	HistoryOfDenials History = 1 << iota
	HistoryOfRateLimits
	HistoryOfChallengeFailures
	HistorySessionManyNetworks
	HistorySessionNotKept
)

// historySignals fires the history features.
func historySignals(h History, fired *signals) {
	for i, c := range [...]Code{HistoryDenied, HistoryRateLimited, HistoryChallengeFailed, SessionManyNetworks, SessionNotKept} {
		if h&(1<<i) != 0 {
			fired.fire(c)
		}
	}
}

// CrawlerClaim is the outcome of verifying the crawler a request claims to
// be, as the score needs it.
type CrawlerClaim uint8

// The outcomes the score weighs.
const (
	// NoCrawlerClaim: no crawler of the directory was claimed. A user
	// agent that still calls itself a bot (ua.crawler) is an unverified
	// crawler.
	NoCrawlerClaim CrawlerClaim = iota
	// CrawlerClaimUnverified: a crawler of the directory that could not
	// be verified (no published method, or a lookup still pending).
	CrawlerClaimUnverified
	// CrawlerClaimImpersonation: a crawler of the directory that failed
	// its operator's verification definitively.
	CrawlerClaimImpersonation
)

// Model scores requests: the certainty rules, then a logistic model over
// the request's features. It is immutable and safe for concurrent use;
// Load one at startup and derive a route's with With.
type Model struct {
	weights Weights
	// off are the codes a policy turned off: a feature with weight 0 or a
	// certainty rule's signal.
	off signals
	// protocol is whether protocol.http1 may fire: not when Envoy sits
	// behind another proxy, which chose the protocol itself.
	protocol bool
	agents   *agentMatcher
	// ua remembers what user agents parse to with agents; a Model's
	// copies (With) share it, as they share agents.
	ua    *uaMemo
	facts *browserFacts
	order *orderTable
	tls   *tlsTable
}

// Data is what a model is built from: the embedded files unless a field is
// set. cmd/bottrain sets HeaderOrder to the order it just learned.
type Data struct {
	// Weights is a weights file (data/model.yaml's format); nil for the
	// shipped one.
	Weights []byte
	// HeaderOrder is a header order file (data/header_order.yaml's
	// format); nil for the shipped one.
	HeaderOrder []byte
}

// Load returns the shipped model, built from the embedded data files.
func Load() (*Model, error) { return LoadData(Data{}) }

// LoadData returns a model built from d.
func LoadData(d Data) (*Model, error) {
	if d.Weights == nil {
		d.Weights = modelYAML
	}
	if d.HeaderOrder == nil {
		d.HeaderOrder = headerOrderYAML
	}
	w, err := ParseWeights(d.Weights)
	if err != nil {
		return nil, fmt.Errorf("scoring: %w", err)
	}
	agents, err := loadAgentMatcher(userAgentsYAML)
	if err != nil {
		return nil, fmt.Errorf("scoring: embedded data/user_agents.yaml: %w", err)
	}
	facts, err := parseBrowserFacts(browsersYAML)
	if err != nil {
		return nil, fmt.Errorf("scoring: embedded data/browsers.yaml: %w", err)
	}
	order, err := compileOrder(d.HeaderOrder)
	if err != nil {
		return nil, fmt.Errorf("scoring: %w", err)
	}
	tls, err := parseTLSFamilies(tlsYAML)
	if err != nil {
		return nil, fmt.Errorf("scoring: embedded data/tls.yaml: %w", err)
	}
	return &Model{weights: w, protocol: true, agents: agents, ua: newUAMemo(), facts: facts, order: order, tls: tls}, nil
}

// Tuning is what a policy changes in a model, for all routes or one.
type Tuning struct {
	// Weights replaces model features' weights (log-odds of a human,
	// negative towards automated; 0 turns the feature off). Every feature
	// but clearance.valid takes a weight ≤ 0, clearance.valid one ≥ 0. For a certainty
	// rule's signal only 0 is allowed: it turns the signal, and with it its
	// share of the rule, off.
	Weights map[Code]float64
	// BehindProxy says Envoy sits behind another proxy (a CDN or load
	// balancer that speaks HTTP to it), which chose the protocol Envoy sees:
	// protocol.http1 then never fires.
	BehindProxy bool
}

// With returns a copy of m with t applied.
func (m *Model) With(t Tuning) (*Model, error) {
	c := *m
	c.protocol = !t.BehindProxy
	for code, v := range t.Weights {
		if err := CheckTuning(code, v); err != nil {
			return nil, fmt.Errorf("scoring: %w", err)
		}
		if IsFeature(code) {
			c.weights.w[code] = v
		}
		if v == 0 {
			c.off.fire(code)
		}
	}
	return &c, nil
}

// CheckTuning says whether a policy may set code's weight to v: a model
// feature's weight is log-odds of a human, finite, within ±MaxWeight, and of
// the feature's sign (every feature but clearance.valid is a sign of
// automation, so ≤ 0; clearance.valid ≥ 0); a certainty rule's signal has no
// weight, only 0, which turns it off.
func CheckTuning(code Code, v float64) error {
	switch {
	case !code.valid():
		return fmt.Errorf("unknown code %d", code)
	case !IsFeature(code) && v != 0:
		return fmt.Errorf("%s is a certainty rule's signal: only 0 (off) is allowed", code)
	case math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxWeight:
		return fmt.Errorf("%g out of range ±%g: a weight is the log-odds of a human (negative towards automated, 0 turns the feature off), not points", v, MaxWeight)
	case code == ClearanceValid && v < 0:
		return fmt.Errorf("%g for %s: a passed challenge points towards human, so its weight is at least 0", v, code)
	case code != ClearanceValid && v > 0:
		return fmt.Errorf("%g for %s: every feature but clearance.valid is a sign of automation, so its weight is at most 0 (a points weight from an older policy file is not log-odds)", v, code)
	}
	return nil
}

// Weights returns the model's weights, after any tuning.
func (m *Model) Weights() Weights { return m.weights }

// Version names the model's weights ("lr-1a2b3c4d"), for /readyz, the
// decision log and metric labels. Tuned weights keep the shipped name: the
// policy version says what was tuned.
func (m *Model) Version() string { return m.weights.Model }

// Score scores req into out.
//
// The certainty rules come first and the model cannot outvote them: a
// request that declares automation scores 1, one that contradicts itself at
// most 29 unless its clearance is valid (see Certainty). The model is
// logistic: z = bias + the weights of the features that fired, p = 1/(1 +
// e^−z) the probability of a human, and the score is 100·p rounded into
// 2–99 (1 is declared automation's alone). The reasons are the fired features with the points each cost
// (the score without it minus the score with it; a valid clearance's are
// negative), most costly first, led by the rule that decided, if one did.
// A nil req is not scored (Score 0). Score does not allocate, and no input
// makes it panic.
func (m *Model) Score(req *Request, out *Result) {
	if out == nil {
		return
	}
	*out = Result{}
	if req == nil {
		return
	}
	var fired signals
	m.headerSignals(req, &fired)
	velocitySignals(req.Velocity, &fired)
	networkSignals(req.Network, &fired)
	historySignals(req.History, &fired)
	switch req.Clearance {
	case ValidClearance:
		fired.fire(ClearanceValid)
	case InvalidClearance:
		fired.fire(ClearanceInvalid)
	}
	fired &^= m.off
	features := fired & modelFeatures
	out.Features, out.fired = Features(features), fired

	z := m.weights.Bias
	for f := features; f != 0; f &= f - 1 {
		z += m.weights.w[bits.TrailingZeros64(uint64(f))]
	}
	z = min(max(z, -40), 40) // e^40 is far past 1–99 and far from overflow
	modelScore := probabilityScore(sigmoid(z))
	for f := features; f != 0; f &= f - 1 {
		c := Code(bits.TrailingZeros64(uint64(f)))
		if w := m.weights.w[c]; w != 0 {
			out.add(c, probabilityScore(sigmoid(z-w))-modelScore)
		}
	}

	out.Score, out.Certainty = certainty(modelScore, fired, req.Clearance)
	out.Band = BandOf(out.Score)
	var rule signals
	switch out.Certainty {
	case Declared:
		rule = declaredSignals
	case Contradiction:
		rule = contradictionSignals
	case Impersonation:
		rule = impersonationSignals
	case UnverifiedCrawler:
		rule = unverifiedSignals
	}
	// The rule's signals cost what the rule took, and are named first.
	for f := fired & rule; f != 0; f &= f - 1 {
		out.add(Code(bits.TrailingZeros64(uint64(f))), modelScore-out.Score)
	}
	out.lead(rule)
}

// sigmoid is the logistic function.
func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// minModelScore is the lowest score the model gives: 1 ("automated") is
// the declared-automation rule's alone. The model's evidence (a TLS stack,
// a header order, the protocol) is strong but never certain — a corporate
// proxy can change all three for a real person — so with the default
// deny_below of 2 what the model infers is challenged, not denied; a route
// that wants the model to deny raises deny_below.
const minModelScore = 2

// probabilityScore maps the probability of a human to the model's score,
// minModelScore–99.
func probabilityScore(p float64) int {
	return min(max(int(math.Round(100*p)), minModelScore), 99)
}

// headerSignals fires the header-consistency signals.
func (m *Model) headerSignals(req *Request, fired *signals) {
	h := req.Headers
	var uaBuf [maxUserAgent]byte
	ua := lowerInto(uaBuf[:], trimOWS(h["user-agent"]))

	class := classMissing
	var b browser
	if len(ua) > 0 {
		p := m.ua.parse(ua, m.agents)
		class, b = p.class, p.b
	}
	switch class {
	case classMissing:
		fired.fire(UAMissing)
	case classHeadless:
		fired.fire(UAHeadless)
	case classLibrary:
		fired.fire(UALibrary)
	case classCrawler:
		fired.fire(UACrawler)
	}
	switch req.Crawler {
	case CrawlerClaimImpersonation:
		fired.fire(CrawlerImpersonation)
		class = classCrawler
	case CrawlerClaimUnverified:
		fired.fire(CrawlerUnverified)
		class = classCrawler
	default:
		if class == classCrawler {
			// A user agent that calls itself a bot but names no crawler
			// of the directory: nothing can verify it.
			fired.fire(CrawlerUnverified)
		}
	}

	if trimOWS(h["accept"]) == "" {
		fired.fire(AcceptMissing)
	}
	if trimOWS(h["accept-language"]) == "" {
		fired.fire(AcceptLanguageMissing)
	}
	if trimOWS(h["accept-encoding"]) == "" {
		fired.fire(AcceptEncodingMissing)
	}

	m.tlsSignals(req, &b, fired)

	if class == classCrawler {
		// A claimed crawler is no browser: the client-hint and fetch-metadata
		// expectations below would fail good crawlers that carry a Chrome
		// token (Googlebot smartphone). Proving the claim is verification's
		// job. The accept checks above still apply, so writing "bot" into a
		// scraper's user agent buys nothing.
		return
	}

	if class == classUnknown && b.engine == engineOther && !hasAt(ua, 0, "mozilla/") {
		// Every browser, and every in-app web view, starts its user agent
		// with Mozilla/5.0: this names an application or a scraper.
		fired.fire(UAOther)
	}
	secure := equalFold(trimOWS(req.Scheme), "https")
	kind := kindOf(req.Method, h)
	proto := parseProtocol(req.Protocol)
	expected := m.facts.expected(&b, kind, secure, proto)
	if expected.has(hdrAcceptLanguage) && fired.has(AcceptLanguageMissing) {
		// Browsers' network stacks add accept-language to every request
		// they send; a script with a browser's user agent often does not.
		fired.fire(BrowserHeadersMissing)
	}
	m.hintSignals(req, class, &b, expected, fired)
	fetchSignals(h, expected, fired)
	if b.engine == engineOther || b.webview {
		return
	}
	m.browserSignals(req, &b, kind, proto, secure, expected, fired)
}

// browserSignals fires the features that compare a browser user agent with
// what that browser version always sends (data/browsers.yaml) and the order
// it sends it in (data/header_order.yaml). Each is weak alone: proxies
// rewrite accept-encoding, privacy tools trim headers.
func (m *Model) browserSignals(req *Request, b *browser, kind requestKind, proto protocol, secure bool, expected headerSet, fired *signals) {
	h := req.Headers
	if expected.has(hdrUpgradeInsecureRequests) && trimOWS(h["upgrade-insecure-requests"]) == "" {
		fired.fire(UpgradeInsecureRequestsMissing)
	}
	if expected.has(hdrPriority) && trimOWS(h["priority"]) == "" {
		fired.fire(PriorityMissing)
	}
	if ae := h["accept-encoding"]; trimOWS(ae) != "" && h["range"] == "" {
		// With a range header browsers ask for identity alone.
		want := m.facts.codings(b, secure)
		if want.has(codingBr) && !hasCoding(ae, "br") || want.has(codingZstd) && !hasCoding(ae, "zstd") {
			fired.fire(AcceptEncodingUnlikeBrowser)
		}
	}
	if kind == kindNavigation {
		if accept := trimOWS(h["accept"]); accept != "" && !m.facts.navigationAccept(b, accept) {
			fired.fire(AcceptUnlikeBrowser)
		}
		// Order is learned from navigations only: other kinds are ordered
		// differently (Chromium moves sec-ch-ua-platform first on
		// subresources) and the corpus has too few of them.
		if m.order.unlikeBrowser(b.engine, req.HeaderOrder) {
			fired.fire(OrderUnlikeBrowser)
		}
	}
	if m.protocol && secure && proto == protoH1 {
		fired.fire(ProtocolHTTP1)
	}
}

// hasCoding reports whether the accept-encoding value ae offers coding: a
// list element equal to it (ASCII case-insensitive), with any parameters
// but q=0.
func hasCoding(ae, coding string) bool {
	for len(ae) > 0 {
		elem := ae
		if i := strings.IndexByte(ae, ','); i >= 0 {
			elem, ae = ae[:i], ae[i+1:]
		} else {
			ae = ""
		}
		params := ""
		if i := strings.IndexByte(elem, ';'); i >= 0 {
			elem, params = elem[:i], elem[i+1:]
		}
		if !equalFold(trimOWS(elem), coding) {
			continue
		}
		p := trimOWS(params)
		if len(p) >= 3 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' && strings.Trim(p[2:], "0.") == "" {
			continue // q=0: refused
		}
		return true
	}
	return false
}

// hintSignals fires the client-hint signals: sec-ch-ua and friends are sent
// only by Chromium, only to https, and must agree with the user agent.
func (m *Model) hintSignals(req *Request, class uaClass, b *browser, expected headerSet, fired *signals) {
	h := req.Headers
	brands := trimOWS(h["sec-ch-ua"])
	platform := trimOWS(h["sec-ch-ua-platform"])
	mobile := trimOWS(h["sec-ch-ua-mobile"])

	if brands != "" {
		var buf [maxHintValue]byte
		if m.agents.scan(lowerInto(buf[:], brands), kindHeadless) != 0 {
			fired.fire(HintsHeadless)
		}
	}

	if b.engine != engineChromium {
		// No user agent is already ua.missing; with one, hints from anything
		// but Chromium are a copied or forged header set.
		if class != classMissing && (brands != "" || platform != "" || mobile != "") {
			fired.fire(HintsMismatch)
		}
		return
	}

	if brands == "" {
		// The facts decide when hints are always sent: not to plain http,
		// not from old versions, not on CORS preflights, whose client
		// hints are unsettled (WICG/client-hints-infrastructure#149).
		if expected.has(hdrSecChUA) {
			fired.fire(HintsMissing)
		}
	} else if bl := parseBrands(brands); !bl.ok || bl.chromiumMajor != 0 && bl.chromiumMajor != b.major {
		// Only the "Chromium" brand must match the user agent's Chrome major:
		// Edge, Opera and Brave version their own brands independently.
		fired.fire(HintsMismatch)
	}
	if platform != "" && !platformsAgree(b.os, hintPlatform(platform)) {
		fired.fire(HintsMismatch)
	}
	if isMobile, known := hintMobile(mobile); known && isMobile != b.mobile {
		fired.fire(HintsMismatch)
	}
}

// fetchSignals fires the fetch-metadata signals.
func fetchSignals(h map[string]string, expected headerSet, fired *signals) {
	site := trimOWS(h["sec-fetch-site"])
	mode := trimOWS(h["sec-fetch-mode"])
	dest := trimOWS(h["sec-fetch-dest"])
	user := trimOWS(h["sec-fetch-user"])

	if expected.has(hdrSecFetchSite) && site == "" || expected.has(hdrSecFetchMode) && mode == "" ||
		expected.has(hdrSecFetchDest) && dest == "" {
		fired.fire(FetchMissing)
	}

	// Combinations no browser produces, whatever the user agent or scheme.
	navigate := equalFold(mode, "navigate")
	if navigate && dest != "" && !navigationDest(dest) {
		fired.fire(FetchInconsistent)
	}
	if user != "" && !navigate {
		fired.fire(FetchInconsistent)
	}
}

// navigationDest reports whether dest is a destination a navigation can have.
func navigationDest(dest string) bool {
	for _, d := range [...]string{"document", "iframe", "frame", "embed", "object", "fencedframe"} {
		if equalFold(dest, d) {
			return true
		}
	}
	return false
}

// velocitySignals fires the velocity codes whose counters are over their
// thresholds.
func velocitySignals(vs []Velocity, fired *signals) {
	for _, v := range vs {
		if v.Code < VelocityIP || v.Code > VelocityRouteIP {
			continue
		}
		// NaN compares false, so a broken estimate never fires.
		if v.Threshold > 0 && v.Estimate > v.Threshold {
			fired.fire(v.Code)
		}
	}
}
