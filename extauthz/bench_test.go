package extauthz

import (
	"context"
	"strconv"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

// BenchmarkCheck runs whole Checks in process against the in-memory store:
// facts, four counters and the history counters, scoring and the response,
// and the history record after it, as on the hot path.
func BenchmarkCheck(b *testing.B) {
	p, err := policy.Parse([]byte(`
session_cookie: sid
routes:
  login:
    mode: enforce
    limits:
      - {key: ip, window: 60s, score_above: 1000000}
      - {key: subnet, window: 60s, score_above: 1000000}
      - {key: session, window: 60s, score_above: 1000000}
      - {key: route_ip, window: 60s, max: 1000000000}
`))
	if err != nil {
		b.Fatal(err)
	}
	d, err := crawler.Load()
	if err != nil {
		b.Fatal(err)
	}
	v, err := crawler.New(crawler.Config{Directory: d})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	store := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	// History is read and recorded as in production: the writer's
	// workers run beside the Checks.
	w, err := history.NewWriter(store, history.WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	s, err := New(Options{Policy: p, Store: store, Crawlers: v, History: w})
	if err != nil {
		b.Fatal(err)
	}
	hdr := map[string]string{"cookie": "sid=0123456789abcdef"}
	for k, v := range chrome {
		hdr[k] = v
	}
	cases := map[string]*struct {
		headers map[string]string
		route   string
		// headerMap sends the headers as Envoy does with encode_raw_headers.
		headerMap bool
		// ip is the client's address; empty for one of 256 others.
		ip string
	}{
		"browser-allow":            {hdr, "login", false, ""},
		"browser-allow-header-map": {hdr, "login", true, ""},
		"curl-deny":                {curlNav, "login", false, ""},
		"shadow-default":           {curlAPI, "", false, ""},
		// Googlebot from an address of Google's published ranges: verified,
		// not scored.
		"googlebot-verified": {googlebot, "login", false, googlebotIP},
	}
	for name, c := range cases {
		b.Run(name, func(b *testing.B) {
			reqs := make([]*authv3.CheckRequest, 256)
			for i := range reqs {
				ip := c.ip
				if ip == "" {
					ip = "203.0.113." + strconv.Itoa(i)
				}
				reqs[i] = request("GET", "/login", c.route, ip, c.headers)
				if c.headerMap {
					reqs[i] = rawRequest(reqs[i], browserLines(reqs[i].Attributes.Request.Http.Headers))
				}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, err := s.Check(ctx, reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
