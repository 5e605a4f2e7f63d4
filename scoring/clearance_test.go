package scoring

import "testing"

func TestClearance(t *testing.T) {
	m, err := NewModel(99, DefaultWeights())
	if err != nil {
		t.Fatal(err)
	}
	curl := hdr("user-agent", "curl/8.5.0", "accept", "*/*")
	cases := []struct {
		name      string
		clearance ClearanceState
		want      int
		reason    Reason
	}{
		{"no clearance leaves the score alone", NoClearance, 14, Reason{}},
		{"a valid clearance lifts the score by its weight", ValidClearance, 84, Reason{Code: ClearanceValid, Weight: -70}},
		{"an invalid clearance grants nothing and costs a little", InvalidClearance, 9, Reason{Code: ClearanceInvalid, Weight: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Result
			m.Score(&Request{Method: "GET", Scheme: "http", Headers: curl, Clearance: c.clearance}, &r)
			if r.Score != c.want {
				t.Errorf("score %d, want %d (reasons %v)", r.Score, c.want, r.Reasons())
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
	var r Result
	m.Score(&Request{Scheme: "http", Headers: hdr("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36",
		"accept", "text/html", "accept-language", "en", "accept-encoding", "gzip"), Clearance: ValidClearance}, &r)
	if r.Score != 99 {
		t.Errorf("headless browser with a clearance scores %d, want the clamp at 99", r.Score)
	}
}
