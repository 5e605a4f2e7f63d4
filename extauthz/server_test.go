package extauthz

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

const testPolicy = `
session_cookie: sid
routes:
  default:
    mode: shadow
  login:
    mode: enforce
    limits:
      - {key: route_ip, window: 60s, max: 3}
  api:
    mode: enforce
    limits:
      - {key: session, window: 60s, max: 2}
  quiet:
    mode: "off"
`

var (
	// chrome is Chrome 142's navigation as it sends one to a plain-http
	// origin over HTTP/1.1 (request's defaults): no client hints or fetch
	// metadata, which it keeps for https.
	chrome = map[string]string{
		"upgrade-insecure-requests": "1",
		"user-agent":                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
		"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
		"accept-language":           "en-US,en;q=0.9",
		"accept-encoding":           "gzip, deflate, br, zstd",
	}
	curlNav = map[string]string{"user-agent": "curl/8.5.0", "accept": "text/html"}
	curlAPI = map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*"}
	// fakerNav and fakerAPI are a script posing as Firefox with a Chromium's
	// client hints: a contradiction, so likely automated and challenged
	// (where curl, which declares itself, is denied).
	fakerNav = map[string]string{"user-agent": uaFirefox, "accept": "text/html", "accept-language": "en-US",
		"accept-encoding": "gzip", "sec-ch-ua": `"Chromium";v="142"`}
	fakerAPI = map[string]string{"user-agent": uaFirefox, "accept": "*/*", "accept-language": "en-US",
		"accept-encoding": "gzip", "sec-ch-ua": `"Chromium";v="142"`}
)

const uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"

func newTestServer(t testing.TB, store ratelimit.Store) *Server {
	t.Helper()
	p, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	}
	s, err := New(Options{Policy: p, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// request builds a CheckRequest as Envoy sends one.
func request(method, path, route, peer string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":method": method, ":path": path, ":authority": "shop.example", ":scheme": "http", "x-request-id": "req-1"}
	for k, v := range headers {
		h[k] = v
	}
	ext := map[string]string{}
	if route != "" {
		ext["route"] = route
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: peer, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: method, Path: path, Host: "shop.example", Scheme: "http", Protocol: "HTTP/1.1", Headers: h,
		}},
		ContextExtensions: ext,
	}}
}

// mustCheck decides req as the gRPC server does: req's bytes are read by
// the codec's fast path (whose facts must be the decoded request's), and
// the response returned is what the caller decodes from the wire. A req
// that protobuf cannot encode (invalid UTF-8, as fuzzers write) is decided
// as it is.
func mustCheck(t testing.TB, s *Server, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		resp, err := s.Check(context.Background(), req)
		if err != nil {
			t.Fatalf("Check returned an error: %v", err)
		}
		return mustRoundTrip(t, resp)
	}
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := decodeWire(t, c, b)
	if err != nil {
		t.Fatalf("codec: %v", err)
	}
	if !w.parsed {
		t.Fatal("the codec did not read a well-formed Check from the wire")
	}
	p := s.Policy()
	var wire, decoded Facts
	readWireFacts(&w.facts, p.SessionCookie, p.XFFTrustedHops, &wire, &headerBuf{})
	readFacts(req, p.SessionCookie, p.XFFTrustedHops, &decoded, &headerBuf{})
	if diff := sameFacts(wire, decoded); diff != "" {
		t.Fatalf("facts read from the wire differ in %s:\nwire:    %+v\ndecoded: %+v", diff, wire, decoded)
	}
	return mustRoundTrip(t, s.checkWire(context.Background(), w, asEncoded))
}

