package scoring

import "strconv"

// Code is a reason code: one named signal.
type Code uint8

// The reason codes. Their names are a contract with dashboards, decision
// logs and policy files: never rename one, add new codes at the end.
const (
	// UAMissing ("ua.missing"): no or empty user-agent.
	UAMissing Code = iota + 1
	// UALibrary ("ua.library"): an HTTP library or tool user agent
	// (curl/, python-requests/, Go-http-client/, …).
	UALibrary
	// UAHeadless ("ua.headless"): HeadlessChrome, PhantomJS, … in the user agent.
	UAHeadless
	// UACrawler ("ua.crawler"): a self-declared crawler or bot (bot, crawler,
	// spider, "+http://"). Whether it is who it says is verified elsewhere.
	UACrawler
	// AcceptMissing ("accept.missing"): no or empty accept.
	AcceptMissing
	// AcceptLanguageMissing ("accept_language.missing"): no or empty accept-language.
	AcceptLanguageMissing
	// AcceptEncodingMissing ("accept_encoding.missing"): no or empty accept-encoding.
	AcceptEncodingMissing
	// HintsMissing ("hints.missing"): a Chromium (>= 90) user agent on https
	// without sec-ch-ua.
	HintsMissing
	// HintsMismatch ("hints.mismatch"): client hints and the user agent
	// disagree: a non-Chromium user agent sending hints, a malformed
	// sec-ch-ua, a Chromium brand version other than the user agent's Chrome
	// major, or sec-ch-ua-platform / sec-ch-ua-mobile contradicting it.
	HintsMismatch
	// HintsHeadless ("hints.headless"): a headless brand such as HeadlessChrome
	// in sec-ch-ua.
	HintsHeadless
	// FetchMissing ("fetch.missing"): a browser user agent that sends fetch
	// metadata (Chrome >= 80, Firefox >= 90, Safari >= 16.4, mobile variants
	// too) on https without sec-fetch-site, sec-fetch-mode or sec-fetch-dest.
	FetchMissing
	// FetchInconsistent ("fetch.inconsistent"): a sec-fetch combination no
	// browser sends: mode navigate with a non-document destination, or
	// sec-fetch-user on a non-navigation.
	FetchInconsistent
	// VelocityIP ("velocity.ip"): the client IP's request rate is over its threshold.
	VelocityIP
	// VelocitySubnet ("velocity.subnet"): the client subnet's rate is over its threshold.
	VelocitySubnet
	// VelocitySession ("velocity.session"): the session's rate is over its threshold.
	VelocitySession
	// VelocityRouteIP ("velocity.route_ip"): the client IP's rate on this
	// route is over its threshold.
	VelocityRouteIP
	// ClearanceValid ("clearance.valid"): a valid clearance cookie, the
	// visitor passed a challenge. Its weight is ADDED to the score.
	ClearanceValid
	// ClearanceInvalid ("clearance.invalid"): a clearance cookie that is
	// forged, expired, bound to another client or signed by a retired key.
	// It grants nothing; its small weight makes it visible among the reasons.
	ClearanceInvalid
	// BrowserHeadersMissing ("browser.headers_missing"): a browser user agent
	// (Chromium, Firefox, WebKit) without accept-language, which every
	// browser's network stack adds to every request it sends.
	BrowserHeadersMissing

	numCodes // sentinel: one past the last code
)

// codeNames is indexed by Code; index 0 is the zero Code, which is no signal.
var codeNames = [numCodes]string{
	UAMissing:             "ua.missing",
	UALibrary:             "ua.library",
	UAHeadless:            "ua.headless",
	UACrawler:             "ua.crawler",
	AcceptMissing:         "accept.missing",
	AcceptLanguageMissing: "accept_language.missing",
	AcceptEncodingMissing: "accept_encoding.missing",
	HintsMissing:          "hints.missing",
	HintsMismatch:         "hints.mismatch",
	HintsHeadless:         "hints.headless",
	FetchMissing:          "fetch.missing",
	FetchInconsistent:     "fetch.inconsistent",
	VelocityIP:            "velocity.ip",
	VelocitySubnet:        "velocity.subnet",
	VelocitySession:       "velocity.session",
	VelocityRouteIP:       "velocity.route_ip",
	ClearanceValid:        "clearance.valid",
	ClearanceInvalid:      "clearance.invalid",
	BrowserHeadersMissing: "browser.headers_missing",
}

// valid reports whether c is one of the defined codes.
func (c Code) valid() bool { return c > 0 && c < numCodes }

// String returns the reason code's name, such as "ua.library".
func (c Code) String() string {
	if !c.valid() {
		return "code(" + strconv.Itoa(int(c)) + ")"
	}
	return codeNames[c]
}

// ParseCode returns the code named s (as String spells it) and whether there
// is one.
func ParseCode(s string) (Code, bool) {
	for c := Code(1); c < numCodes; c++ {
		if codeNames[c] == s {
			return c, true
		}
	}
	return 0, false
}

// Codes returns all codes in order, for documentation and validation.
func Codes() []Code {
	codes := make([]Code, 0, numCodes-1)
	for c := Code(1); c < numCodes; c++ {
		codes = append(codes, c)
	}
	return codes
}
