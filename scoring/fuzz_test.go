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

// FuzzScoreOrder feeds arbitrary header orders, protocols, methods and
// fetch modes to the feature path the facts and the order drive (kind,
// codings, navigation accept, order, protocol): it must never panic and
// keep every invariant checkResult checks.
func FuzzScoreOrder(f *testing.F) {
	m := defaultModel(f)
	f.Add(uaChromeWindows, "HTTP/2", "GET", "https", "navigate", "text/html,application/xhtml+xml", "gzip, br;q=0", "", "sec-ch-ua,user-agent,accept")
	f.Add(uaFirefox, "HTTP/1.1", "OPTIONS", "https", "cors", "*/*", "zstd", "bytes=0-", "accept,user-agent,,:path")
	f.Add(uaSafariIPhone, "http/3", "HEAD", "http", "", "TEXT/HTML", "identity", "", "user-agent")
	f.Fuzz(func(t *testing.T, ua, proto, method, scheme, mode, accept, enc, rng, order string) {
		h := map[string]string{
			"user-agent":                    ua,
			"accept":                        accept,
			"accept-encoding":               enc,
			"accept-language":               "en",
			"sec-fetch-mode":                mode,
			"range":                         rng,
			"access-control-request-method": method,
		}
		req := Request{Method: method, Scheme: scheme, Protocol: proto, Headers: h}
		if order != "" {
			req.HeaderOrder = strings.Split(order, ",")
		}
		var r Result
		m.Score(&req, &r)
		checkResult(t, m, &r)
		if req.HeaderOrder == nil && r.Features.Has(OrderUnlikeBrowser) {
			t.Fatal("order.unlike_browser without an order")
		}
	})
}