// mustRoundTrip is resp as whoever calls the server decodes it: a
// CheckResponse, or the bytes the handler wrote (wireResponse), which the
// Codec sends as they are.
func mustRoundTrip(t testing.TB, resp any) *authv3.CheckResponse {
	t.Helper()
	var b []byte
	switch r := resp.(type) {
	case *wireResponse:
		b = r.bytes()
	case *authv3.CheckResponse:
		if r == nil {
			t.Fatal("Check returned a nil response")
		}
		var err error
		if b, err = proto.Marshal(r); err != nil {
			t.Fatalf("marshal the response: %v", err)
		}
	default:
		t.Fatalf("Check answered with a %T", resp)
	}
	out := new(authv3.CheckResponse)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal the response: %v", err)
	}
	if out.GetStatus() == nil {
		t.Fatalf("Check returned %v: every response needs an explicit status", out)
	}
	if len(out.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("the response has fields its callers do not know: %x", out.ProtoReflect().GetUnknown())
	}
	return out
}

func upstreamHeaders(t testing.TB, resp *authv3.CheckResponse) map[string]string {
	t.Helper()
	ok := resp.GetOkResponse()
	if ok == nil || resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("response is not OK: %v", resp)
	}
	got := map[string]string{}
	for _, h := range ok.GetHeaders() {
		if h.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("header %s uses %v; a client copy could survive beside it", h.GetHeader().GetKey(), h.GetAppendAction())
		}
		got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return got
}

