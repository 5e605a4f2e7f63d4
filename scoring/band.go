package scoring

import "strconv"

// Band is the named range a score falls in, following Cloudflare's bands.
type Band uint8

// The bands.
const (
	// NotScored is the band of score 0: the request was not scored.
	NotScored Band = iota
	// Automated is the band of score 1.
	Automated
	// LikelyAutomated is the band of scores 2–29.
	LikelyAutomated
	// LikelyHuman is the band of scores 30–99.
	LikelyHuman
	// VerifiedBot is the category of a bot proven to be who it claims. It is
	// decided by verification, not by a score, so BandOf never returns it.
	VerifiedBot

	bandEnd // one past the last band
)

// MaxBand is the last band: a table indexed by Band has MaxBand+1 entries,
// and loops over the bands run from NotScored to it.
const MaxBand = bandEnd - 1

var bandNames = [bandEnd]string{
	NotScored:       "not_scored",
	Automated:       "automated",
	LikelyAutomated: "likely_automated",
	LikelyHuman:     "likely_human",
	VerifiedBot:     "verified_bot",
}

// String returns the band's name as it appears in headers, logs and metrics,
// such as "likely_human".
func (b Band) String() string {
	if int(b) >= len(bandNames) {
		return "band(" + strconv.Itoa(int(b)) + ")"
	}
	return bandNames[b]
}

// BandOf returns the band of a score: 0 is NotScored, 1 Automated, 2–29
// LikelyAutomated, 30–99 LikelyHuman. Scores outside 0–99 are clamped first.
func BandOf(score int) Band {
	switch {
	case score <= 0:
		return NotScored
	case score == 1:
		return Automated
	case score < 30:
		return LikelyAutomated
	default:
		return LikelyHuman
	}
}
