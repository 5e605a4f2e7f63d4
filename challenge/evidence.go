package challenge

import (
	"crypto/subtle"
	"encoding/json"
	"strings"
)

// The evidence is a small JSON object the page's script posts with a
// proof-of-work answer, in the form field "evidence":
//
//	{"v":1, "proof":"<16 hex>", "webdriver":false, "ua":"…", "brands":["…"],
//	 "globals":["…"], "gl":"…", "tz":"…", "screen":[w,h], "outer":[w,h],
//	 "inner":[w,h], "pointer":"fine|coarse|none"}
//
// Verification reads it into reasons and forgets it: nothing but the
// reasons and the outcome is ever logged or kept. Unknown fields are
// ignored; every field is bounded (maxEvidenceBytes for the whole, and the
// limits below); anything unreadable counts as no evidence.
const (
	// maxEvidenceBytes bounds the evidence field: the script sends well
	// under 1 KiB.
	maxEvidenceBytes = 2048
	maxEvidenceText  = 256 // ua, gl
	maxEvidenceList  = 8   // brands, globals
	maxEvidenceName  = 64  // a brand, a global's name, tz, pointer
)

// The reasons verification gives, stable names for logs and metrics. The
// first five are strong: any one makes the answer automated. The others are
// weak: each alone never does (a person without a GPU renders WebGL in
// software; travellers and VPN users have "wrong" time zones), but
// weakCombined of them together do.
const (
	// ReasonMissing: no evidence, or evidence that cannot be read (an old
	// page, a script that did not run, a program posting the form itself).
	ReasonMissing = "evidence.missing"
	// ReasonScript: the proof of the per-challenge script is absent or
	// wrong.
	ReasonScript = "evidence.script"
	// ReasonWebdriver: navigator.webdriver is true (a browser under
	// WebDriver or the DevTools protocol's automation, as chromedp,
	// Puppeteer, Playwright and Selenium drive it).
	ReasonWebdriver = "evidence.webdriver"
	// ReasonHeadless: the page's own user agent or its client-hint brands
	// name HeadlessChrome.
	ReasonHeadless = "evidence.headless"
	// ReasonAutomationGlobals: the page's window or document has a property
	// that automation tools leave behind (cdc_…, __playwright…,
	// __puppeteer…, __selenium…, callPhantom, …).
	ReasonAutomationGlobals = "evidence.automation_globals"
	// ReasonSoftwareGL: WebGL renders in software (SwiftShader, llvmpipe,
	// …). Weak.
	ReasonSoftwareGL = "evidence.software_gl"
	// ReasonGeometry: a screen or window of no size, a window larger than
	// its screen, or headless Chromium's default 800×600 screen. Weak.
	ReasonGeometry = "evidence.geometry"
	// ReasonPointer: no pointing device at all, neither mouse nor touch.
	// Weak.
	ReasonPointer = "evidence.pointer"
	// ReasonTimezone: the time zone is on another continent than the
	// region of the first Accept-Language tag. Weak.
	ReasonTimezone = "evidence.timezone"
)

// EvidenceReasons lists every reason, strong ones first, in the order
// Verdict.Reasons uses; metrics may take it as their label set.
var EvidenceReasons = []string{
	ReasonMissing, ReasonScript, ReasonWebdriver, ReasonHeadless, ReasonAutomationGlobals,
	ReasonSoftwareGL, ReasonGeometry, ReasonPointer, ReasonTimezone,
}

// weakCombined is how many distinct weak reasons make an answer automated.
const weakCombined = 3

// Verdict is what verification made of an answer's evidence.
type Verdict struct {
	// Reasons that fired, in EvidenceReasons order; empty when none did.
	Reasons []string
	// Automated is true when a strong reason fired, or weakCombined weak
	// ones did.
	Automated bool
}

// String joins the reasons with commas, "" for none.
func (v Verdict) String() string { return strings.Join(v.Reasons, ",") }

// evidence is the posted object. Pointers tell absent from zero.
type evidence struct {
	V         int      `json:"v"`
	Proof     string   `json:"proof"`
	Webdriver *bool    `json:"webdriver"`
	UA        string   `json:"ua"`
	Brands    []string `json:"brands"`
	Globals   []string `json:"globals"`
	GL        string   `json:"gl"`
	TZ        string   `json:"tz"`
	Screen    []int    `json:"screen"`
	Outer     []int    `json:"outer"`
	Inner     []int    `json:"inner"`
	Pointer   string   `json:"pointer"`
}

// parseEvidence reads the evidence field: ok is false for a missing,
// oversized or unreadable one, or one of another version. It never panics.
func parseEvidence(s string) (evidence, bool) {
	var e evidence
	if s == "" || len(s) > maxEvidenceBytes {
		return e, false
	}
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.V != 1 {
		return evidence{}, false
	}
	// Lists and text beyond their bounds are cut, not refused: the bound
	// is what we look at, not a judgement.
	e.UA = truncate(e.UA, maxEvidenceText)
	e.GL = truncate(e.GL, maxEvidenceText)
	e.TZ = truncate(e.TZ, maxEvidenceName)
	e.Pointer = truncate(e.Pointer, maxEvidenceName)
	e.Brands = boundList(e.Brands)
	e.Globals = boundList(e.Globals)
	return e, true
}

func boundList(l []string) []string {
	if len(l) > maxEvidenceList {
		l = l[:maxEvidenceList]
	}
	for i := range l {
		l[i] = truncate(l[i], maxEvidenceName)
	}
	return l
}