func deniedHeader(resp *authv3.CheckResponse, key string) string {
	for _, h := range resp.GetDeniedResponse().GetHeaders() {
		if h.GetHeader().GetKey() == key {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

func TestBrowserIsAllowedWithScoreHeaders(t *testing.T) {
	s := newTestServer(t, nil)
	resp := mustCheck(t, s, request("GET", "/", "", "203.0.113.7", chrome))
	h := upstreamHeaders(t, resp)
	if n, _ := strconv.Atoi(h[HeaderScore]); n < 30 {
		t.Errorf("%s = %q, want a human score", HeaderScore, h[HeaderScore])
	}
	want := map[string]string{HeaderCategory: "likely_human", HeaderAction: "allow", HeaderMode: "shadow"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
	if _, ok := h[HeaderDegraded]; ok {
		t.Error("a healthy store marked the decision degraded")
	}
	md := resp.GetDynamicMetadata().GetFields()
	if md["bot_route"].GetStringValue() != "default" || md["bot_mode"].GetStringValue() != "shadow" || md["bot_score"].GetNumberValue() < 30 {
		t.Errorf("dynamic metadata = %v", md)
	}
}

// TestAllowAnsweredUnderAnyCodec: the handler writes an allow answer by
// hand only for our Codec, which sends it as it is; a server that
// registers the service under grpc's own codec still gets a message.
func TestAllowAnsweredUnderAnyCodec(t *testing.T) {
	s := newTestServer(t, nil)
	codec, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]grpc.ServerOption{
		"our codec":  {grpc.ForceServerCodecV2(codec)},
		"grpc's own": nil,
	} {
		resp := grpcCheckWith(t, s, request("GET", "/", "", "203.0.113.7", chrome), opts...)
		h := upstreamHeaders(t, resp)
		if h[HeaderAction] != "allow" || h[HeaderScore] == "" {
			t.Errorf("%s: upstream headers %v", name, h)
		}
		if md := resp.GetDynamicMetadata().GetFields(); md["bot_route"].GetStringValue() != "default" {
			t.Errorf("%s: dynamic metadata %v", name, md)
		}
	}
}

func TestForgedBotHeadersAreRemoved(t *testing.T) {
	s := newTestServer(t, nil)
	hdr := map[string]string{"x-bot-score": "99", "x-bot-verified": "yes", "x-bot-reasons": "none", "x-bot-degraded": "false", "x-botany": "keep"}
	for k, v := range chrome {
		hdr[k] = v
	}
	resp := mustCheck(t, s, request("GET", "/", "", "203.0.113.7", hdr))
	removed := map[string]bool{}
	for _, k := range resp.GetOkResponse().GetHeadersToRemove() {
		removed[k] = true
	}
	// A browser fires no reason and the store is healthy: botauthz sets
	// neither x-bot-reasons nor x-bot-degraded, so the forged ones must go.
	for _, k := range []string{"x-bot-verified", "x-bot-reasons", "x-bot-degraded"} {
		if !removed[k] {
			t.Errorf("forged %s not removed (removed %v)", k, removed)
		}
	}
	if removed["x-bot-score"] {
		t.Error("x-bot-score is overwritten; removing it too would drop botauthz's own value")
	}
	if removed["x-botany"] {
		t.Error("x-botany is not an x-bot-* header")
	}
}

func TestShadowRecordsWouldBeAction(t *testing.T) {
	s := newTestServer(t, nil)
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.7", fakerAPI)))
	if h[HeaderAction] != "challenge" || h[HeaderMode] != "shadow" {
		t.Errorf("a faker in shadow: action %q mode %q, want challenge in shadow", h[HeaderAction], h[HeaderMode])
	}
	if !strings.HasPrefix(h[HeaderReasons], "hints.mismatch") {
		t.Errorf("%s = %q, want the contradiction first", HeaderReasons, h[HeaderReasons])
	}
	// curl declares itself: shadow records the deny enforce would give.
	h = upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.8", curlAPI)))
	if h[HeaderAction] != "deny" || h[HeaderScore] != "1" || !strings.HasPrefix(h[HeaderReasons], "ua.library") {
		t.Errorf("curl in shadow: action %q score %q reasons %q, want deny at 1 for ua.library", h[HeaderAction], h[HeaderScore], h[HeaderReasons])
	}
}

func TestChallengeRedirectsNavigations(t *testing.T) {
	s := newTestServer(t, nil)
	resp := mustCheck(t, s, request("GET", "/login?next=%2Fcart", "login", "203.0.113.7", fakerNav))
	if resp.GetStatus().GetCode() == int32(codes.OK) || resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
		t.Fatalf("response %v, want a 302", resp)
	}
	loc, err := url.Parse(deniedHeader(resp, "location"))
	if err != nil || loc.Path != "/.botauthz/challenge" || loc.Query().Get("return_to") != "/login?next=%2Fcart" {
		t.Errorf("location = %q", deniedHeader(resp, "location"))
	}
}

func TestChallengeAnswersAPICallsWithJSON(t *testing.T) {
	s := newTestServer(t, nil)
	for _, c := range []struct{ name, method, ip string }{{"GET without HTML", "GET", "203.0.113.8"}, {"POST", "POST", "203.0.113.18"}} {
		t.Run(c.name, func(t *testing.T) {
			hdr := fakerAPI
			if c.method == "POST" {
				hdr = fakerNav // even accepting HTML, a POST cannot be redirected to a page
			}
			resp := mustCheck(t, s, request(c.method, "/login", "login", c.ip, hdr))
			if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden {
				t.Fatalf("response %v, want a 403", resp)
			}
			var body struct {
				Error        string `json:"error"`
				ChallengeURL string `json:"challenge_url"`
			}
			if err := json.Unmarshal([]byte(resp.GetDeniedResponse().GetBody()), &body); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(body.ChallengeURL)
			if body.Error != "challenge_required" || err != nil || u.Path != "/.botauthz/challenge" ||
				u.Query().Get("return_to") != "/login" || u.Query().Get("route") != "login" {
				t.Errorf("body = %s", resp.GetDeniedResponse().GetBody())
			}
		})
	}
}

func TestDenyByAccept(t *testing.T) {
	s := newTestServer(t, nil)
	cases := []struct {
		name, accept, wantType, wantBody string
	}{
		{"JSON for API clients", "", "application/json", `"error":"forbidden"`},
		{"HTML for browsers", "text/html", "text/html; charset=utf-8", "Access denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := map[string]string{}
			if c.accept != "" {
				hdr["accept"] = c.accept
			}
			resp := mustCheck(t, s, request("GET", "/login", "login", "203.0.113.9", hdr))
			d := resp.GetDeniedResponse()
			if d.GetStatus().GetCode() != typev3.StatusCode_Forbidden {
				t.Fatalf("response %v, want 403", resp)
			}
			if got := deniedHeader(resp, "content-type"); got != c.wantType {
				t.Errorf("content-type = %q, want %q", got, c.wantType)
			}
			if deniedHeader(resp, "cache-control") != "no-store" {
				t.Error("deny is cacheable")
			}
			if !strings.Contains(d.GetBody(), c.wantBody) || !strings.Contains(d.GetBody(), "req-1") {
				t.Errorf("body %q, want %q and the request id", d.GetBody(), c.wantBody)
			}
		})
	}
}

func TestHardLimitRateLimits(t *testing.T) {
	s := newTestServer(t, nil)
	for i := range 3 {
		if resp := mustCheck(t, s, request("GET", "/login", "login", "203.0.113.20", chrome)); resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("request %d under the limit: %v", i+1, resp)
		}
	}
	resp := mustCheck(t, s, request("GET", "/login", "login", "203.0.113.20", chrome))
	if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_TooManyRequests {
		t.Fatalf("4th request: %v, want 429", resp)
	}
	if ra, err := strconv.Atoi(deniedHeader(resp, "retry-after")); err != nil || ra < 1 {
		t.Errorf("retry-after = %q", deniedHeader(resp, "retry-after"))
	}
	if got := deniedHeader(resp, "ratelimit-policy"); got != `"login-route_ip";q=3;w=60` {
		t.Errorf("ratelimit-policy = %q", got)
	}
	if got := deniedHeader(resp, "ratelimit"); !strings.HasPrefix(got, `"login-route_ip";r=0;t=`) {
		t.Errorf("ratelimit = %q", got)
	}
	// route_ip counts per client.
	if resp := mustCheck(t, s, request("GET", "/login", "login", "203.0.113.21", chrome)); resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Errorf("another client was limited: %v", resp)
	}
}

