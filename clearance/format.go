package clearance

import (
	"encoding/binary"
	"unicode/utf8"
)

// The v1 cookie value is an Envelope (envelope.go) with the prefix
// valuePrefix and the MAC context macContext:
//
//	v1.<kid>.<base64url(payload)>.<base64url(mac)>
//
// The payload is, big-endian:
//
//	iat      8 bytes  issued at, unix seconds (int64)
//	exp      8 bytes  expires at, unix seconds (int64)
//	client   18 to 34 bytes, the Binding's Digest (see Digest.AppendTo):
//	         16-byte user-agent hash, family, prefix bits, prefix address
//	provider 1 byte length (<= 32) + bytes
//	route    1 byte length (<= 32) + bytes
const (
	valuePrefix = "v1."
	macContext  = "botauthz clearance v1\x00"

	// maxLabelLen keeps the cookie small; provider and route are short metric
	// labels ("pow", "login") and longer ones are truncated.
	maxLabelLen = 32

	fixedPayloadLen = 8 + 8 // iat and exp; the rest varies in length
	maxPayloadLen   = fixedPayloadLen + MaxDigestLen + 1 + maxLabelLen + 1 + maxLabelLen
	// maxValueLen is the longest value Issue can produce, which bounds
	// what Verify looks at (Envelope.Open).
	maxValueLen = len(valuePrefix) + maxKeyIDLen + 1 + (maxPayloadLen*8+5)/6 + 1 + macB64Len
)

// payload is a decoded cookie payload. The labels alias the decode buffer.
type payload struct {
	iat, exp        int64
	client          Digest
	provider, route []byte
}

// appendPayload appends the encoding of a payload to dst.
func appendPayload(dst []byte, iat, exp int64, client Digest, provider, route string) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(iat))
	dst = binary.BigEndian.AppendUint64(dst, uint64(exp))
	dst = client.AppendTo(dst)
	dst = append(dst, byte(len(provider)))
	dst = append(dst, provider...)
	dst = append(dst, byte(len(route)))
	dst = append(dst, route...)
	return dst
}

// parsePayload decodes b, accepting only what appendPayload produces.
func parsePayload(b []byte) (payload, bool) {
	var p payload
	if len(b) < fixedPayloadLen {
		return p, false
	}
	p.iat = int64(binary.BigEndian.Uint64(b[0:8]))
	p.exp = int64(binary.BigEndian.Uint64(b[8:16]))
	var ok bool
	if p.client, b, ok = CutDigest(b[fixedPayloadLen:]); !ok {
		return p, false
	}
	if p.provider, b, ok = cutLabel(b); !ok {
		return p, false
	}
	if p.route, b, ok = cutLabel(b); !ok {
		return p, false
	}
	return p, len(b) == 0
}

// cutLabel splits a length-prefixed label off the front of b.
func cutLabel(b []byte) (label, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	n := int(b[0])
	if n > maxLabelLen || len(b) < 1+n {
		return nil, nil, false
	}
	return b[1 : 1+n], b[1+n:], true
}

// truncateLabel cuts s to maxLabelLen bytes without splitting a UTF-8
// sequence.
func truncateLabel(s string) string {
	if len(s) <= maxLabelLen {
		return s
	}
	i := maxLabelLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// decodeB64 decodes unpadded base64url src into dst and returns the length.
// It is strict where encoding/base64 is lenient: it rejects padding, line
// breaks and non-zero trailing bits, so each byte string has exactly one
// accepted spelling. It works on a string so Verify need not copy the cookie
// into a []byte.
func decodeB64(dst []byte, src string) (int, bool) {
	if len(src)%4 == 1 || len(src)*6/8 > len(dst) {
		return 0, false
	}
	var acc uint32
	bits, n := 0, 0
	for i := 0; i < len(src); i++ {
		v, ok := b64Value(src[i])
		if !ok {
			return 0, false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	if acc&(1<<bits-1) != 0 {
		return 0, false
	}
	return n, true
}

// b64Value maps one base64url character to its 6-bit value.
func b64Value(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}
