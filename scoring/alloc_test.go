package scoring

import "testing"

// TestScoreDoesNotAllocate proves the hot path's promise: Score and
// AppendReasons allocate nothing, whatever the request looks like.
func TestScoreDoesNotAllocate(t *testing.T) {
	m := defaultModel(t)
	requests := map[string]*Request{
		"browser":        {Method: "GET", Scheme: "https", Headers: with(navChrome, "user-agent", uaChromeWindows)},
		"curl":           {Method: "GET", Scheme: "https", Headers: hdr("user-agent", "curl/8.5.0", "accept", "*/*")},
		"crawler":        {Method: "GET", Scheme: "https", Headers: hdr("user-agent", uaGooglebot)},
		"headless":       {Method: "GET", Scheme: "https", Headers: with(navChrome, "user-agent", uaHeadlessChrome, "sec-ch-ua", `"HeadlessChrome";v="131"`)},
		"mismatch":       {Method: "GET", Scheme: "https", Headers: with(navFirefox, "user-agent", uaFirefox, "sec-ch-ua", navChrome["sec-ch-ua"])},
		"garbage hints":  {Method: "GET", Scheme: "https", Headers: with(navChrome, "user-agent", uaChromeWindows, "sec-ch-ua", `"\"`)},
		"long version":   {Method: "GET", Scheme: "https", Headers: with(navChrome, "user-agent", uaChromeWindows, "sec-ch-ua", `"Chromium";v="`+string(make([]byte, 100))+`"`)},
		"no headers":     {Method: "GET", Scheme: "https"},
		"velocity":       {Method: "GET", Scheme: "https", Velocity: []Velocity{{Code: VelocityIP, Estimate: 2, Threshold: 1}}},
		"cors preflight": {Method: "OPTIONS", Scheme: "https", Headers: hdr("user-agent", uaChromeWindows, "access-control-request-method", "PUT")},
	}
	for name, req := range requests {
		t.Run(name, func(t *testing.T) {
			var r Result
			if n := testing.AllocsPerRun(100, func() { m.Score(req, &r) }); n != 0 {
				t.Errorf("Score allocates %v times per run", n)
			}
			dst := make([]byte, 0, 512)
			if n := testing.AllocsPerRun(100, func() { dst = r.AppendReasons(dst[:0], -1) }); n != 0 {
				t.Errorf("AppendReasons allocates %v times per run", n)
			}
		})
	}
}
