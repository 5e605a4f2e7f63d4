package scoring

import "testing"

func BenchmarkScoreBrowser(b *testing.B) {
	m := defaultModel(b)
	req := &Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: with(navChrome, "user-agent", uaChromeWindows),
		HeaderOrder: chromeOrder,
		Velocity:    []Velocity{{Code: VelocityIP, Estimate: 3, Threshold: 120}, {Code: VelocitySubnet, Estimate: 40, Threshold: 600}}}
	benchmarkScore(b, m, req)
}

// chromeOrder is Chrome's navigation order as Envoy's header_map lists it:
// pseudo-headers first, Envoy's own additions last.
var chromeOrder = []string{":authority", ":method", ":path", ":scheme", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
	"upgrade-insecure-requests", "user-agent", "accept", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest",
	"accept-encoding", "accept-language", "priority", "x-forwarded-proto", "x-request-id"}

func BenchmarkScoreCurl(b *testing.B) {
	m := defaultModel(b)
	req := &Request{Method: "GET", Scheme: "https", Headers: hdr("user-agent", "curl/8.5.0", "accept", "*/*"),
		Velocity: []Velocity{{Code: VelocityIP, Estimate: 300, Threshold: 120}}}
	benchmarkScore(b, m, req)
}

func benchmarkScore(b *testing.B, m *Model, req *Request) {
	var r Result
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		m.Score(req, &r)
		dst = r.AppendReasons(dst[:0], 5)
	}
}

// BenchmarkScoreBrowserTLS is BenchmarkScoreBrowser with the JA4 Envoy
// sends: the difference is what the TLS features cost.
func BenchmarkScoreBrowserTLS(b *testing.B) {
	m := defaultModel(b)
	req := &Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: with(navChrome, "user-agent", uaChromeWindows),
		HeaderOrder: chromeOrder, TLS: "t13d1516h2_8daaf6152771_02713d6af862",
		Velocity: []Velocity{{Code: VelocityIP, Estimate: 3, Threshold: 120}, {Code: VelocitySubnet, Estimate: 40, Threshold: 600}}}
	benchmarkScore(b, m, req)
}

// BenchmarkTLSSignals is the TLS features alone: parse the JA4, look up
// its cipher hash, compare the family with the user agent's.
func BenchmarkTLSSignals(b *testing.B) {
	m := defaultModel(b)
	req := &Request{TLS: "t13d1812h1_85036bcba153_b26ce05bbdd6"}
	br := browser{engine: engineChromium, major: 131}
	var fired signals
	b.ReportAllocs()
	for b.Loop() {
		m.tlsSignals(req, &br, &fired)
	}
}
