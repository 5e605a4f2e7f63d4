package webbotauth

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// queryParam gives the value of "@query-param";name="…" (RFC 9421 §2.2.8):
// the query is parsed as application/x-www-form-urlencoded (WHATWG URL
// §5.1), the named parameter found by its re-encoded name, and its value
// re-encoded the same way. A parameter absent or repeated is an error: the
// RFC forbids covering a repeated one.
func queryParam(target string, params []param) (string, error) {
	if len(params) != 1 || params[0].key != "name" || params[0].value.kind != kindString {
		return "", errors.New(`@query-param needs exactly a string "name" parameter`)
	}
	want := params[0].value.str
	_, query, _ := strings.Cut(target, "?")
	var value string
	found := 0
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		name, val, _ := strings.Cut(pair, "=")
		if formEncode(formDecode(name)) != want {
			continue
		}
		found++
		value = formEncode(formDecode(val))
	}
	switch found {
	case 0:
		return "", errFieldMissing
	case 1:
		return value, nil
	}
	return "", errors.New("query parameter repeated")
}

// formDecode is the WHATWG application/x-www-form-urlencoded decoding of a
// name or value: "+" is a space, then percent-decoding ("%" without two hex
// digits stays as is), then UTF-8 decoding with replacement characters.
func formDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	// Each invalid byte becomes U+FFFD; WHATWG replaces maximal subparts,
	// which differs only for truncated multi-byte sequences.
	var sb strings.Builder
	for _, r := range string(b) {
		sb.WriteRune(r)
	}
	return sb.String()
}

// formEncode percent-encodes every byte but ASCII alphanumerics and
// "*-._" (the application/x-www-form-urlencoded percent-encode set), with a
// space as "%20": RFC 9421 §2.2.8's example encodes
// "bar=with+plus+whitespace" as "with%20plus%20whitespace".
func formEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '*' || c == '-' || c == '.' || c == '_' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)+8), s[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&0xf])
	}
	if b == nil {
		return s
	}
	return string(b)
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
