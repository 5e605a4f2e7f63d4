package scoring

import (
	"strings"
	"testing"
)

// FuzzScore feeds arbitrary header values to Score: it must never panic,
// always score 1..99 with a consistent band, and list each reason once,
// heaviest first. The seed corpus is in testdata/fuzz/FuzzScore.
func FuzzScore(f *testing.F) {
	m := defaultModel(f)
	f.Fuzz(func(t *testing.T, ua, scheme, method, accept, lang, enc, chUA, chPlatform, chMobile, site, mode, dest, user string, vcode uint8, estimate, threshold float64) {
		req := Request{
			Method: method,
			Scheme: scheme,
			Headers: map[string]string{
				"user-agent":                    ua,
				"accept":                        accept,
				"accept-language":               lang,
				"accept-encoding":               enc,
				"sec-ch-ua":                     chUA,
				"sec-ch-ua-platform":            chPlatform,
				"sec-ch-ua-mobile":              chMobile,
				"sec-fetch-site":                site,
				"sec-fetch-mode":                mode,
				"sec-fetch-dest":                dest,
				"sec-fetch-user":                user,
				"access-control-request-method": method,
			},
			Velocity: []Velocity{{Code: Code(vcode), Estimate: estimate, Threshold: threshold}},
		}
		var r Result
		m.Score(&req, &r)
		checkResult(t, m, &r)

		// The header form lists the same codes in the same order.
		header := string(r.AppendReasons(nil, -1))
		var names []string
		for _, reason := range r.Reasons() {
			names = append(names, reason.Code.String())
		}
		if want := strings.Join(names, ","); header != want {
			t.Fatalf("AppendReasons = %q, want %q", header, want)
		}
	})
}