func TestSessionCounterUsesTheCookie(t *testing.T) {
	s := newTestServer(t, nil)
	withCookie := func(v string) map[string]string {
		h := map[string]string{"cookie": "theme=dark; sid=" + v}
		for k, val := range chrome {
			h[k] = val
		}
		h["accept"] = "application/json"
		return h
	}
	// Different IPs, one session: the session counter sees all of them.
	for i := range 2 {
		resp := mustCheck(t, s, request("GET", "/api/x", "api", "198.51.100."+strconv.Itoa(i+1), withCookie("abc")))
		if resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("request %d: %v", i+1, resp)
		}
	}
	if resp := mustCheck(t, s, request("GET", "/api/x", "api", "198.51.100.9", withCookie("abc"))); resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_TooManyRequests {
		t.Errorf("third request of one session: %v, want 429", resp)
	}
	if resp := mustCheck(t, s, request("GET", "/api/x", "api", "198.51.100.9", withCookie("other"))); resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Errorf("another session was limited: %v", resp)
	}
}

// countingStore records what it was asked, over a real memory store.
type countingStore struct {
	ratelimit.Store
	calls atomic.Int64
	keys  atomic.Value // []string of the last call: each counter's key, a space and its lane
	err   error
	panic bool
}

func (c *countingStore) Hit(ctx context.Context, now time.Time, counters []ratelimit.Counter, obs []ratelimit.Observation) error {
	c.calls.Add(1)
	keys := make([]string, len(counters))
	for i, k := range counters {
		keys[i] = k.Key + " " + k.Lane
	}
	c.keys.Store(keys)
	if c.panic {
		panic("store exploded")
	}
	if c.err != nil {
		return c.err
	}
	return c.Store.Hit(ctx, now, counters, obs)
}

func TestOffModeSkipsScoringAndStore(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	s := newTestServer(t, cs)
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "quiet", "203.0.113.7", fakerAPI)))
	if h[HeaderScore] != "0" || h[HeaderMode] != "off" || h[HeaderCategory] != "not_scored" {
		t.Errorf("off mode headers = %v", h)
	}
	if cs.calls.Load() != 0 {
		t.Errorf("off mode called the store %d times", cs.calls.Load())
	}
}

