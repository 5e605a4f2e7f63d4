package clearance

import (
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// now is the fixed clock of every test: no test reads the real time.
var now = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

const uaChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// testKey returns a deterministic key whose secret derives from its id, so
// two ids never share a secret and test output is reproducible.
func testKey(id string) Key {
	sum := sha256.Sum256([]byte("test secret for " + id))
	return Key{ID: id, Secret: sum[:]}
}

func newTestSigner(tb testing.TB, ttl time.Duration, ids ...string) *Signer {
	tb.Helper()
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = testKey(id)
	}
	s, err := NewSigner(Options{Keys: keys, TTL: ttl})
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

func binding(tb testing.TB, ip, ua string) Binding {
	tb.Helper()
	return BindingFor(netip.MustParseAddr(ip), ua)
}

// parts splits a value into its four dot-separated fields, the kid being
// everything between the version and the last two dots.
type parts struct{ version, kid, payload, mac string }

func split(tb testing.TB, v string) parts {
	tb.Helper()
	i := strings.LastIndexByte(v, '.')
	j := strings.LastIndexByte(v[:i], '.')
	k := strings.IndexByte(v, '.')
	if k < 0 || j <= k {
		tb.Fatalf("value %q has too few dots", v)
	}
	return parts{version: v[:k], kid: v[k+1 : j], payload: v[j+1 : i], mac: v[i+1:]}
}

func (p parts) String() string {
	return p.version + "." + p.kid + "." + p.payload + "." + p.mac
}

// flip returns the base64url field with bit 0 of decoded byte i inverted,
// re-encoded canonically, so the result still parses.
func flip(tb testing.TB, field string, i int) string {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(field)
	if err != nil {
		tb.Fatalf("decode %q: %v", field, err)
	}
	raw[i] ^= 1
	return base64.RawURLEncoding.EncodeToString(raw)
}

// isCookieOctet reports whether c may appear unquoted in a cookie value
// (RFC 6265 section 4.1.1).
func isCookieOctet(c byte) bool {
	return c == 0x21 || 0x23 <= c && c <= 0x2B || 0x2D <= c && c <= 0x3A ||
		0x3C <= c && c <= 0x5B || 0x5D <= c && c <= 0x7E
}

func checkCookieOctets(tb testing.TB, v string) {
	tb.Helper()
	for i := 0; i < len(v); i++ {
		if !isCookieOctet(v[i]) {
			tb.Fatalf("value %q: byte %d (%q) is not a cookie-octet", v, i, v[i])
		}
	}
}
