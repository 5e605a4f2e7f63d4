package clearance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

func TestDigestWireForm(t *testing.T) {
	ua := sha256.Sum256([]byte(uaChrome))
	uaHex := hex.EncodeToString(ua[:uaHashLen])
	tests := []struct {
		name string
		b    Binding
		want string // hex of the bytes after the user-agent hash
	}{
		{"ipv4 /24", binding(t, "203.0.113.7", uaChrome), "0418cb0071"},
		{"ipv6 /64", binding(t, "2001:db8:1:2:3:4:5:6", uaChrome), "064020010db800010002"},
		{"unknown address", Binding{UserAgent: uaChrome}, "0000"},
		{"unmasked prefix is masked", Binding{Prefix: netip.MustParsePrefix("203.0.113.7/20"), UserAgent: uaChrome}, "0414cb0070"},
		{"ipv6 /128", Binding{Prefix: netip.MustParsePrefix("2001:db8::1/128"), UserAgent: uaChrome}, "068020010db8000000000000000000000001"},
		{"ipv4 /0", Binding{Prefix: netip.MustParsePrefix("0.0.0.0/0"), UserAgent: uaChrome}, "0400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.b.Digest()
			wire := d.AppendTo([]byte("head"))
			if got, want := hex.EncodeToString(wire), hex.EncodeToString([]byte("head"))+uaHex+tt.want; got != want {
				t.Fatalf("AppendTo = %s, want %s", got, want)
			}
			if len(wire)-4 > MaxDigestLen {
				t.Errorf("wire form of %d bytes exceeds MaxDigestLen %d", len(wire)-4, MaxDigestLen)
			}
			got, rest, ok := CutDigest(append(wire[4:], "tail"...))
			if !ok || got != d || string(rest) != "tail" {
				t.Errorf("CutDigest = %+v, %q, %v; want %+v, \"tail\", true", got, rest, ok, d)
			}
		})
	}
}

func TestCutDigestRejects(t *testing.T) {
	// wire returns a user-agent hash followed by rest.
	wire := func(rest ...byte) []byte { return append(make([]byte, uaHashLen), rest...) }
	tests := []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"hash only", wire()},
		{"no prefix length", wire(familyIPv4)},
		{"short address", wire(familyIPv4, 24, 203, 0)},
		{"unknown family", wire(5, 24, 203, 0, 113)},
		{"ipv4 prefix too long", wire(familyIPv4, 33, 203, 0, 113, 7, 0)},
		{"ipv6 prefix too long", wire(append([]byte{familyIPv6, 129}, make([]byte, 17)...)...)},
		{"no network with bits", wire(familyNone, 24, 203, 0, 113)},
		{"host bits set", wire(familyIPv4, 20, 203, 0, 113)},
		{"host bits set, ipv6", wire(familyIPv6, 60, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, rest, ok := CutDigest(tt.p); ok || d != (Digest{}) || rest != nil {
				t.Errorf("CutDigest(%x) = %+v, %x, %v; want a refusal", tt.p, d, rest, ok)
			}
		})
	}
	// The same bytes with the host bits clear are accepted, so the cases
	// above fail for the reason their names give.
	if _, _, ok := CutDigest(wire(familyIPv4, 20, 203, 0, 112)); !ok {
		t.Error("CutDigest refuses a /20 with clear host bits")
	}
}

func TestDigestMatches(t *testing.T) {
	d := binding(t, "203.0.113.7", uaChrome).Digest()
	d6 := binding(t, "2001:db8:aa:bb:1:2:3:4", uaChrome).Digest()
	tests := []struct {
		name string
		d    Digest
		b    Binding
		want bool
	}{
		{"same client", d, binding(t, "203.0.113.7", uaChrome), true},
		{"same /24 other host", d, binding(t, "203.0.113.200", uaChrome), true},
		{"same /24 as mapped ipv6", d, binding(t, "::ffff:203.0.113.9", uaChrome), true},
		{"unmasked prefix in the binding", d, Binding{Prefix: netip.MustParsePrefix("203.0.113.7/24"), UserAgent: uaChrome}, true},
		{"other /24", d, binding(t, "203.0.114.7", uaChrome), false},
		{"other prefix length", d, Binding{Prefix: netip.MustParsePrefix("203.0.113.0/25"), UserAgent: uaChrome}, false},
		{"ipv6 client", d, binding(t, "2001:db8:aa:bb:1:2:3:4", uaChrome), false},
		{"ipv6 same /64", d6, binding(t, "2001:db8:aa:bb:ffff::1", uaChrome), true},
		{"other user agent", d, binding(t, "203.0.113.7", uaChrome+" Edg/131.0.0.0"), false},
		{"unknown client address", d, Binding{UserAgent: uaChrome}, false},
		{"digest of an unknown address", Binding{UserAgent: uaChrome}.Digest(), Binding{UserAgent: uaChrome}, false},
		{"zero digest", Digest{}, Binding{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Matches(tt.b); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestHashUA checks the allocation-free hash against the plain one across
// the chunk boundaries of its buffer.
func TestHashUA(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 512, 1000} {
		ua := strings.Repeat("u", n)
		sum := sha256.Sum256([]byte(ua))
		if got := hashUA(ua); !bytes.Equal(got[:], sum[:uaHashLen]) {
			t.Errorf("hashUA of %d bytes = %x, want %x", n, got, sum[:uaHashLen])
		}
	}
}

// FuzzCutDigest: CutDigest never panics, and whatever it accepts is exactly
// what AppendTo writes for the result, so a Digest has one wire form.
func FuzzCutDigest(f *testing.F) {
	f.Add(binding(f, "203.0.113.7", uaChrome).Digest().AppendTo(nil))
	f.Add(binding(f, "2001:db8::1", uaChrome).Digest().AppendTo([]byte{}))
	f.Add(Binding{}.Digest().AppendTo(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, rest, ok := CutDigest(p)
		if !ok {
			return
		}
		if used := p[:len(p)-len(rest)]; !bytes.Equal(d.AppendTo(nil), used) {
			t.Fatalf("CutDigest accepted %x, which AppendTo writes as %x", used, d.AppendTo(nil))
		}
	})
}