func TestDegradedStoreStillDecides(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), err: errors.Join(ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)}
	s := newTestServer(t, cs)
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.7", chrome)))
	if h[HeaderDegraded] != "true" || h[HeaderScore] == "" {
		t.Errorf("headers = %v, want a score marked degraded", h)
	}
	// The header decisions still apply without velocity.
	resp := mustCheck(t, s, request("GET", "/login", "login", "203.0.113.7", fakerNav))
	if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
		t.Errorf("curl on login while degraded: %v, want 302", resp)
	}
}

func TestPanicBecomesAnAllow(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), panic: true}
	s := newTestServer(t, cs)
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.7", chrome)))
	if h[HeaderDegraded] != "true" || h[HeaderScore] != "0" {
		t.Errorf("after a panic: %v", h)
	}
	// The pooled scratch space is reusable after a panic.
	cs.panic = false
	if h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.7", chrome))); h[HeaderScore] == "0" {
		t.Errorf("next check after a panic: %v", h)
	}
}

func TestRequestWithoutHTTPIsAllowedAndCounted(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	s := newTestServer(t, cs)
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.50"},
		}}},
	}}
	resp := mustCheck(t, s, req)
	if resp.GetStatus().GetCode() != int32(codes.OK) || resp.GetHttpResponse() != nil {
		t.Errorf("TCP check: %v, want a bare OK", resp)
	}
	if cs.calls.Load() != 1 {
		t.Errorf("TCP check hit the store %d times, want 1", cs.calls.Load())
	}
	// An empty CheckRequest is not an error either.
	if resp := mustCheck(t, s, &authv3.CheckRequest{}); resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Errorf("empty check: %v", resp)
	}
}

func TestCounterKeys(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	p, err := policy.Parse([]byte(`
session_cookie: sid
routes:
  login:
    limits:
      - {key: ip, window: 60s, max: 100}
      - {key: subnet, window: 60s, max: 100}
      - {key: session, window: 60s, max: 100}
      - {key: route_ip, window: 10s, max: 100}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Policy: p, Store: cs})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer, cookie string
		want               []string
	}{
		{"IPv4 with a session", "203.0.113.7", "sid=secret", []string{
			"ba:v4:{ip:203.0.113.7} 60s",
			"ba:v4:{net:203.0.113.0/24} 60s",
			"ba:v4:{sid:2bb80d537b1da3e3} 60s", // sha256("secret")[:8]
			"ba:v4:{ip:203.0.113.7} rt:login:10s",
		}},
		{"IPv6 counts by /64 and skips a missing session", "2001:db8:1:2:3:4:5:6", "", []string{
			"ba:v4:{ip:2001:db8:1:2::/64} 60s",
			"ba:v4:{net:2001:db8:1:2::/64} 60s",
			"ba:v4:{ip:2001:db8:1:2::/64} rt:login:10s",
		}},
		{"no usable address counts only the session", "not-an-ip", "sid=secret", []string{
			"ba:v4:{sid:2bb80d537b1da3e3} 60s",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := map[string]string{}
			if c.cookie != "" {
				hdr["cookie"] = c.cookie
			}
			mustCheck(t, s, request("GET", "/login", "login", c.peer, hdr))
			got, _ := cs.keys.Load().([]string)
			// The history counters follow the velocity counters, in the
			// same call (history_test.go checks them).
			velocity := slices.DeleteFunc(slices.Clone(got), func(k string) bool { return strings.HasSuffix(k, " h:600s") })
			if strings.Join(velocity, " ") != strings.Join(c.want, " ") || !slices.Equal(velocity, got[:len(velocity)]) {
				t.Errorf("keys\n got %q\nwant %q first", got, c.want)
			}
		})
	}
}

func TestSetPolicyAppliesToNextCheck(t *testing.T) {
	s := newTestServer(t, nil)
	p, err := policy.Parse([]byte("routes:\n  default: {mode: enforce}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	if resp := mustCheck(t, s, request("GET", "/", "", "203.0.113.7", fakerNav)); resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
		t.Errorf("after switching default to enforce: %v, want a challenge", resp)
	}
}
