package challenge

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/clearance"
)

func testTokenKeys(t testing.TB, ids ...string) *tokenKeys {
	t.Helper()
	keys := make([]clearance.Key, len(ids))
	for i, id := range ids {
		keys[i] = testKey(id)
	}
	k, err := newTokenKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenRoundTrip(t *testing.T) {
	k := testTokenKeys(t, "k.1-a_b", "k2")
	cases := []struct {
		name     string
		ip       string
		route    string
		returnTo string
	}{
		{"IPv4", "203.0.113.7", "login", "/a?b=c"},
		{"IPv6", "2001:db8::1", "default", "/"},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:203.0.113.7", "x", "/"},
		{"unknown address", "", "x", "/"},
		{"longest labels and return_to", "203.0.113.7", strings.Repeat("r", 300), "/" + strings.Repeat("a", maxReturnTo-1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ip netip.Addr
			if c.ip != "" {
				ip = netip.MustParseAddr(c.ip)
			}
			b := clearance.BindingFor(ip, uaFirefox)
			in := newToken(t0, 5*time.Minute, b, Pow, c.route, c.returnTo, 4)
			s := k.sign(&in)
			if len(s) > maxTokenLen(k) {
				t.Errorf("token of %d bytes exceeds the longest a token can be, %d", len(s), maxTokenLen(k))
			}
			if !strings.HasPrefix(s, "c1.k.1-a_b.") {
				t.Errorf("token %q not signed by the first key", s[:20])
			}
			out, err := k.parse(s)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			in.route = truncate(c.route, maxLabelLen)
			if out != in {
				t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
			}
			if out.client.Matches(b) != b.Prefix.IsValid() {
				t.Errorf("client.Matches(own binding) = %v with prefix %v", out.client.Matches(b), b.Prefix)
			}
		})
	}
}

func TestTokenIDsAreFresh(t *testing.T) {
	b := clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox)
	seen := map[[idLen]byte]bool{}
	for range 100 {
		tok := newToken(t0, time.Minute, b, Pow, "r", "/", 4)
		if seen[tok.id] {
			t.Fatal("repeated challenge id")
		}
		seen[tok.id] = true
	}
}

func TestTokenExpiry(t *testing.T) {
	b := clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox)
	tok := newToken(t0, 30*time.Second, b, Pow, "r", "/", 4)
	cases := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"at issue", t0, false},
		{"last second", t0.Add(29 * time.Second), false},
		{"at expiry", t0.Add(30 * time.Second), true},
		{"issued within clock skew ahead", t0.Add(-clockSkew), false},
		{"issued beyond clock skew ahead", t0.Add(-clockSkew - time.Second), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := tok.expired(c.at); got != c.want {
				t.Errorf("expired = %v, want %v", got, c.want)
			}
		})
	}
}

func TestTokenParseErrors(t *testing.T) {
	k := testTokenKeys(t, "k1")
	b := clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox)
	tok := newToken(t0, time.Minute, b, Pow, "r", "/", 4)
	good := k.sign(&tok)
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", errMalformed},
		{"wrong version", "c2" + good[2:], errMalformed},
		{"too long", good + strings.Repeat("A", maxTokenLen(k)), errMalformed},
		{"one dot missing", strings.Replace(good, ".", "", 2), errMalformed},
		{"padding", good + "=", errMalformed},
		{"short mac", good[:len(good)-2], errMalformed},
		{"unknown key", k.signWith(t, "k9", &tok), errUnknownKey},
		{"payload changed", tamper(t, good), errBadMAC},
		{"signed with another secret under our id", testTokenKeys(t, "k1", "k0").signWithSecret(t, "k1", testKey("other").Secret, &tok), errBadMAC},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := k.parse(c.in); !errors.Is(err, c.want) {
				t.Errorf("parse = %v, want %v", err, c.want)
			}
		})
	}
}

// signWith signs t as key id would, with that test key's secret.
func (k *tokenKeys) signWith(tb testing.TB, id string, t *token) string {
	tb.Helper()
	return k.signWithSecret(tb, id, testKey(id).Secret, t)
}

func (k *tokenKeys) signWithSecret(tb testing.TB, id string, secret []byte, t *token) string {
	tb.Helper()
	other, err := newTokenKeys([]clearance.Key{{ID: id, Secret: secret}})
	if err != nil {
		tb.Fatal(err)
	}
	return other.sign(t)
}

func FuzzTokenParse(f *testing.F) {
	k := testTokenKeys(f, "k1")
	b := clearance.BindingFor(netip.MustParseAddr(ipClient), uaFirefox)
	tok := newToken(t0, time.Minute, b, Pow, "login", "/a", 4)
	f.Add(k.sign(&tok))
	f.Add("c1.k1..")
	f.Add("c1...")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := k.parse(s)
		if err != nil {
			return
		}
		// Anything accepted must be what we sign: re-signing reproduces it.
		if again := k.sign(&got); again != s {
			t.Fatalf("accepted %q, which signs as %q", s, again)
		}
	})
}

// maxTokenLen is the longest text k's Envelope seals.
func maxTokenLen(k *tokenKeys) int {
	return len(tokenPrefix) + 32 + 1 + base64.RawURLEncoding.EncodedLen(k.env.MaxPayload()) + 1 + base64.RawURLEncoding.EncodedLen(sha256.Size)
}
