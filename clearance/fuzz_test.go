package clearance

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary values to Verify. It must never panic, always
// return one of the defined statuses, return claims only for cookies whose
// MAC checked out, and accept as Valid only a value some key of the set
// issued: re-issuing the verified claims must reproduce it byte for byte, so
// no mutation of a genuine cookie (another spelling, another field) verifies.
// The seed corpus is in testdata/fuzz/FuzzVerify; it holds genuine cookies
// for the fixed keys, clock and binding below, so the fuzzer starts next to
// the interesting boundary.
func FuzzVerify(f *testing.F) {
	s := newTestSigner(f, time.Hour, "2026-11", "2026-10")
	issuers := map[string]*Signer{
		"2026-11": s,
		"2026-10": newTestSigner(f, time.Hour, "2026-10"),
	}
	b := BindingFor(netip.MustParseAddr("203.0.113.7"), uaChrome)
	at := now

	f.Add(s.Issue(b, "pow", "login", at.Add(-10*time.Minute)))
	f.Add(issuers["2026-10"].Issue(b, "turnstile", "checkout", at.Add(-59*time.Minute)))
	f.Add(s.Issue(b, "pow", "login", at.Add(-2*time.Hour)))
	f.Add(s.Issue(BindingFor(netip.MustParseAddr("2001:db8::1"), uaChrome), "", "", at))
	f.Add(s.Issue(Binding{UserAgent: uaChrome}, "pow", "login", at))
	f.Add("")
	f.Add("v1...")
	f.Add(strings.Repeat("v1.2026-11.", 400))

	f.Fuzz(func(t *testing.T, value string) {
		c, st := s.Verify(value, b, at)
		if st < Valid || st > WrongAgent {
			t.Fatalf("Verify(%q) = undefined status %d", value, st)
		}
		switch st {
		case Valid:
			issuer := issuers[c.KeyID]
			if issuer == nil {
				t.Fatalf("Verify(%q) = valid with key %q, not in the set", value, c.KeyID)
			}
			if again := issuer.Issue(b, c.Provider, c.Route, c.IssuedAt); again != value {
				t.Fatalf("Verify(%q) = valid, but its claims issue %q: a value no key issued verified", value, again)
			}
		case Malformed, UnknownKey, BadSignature:
			if c != (Claims{}) {
				t.Fatalf("Verify(%q) = %v with claims %+v, want zero claims", value, st, c)
			}
		default:
			if c.KeyID == "" {
				t.Fatalf("Verify(%q) = %v without claims", value, st)
			}
		}
	})
}

// FuzzIssue issues clearances for arbitrary bindings, labels and times: the
// value must be short, made of cookie-octets, and verify for the binding it
// was issued to.
func FuzzIssue(f *testing.F) {
	s := newTestSigner(f, time.Hour, "2026-11")
	f.Add(uaChrome, "pow", "login", []byte{203, 0, 113, 7}, now.Unix())
	f.Add("", "", "", []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, int64(0))
	f.Add("ua; with, \"odd\" bytes\xff", strings.Repeat("é", 20), "route\x00", []byte{1, 2, 3}, int64(-1))

	f.Fuzz(func(t *testing.T, ua, provider, route string, ip []byte, unix int64) {
		addr, _ := netip.AddrFromSlice(ip)
		b := BindingFor(addr, ua)
		// Stay within a few thousand years of 1970: the far ends of int64
		// are not times anyone issues a cookie at.
		at := time.Unix(unix%(1<<40), 0)
		v := s.Issue(b, provider, route, at)
		checkCookieOctets(t, v)
		if len(v) > maxValueLen {
			t.Fatalf("len(Issue) = %d, over %d", len(v), maxValueLen)
		}
		want := Valid
		if !b.Prefix.IsValid() {
			want = WrongNetwork
		}
		c, st := s.Verify(v, b, at)
		if st != want {
			t.Fatalf("Verify(Issue) = %v, want %v", st, want)
		}
		if c.Provider != truncateLabel(provider) || c.Route != truncateLabel(route) || c.IssuedAt.Unix() != at.Unix() {
			t.Fatalf("claims = %+v, want provider %q, route %q, issued %v", c, provider, route, at)
		}
	})
}

// TestFuzzVerifySeeds checks that the frozen seed cookies still verify as
// their file names say: together with TestIssueGolden it catches a format
// change that would strand cookies already in browsers.
func TestFuzzVerifySeeds(t *testing.T) {
	s := newTestSigner(t, time.Hour, "2026-11", "2026-10")
	b := BindingFor(netip.MustParseAddr("203.0.113.7"), uaChrome)
	tests := []struct {
		file string
		want Status
	}{
		{"valid-signing-key", Valid},
		{"valid-previous-key", Valid},
		{"expired", Expired},
		{"wrong-network-ipv6", WrongNetwork},
		{"wrong-agent", WrongAgent},
		{"dotted-unknown-kid", UnknownKey},
		{"extra-dot", Malformed},
		{"wrong-version", Malformed},
		{"non-base64-payload", Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			header, arg, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
			quoted, ok := strings.CutPrefix(arg, "string(")
			if header != "go test fuzz v1" || !ok {
				t.Fatalf("%s is not a one-string fuzz seed", tt.file)
			}
			value, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
			if err != nil {
				t.Fatalf("%s: %v", tt.file, err)
			}
			if _, got := s.Verify(value, b, now); got != tt.want {
				t.Errorf("Verify(%s) = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
}
