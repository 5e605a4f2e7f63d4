package extauthz

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

var testNow = time.Unix(1_800_000_000, 0)

func signerWith(t *testing.T, keys ...clearance.Key) *clearance.Signer {
	t.Helper()
	s, err := clearance.NewSigner(clearance.Options{Keys: keys, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t *testing.T, id string) clearance.Key {
	t.Helper()
	k, err := clearance.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func clearanceServer(t *testing.T, signer *clearance.Signer) *Server {
	t.Helper()
	p, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Policy: p, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Clearance: signer,
		Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakerWithCookie is a faker navigating to login with a clearance cookie.
func fakerWithCookie(value string) map[string]string {
	h := map[string]string{"cookie": "theme=dark; " + policy.Default().Challenge.CookieName + "=" + value}
	for k, v := range fakerNav {
		h[k] = v
	}
	return h
}

func TestClearanceCookie(t *testing.T) {
	current, previous := newKey(t, "2026-11"), newKey(t, "2026-10")
	issuer := signerWith(t, current, previous)
	bind := func(ip, ua string) clearance.Binding { return clearance.BindingFor(netip.MustParseAddr(ip), ua) }
	good := issuer.Issue(bind("203.0.113.7", uaFirefox), "pow", "login", testNow.Add(-time.Minute))
	byPrevious := signerWith(t, previous).Issue(bind("203.0.113.7", uaFirefox), "pow", "login", testNow.Add(-time.Minute))

	cases := []struct {
		name   string
		signer *clearance.Signer
		value  string
		ip     string
		ua     string
		pass   bool
		status clearance.Status
	}{
		{"a valid clearance lets the challenged client through", issuer, good, "203.0.113.7", uaFirefox, true, clearance.Valid},
		{"another host of the same /24 keeps it", issuer, good, "203.0.113.99", uaFirefox, true, clearance.Valid},
		{"another network is challenged again", issuer, good, "198.51.100.7", uaFirefox, false, clearance.WrongNetwork},
		{"another user agent is challenged again", issuer, good, "203.0.113.7", uaFirefox + " Other", false, clearance.WrongAgent},
		{"a tampered cookie is challenged again", issuer, tamper(good), "203.0.113.7", uaFirefox, false, clearance.BadSignature},
		{"garbage is challenged again", issuer, "v1.x.y.z", "203.0.113.7", uaFirefox, false, clearance.Malformed},
		{"a cookie of the previous key still passes", signerWith(t, current, previous), byPrevious, "203.0.113.7", uaFirefox, true, clearance.Valid},
		{"after the previous key is removed it no longer does", signerWith(t, current), byPrevious, "203.0.113.7", uaFirefox, false, clearance.UnknownKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := clearanceServer(t, c.signer)
			hdr := fakerWithCookie(c.value)
			hdr["user-agent"] = c.ua
			resp := mustCheck(t, s, request("GET", "/login", "login", c.ip, hdr))
			if passed := resp.GetStatus().GetCode() == int32(codes.OK); passed != c.pass {
				t.Fatalf("passed=%v, want %v: %v", passed, c.pass, resp)
			}
			if got := resp.GetDynamicMetadata().GetFields()["bot_clearance"].GetStringValue(); got != c.status.String() {
				t.Errorf("bot_clearance = %q, want %q", got, c.status)
			}
			if !c.pass {
				if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
					t.Errorf("want a challenge redirect, got %v", resp)
				}
				return
			}
			if h := upstreamHeaders(t, resp); !strings.Contains(h[HeaderReasons], "clearance.valid") {
				t.Errorf("reasons %q lack clearance.valid", h[HeaderReasons])
			}
		})
	}

	t.Run("a declared library's clearance counts for nothing", func(t *testing.T) {
		// A script can solve the proof of work; its declaration stands.
		v := issuer.Issue(bind("203.0.113.7", "curl/8.5.0"), "pow", "login", testNow.Add(-time.Minute))
		hdr := fakerWithCookie(v)
		hdr["user-agent"] = "curl/8.5.0"
		delete(hdr, "sec-ch-ua")
		resp := mustCheck(t, clearanceServer(t, issuer), request("GET", "/login", "login", "203.0.113.7", hdr))
		if resp.GetStatus().GetCode() == int32(codes.OK) || resp.GetDynamicMetadata().GetFields()["bot_clearance"].GetStringValue() != "valid" {
			t.Errorf("curl with a valid clearance: %v; want it stopped all the same", resp)
		}
	})

	t.Run("an expired clearance is challenged again", func(t *testing.T) {
		old := issuer.Issue(bind("203.0.113.7", uaFirefox), "pow", "login", testNow.Add(-2*time.Hour))
		resp := mustCheck(t, clearanceServer(t, issuer), request("GET", "/login", "login", "203.0.113.7", fakerWithCookie(old)))
		if resp.GetStatus().GetCode() == int32(codes.OK) {
			t.Errorf("expired clearance passed: %v", resp)
		}
	})
}

// tamper flips one character of the payload part.
func tamper(v string) string {
	parts := strings.Split(v, ".")
	p := []byte(parts[2])
	if p[0] == 'A' {
		p[0] = 'B'
	} else {
		p[0] = 'A'
	}
	parts[2] = string(p)
	return strings.Join(parts, ".")
}
