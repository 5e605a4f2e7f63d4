package extauthz

import (
	"context"
	"strconv"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
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

// BenchmarkCodec compares the ways a Check's request is read and its
// response written: as protobuf messages (what grpc's codec does, and the
// no-op server pays), a message whose metadata is bytes (what botauthz's
// handler sends a denial), and on the wire (what botauthz's handler does
// with a request, and with the answer to an allowed one).
func BenchmarkCodec(b *testing.B) {
	hdr, in := benchRequest(b)
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data := mem.BufferSlice{mem.SliceBuffer(in)}
	b.Run("decode-proto", func(b *testing.B) {
		b.ReportAllocs()
		var buf headerBuf
		for b.Loop() {
			var r authv3.CheckRequest
			if err := c.Unmarshal(data, &r); err != nil {
				b.Fatal(err)
			}
			var f Facts
			buf.reset()
			readFacts(&r, "sid", 0, &f, &buf)
		}
	})
	b.Run("decode-wire", func(b *testing.B) {
		b.ReportAllocs()
		var buf headerBuf
		w := new(wireRequest)
		for b.Loop() {
			if err := c.Unmarshal(data, w); err != nil || !w.parsed {
				b.Fatal(err)
			}
			var f Facts
			buf.reset()
			readWireFacts(&w.facts, "sid", 0, &f, &buf)
			w.reset()
		}
	})
	d := &Decision{Score: 87, Band: 3, Route: "login", Mode: policy.ModeShadow, ModeSource: rollout.SourcePolicy,
		Action: policy.ActionAllow, Enforced: policy.ActionAllow}
	f := &Facts{HTTP: true, Headers: hdr}
	route := structpb.NewStringValue(d.Route) // built once per policy
	for _, forWire := range []bool{false, true} {
		name := "encode-struct"
		if forWire {
			name = "encode-wire"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := c.Marshal(respond(d, f, route, nil, forWire))
				if err != nil {
					b.Fatal(err)
				}
				out.Free()
			}
		})
	}
	// What the handler sends an allowed request: the answer written by
	// hand (appendAllowed).
	b.Run("encode-hand", func(b *testing.B) {
		b.ReportAllocs()
		var answers answerPool
		for b.Loop() {
			buf := answers.Get(0)
			*buf = appendAllowed(*buf, d, f, route, nil)
			out, err := c.Marshal(answers.wrap(buf))
			if err != nil {
				b.Fatal(err)
			}
			out.Free()
		}
	})
}

// benchRequest is the request the codec's benchmarks read: a browser's
// login with a session cookie and a request id, in header_map, as Envoy
// sends it; its headers, and its bytes.
func benchRequest(tb testing.TB) (map[string]string, []byte) {
	hdr := map[string]string{"cookie": "sid=0123456789abcdef", "x-request-id": "5f0c2a4e-2f6b-4b7e-9a51-3c1f1f0b7a90"}
	for k, v := range chrome {
		hdr[k] = v
	}
	req := request("GET", "/login", "login", "203.0.113.7", hdr)
	req = rawRequest(req, browserLines(req.Attributes.Request.Http.Headers))
	in, err := proto.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	return hdr, in
}
