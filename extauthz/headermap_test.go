package extauthz

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/botauthz/botauthz/ratelimit"
)

// header is one header line as a client sent it.
type header struct {
	key   string
	value []byte
}

// rawRequest is req as Envoy sends it with encode_raw_headers: true: the
// headers only in header_map, in the given order, the headers map empty.
func rawRequest(req *authv3.CheckRequest, lines []header) *authv3.CheckRequest {
	req = proto.Clone(req).(*authv3.CheckRequest)
	h := req.Attributes.Request.Http
	h.Headers = nil
	h.HeaderMap = &corev3.HeaderMap{}
	for _, l := range lines {
		h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: l.key, RawValue: l.value})
	}
	return req
}

// browserLines lists a header map's entries in the order Chromium sends
// them: pseudo-headers, then upgrade-insecure-requests, user-agent, accept,
// accept-encoding, accept-language and cookie, then the rest by name.
func browserLines(m map[string]string) []header {
	first := []string{":method", ":authority", ":scheme", ":path", "upgrade-insecure-requests", "user-agent", "accept", "accept-encoding", "accept-language", "cookie"}
	var out []header
	for _, k := range first {
		if v, ok := m[k]; ok {
			out = append(out, header{k, []byte(v)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(first, k) {
			out = append(out, header{k, []byte(m[k])})
		}
	}
	return out
}

// TestHeaderMapDecidesLikeHeaders sends the same requests in both of Envoy's
// encodings: the facts and the response must not depend on the encoding.
// header_map also carries the order, which the model weighs; the lines go
// in the order a browser sends them, so that the order adds nothing.
// Before header_map was read, a browser sent as header_map had no user agent
// and was denied ua.missing on an enforced route.
func TestHeaderMapDecidesLikeHeaders(t *testing.T) {
	withCookie := maps.Clone(chrome)
	withCookie["cookie"] = "theme=dark; sid=abc123"
	withCookie["x-envoy-external-address"] = "198.51.100.9"
	cases := map[string]struct {
		route   string
		headers map[string]string
	}{
		"browser on an enforced route": {"login", chrome},
		"browser with a session":       {"api", withCookie},
		"curl navigating":              {"login", curlNav},
		"curl on the api":              {"api", curlAPI},
		"no headers at all":            {"login", map[string]string{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			plain := request("GET", "/login", c.route, "203.0.113.7", c.headers)
			raw := rawRequest(plain, browserLines(plain.Attributes.Request.Http.Headers))

			var fp, fr Facts
			readFacts(plain, "sid", 0, &fp, &headerBuf{})
			readFacts(raw, "sid", 0, &fr, &headerBuf{})
			if !maps.Equal(fp.Headers, fr.Headers) {
				t.Errorf("headers differ:\n map:        %v\n header_map: %v", fp.Headers, fr.Headers)
			}
			if fp.ClientIP != fr.ClientIP || fp.Session != fr.Session || fp.Path != fr.Path || fp.Scheme != fr.Scheme ||
				fp.Protocol != fr.Protocol || fp.RequestID != fr.RequestID {
				t.Errorf("facts differ:\n map:        %+v\n header_map: %+v", fp, fr)
			}
			if fr.HeaderOrder == nil || fp.HeaderOrder != nil {
				t.Errorf("header order: map %v, header_map %v; want only header_map's", fp.HeaderOrder, fr.HeaderOrder)
			}

			// Separate servers: the first Check must not count against the second.
			rp := mustCheck(t, newTestServer(t, nil), plain)
			rr := mustCheck(t, newTestServer(t, nil), raw)
			if rp.GetStatus().GetCode() != rr.GetStatus().GetCode() ||
				deniedHeader(rp, "location") != deniedHeader(rr, "location") {
				t.Fatalf("responses differ:\n map:        %v\n header_map: %v", rp, rr)
			}
			if rp.GetOkResponse() != nil {
				hp, hr := upstreamHeaders(t, rp), upstreamHeaders(t, rr)
				if !maps.Equal(hp, hr) {
					t.Errorf("upstream headers differ:\n map:        %v\n header_map: %v", hp, hr)
				}
			}
		})
	}
}

func TestHeaderMapBrowserIsNotDenied(t *testing.T) {
	s := newTestServer(t, nil)
	resp := mustCheck(t, s, rawRequest(request("GET", "/login", "login", "203.0.113.7", nil), []header{
		{":authority", []byte("shop.example")}, {":path", []byte("/login")}, {":method", []byte("GET")}, {":scheme", []byte("https")},
		{"user-agent", []byte(chrome["user-agent"])}, {"accept", []byte(chrome["accept"])},
		{"accept-encoding", []byte(chrome["accept-encoding"])}, {"accept-language", []byte(chrome["accept-language"])},
	}))
	if resp.GetOkResponse() == nil {
		t.Fatalf("a browser's header_map was not allowed on an enforced route: %v", resp)
	}
	if r := upstreamHeaders(t, resp)[HeaderReasons]; strings.Contains(r, "ua.missing") {
		t.Errorf("reasons %q: the user agent in header_map was not read", r)
	}
}

func TestHeaderMapRepeatsOrderAndBytes(t *testing.T) {
	lines := []header{
		{":method", []byte("GET")},
		{"user-agent", []byte("Mozilla/5.0 \xffbad\xc3")},
		{"accept-language", []byte("de-DE")},
		{"cookie", []byte("a=1")},
		{"accept-language", []byte("en;q=0.5")},
		{"cookie", []byte("sid=s3")},
		{"X-Mixed-Case", []byte("v")},
		{"", []byte("keyless")},
		{"x-envoy-external-address", []byte("198.51.100.\xff")},
	}
	req := rawRequest(request("GET", "/", "", "203.0.113.7", nil), lines)
	// An Envoy without the send_header_raw_value runtime feature fills value.
	req.Attributes.Request.Http.HeaderMap.Headers = append(req.Attributes.Request.Http.HeaderMap.Headers,
		&corev3.HeaderValue{Key: "x-value-only", Value: "text"})

	var f Facts
	readFacts(req, "sid", 0, &f, &headerBuf{})
	want := map[string]string{
		":method":    "GET",
		"user-agent": "Mozilla/5.0 !bad!", // one "!" per byte that is not UTF-8, as Envoy writes the map
		// Repeats joined as Envoy joins them; cookie crumbs as RFC 9113 §8.2.3 does.
		"accept-language":          "de-DE,en;q=0.5",
		"cookie":                   "a=1; sid=s3",
		"x-mixed-case":             "v",
		"x-envoy-external-address": "198.51.100.!",
		"x-value-only":             "text",
	}
	if !maps.Equal(f.Headers, want) {
		t.Errorf("headers = %q\nwant      %q", f.Headers, want)
	}
	wantOrder := []string{":method", "user-agent", "accept-language", "cookie", "accept-language", "cookie", "x-mixed-case", "x-envoy-external-address", "x-value-only"}
	if !slices.Equal(f.HeaderOrder, wantOrder) {
		t.Errorf("order = %q\nwant    %q", f.HeaderOrder, wantOrder)
	}
	if f.Session != "s3" {
		t.Errorf("session = %q, want s3 from the second cookie crumb", f.Session)
	}
	if f.ClientIP.String() != "203.0.113.7" {
		t.Errorf("client IP = %s, want the peer: the external address is garbled", f.ClientIP)
	}
}

// TestHeaderBufferIsReusedSafely runs Checks through one pooled server in
// both encodings, alternating: no header may leak from one Check into the next.
func TestHeaderBufferIsReusedSafely(t *testing.T) {
	var got map[string]string
	s, err := New(Options{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		Observer: observerFunc(func(f *Facts) { got = maps.Clone(f.Headers) })})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		req := request("GET", "/", "", "203.0.113.7", curlAPI)
		if i%2 == 0 {
			req = rawRequest(req, []header{{"user-agent", []byte("curl/8.5.0")}, {"x-only-in-" + string(rune('a'+i)), []byte("1")}})
		}
		got = nil
		mustCheck(t, s, req)
		for k := range got {
			if strings.HasPrefix(k, "x-only-in-") && k != "x-only-in-"+string(rune('a'+i)) {
				t.Fatalf("check %d saw %s from an earlier Check", i, k)
			}
		}
		if got["user-agent"] != "curl/8.5.0" {
			t.Fatalf("check %d: user-agent %q", i, got["user-agent"])
		}
	}
}

// observerFunc sees the facts of every Check.
type observerFunc func(f *Facts)

func (o observerFunc) ObserveCheck(_ context.Context, _ *Decision, f *Facts, _ time.Duration) { o(f) }

// FuzzHeaderMap feeds arbitrary header lines through header_map: the facts
// hold only valid UTF-8, every line is in the order, and the Check decides.
func FuzzHeaderMap(f *testing.F) {
	f.Add("user-agent", []byte("Mozilla/5.0"), "cookie", []byte("sid=1"), "cookie", []byte("x=\xff"))
	f.Add("X-Envoy-External-Address", []byte("::1"), "accept", []byte{0xc3}, "", []byte{})
	s := newTestServer(f, nil)
	f.Fuzz(func(t *testing.T, k1 string, v1 []byte, k2 string, v2 []byte, k3 string, v3 []byte) {
		lines := []header{{k1, v1}, {k2, v2}, {k3, v3}}
		for i := range lines {
			// A string key that is not UTF-8 cannot cross the wire (protobuf
			// refuses it); the codec sanitises it before it gets here.
			lines[i].key = strings.ToValidUTF8(lines[i].key, "!")
		}
		req := rawRequest(request("GET", "/", "login", "203.0.113.7", nil), lines)
		var facts Facts
		readFacts(req, "sid", 1, &facts, &headerBuf{})
		n := 0
		for _, l := range lines {
			if l.key != "" {
				n++
			}
		}
		if len(facts.HeaderOrder) != n {
			t.Fatalf("order %q has %d names, want %d", facts.HeaderOrder, len(facts.HeaderOrder), n)
		}
		for k, v := range facts.Headers {
			// Header names are ASCII tokens: only ASCII is lower-cased.
			if !utf8.ValidString(v) || hasUpper(k) {
				t.Fatalf("header %q: %q", k, v)
			}
		}
		mustCheck(t, s, req)
	})
}
