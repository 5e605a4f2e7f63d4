package clearance

import (
	"encoding/base64"
	"testing"
)

func TestDecodeB64(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // the decoded bytes
		ok        bool
	}{
		{"empty", "", "", true},
		{"one byte", "YQ", "a", true},
		{"two bytes", "YWI", "ab", true},
		{"three bytes", "YWJj", "abc", true},
		{"url alphabet", "-_8", "\xfb\xff", true},
		{"single character", "Y", "", false},
		{"padding", "YQ==", "", false},
		{"standard alphabet", "+/8", "", false},
		{"line break", "YW\nJj", "", false},
		{"carriage return", "YW\rJj", "", false},
		{"space", "YW Jj", "", false},
		{"non-zero trailing bits", "YR", "", false},
		{"non-zero trailing bits, two bytes", "YWJ", "", false},
		{"non-ascii", "YW\xffj", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst [8]byte
			n, ok := decodeB64(dst[:], tt.src)
			if ok != tt.ok || ok && string(dst[:n]) != tt.want {
				t.Errorf("decodeB64(%q) = %q, %v; want %q, %v", tt.src, dst[:n], ok, tt.want, tt.ok)
			}
		})
	}
	t.Run("destination too small", func(t *testing.T) {
		var dst [2]byte
		if _, ok := decodeB64(dst[:], "YWJj"); ok {
			t.Error("decodeB64 wrote past a 2-byte destination")
		}
	})
}

// TestDecodeB64MatchesStrictStdlib compares decodeB64 with encoding/base64's
// strict unpadded URL decoder on every string of up to three characters drawn
// from the alphabet and its near misses. Line breaks are left out: the
// standard decoder skips them, decodeB64 refuses them (see TestDecodeB64).
func TestDecodeB64MatchesStrictStdlib(t *testing.T) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.! \x00\xff"
	std := base64.RawURLEncoding.Strict()
	check := func(src string) {
		var dst [3]byte
		n, ok := decodeB64(dst[:], src)
		want, err := std.DecodeString(src)
		if ok != (err == nil) || ok && string(dst[:n]) != string(want) {
			t.Fatalf("decodeB64(%q) = %x, %v; encoding/base64 = %x, %v", src, dst[:n], ok, want, err)
		}
	}
	check("")
	for i := range len(chars) {
		check(chars[i : i+1])
		for j := range len(chars) {
			check(string([]byte{chars[i], chars[j]}))
			for k := range len(chars) {
				check(string([]byte{chars[i], chars[j], chars[k]}))
			}
		}
	}
	// And on a long round trip.
	raw := make([]byte, 256)
	for i := range raw {
		raw[i] = byte(i)
	}
	for n := range len(raw) {
		src := base64.RawURLEncoding.EncodeToString(raw[:n])
		dst := make([]byte, n)
		if m, ok := decodeB64(dst, src); !ok || m != n || string(dst) != string(raw[:n]) {
			t.Fatalf("decodeB64 of %d encoded bytes = %d, %v", n, m, ok)
		}
	}
}