// verifyEvidence scores the posted evidence field. proof is what the
// per-challenge script derives (expectedProof); acceptLanguage is the
// request's header, the time zone's weak reference.
func verifyEvidence(field string, proof [proofLen]byte, acceptLanguage string) Verdict {
	e, ok := parseEvidence(field)
	if !ok {
		return Verdict{Reasons: []string{ReasonMissing}, Automated: true}
	}
	fired := make([]string, 0, 4)
	if len(e.Proof) != proofLen || subtle.ConstantTimeCompare([]byte(e.Proof), proof[:]) != 1 {
		fired = append(fired, ReasonScript)
	}
	if e.Webdriver != nil && *e.Webdriver {
		fired = append(fired, ReasonWebdriver)
	}
	if headless(e) {
		fired = append(fired, ReasonHeadless)
	}
	if len(e.Globals) > 0 {
		fired = append(fired, ReasonAutomationGlobals)
	}
	strong := len(fired)
	if softwareGL(e.GL) {
		fired = append(fired, ReasonSoftwareGL)
	}
	if oddGeometry(e) {
		fired = append(fired, ReasonGeometry)
	}
	if e.Pointer == "none" {
		fired = append(fired, ReasonPointer)
	}
	if timezoneMismatch(e.TZ, acceptLanguage) {
		fired = append(fired, ReasonTimezone)
	}
	return Verdict{Reasons: fired, Automated: strong > 0 || len(fired)-strong >= weakCombined}
}

func headless(e evidence) bool {
	if strings.Contains(e.UA, "HeadlessChrome") {
		return true
	}
	for _, b := range e.Brands {
		if strings.Contains(b, "HeadlessChrome") {
			return true
		}
	}
	return false
}

// softwareRenderers are the renderer names of CPU rasterisers, lower case.
var softwareRenderers = []string{"swiftshader", "llvmpipe", "softpipe", "software", "microsoft basic render"}

func softwareGL(renderer string) bool {
	if renderer == "" {
		return false // no WebGL at all: nothing to judge
	}
	r := strings.ToLower(renderer)
	for _, s := range softwareRenderers {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// pair reads a [w, h] pair; ok is false when it is absent or malformed.
func pair(v []int) (w, h int, ok bool) {
	if len(v) != 2 {
		return 0, 0, false
	}
	return v[0], v[1], true
}

func oddGeometry(e evidence) bool {
	sw, sh, sok := pair(e.Screen)
	ow, oh, ook := pair(e.Outer)
	iw, ih, iok := pair(e.Inner)
	switch {
	case !sok || !ook || !iok:
		return true // the script always sends all three
	case sw <= 0 || sh <= 0 || ow <= 0 || oh <= 0:
		return true
	case sw == 800 && sh == 600:
		// Headless Chromium's default screen (measured, Chromium 156).
		return true
	case iw > sw*2 || ih > sh*2:
		// A viewport far larger than the screen: emulated. Zoomed-out
		// pages make it somewhat larger, hence the slack.
		return true
	}
	return false
}

// regionAreas maps a region of an Accept-Language tag to the IANA time zone
// areas its people are normally in. Regions not listed are not judged.
var regionAreas = map[string][]string{
	"US": {"America/", "Pacific/Honolulu"}, "CA": {"America/"}, "MX": {"America/"}, "BR": {"America/"},
	"AR": {"America/"}, "CL": {"America/", "Pacific/Easter"}, "CO": {"America/"},
	"GB": {"Europe/"}, "IE": {"Europe/"}, "DE": {"Europe/"}, "FR": {"Europe/"}, "ES": {"Europe/", "Atlantic/Canary", "Africa/Ceuta"},
	"IT": {"Europe/"}, "NL": {"Europe/"}, "BE": {"Europe/"}, "AT": {"Europe/"}, "CH": {"Europe/"},
	"PL": {"Europe/"}, "SE": {"Europe/"}, "NO": {"Europe/"}, "DK": {"Europe/"}, "FI": {"Europe/"},
	"PT": {"Europe/", "Atlantic/"}, "CZ": {"Europe/"},
	"JP": {"Asia/"}, "CN": {"Asia/"}, "KR": {"Asia/"}, "IN": {"Asia/"}, "TW": {"Asia/"}, "HK": {"Asia/"},
	"SG": {"Asia/"}, "ID": {"Asia/"}, "TH": {"Asia/"}, "VN": {"Asia/"},
	"AU": {"Australia/", "Antarctica/Macquarie"}, "NZ": {"Pacific/"},
	"ZA": {"Africa/"}, "NG": {"Africa/"}, "EG": {"Africa/"}, "KE": {"Africa/"},
}

// timezoneMismatch reports whether tz lies outside the areas of the first
// Accept-Language tag's region. UTC, Etc/… and unknown regions are never a
// mismatch: many people's machines say UTC.
func timezoneMismatch(tz, acceptLanguage string) bool {
	if tz == "" || !strings.Contains(tz, "/") || strings.HasPrefix(tz, "Etc/") {
		return false
	}
	first, _, _ := strings.Cut(acceptLanguage, ",")
	first, _, _ = strings.Cut(first, ";")
	_, region, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok {
		return false
	}
	if i := strings.LastIndexByte(region, '-'); i >= 0 {
		region = region[i+1:] // zh-Hant-TW
	}
	areas, ok := regionAreas[strings.ToUpper(region)]
	if !ok {
		return false
	}
	for _, a := range areas {
		if strings.HasPrefix(tz, a) {
			return false
		}
	}
	return true
}
