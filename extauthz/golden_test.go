package extauthz

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protopath"
	"google.golang.org/protobuf/reflect/protorange"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

var update = flag.Bool("update", false, "rewrite the golden files under extauthz/testdata/golden")

const (
	goldenDir = "testdata/golden"
	// goldenUpdate is the command that writes the golden files.
	goldenUpdate = "go test ./extauthz -run TestGolden -update"
	// goldenModelFile is the scoring model the golden Checks are scored
	// with: a pinned copy of the shipped weights, so that retraining the
	// shipped model (which moves every model score by a few points) does
	// not rewrite the response contract. The header order stays the
	// shipped one: the requests below use the headers map, which has no
	// order, so the order feature never fires on them.
	goldenModelFile = "testdata/golden-model.yaml"
)

// goldenPolicy has a route per mode, each with a hard limit of one request
// a minute per client (so a second identical request is rate limited), and
// a network the rules deny before any score. score_above 0 keeps the limit
// out of the score (by default half of max fires velocity.route_ip, which
// would lower the score of the very first request): the hard limit alone
// makes the rate limit, and the other actions do not depend on it.
const goldenPolicy = `
session_cookie: sid
rules:
  deny_cidrs: ["198.51.100.0/24"]
routes:
  enforced:
    mode: enforce
    limits:
      - {key: route_ip, window: 60s, max: 1, score_above: 0}
  shadowed:
    mode: shadow
    limits:
      - {key: route_ip, window: 60s, max: 1, score_above: 0}
`

// goldenNow is the server's clock: counters, their windows and so
// retry-after are computed from it, never from the wall clock.
var goldenNow = time.Unix(1_800_000_000, 0)

// The clients of the golden cases. Each is Chrome 142 on Linux over https
// and HTTP/2 as it sends the request, with at most the user agent changed:
// the response contract, not the score, is what the cases pin, so every
// action is reached by one visible difference.
const (
	uaChrome142 = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
	// uaCurl declares automation: it scores 1 whatever else is sent, below
	// deny_below.
	uaCurl = "curl/8.5.0"
)

// The challenged client sends uaFirefox (server_test.go) beside Chrome's
// client hints: a contradiction (hints.mismatch), which scores at most 29,
// below challenge_below and above deny_below.

var (
	// goldenNavigation is Chrome's top-level navigation: GET, text/html
	// first in accept, sec-fetch-mode navigate.
	goldenNavigation = map[string]string{
		"user-agent":                uaChrome142,
		"accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
		"accept-encoding":           "gzip, deflate, br, zstd",
		"accept-language":           "en-US,en;q=0.9",
		"sec-ch-ua":                 `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`,
		"sec-ch-ua-mobile":          "?0",
		"sec-ch-ua-platform":        `"Linux"`,
		"sec-fetch-dest":            "document",
		"sec-fetch-mode":            "navigate",
		"sec-fetch-site":            "none",
		"sec-fetch-user":            "?1",
		"upgrade-insecure-requests": "1",
		"priority":                  "u=0, i",
	}
	// goldenAPI is the page's fetch() of a JSON API: POST, accept
	// application/json, sec-fetch-mode cors.
	goldenAPI = map[string]string{
		"user-agent":         uaChrome142,
		"accept":             "application/json",
		"content-type":       "application/json",
		"accept-encoding":    "gzip, deflate, br, zstd",
		"accept-language":    "en-US,en;q=0.9",
		"origin":             "https://shop.example",
		"referer":            "https://shop.example/cart",
		"sec-ch-ua":          `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`,
		"sec-ch-ua-mobile":   "?0",
		"sec-ch-ua-platform": `"Linux"`,
		"sec-fetch-dest":     "empty",
		"sec-fetch-mode":     "cors",
		"sec-fetch-site":     "same-origin",
		"priority":           "u=1, i",
	}
)

// goldenCase is one Check whose request and response are pinned under
// testdata/golden as <name>.request.textproto and <name>.response.textproto.
type goldenCase struct {
	name string
	// about says what the case pins; it heads both files.
	about  string
	method string
	path   string
	route  string
	// peer is the client's address; goldenPeer when empty.
	peer    string
	headers map[string]string
	// prime is how many identical Checks run before the pinned one: one
	// fills the routes' hard limit, so the pinned Check exceeds it.
	prime int
	// store is the counter store; nil for a fresh memory store.
	store func() ratelimit.Store
}

const goldenPeer = "203.0.113.7"

