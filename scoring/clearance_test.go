package scoring

import "testing"

func TestClearance(t *testing.T) {
	m, err := NewModel(99, DefaultWeights())
	if err != nil {
		t.Fatal(err)
	}
	// A Chrome user agent over https without hints or fetch metadata: a
	// contradiction, which a passed challenge can lift (a real browser behind
	// a proxy that strips headers must be able to pass once and browse).
	stripped := hdr("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
		"accept", "text/html", "accept-language", "en", "accept-encoding", "gzip")
	cases := []struct {
		name      string
		clearance ClearanceState
		want      int
		certainty Certainty
		reason    Reason
	}{
		{"no clearance: the contradiction caps the score", NoClearance, 29, Contradiction, Reason{}},
		{"a valid clearance lifts the cap and adds its weight", ValidClearance, 99, NoCertainty, Reason{Code: ClearanceValid, Weight: -70}},
		{"an invalid clearance grants nothing and costs a little", InvalidClearance, 29, Contradiction, Reason{Code: ClearanceInvalid, Weight: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Result
			m.Score(&Request{Method: "GET", Scheme: "https", Headers: stripped, Clearance: c.clearance}, &r)
			if r.Score != c.want || r.Certainty != c.certainty {
				t.Errorf("score %d (%v), want %d (%v); reasons %v", r.Score, r.Certainty, c.want, c.certainty, r.Reasons())
			}
			found := c.reason == Reason{}
			for _, got := range r.Reasons() {
				if got.Code == ClearanceValid || got.Code == ClearanceInvalid {
					if got != c.reason {
						t.Errorf("reason %v, want %v", got, c.reason)
					}
					found = true
				}
			}
			if !found {
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
