package extauthz

import (
	"net/netip"
	"testing"

	"github.com/botauthz/botauthz/ratelimit"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

func TestClientIP(t *testing.T) {
	cases := []struct {
		name    string
		peer    string
		headers map[string]string
		hops    int
		want    string
	}{
		{"the peer when nothing else is said", "192.0.2.5", nil, 0, "192.0.2.5"},
		{"envoy's external address wins over the peer", "192.0.2.5", map[string]string{"x-envoy-external-address": "203.0.113.7"}, 0, "203.0.113.7"},
		{"a client-sent x-forwarded-for is ignored by default", "192.0.2.5", map[string]string{"x-forwarded-for": "203.0.113.7"}, 0, "192.0.2.5"},
		{"one trusted hop takes the rightmost entry", "192.0.2.5", map[string]string{"x-forwarded-for": "10.0.0.1, 203.0.113.7"}, 1, "203.0.113.7"},
		{"two trusted hops take the second from the right", "192.0.2.5", map[string]string{"x-forwarded-for": "203.0.113.7,198.51.100.2"}, 2, "203.0.113.7"},
		{"a short x-forwarded-for falls back to the peer", "192.0.2.5", map[string]string{"x-forwarded-for": "203.0.113.7"}, 2, "192.0.2.5"},
		{"garbage in x-forwarded-for falls back to the peer", "192.0.2.5", map[string]string{"x-forwarded-for": "evil"}, 1, "192.0.2.5"},
		{"garbage external address falls back", "192.0.2.5", map[string]string{"x-envoy-external-address": "999.1.1.1"}, 0, "192.0.2.5"},
		{"4-in-6 is unmapped", "::ffff:192.0.2.5", nil, 0, "192.0.2.5"},
		{"an IPv6 zone is dropped", "fe80::1%eth0", nil, 0, "fe80::1"},
		{"no address at all", "", nil, 0, "invalid IP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f Facts
			readFacts(request("GET", "/", "", c.peer, c.headers), "sid", c.hops, &f, &headerBuf{})
			if got := f.ClientIP.String(); got != c.want {
				t.Errorf("client IP = %s, want %s", got, c.want)
			}
		})
	}
}

func TestCookieValue(t *testing.T) {
	cases := []struct{ header, name, want string }{
		{"sid=abc", "sid", "abc"},
		{"a=1; sid=abc; b=2", "sid", "abc"},
		{"a=1;sid=abc", "sid", "abc"},
		{`sid="quoted"`, "sid", "quoted"},
		{"xsid=abc; sidx=def", "sid", ""},
		{"sid", "sid", ""},
		{"", "sid", ""},
		{"sid=abc", "", ""},
		{";;; ; sid=x", "sid", "x"},
	}
	for _, c := range cases {
		if got := cookieValue(c.header, c.name); got != c.want {
			t.Errorf("cookieValue(%q, %q) = %q, want %q", c.header, c.name, got, c.want)
		}
	}
}

// FuzzCheck feeds garbage through the whole Check: every input must end in a
// response with an explicit status, never a panic or an error. The seed
// corpus lives in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add("GET", "/", "", "203.0.113.7", "Mozilla/5.0", "text/html", "sid=a", "203.0.113.7", "login", "https")
	f.Add("POST", "//evil", "garbage", "::1", "", "", ";;", ",,,", "", "")
	s := newTestServer(f, nil)
	f.Fuzz(func(t *testing.T, method, path, extAddr, peer, ua, accept, cookie, xff, route, scheme string) {
		req := request(method, path, route, peer, map[string]string{
			"user-agent": ua, "accept": accept, "cookie": cookie, "x-forwarded-for": xff,
			"x-envoy-external-address": extAddr, "sec-ch-ua": ua, "x-bot-score": accept,
		})
		req.Attributes.Request.Http.Scheme = scheme
		resp := mustCheck(t, s, req)
		if code := resp.GetStatus().GetCode(); code == int32(codes.OK) {
			if resp.GetOkResponse() == nil {
				t.Fatalf("OK without an ok_response: %v", resp)
			}
		} else if resp.GetDeniedResponse() == nil {
			t.Fatalf("status %d without a denied_response: %v", code, resp)
		}
		if loc := deniedHeader(resp, "location"); loc != "" && (len(loc) < 2 || loc[0] != '/' || loc[1] == '/' || loc[1] == '\\') {
			t.Fatalf("redirect to %q leaves the origin", loc)
		}
		var facts Facts
		readFacts(req, "sid", 1, &facts, &headerBuf{})
		if facts.ClientIP.IsValid() && facts.ClientIP.Zone() != "" {
			t.Fatalf("client IP %v keeps a zone", facts.ClientIP)
		}
	})
}

