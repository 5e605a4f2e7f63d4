package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// header is one request header as a client sends it.
type header struct{ name, value string }

// profile is one kind of client: the headers it sends on a request, in its
// order, and the HTTP version it speaks to Envoy.
type profile struct {
	name       string
	automation bool
	// fetch is a browser's API call (sec-fetch-mode: cors), used on the
	// api route; the navigations are used elsewhere.
	fetch   bool
	http2   bool
	headers []header
	// weight is the profile's share of its group (browsers or automation).
	weight int
}

// Header sets as the clients send them (Chrome 142, Firefox 145, Safari 18,
// and the usual automation), so that the scoring sees what it sees in
// production: full browser navigations and sparse tools.
func profiles() []profile {
	const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
	chromeNav := []header{
		{"sec-ch-ua", `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`},
		{"sec-ch-ua-mobile", "?0"},
		{"sec-ch-ua-platform", `"Linux"`},
		{"upgrade-insecure-requests", "1"},
		{"user-agent", chromeUA},
		{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"},
		{"sec-fetch-site", "none"},
		{"sec-fetch-mode", "navigate"},
		{"sec-fetch-user", "?1"},
		{"sec-fetch-dest", "document"},
		{"accept-encoding", "gzip, deflate, br, zstd"},
		{"accept-language", "en-US,en;q=0.9"},
		{"priority", "u=0, i"},
	}
	headless := make([]header, len(chromeNav))
	copy(headless, chromeNav)
	headless[0].value = `"Chromium";v="142", "HeadlessChrome";v="142", "Not_A Brand";v="99"`
	headless[4].value = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36"
	return []profile{
		{name: "chrome", http2: true, weight: 45, headers: chromeNav},
		{name: "firefox", http2: true, weight: 25, headers: []header{
			{"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"},
			{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
			{"accept-language", "en-US,en;q=0.5"},
			{"accept-encoding", "gzip, deflate, br, zstd"},
			{"upgrade-insecure-requests", "1"},
			{"sec-fetch-dest", "document"},
			{"sec-fetch-mode", "navigate"},
			{"sec-fetch-site", "none"},
			{"sec-fetch-user", "?1"},
			{"priority", "u=0, i"},
			{"te", "trailers"},
		}},
		{name: "safari", http2: true, weight: 20, headers: []header{
			{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
			{"sec-fetch-site", "none"},
			{"sec-fetch-mode", "navigate"},
			{"user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15"},
			{"sec-fetch-dest", "document"},
			{"accept-language", "en-GB,en;q=0.9"},
			{"priority", "u=0, i"},
			{"accept-encoding", "gzip, deflate, br"},
		}},
		{name: "chrome-fetch", http2: true, fetch: true, weight: 10, headers: []header{
			{"sec-ch-ua-platform", `"Linux"`},
			{"user-agent", chromeUA},
			{"accept", "application/json"},
			{"sec-ch-ua", `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`},
			{"sec-ch-ua-mobile", "?0"},
			{"sec-fetch-site", "same-origin"},
			{"sec-fetch-mode", "cors"},
			{"sec-fetch-dest", "empty"},
			{"referer", "https://shop.example/products"},
			{"accept-encoding", "gzip, deflate, br, zstd"},
			{"accept-language", "en-US,en;q=0.9"},
			{"priority", "u=1, i"},
		}},
		{name: "curl", automation: true, weight: 35, headers: []header{
			{"user-agent", "curl/8.5.0"},
			{"accept", "*/*"},
		}},
		{name: "python-requests", automation: true, weight: 30, headers: []header{
			{"user-agent", "python-requests/2.32.3"},
			{"accept-encoding", "gzip, deflate"},
			{"accept", "*/*"},
		}},
		{name: "go-http-client", automation: true, weight: 15, headers: []header{
			{"user-agent", "Go-http-client/1.1"},
			{"accept-encoding", "gzip"},
		}},
		{name: "headless-chrome", automation: true, http2: true, weight: 20, headers: headless},
	}
}

// Shares of the pool, in percent.
const (
	automationShare = 30 // requests from automation; the rest from browsers
	loginShare      = 10 // route login
	apiShare        = 20 // route api; the rest default
	// Browsers carry a session cookie on this share of their requests,
	// and some other cookie on another cookieShare; automation rarely does.
	browserSessionShare    = 40
	browserCookieShare     = 30
	automationSessionShare = 5
)

// sessionCookie is the session cookie botauthz's default policy counts
// (session_cookie: session).
const sessionCookie = "session"

// host is the site's name in every request.
const host = "shop.example"

// request is one request of the pool: what the client sends to Envoy, and
// the CheckRequest Envoy sends botauthz for it, encoded once.
type request struct {
	client  netip.Addr
	profile string
	route   string
	method  string
	path    string
	// headers are the client's own, in its order: no pseudo-headers, none
	// of those Envoy adds.
	headers []header
	check   []byte
}

// poolOptions say how to build a pool.
type poolOptions struct {
	clients4, clients6 int
	seed               uint64
	encoding           string
}

// pool is the requests the load generator sends, in a shuffled order that
// repeats; one request per client address.
type pool struct {
	reqs []request
}

// newPool builds the pool. The same options build the same pool.
func newPool(o poolOptions) (*pool, error) {
	rng := rand.New(rand.NewPCG(o.seed, 0x626f7462656e6368)) // "botbench"
	addrs := clientAddrs(rng, o.clients4, o.clients6)
	profs := profiles()
	var browsers, automation []profile
	for _, p := range profs {
		if p.automation {
			automation = append(automation, p)
		} else {
			browsers = append(browsers, p)
		}
	}
	// A fixed instant: the time field's size is what matters, not its value.
	now := timestamppb.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	p := &pool{reqs: make([]request, 0, len(addrs))}
	for _, addr := range addrs {
		r := request{client: addr, method: "GET"}
		switch n := rng.IntN(100); {
		case n < loginShare:
			r.route, r.path = "login", "/login"
		case n < loginShare+apiShare:
			r.route, r.path = "api", "/api/v1/items?page="+strconv.Itoa(1+rng.IntN(50))
		default:
			r.route, r.path = "default", defaultPath(rng)
		}
		isBot := rng.IntN(100) < automationShare
		var prof profile
		if isBot {
			prof = pick(rng, automation, func(p profile) bool { return true })
		} else {
			// A browser on the api route is a page's script calling it.
			prof = pick(rng, browsers, func(p profile) bool { return p.fetch == (r.route == "api") })
		}
		r.profile = prof.name
		r.headers = append([]header(nil), prof.headers...)
		if c := cookie(rng, isBot); c != "" {
			r.headers = append(r.headers, header{"cookie", c})
		}
		msg := checkRequest(rng, r, prof.http2, o.encoding, now)
		b, err := proto.Marshal(msg)
		if err != nil {
			return nil, fmt.Errorf("encode CheckRequest: %w", err)
		}
		r.check = b
		p.reqs = append(p.reqs, r)
	}
	rng.Shuffle(len(p.reqs), func(i, j int) { p.reqs[i], p.reqs[j] = p.reqs[j], p.reqs[i] })
	return p, nil
}

// at returns the i-th request of the endless sequence.
func (p *pool) at(i uint64) *request { return &p.reqs[i%uint64(len(p.reqs))] }

// pick chooses a profile among those that match, by weight.
func pick(rng *rand.Rand, ps []profile, match func(profile) bool) profile {
	total := 0
	for _, p := range ps {
		if match(p) {
			total += p.weight
		}
	}
	n := rng.IntN(total)
	for _, p := range ps {
		if !match(p) {
			continue
		}
		if n < p.weight {
			return p
		}
		n -= p.weight
	}
	panic("unreachable: weights add up")
}

func defaultPath(rng *rand.Rand) string {
	switch rng.IntN(3) {
	case 0:
		return "/"
	case 1:
		return "/products/" + strconv.Itoa(1000+rng.IntN(9000))
	default:
		return "/search?q=" + []string{"shoes", "red+dress", "usb-c+cable", "tent"}[rng.IntN(4)]
	}
}

// cookie is the cookie header of one request, or "".
func cookie(rng *rand.Rand, automation bool) string {
	n := rng.IntN(100)
	ga := fmt.Sprintf("_ga=GA1.1.%d.%d", rng.Uint32(), 1_760_000_000+rng.IntN(10_000_000))
	session := fmt.Sprintf("%s=%016x", sessionCookie, rng.Uint64())
	switch {
	case automation && n < automationSessionShare:
		return session
	case automation:
		return ""
	case n < browserSessionShare:
		return ga + "; " + session
	case n < browserSessionShare+browserCookieShare:
		return ga
	}
	return ""
}

// clientAddrs makes n4 IPv4 and n6 IPv6 client addresses. Clients share
// networks as they do on the Internet (several per /24 and /48), so the
// per-network counters see more than one client.
func clientAddrs(rng *rand.Rand, n4, n6 int) []netip.Addr {
	seen := make(map[netip.Addr]bool, n4+n6)
	addrs := make([]netip.Addr, 0, n4+n6)
	nets4 := max(1, n4/5)
	prefixes := make([][3]byte, nets4)
	for i := range prefixes {
		// Public unicast space: first octet 1-223, skipping 10 and 127.
		first := byte(1 + rng.IntN(223))
		for first == 10 || first == 127 {
			first = byte(1 + rng.IntN(223))
		}
		prefixes[i] = [3]byte{first, byte(rng.IntN(256)), byte(rng.IntN(256))}
	}
	for len(addrs) < n4 {
		p := prefixes[rng.IntN(nets4)]
		a := netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte(1 + rng.IntN(254))})
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	nets6 := max(1, n6/5)
	for len(addrs) < n4+n6 {
		var b [16]byte
		b[0], b[1] = 0x2a, 0x02 // a global unicast block
		net := uint16(rng.IntN(nets6))
		b[4], b[5] = byte(net>>8), byte(net)
		for i := 8; i < 16; i++ {
			b[i] = byte(rng.IntN(256))
		}
		a := netip.AddrFrom16(b)
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// checkRequest is the CheckRequest the shipped Envoy sends for r (captured
// from Envoy 1.40 with envoy/front-proxy.yaml): the client as the peer and
// in x-envoy-external-address, the TLS listener as the destination, the
// pseudo-headers first, then the client's headers, then Envoy's own, and
// the route in context_extensions.
func checkRequest(rng *rand.Rand, r request, http2 bool, encoding string, now *timestamppb.Timestamp) *authv3.CheckRequest {
	var hs []header
	if http2 {
		hs = append(hs, header{":method", r.method}, header{":path", r.path}, header{":scheme", "https"}, header{":authority", host})
	} else {
		hs = append(hs, header{":authority", host}, header{":path", r.path}, header{":method", r.method}, header{":scheme", "https"})
	}
	hs = append(hs, r.headers...)
	ip := r.client.String()
	hs = append(hs,
		header{"x-forwarded-for", ip},
		header{"x-forwarded-proto", "https"},
		header{"x-envoy-external-address", ip},
		header{"x-request-id", uuid(rng)},
	)
	protocol := "HTTP/1.1"
	if http2 {
		protocol = "HTTP/2"
	}
	h := &authv3.AttributeContext_HttpRequest{
		Id:       strconv.FormatUint(rng.Uint64()>>1, 10),
		Method:   r.method,
		Path:     r.path,
		Host:     host,
		Scheme:   "https",
		Protocol: protocol,
	}
	if encoding == encodingHeaderMap {
		hm := &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, len(hs))}
		for i, x := range hs {
			hm.Headers[i] = &corev3.HeaderValue{Key: x.name, RawValue: []byte(x.value)}
		}
		h.HeaderMap = hm
	} else {
		h.Headers = make(map[string]string, len(hs))
		for _, x := range hs {
			h.Headers[x.name] = x.value
		}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socketAddress(ip, uint32(1024+rng.IntN(60000)))},
		Destination: &authv3.AttributeContext_Peer{
			Address:   socketAddress("10.0.0.5", 10443),
			Principal: host,
		},
		Request:              &authv3.AttributeContext_Request{Time: now, Http: h},
		ContextExtensions:    map[string]string{"route": r.route},
		MetadataContext:      &corev3.Metadata{},
		RouteMetadataContext: &corev3.Metadata{},
	}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// uuid is a random version-4 UUID, as Envoy's x-request-id.
func uuid(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
