package scoring

import "testing"

func BenchmarkScoreBrowser(b *testing.B) {
	m := defaultModel(b)
	req := &Request{Method: "GET", Scheme: "https", Headers: with(navChrome, "user-agent", uaChromeWindows),
		Velocity: []Velocity{{Code: VelocityIP, Estimate: 3, Threshold: 120}, {Code: VelocitySubnet, Estimate: 40, Threshold: 600}}}
	benchmarkScore(b, m, req)
}

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
