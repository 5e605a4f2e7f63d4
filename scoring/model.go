package scoring

import "fmt"

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
	// Headers has lower-case keys, as Envoy sends them. Pseudo-headers such
	// as ":path" may be present and are ignored.
	Headers map[string]string
	// Velocity holds the readings of the route's velocity counters.
	Velocity []Velocity
	// Clearance is what the clearance cookie says.
	Clearance ClearanceState
}

// Model scores requests. It is immutable after NewModel and safe for
// concurrent use; build one at startup or on a policy reload.
type Model struct {
	base    int
	weights Weights
	agents  *agentMatcher
}

// NewModel returns a model that starts every request at base (1–99) and
// subtracts w's weight for each fired signal. It loads the embedded user
// agent lists.
func NewModel(base int, w Weights) (*Model, error) {
	if base < 1 || base > 99 {
		return nil, fmt.Errorf("scoring: base score %d out of range 1-99", base)
	}
	if err := w.validate(); err != nil {
		return nil, fmt.Errorf("scoring: %w", err)
	}
	agents, err := loadAgentMatcher(userAgentsYAML)
	if err != nil {
		return nil, fmt.Errorf("scoring: embedded data/user_agents.yaml: %w", err)
	}
	w[0] = 0
	return &Model{base: base, weights: w, agents: agents}, nil
}

// signals is the set of fired codes, one bit per Code.
type signals uint32

func (s *signals) fire(c Code)    { *s |= 1 << c }
func (s signals) has(c Code) bool { return s&(1<<c) != 0 }

// Score scores req into out. First the weights: clamp(base − sum of the
// fired signals' weights + the clearance.valid weight when the clearance is
// valid, 1, 99). Then the certainty rules, which the weights cannot
// outvote: a request that declares automation scores 1, one that
// contradicts itself at most 29 (see Certainty). The fired signals are the
// reasons (clearance.valid with a negative weight), those of the rule that
// decided first. A nil req is not scored (Score 0). Score does not
// allocate, and no input makes it panic.
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

	switch req.Clearance {
	case ValidClearance:
		fired.fire(ClearanceValid)
	case InvalidClearance:
		fired.fire(ClearanceInvalid)
	}

	sum := 0
	var enabled signals
	for c := Code(1); c < numCodes; c++ {
		w := m.weights[c]
		if w <= 0 || !fired.has(c) {
			continue
		}
		enabled.fire(c)
		if c == ClearanceValid {
			// A passed challenge lifts the score; as a reason it reads as
			// negative points subtracted.
			sum -= w
			out.add(c, -w)
			continue
		}
		sum += w
		out.add(c, w)
	}
	out.Score, out.Certainty = certainty(min(max(m.base-sum, 1), 99), enabled, req.Clearance)
	out.Band = BandOf(out.Score)
	switch out.Certainty {
	case Declared:
		out.lead(declaredSignals)
	case Contradiction:
		out.lead(contradictionSignals)
	}
}

// headerSignals fires the header-consistency signals.
func (m *Model) headerSignals(req *Request, fired *signals) {
	h := req.Headers
	var uaBuf [maxUserAgent]byte
	ua := lowerInto(uaBuf[:], trimOWS(h["user-agent"]))

	class := classMissing
	if len(ua) > 0 {
		class = m.agents.classify(ua)
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

	if trimOWS(h["accept"]) == "" {
		fired.fire(AcceptMissing)
	}
	if trimOWS(h["accept-language"]) == "" {
		fired.fire(AcceptLanguageMissing)
	}
	if trimOWS(h["accept-encoding"]) == "" {
		fired.fire(AcceptEncodingMissing)
	}

	if class == classCrawler {
		// A claimed crawler is no browser: the client-hint and fetch-metadata
		// expectations below would fail good crawlers that carry a Chrome
		// token (Googlebot smartphone). Proving the claim is verification's
		// job. The accept checks above still apply, so writing "bot" into a
		// scraper's user agent buys nothing.
		return
	}

	var b browser
	if class != classMissing {
		b = parseBrowser(ua)
	}
	if b.engine != engineOther && fired.has(AcceptLanguageMissing) {
		// Browsers' network stacks add accept-language to every request
		// they send; a script with a browser's user agent often does not.
		fired.fire(BrowserHeadersMissing)
	}
	secure := equalFold(trimOWS(req.Scheme), "https")
	m.hintSignals(req, class, &b, secure, fired)
	fetchSignals(h, &b, secure, fired)
}

// hintSignals fires the client-hint signals: sec-ch-ua and friends are sent
// only by Chromium, only to https, and must agree with the user agent.
func (m *Model) hintSignals(req *Request, class uaClass, b *browser, secure bool, fired *signals) {
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
		if secure && b.sendsHints() && !corsPreflight(req) {
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

// corsPreflight reports whether req is a CORS preflight. The browser's CORS
// layer builds preflights itself, and whether they carry client hints is
// unsettled (WICG/client-hints-infrastructure#149), so they are not expected
// to.
func corsPreflight(req *Request) bool {
	return equalFold(req.Method, "options") && req.Headers["access-control-request-method"] != ""
}

// fetchSignals fires the fetch-metadata signals.
func fetchSignals(h map[string]string, b *browser, secure bool, fired *signals) {
	site := trimOWS(h["sec-fetch-site"])
	mode := trimOWS(h["sec-fetch-mode"])
	dest := trimOWS(h["sec-fetch-dest"])
	user := trimOWS(h["sec-fetch-user"])

	if secure && b.sendsFetchMetadata() && (site == "" || mode == "" || dest == "") {
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
