package clearance

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/netip"
)

// Digest is the compact, comparable form of a Binding that clearance cookies
// and the challenge package's tokens carry: the masked network prefix and the
// first 16 bytes of SHA-256(User-Agent). Both formats share this one encoding
// and comparison so that a cookie and the token it was earned with can never
// disagree about what "the same client" means.
//
// The zero Digest stands for an unknown client and matches no Binding.
type Digest struct {
	prefix netip.Prefix // masked; the zero Prefix when the address is unknown
	ua     [uaHashLen]byte
}

// Wire form of a Digest; see Digest.AppendTo.
const (
	uaHashLen    = 16
	minDigestLen = uaHashLen + 1 + 1
	// MaxDigestLen is the length of the longest wire form of a Digest (an
	// IPv6 /128), for formats that embed one and bound their size.
	MaxDigestLen = minDigestLen + 16

	familyNone = 0
	familyIPv4 = 4
	familyIPv6 = 6
)

// Digest returns the Digest of b, masking b.Prefix.
func (b Binding) Digest() Digest {
	return Digest{prefix: b.Prefix.Masked(), ua: hashUA(b.UserAgent)}
}

// AppendTo appends the wire form of d to dst and returns the result:
//
//	ua      16 bytes  SHA-256(User-Agent)[:16]
//	family   1 byte   4, 6, or 0 for an unknown client address
//	bits     1 byte   prefix length (0 for an unknown address)
//	addr     ceil(bits/8) bytes of the masked prefix address
//
// It is between 18 and MaxDigestLen bytes long.
func (d Digest) AppendTo(dst []byte) []byte {
	dst = append(dst, d.ua[:]...)
	switch p := d.prefix; {
	case !p.IsValid():
		return append(dst, familyNone, 0)
	case p.Addr().Is4():
		a := p.Addr().As4()
		dst = append(dst, familyIPv4, byte(p.Bits()))
		return append(dst, a[:prefixBytes(p.Bits())]...)
	default:
		a := p.Addr().As16()
		dst = append(dst, familyIPv6, byte(p.Bits()))
		return append(dst, a[:prefixBytes(p.Bits())]...)
	}
}

// CutDigest decodes the wire form of a Digest from the front of p and returns
// it with the rest of p. It accepts only what AppendTo writes, so each Digest
// has exactly one encoding: ok is false for input that is too short, an
// unknown family, a prefix length out of range for its family, or host bits
// that are not zero.
func CutDigest(p []byte) (d Digest, rest []byte, ok bool) {
	if len(p) < minDigestLen {
		return Digest{}, nil, false
	}
	d.ua = [uaHashLen]byte(p)
	family, bits := p[uaHashLen], int(p[uaHashLen+1])
	p = p[minDigestLen:]

	maxBits := 0
	switch family {
	case familyNone:
	case familyIPv4:
		maxBits = 32
	case familyIPv6:
		maxBits = 128
	default:
		return Digest{}, nil, false
	}
	n := prefixBytes(bits)
	if bits > maxBits || len(p) < n {
		return Digest{}, nil, false
	}
	var addr [16]byte
	copy(addr[:], p[:n])
	if r := bits % 8; r != 0 && addr[n-1]&(0xff>>r) != 0 {
		return Digest{}, nil, false
	}
	switch family {
	case familyIPv4:
		d.prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte(addr[:4])), bits)
	case familyIPv6:
		d.prefix = netip.PrefixFrom(netip.AddrFrom16(addr), bits)
	}
	return d, p[n:], true
}

// Matches reports whether b is a client d was made for: the same masked
// network prefix and the same user agent. An unknown address, in d or in b,
// never matches: without it the binding would only be to the user agent,
// which anyone can copy.
func (d Digest) Matches(b Binding) bool {
	return d.sameNetwork(b.Prefix) && d.sameAgent(b.UserAgent)
}

// sameNetwork is the network half of Matches; Verify needs the halves apart
// to tell WrongNetwork from WrongAgent.
func (d Digest) sameNetwork(p netip.Prefix) bool {
	return d.prefix.IsValid() && p.IsValid() && d.prefix == p.Masked()
}

// sameAgent is the user-agent half of Matches.
func (d Digest) sameAgent(userAgent string) bool {
	ua := hashUA(userAgent)
	return subtle.ConstantTimeCompare(ua[:], d.ua[:]) == 1
}

// hashUA returns SHA-256(ua)[:uaHashLen]. It copies the string through a
// stack buffer instead of converting it to a []byte, which would allocate for
// any real user agent (they are longer than the compiler's 32-byte stack
// conversion buffer); the hash state stays on the stack as well, so neither
// Issue nor Verify allocates for it (TestVerifyAllocations checks).
func hashUA(ua string) [uaHashLen]byte {
	h := sha256.New()
	var buf [256]byte
	for len(ua) > 0 {
		n := copy(buf[:], ua)
		h.Write(buf[:n])
		ua = ua[n:]
	}
	var sum [sha256.Size]byte
	return [uaHashLen]byte(h.Sum(sum[:0]))
}

// prefixBytes is the number of address bytes that hold a prefix of bits.
func prefixBytes(bits int) int { return (bits + 7) / 8 }
