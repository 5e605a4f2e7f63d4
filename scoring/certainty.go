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
)

var certaintyNames = [...]string{NoCertainty: "", Declared: "declared_automation", Contradiction: "contradiction"}

// String returns the rule's name as the span and the decision log show it:
// "declared_automation", "contradiction", or "" for none.
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
)

// maxContradictionScore is the highest score a self-contradicting request
// gets: the top of the likely-automated band.
const maxContradictionScore = 29

// certainty applies the certainty rules to a score the weights gave: enabled
// is the set of signals that fired and have a weight (a weight of 0 turns
// the rule off with the signal).
func certainty(score int, enabled signals, clearance ClearanceState) (int, Certainty) {
	switch {
	case enabled&declaredSignals != 0:
		return 1, Declared
	case enabled&contradictionSignals != 0 && clearance != ValidClearance:
		return min(score, maxContradictionScore), Contradiction
	}
	return score, NoCertainty
}
