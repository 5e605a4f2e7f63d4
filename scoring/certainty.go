package scoring

// Certainty says which certainty rule decided a score before the weights
// could: the first layer of the score, in front of the model.
type Certainty uint8

// The certainty rules.
const (
	// NoCertainty: no rule applied; the weights decided the score.
	NoCertainty Certainty = iota
	// Declared: the request declares automation (an HTTP library or tool,
	// a headless browser, a missing user agent). It scores 1 whatever else
	// it sends: nothing else it sends can make the declaration untrue.
	Declared
	// Contradiction: the request contradicts itself (client hints against
	// the user agent, a browser version without headers it always sends).
	// It scores at most 29 (likely automated), unless the client has a
	// valid clearance: a real browser behind a proxy that strips headers
	// must be able to pass a challenge once and keep browsing.
	Contradiction
	// Impersonation: the request claims a crawler whose operator publishes
	// a way to verify it, and it failed that verification definitively
	// (crawler.impersonation). It scores 1: a crawler's name on a request
	// that is not that crawler's is a declaration of bad faith.
	Impersonation
	// UnverifiedCrawler: a self-declared crawler that could not be verified
	// (crawler.unverified). It scores at most 29 (likely automated): it is
	// automation by its own word, but honest, and what to do with it is the
	// route's unverified_crawlers setting, not the score's.
	UnverifiedCrawler
)

var certaintyNames = [...]string{NoCertainty: "", Declared: "declared_automation", Contradiction: "contradiction",
	Impersonation: "impersonation", UnverifiedCrawler: "unverified_crawler"}

// String returns the rule's name as the span and the decision log show it:
// "declared_automation", "contradiction", "impersonation",
// "unverified_crawler", or "" for none.
func (c Certainty) String() string {
	if int(c) >= len(certaintyNames) {
		return "certainty(?)"
	}
	return certaintyNames[c]
}

// The signals of each certainty rule.
const (
	declaredSignals      signals = 1<<UAMissing | 1<<UALibrary | 1<<UAHeadless | 1<<HintsHeadless
	contradictionSignals signals = 1<<HintsMissing | 1<<HintsMismatch | 1<<FetchMissing | 1<<FetchInconsistent |
		1<<BrowserHeadersMissing
	impersonationSignals signals = 1 << CrawlerImpersonation
	unverifiedSignals    signals = 1 << CrawlerUnverified
)

// maxContradictionScore is the highest score a self-contradicting request,
// or an unverified crawler, gets: the top of the likely-automated band.
const maxContradictionScore = 29

// certainty applies the certainty rules to a score the weights gave: enabled
// is the set of signals that fired and have a weight (a weight of 0 turns
// the rule off with the signal).
func certainty(score int, enabled signals, clearance ClearanceState) (int, Certainty) {
	switch {
	case enabled&declaredSignals != 0:
		return 1, Declared
	case enabled&impersonationSignals != 0:
		return 1, Impersonation
	case enabled&unverifiedSignals != 0:
		return min(score, maxContradictionScore), UnverifiedCrawler
	case enabled&contradictionSignals != 0 && clearance != ValidClearance:
		return min(score, maxContradictionScore), Contradiction
	}
	return score, NoCertainty
}