// goldenCases are the response contract of README "What a decision looks
// like": each action for a page navigation and an API call, enforced and
// in shadow, then the edges.
func goldenCases() []goldenCase {
	with := func(base map[string]string, kv ...string) map[string]string {
		h := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	const nav, api = "GET /products/42 with text/html and sec-fetch-mode navigate", "POST /api/cart with accept application/json"
	clients := []struct {
		kind, method, path, about string
		headers                   map[string]string
	}{
		{"navigation", "GET", "/products/42?color=red", nav, goldenNavigation},
		{"api", "POST", "/api/cart", api, goldenAPI},
	}
	actions := []struct {
		action, client string
		edit           []string
		prime          int
	}{
		{"allow", "Chrome 142", nil, 0},
		{"challenge", "Firefox's user agent beside Chromium's client hints (hints.mismatch)", []string{"user-agent", uaFirefox}, 0},
		{"deny", "curl's user agent (ua.library, score 1)", []string{"user-agent", uaCurl}, 0},
		{"ratelimit", "Chrome 142, its second request within the route's limit of 1 a minute", nil, 1},
	}
	modes := []struct{ mode, route string }{{"enforce", "enforced"}, {"shadow", "shadowed"}}
	var cases []goldenCase
	for _, a := range actions {
		for _, c := range clients {
			for _, m := range modes {
				cases = append(cases, goldenCase{
					name:   a.action + "-" + c.kind + "-" + m.mode,
					about:  fmt.Sprintf("%s in %s mode: %s, from %s.", a.action, m.mode, c.about, a.client),
					method: c.method, path: c.path, route: m.route,
					headers: with(c.headers, a.edit...), prime: a.prime,
				})
			}
		}
	}
	return append(cases,
		goldenCase{
			name:   "allow-navigation-enforce-forged-bot-headers",
			about:  "allow: the client's own x-bot-* headers are overwritten or removed; x-botany is not one of them.",
			method: "GET", path: "/products/42", route: "enforced",
			headers: with(goldenNavigation, "x-bot-score", "99", "x-bot-action", "allow", "x-bot-reasons", "none",
				"x-bot-degraded", "false", "x-bot-verified", "googlebot", "x-bot-verified-category", "search", "x-botany", "keep"),
		},
		goldenCase{
			name:   "challenge-navigation-head-enforce",
			about:  "challenge: a HEAD asking for HTML is a page navigation too, redirected with 302.",
			method: "HEAD", path: "/products/42", route: "enforced",
			headers: with(goldenNavigation, "user-agent", uaFirefox),
		},
		goldenCase{
			name:   "challenge-navigation-enforce-fetch-mode-only",
			about:  "challenge: sec-fetch-mode navigate alone makes a GET a page navigation, redirected with 302, though its accept asks for no HTML.",
			method: "GET", path: "/products/42", route: "enforced",
			headers: with(goldenNavigation, "user-agent", uaFirefox, "accept", "*/*"),
		},
		goldenCase{
			name:   "challenge-navigation-enforce-unsafe-return-to",
			about:  "challenge: a scheme-relative path is not a same-origin return_to; the challenge returns to / instead.",
			method: "GET", path: "//evil.example/login", route: "enforced",
			headers: with(goldenNavigation, "user-agent", uaFirefox),
		},
		goldenCase{
			name:   "deny-api-enforce-cidr-rule",
			about:  "deny by rules.deny_cidrs: decided before counting and scoring, so score 0 and the rule as the reason.",
			method: "POST", path: "/api/cart", route: "enforced", peer: "198.51.100.7",
			headers: goldenAPI,
		},
		goldenCase{
			name:   "deny-api-shadow-cidr-rule",
			about:  "deny by rules.deny_cidrs in shadow: allowed, recording the rule's deny.",
			method: "POST", path: "/api/cart", route: "shadowed", peer: "198.51.100.7",
			headers: goldenAPI,
		},
		goldenCase{
			name:   "allow-navigation-enforce-degraded",
			about:  "allow while the counter store is over its budget: decided without velocity, marked x-bot-degraded.",
			method: "GET", path: "/products/42", route: "enforced",
			headers: goldenNavigation,
			store: func() ratelimit.Store {
				return &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), err: errors.Join(ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)}
			},
		},
		goldenCase{
			name:   "deny-navigation-enforce-degraded",
			about:  "deny while the counter store is over its budget: the header signals still decide.",
			method: "GET", path: "/products/42", route: "enforced",
			headers: with(goldenNavigation, "user-agent", uaCurl),
			store: func() ratelimit.Store {
				return &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), err: errors.Join(ratelimit.ErrDegraded, ratelimit.ErrBudgetExceeded)}
			},
		},
	)
}

