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
	// UAOther ("ua.other"): a user agent that is neither a browser's
	// (Mozilla/5.0 style) nor a known library, headless browser or crawler:
	// an application's or a scraper's own name.
	UAOther
	// AcceptUnlikeBrowser ("accept.unlike_browser"): a navigation whose
	// accept does not begin the way every navigation of the user agent's
	// browser family begins (data/browsers.yaml).
	AcceptUnlikeBrowser
	// AcceptEncodingUnlikeBrowser ("accept_encoding.unlike_browser"): an
	// accept-encoding without a coding the user agent's browser version
	// always offers on this scheme (br, zstd; data/browsers.yaml).
	AcceptEncodingUnlikeBrowser
	// UpgradeInsecureRequestsMissing ("upgrade_insecure_requests.missing"):
	// a navigation without upgrade-insecure-requests from a browser version
	// that always sends it (data/browsers.yaml).
	UpgradeInsecureRequestsMissing
	// PriorityMissing ("priority.missing"): no priority header from a
	// browser version that always sends one over this protocol
	// (data/browsers.yaml).
	PriorityMissing
	// OrderUnlikeBrowser ("order.unlike_browser"): the headers came in an
	// order the user agent's browser family never sends them in
	// (data/header_order.yaml). Unknown, so never fired, when Envoy sends
	// no order (encode_raw_headers off).
	OrderUnlikeBrowser
	// ProtocolHTTP1 ("protocol.http1"): a modern browser user agent over
	// TLS speaking HTTP/1.1, which browsers do only when the server offers
	// nothing newer. Weak by design; off when Envoy sits behind another
	// proxy.
	ProtocolHTTP1
	// TLSMismatch ("tls.mismatch"): a browser user agent over a TLS stack
	// that is not that browser's (an HTTP library's, or another
	// browser's), by the JA4 fingerprint Envoy computed
	// (data/tls.yaml). Strong, not certain: TLS-intercepting proxies
	// replace the browser's ClientHello with their own.
	TLSMismatch
	// TLSLibrary ("tls.library"): the TLS stack is a known HTTP library's
	// or tool's (OpenSSL's defaults, Go, Java, …), whatever the user agent
	// says.
	TLSLibrary
	// CrawlerImpersonation ("crawler.impersonation"): the user agent (or
	// the Web Bot Auth signature) claims a crawler of the directory whose
	// operator publishes a way to verify it, and the request failed that
	// verification definitively: its address is outside the published
	// ranges, its forward-confirmed reverse DNS answered with another
	// domain, or its signature is bad. A certainty rule: score 1.
	CrawlerImpersonation
	// CrawlerUnverified ("crawler.unverified"): a self-declared crawler
	// that is not (yet) verified: its operator publishes no way to verify
	// it, its verification is pending (a reverse DNS lookup running), or it
	// is no crawler of the directory. A certainty rule: at most 29 (likely
	// automated), whatever the model says; the route's unverified_crawlers
	// setting picks its action.
	CrawlerUnverified
	// IPDatacenter ("ip.datacenter"): the client's address is in a network
	// reputation set of kind datacenter (a cloud or hosting provider's
	// published ranges): people browse from home and mobile networks,
	// automation runs in data centres; VPNs and corporate egress make it
	// weak evidence, not strong.
	IPDatacenter
	// IPTor ("ip.tor"): the client's address is in a set of kind tor (the
	// Tor Project's exit list): people use Tor, and so does abuse.
	IPTor
	// IPListed ("ip.listed"): the client's address is in a set of kind
	// listed: a list the operator keeps (abuse feeds, past attackers).
	IPListed
	// ASNHosting ("asn.hosting"): the ASN database puts the client's
	// address in a hosting provider's autonomous system
	// (reputation/data/hosting_asns.yaml).
	ASNHosting
	// HistoryDenied ("history.denied"): the client's address or its session
	// was denied lately (package history: about one history window).
	HistoryDenied
	// HistoryRateLimited ("history.ratelimited"): the client's address or
	// its session exceeded a hard limit lately.
	HistoryRateLimited
	// HistoryChallengeFailed ("history.challenge_failed"): the client's
	// address or its session failed challenges lately (at least two: a
	// person mistypes a CAPTCHA now and then).
	HistoryChallengeFailed
	// SessionManyNetworks ("session.many_networks"): the session cookie
	// came from more networks (IPv4 /24, IPv6 /64) within the history window
	// than history.session_networks allows: one token shared by many
	// machines, as a botnet shares a cookie it bought or solved once.
	SessionManyNetworks
	// SessionNotKept ("session.not_kept"): the session cookies the
	// client's network showed lately were new and almost never came back:
	// a client that does not keep the cookies it is given, or mints its
	// own.
	SessionNotKept

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

	UAOther:                        "ua.other",
	AcceptUnlikeBrowser:            "accept.unlike_browser",
	AcceptEncodingUnlikeBrowser:    "accept_encoding.unlike_browser",
	UpgradeInsecureRequestsMissing: "upgrade_insecure_requests.missing",
	PriorityMissing:                "priority.missing",
	OrderUnlikeBrowser:             "order.unlike_browser",
	ProtocolHTTP1:                  "protocol.http1",
	TLSMismatch:                    "tls.mismatch",
	TLSLibrary:                     "tls.library",
	CrawlerImpersonation:           "crawler.impersonation",
	CrawlerUnverified:              "crawler.unverified",
	IPDatacenter:                   "ip.datacenter",
	IPTor:                          "ip.tor",
	IPListed:                       "ip.listed",
	ASNHosting:                     "asn.hosting",
	HistoryDenied:                  "history.denied",
	HistoryRateLimited:             "history.ratelimited",
	HistoryChallengeFailed:         "history.challenge_failed",
	SessionManyNetworks:            "session.many_networks",
	SessionNotKept:                 "session.not_kept",
}

// signals is a set of codes, one bit per Code.
type signals uint64

// A code past 63 would silently vanish from a signals set: stop the build.
const _ = uint(63 - (numCodes - 1))

func (s *signals) fire(c Code)    { *s |= 1 << c }
func (s signals) has(c Code) bool { return s&(1<<c) != 0 }

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