func TestCheckWithNilPieces(t *testing.T) {
	s := newTestServer(t, nil)
	reqs := map[string]*authv3.CheckRequest{
		"nil request":      nil,
		"nil attributes":   {},
		"nil http headers": {Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{}}}},
		"pipe address":     {Attributes: &authv3.AttributeContext{Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/tmp/x"}}}}}},
	}
	for name, req := range reqs {
		t.Run(name, func(t *testing.T) { mustCheck(t, s, req) })
	}
}

func TestProtocolFact(t *testing.T) {
	for _, protocol := range []string{"HTTP/1.1", "HTTP/2", "HTTP/3", ""} {
		req := request("GET", "/", "", "192.0.2.5", nil)
		req.Attributes.Request.Http.Protocol = protocol
		var f Facts
		readFacts(req, "sid", 0, &f, &headerBuf{})
		if f.Protocol != protocol {
			t.Errorf("protocol %q read as %q", protocol, f.Protocol)
		}
	}
	var f Facts
	readFacts(&authv3.CheckRequest{}, "sid", 0, &f, &headerBuf{})
	if f.Protocol != "" {
		t.Errorf("a CheckRequest without HTTP has protocol %q", f.Protocol)
	}
}

// TestNetworkIDsAsEachAlone checks the client's and its network's ids and
// identity keys, built in one string, against ratelimit's functions that
// build each alone, for IPv4, IPv6, IPv4-mapped, zoned and invalid
// addresses; and that building them costs one allocation.
func TestNetworkIDsAsEachAlone(t *testing.T) {
	for _, s := range []string{"", "203.0.113.7", "10.0.0.0", "255.255.255.255", "::ffff:198.51.100.9",
		"2001:db8:85a3:8d3:1319:8a2e:370:7348", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1", "fe80::1%eth0"} {
		var ip netip.Addr
		if s != "" {
			ip = netip.MustParseAddr(s)
		}
		f := &Facts{ClientIP: ip}
		// Keys through the paths count takes: an identity's key first.
		var keys identityKeys
		subnetKey, subnetOK := keys.of(ratelimit.DimSubnet, f)
		routeKey, routeOK := keys.of(ratelimit.DimRouteIP, f)
		clientKey, clientOK := keys.of(ratelimit.DimIP, f)
		client, subnet := ratelimit.ClientID(ip), ratelimit.SubnetID(ip)
		if f.clientKeyText() != client || f.subnetKeyText() != subnet {
			t.Errorf("%q: ids %q, %q; want %q, %q", s, f.clientKeyText(), f.subnetKeyText(), client, subnet)
		}
		if !ip.IsValid() {
			if subnetOK || routeOK || clientOK {
				t.Errorf("%q: an invalid address has identity keys", s)
			}
			continue
		}
		if want := ratelimit.IdentityKey(ratelimit.DimSubnet, subnet); subnetKey != want {
			t.Errorf("%q: subnet key %q, want %q", s, subnetKey, want)
		}
		if want := ratelimit.IdentityKey(ratelimit.DimIP, client); clientKey != want || routeKey != want {
			t.Errorf("%q: client keys %q, %q; want %q", s, clientKey, routeKey, want)
		}
	}
	ip := netip.MustParseAddr("203.0.113.7")
	if n := testing.AllocsPerRun(100, func() {
		f := Facts{ClientIP: ip}
		f.networkIDs()
	}); n != 1 {
		t.Errorf("networkIDs allocated %v times, want 1", n)
	}
}
