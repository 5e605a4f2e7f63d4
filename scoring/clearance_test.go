package scoring

import (
	"slices"
	"testing"
)

func TestClearance(t *testing.T) {
	m := defaultModel(t)
	// A Chrome user agent over https without hints or fetch metadata: a
	// contradiction, which a passed challenge can lift (a real browser behind
	// a proxy that strips headers must be able to pass once and browse).
	stripped := hdr("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
		"accept", "text/html", "accept-language", "en", "accept-encoding", "gzip")
	cases := []struct {
		name      string
		clearance ClearanceState
		certainty Certainty
		band      Band
		reason    Code
	}{
		{"no clearance: the contradiction caps the score", NoClearance, Contradiction, LikelyAutomated, 0},
		{"a valid clearance lifts the cap and adds its weight", ValidClearance, NoCertainty, LikelyHuman, ClearanceValid},
		{"an invalid clearance grants nothing and costs a little", InvalidClearance, Contradiction, LikelyAutomated, ClearanceInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Result
			m.Score(&Request{Method: "GET", Scheme: "https", Headers: stripped, Clearance: c.clearance}, &r)
			checkResult(t, m, &r)
			if r.Certainty != c.certainty || r.Band != c.band {
				t.Errorf("score %d (%v, %v), want %v and %v; reasons %v", r.Score, r.Band, r.Certainty, c.band, c.certainty, r.Reasons())
			}
			for _, got := range r.Reasons() {
				if got.Code == ClearanceValid && got.Weight >= 0 || got.Code == ClearanceInvalid && got.Weight < 0 {
					t.Errorf("reason %v: a valid clearance lifts (negative cost), an invalid one costs", got)
				}
			}
			if c.reason != 0 && !slices.Contains(firedCodes(&r), c.reason) {
				t.Errorf("reasons %v lack %v", r.Reasons(), c.reason)
			}
		})
	}
	// Declared automation is not lifted: a script can solve the proof of
	// work too, and its declaration stands.
	for _, ua := range []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36",
		"curl/8.5.0",
	} {
		var r Result
		m.Score(&Request{Scheme: "http", Headers: hdr("user-agent", ua,
			"accept", "text/html", "accept-language", "en", "accept-encoding", "gzip"), Clearance: ValidClearance}, &r)
		if r.Score != 1 || r.Certainty != Declared {
			t.Errorf("%s with a valid clearance scores %d (%v), want 1 (declared automation)", ua, r.Score, r.Certainty)
		}
	}
}
