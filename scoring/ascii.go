package scoring

import "bytes"

// Header values are matched case-insensitively by copying a bounded prefix
// into a stack buffer and lower-casing ASCII letters in place. Everything
// past the bound is ignored: no real browser header comes close to it, and
// it keeps the cost of absurd headers constant. Non-ASCII bytes pass through
// unchanged, so non-UTF-8 input is harmless.
const (
	maxUserAgent = 1024 // real user agents are under 400 bytes
	maxHintValue = 512  // a real sec-ch-ua is under 150 bytes
)

// lowerInto copies up to len(dst) bytes of s into dst, lower-cases ASCII
// letters and returns the filled part.
func lowerInto(dst []byte, s string) []byte {
	n := copy(dst, s)
	b := dst[:n]
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return b
}

// trimOWS removes the optional whitespace (spaces and tabs) HTTP allows
// around a field value.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold reports whether s equals lower, a lower-case ASCII string,
// ignoring ASCII case.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasAt reports whether b holds needle at offset i. Checking the first byte
// inline skips the comparison call for most misses; the string conversion in
// the comparison does not allocate.
func hasAt(b []byte, i int, needle string) bool {
	if i < 0 || len(b)-i < len(needle) {
		return false
	}
	if len(needle) > 0 && b[i] != needle[0] {
		return false
	}
	return string(b[i:i+len(needle)]) == needle
}

// index returns the offset of the first needle in b, or -1.
func index(b []byte, needle string) int {
	if len(needle) == 0 {
		return 0
	}
	first := needle[0]
	for i := 0; len(b)-i >= len(needle); i++ {
		j := bytes.IndexByte(b[i:len(b)-len(needle)+1], first)
		if j < 0 {
			return -1
		}
		i += j
		if hasAt(b, i, needle) {
			return i
		}
	}
	return -1
}

// contains reports whether needle occurs in b.
func contains(b []byte, needle string) bool { return index(b, needle) >= 0 }

// leadingUint parses the decimal digits at the start of b, stopping after
// maxDigits so absurd version numbers cannot overflow. It returns the value
// and the number of bytes consumed (0 if b does not start with a digit).
func leadingUint[S ~string | ~[]byte](b S) (n, used int) {
	const maxDigits = 6
	for used < len(b) && used < maxDigits && '0' <= b[used] && b[used] <= '9' {
		n = n*10 + int(b[used]-'0')
		used++
	}
	return n, used
}

// isLetter reports whether c is an ASCII letter.
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