// request is the CheckRequest Envoy sends for c. Everything in it is fixed,
// the request id included (it is echoed in denial bodies).
func (c goldenCase) request() *authv3.CheckRequest {
	h := maps.Clone(c.headers)
	h[":method"], h[":path"], h[":authority"], h[":scheme"] = c.method, c.path, "shop.example", "https"
	h["x-request-id"] = "7f3c9a52-golden-" + c.name
	peer := c.peer
	if peer == "" {
		peer = goldenPeer
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: peer, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}},
		}}},
		Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.5", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8443}},
		}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "1", Method: c.method, Path: c.path, Host: "shop.example", Scheme: "https", Protocol: "HTTP/2", Headers: h,
		}},
		ContextExtensions: map[string]string{"route": c.route},
	}}
}

var goldenModel = sync.OnceValues(func() (*scoring.Model, error) {
	b, err := os.ReadFile(goldenModelFile)
	if err != nil {
		return nil, err
	}
	m, err := scoring.LoadData(scoring.Data{Weights: b})
	if err != nil {
		return nil, fmt.Errorf("%s: %w (if the feature set changed, copy scoring/data/model.yaml over it and run %s)", goldenModelFile, err, goldenUpdate)
	}
	return m, nil
})

// server is a fresh server for c, primed: every path a case is checked by
// gets its own, so that no Check counts against another's.
func (c goldenCase) server(t *testing.T, req *authv3.CheckRequest) *Server {
	t.Helper()
	p, err := policy.Parse([]byte(goldenPolicy))
	if err != nil {
		t.Fatal(err)
	}
	m, err := goldenModel()
	if err != nil {
		t.Fatal(err)
	}
	store := ratelimit.Store(ratelimit.NewMemory(ratelimit.MemoryOptions{}))
	if c.store != nil {
		store = c.store()
	}
	s, err := New(Options{Policy: p, Model: m, Store: store, Now: func() time.Time { return goldenNow }})
	if err != nil {
		t.Fatal(err)
	}
	for range c.prime {
		if _, err := s.Check(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestGolden pins the response of every action to a page navigation and to
// an API call, enforced and in shadow, as Envoy receives it: the Check goes
// through a gRPC server with the codec's fast path, through the codec as
// mustCheck drives it, and in process, and all three must give the golden
// response. Requests and responses are compared as messages (proto.Equal),
// never as text: prototext's output is deliberately unstable. Each path
// gets a fresh server, primed with in-process Checks where the case says.
func TestGolden(t *testing.T) {
	cases := goldenCases()
	checkGoldenFileSet(t, cases)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := c.request()
			reqFile := filepath.Join(goldenDir, c.name+".request.textproto")
			respFile := filepath.Join(goldenDir, c.name+".response.textproto")
			if !*update {
				// The request file documents the request; the table
				// builds it. They must agree, and the file's is sent.
				pinned := new(authv3.CheckRequest)
				readGolden(t, reqFile, pinned)
				if !proto.Equal(pinned, req) {
					t.Fatalf("%s is not the request the table builds: run %s\n%s", reqFile, goldenUpdate, textDiff(pinned, req))
				}
				req = pinned
			}

			got := map[string]*authv3.CheckResponse{
				"gRPC server": grpcCheck(t, c.server(t, req), req),
				"codec":       mustCheck(t, c.server(t, req), req),
			}
			resp, err := c.server(t, req).Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got["in-process Check"] = resp
			for path, resp := range got {
				if u := unknownFields(resp); u != "" {
					// proto.Equal compares unknown fields byte for byte:
					// metadata left as bytes would be compared as bytes.
					t.Fatalf("%s: the response has unknown fields at %s", path, u)
				}
				normalizeResponse(resp)
			}

			if *update {
				writeGolden(t, reqFile, c.about, req)
				writeGolden(t, respFile, c.about, got["gRPC server"])
			}
			want := new(authv3.CheckResponse)
			readGolden(t, respFile, want)
			for _, path := range []string{"gRPC server", "codec", "in-process Check"} {
				if !proto.Equal(got[path], want) {
					t.Errorf("%s: the response differs from %s (run %s if the change is meant):\n%s", path, respFile, goldenUpdate, textDiff(want, got[path]))
				}
			}
		})
	}
}

// normalizeResponse sorts headers_to_remove, the one part of a response
// that varies from run to run: allowed lists the client's x-bot-* headers
// as it ranges over the request's header map, in Go's random map order.
// Envoy removes them as a set, so the order means nothing.
func normalizeResponse(resp *authv3.CheckResponse) {
	if ok := resp.GetOkResponse(); ok != nil {
		slices.Sort(ok.HeadersToRemove)
	}
}

// checkGoldenFileSet fails on a file under testdata/golden that no case
// writes (a deleted or renamed case), or removes it with -update.
func checkGoldenFileSet(t *testing.T, cases []goldenCase) {
	t.Helper()
	want := map[string]bool{}
	for _, c := range cases {
		if want[c.name+".request.textproto"] {
			t.Fatalf("two golden cases are named %s", c.name)
		}
		want[c.name+".request.textproto"], want[c.name+".response.textproto"] = true, true
	}
	entries, err := os.ReadDir(goldenDir)
	if err != nil && !(*update && errors.Is(err, os.ErrNotExist)) {
		t.Fatalf("read %s: %v (run %s)", goldenDir, err, goldenUpdate)
	}
	for _, e := range entries {
		if want[e.Name()] {
			continue
		}
		name := filepath.Join(goldenDir, e.Name())
		if !*update {
			t.Errorf("%s belongs to no golden case: run %s to remove it", name, goldenUpdate)
			continue
		}
		if err := os.RemoveAll(name); err != nil {
			t.Fatal(err)
		}
		t.Logf("removed %s", name)
	}
}

// grpcCheck sends req to s through a gRPC server as cmd/botauthz runs it
// (Register, the codec forced), over an in-memory connection, and returns
// the response as the client decoded it.
func grpcCheck(t *testing.T, s *Server, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	codec, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return grpcCheckWith(t, s, req, grpc.ForceServerCodecV2(codec))
}

// grpcCheckWith is grpcCheck on a server of opts.
func grpcCheckWith(t *testing.T, s *Server, req *authv3.CheckRequest, opts ...grpc.ServerOption) *authv3.CheckResponse {
	t.Helper()
	srv := grpc.NewServer(opts...)
	Register(srv, s)
	ln := bufconn.Listen(1 << 20)
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///golden", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, req)
	if err != nil {
		t.Fatalf("gRPC Check: %v", err)
	}
	return resp
}

// unknownFields names the first message in m that has unknown fields; ""
// when none has.
func unknownFields(m proto.Message) string {
	var at string
	protorange.Range(m.ProtoReflect(), func(v protopath.Values) error {
		if msg, ok := v.Index(-1).Value.Interface().(protoreflect.Message); ok && len(msg.GetUnknown()) > 0 {
			at = v.Path.String()
			return protorange.Terminate
		}
		return nil
	})
	return at
}

// readGolden reads a textproto file into m.
func readGolden(t *testing.T, name string, m proto.Message) {
	t.Helper()
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is missing: run %s", name, goldenUpdate)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := prototext.Unmarshal(b, m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// writeGolden writes m as a textproto file headed by about.
func writeGolden(t *testing.T, name, about string, m proto.Message) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("# proto-file: envoy/service/auth/v3/%s\n# proto-message: %s\n# %s\n# Written by %s; the test compares messages (proto.Equal), not this text.\n\n",
		"external_auth.proto", m.ProtoReflect().Descriptor().FullName(), about, goldenUpdate)
	if err := os.WriteFile(name, append([]byte(head), goldenText(m)...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// detrandSpace is the extra space protobuf-go puts after a field name at
// random (per build) to keep anyone from comparing its text: collapsed so
// that rewriting the files does not churn their whitespace.
var detrandSpace = regexp.MustCompile(`(?m)^(\s*[\w.\[\]/]+:?)  +`)

// goldenText is m as multi-line textproto, its whitespace made stable.
func goldenText(m proto.Message) []byte {
	b := prototext.MarshalOptions{Multiline: true, Indent: "  "}.Format(m)
	return []byte(detrandSpace.ReplaceAllString(b, "$1 ") + "\n")
}

// textDiff is a line diff of want's text against got's, with two lines
// of context around each change: for reading only.
func textDiff(want, got proto.Message) string {
	a := strings.Split(string(goldenText(want)), "\n")
	b := strings.Split(string(goldenText(got)), "\n")
	// lcs[i][j] is the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i]})
			i++
		default:
			lines = append(lines, line{'+', b[j]})
			j++
		}
	}
	const context = 2
	var out strings.Builder
	last := -1
	for k, l := range lines {
		near := false
		for d := max(0, k-context); d <= min(len(lines)-1, k+context); d++ {
			near = near || lines[d].op != ' '
		}
		if !near {
			continue
		}
		if last >= 0 && k > last+1 {
			out.WriteString("  ...\n")
		}
		fmt.Fprintf(&out, "%c %s\n", l.op, l.text)
		last = k
	}
	return out.String()
}
