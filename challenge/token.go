package challenge

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/botauthz/botauthz/clearance"
)

// The challenge token is what the page embeds and posts back: it lets any
// replica verify an answer without shared state other than the keys and the
// redemption store. It is a clearance.Envelope with the prefix tokenPrefix
// and the MAC context tokenContext:
//
//	c1.<kid>.<base64url(payload)>.<base64url(mac)>
//
// The context differs from the clearance cookie's, so a MAC made for one can
// never pass as the other even though both use the same keys. The payload
// is, big-endian:
//
//	id         16 bytes  random challenge id
//	iat         8 bytes  issued at, unix seconds (int64)
//	exp         8 bytes  expires at, unix seconds (int64)
//	difficulty  1 byte   leading zero hex digits the proof of work needs
//	client     18 to 34 bytes, the client's clearance.Digest (see
//	           clearance.Digest.AppendTo), as the clearance cookie carries it
//	provider    1 byte length + bytes ("pow" or a CAPTCHA provider)
//	route       1 byte length + bytes
//	return_to   2 bytes length + bytes (already passed through SafeReturnTo)
const (
	tokenPrefix  = "c1."
	tokenContext = "botauthz challenge v1\x00"

	idLen       = 16
	maxLabelLen = 255 // one length byte

	fixedPayloadLen = idLen + 8 + 8 + 1 // id, iat, exp, difficulty; the rest varies in length
	maxPayloadLen   = fixedPayloadLen + clearance.MaxDigestLen + 1 + maxLabelLen + 1 + maxLabelLen + 2 + maxReturnTo
)

// Why a token was refused. All of them are the outcome bad_token; the
// distinction is for logs.
var (
	errMalformed  = errors.New("malformed challenge token")
	errUnknownKey = errors.New("challenge token signed by an unknown key")
	errBadMAC     = errors.New("challenge token signature does not match")
)

// token is a decoded challenge token.
type token struct {
	id         [idLen]byte
	iat, exp   int64
	difficulty int
	client     clearance.Digest // whom the token was issued to
	provider   string
	route      string
	returnTo   string
	// kid is the id of the key that signed the token, set by sign and parse; the
	// script proof (proof.go) is derived with the same key.
	kid string
}

// idHex is the challenge id as the proof of work and the redemption store
// see it.
func (t *token) idHex() string { return hex.EncodeToString(t.id[:]) }

// newToken returns a token with a fresh random id for a client with binding
// b, valid for ttl (counted in whole seconds, at least one) from now.
func newToken(now time.Time, ttl time.Duration, b clearance.Binding, provider, route, returnTo string, difficulty int) token {
	t := token{
		iat:        now.Unix(),
		difficulty: difficulty,
		client:     b.Digest(),
		provider:   truncate(provider, maxLabelLen),
		route:      truncate(route, maxLabelLen),
		returnTo:   SafeReturnTo(returnTo),
	}
	t.exp = t.iat + max(int64(ttl/time.Second), 1)
	// crypto/rand.Read never returns an error: it crashes the program
	// rather than hand out predictable ids.
	_, _ = rand.Read(t.id[:])
	return t
}

// expired reports whether the token cannot be redeemed at now: past its
// expiry, or issued further in the future than clock skew between replicas
// explains.
func (t *token) expired(now time.Time) bool {
	n := now.Unix()
	return n >= t.exp || t.iat > n+int64(clockSkew/time.Second)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// tokenKeys signs and verifies challenge tokens: the first key signs, every
// key verifies, as for clearances. It also keeps each key's secret, from
// which a challenge's script proof is derived (proof.go). It is immutable.
type tokenKeys struct {
	env  *clearance.Envelope
	byID map[string][]byte
}

// newTokenKeys copies keys after checking them by the clearance package's
// rules (clearance.NewEnvelope), so one key file serves both.
func newTokenKeys(keys []clearance.Key) (*tokenKeys, error) {
	env, err := clearance.NewEnvelope(tokenPrefix, tokenContext, maxPayloadLen, keys)
	if err != nil {
		return nil, err
	}
	k := &tokenKeys{env: env, byID: make(map[string][]byte, len(keys))}
	for _, key := range keys {
		k.byID[key.ID] = append([]byte(nil), key.Secret...)
	}
	return k, nil
}

// sign returns the text of t signed with the first key, and sets t.kid to
// that key's id.
func (k *tokenKeys) sign(t *token) string {
	t.kid = k.env.SigningKeyID()
	return k.env.Seal(appendPayload(nil, t))
}

// parse verifies s and decodes it. The MAC is checked before the payload is
// decoded, so nothing of an unauthenticated payload is ever interpreted.
func (k *tokenKeys) parse(s string) (token, error) {
	var buf [maxPayloadLen]byte
	raw, kid, err := k.env.Open(s, buf[:])
	switch {
	case errors.Is(err, clearance.ErrUnknownKey):
		return token{}, errUnknownKey
	case errors.Is(err, clearance.ErrBadSignature):
		return token{}, errBadMAC
	case err != nil:
		return token{}, errMalformed
	}
	t, ok := parsePayload(raw)
	if !ok {
		// Only a bug or a leaked key gets here: we signed it.
		return token{}, errMalformed
	}
	t.kid = kid
	return t, nil
}

func appendPayload(dst []byte, t *token) []byte {
	dst = append(dst, t.id[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.iat))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.exp))
	dst = append(dst, byte(t.difficulty))
	dst = t.client.AppendTo(dst)
	dst = append(dst, byte(len(t.provider)))
	dst = append(dst, t.provider...)
	dst = append(dst, byte(len(t.route)))
	dst = append(dst, t.route...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.returnTo)))
	dst = append(dst, t.returnTo...)
	return dst
}

// parsePayload decodes b, accepting only what appendPayload produces.
func parsePayload(b []byte) (token, bool) {
	var t token
	if len(b) < fixedPayloadLen {
		return t, false
	}
	copy(t.id[:], b)
	b = b[idLen:]
	t.iat = int64(binary.BigEndian.Uint64(b))
	t.exp = int64(binary.BigEndian.Uint64(b[8:]))
	t.difficulty = int(b[16])
	var ok bool
	if t.client, b, ok = clearance.CutDigest(b[17:]); !ok {
		return t, false
	}
	if t.provider, b, ok = cutLabel(b, 1); !ok {
		return t, false
	}
	if t.route, b, ok = cutLabel(b, 1); !ok {
		return t, false
	}
	if t.returnTo, b, ok = cutLabel(b, 2); !ok || len(t.returnTo) > maxReturnTo {
		return t, false
	}
	return t, len(b) == 0
}

// cutLabel splits a label with a lenBytes-byte big-endian length off b.
func cutLabel(b []byte, lenBytes int) (label string, rest []byte, ok bool) {
	if len(b) < lenBytes {
		return "", nil, false
	}
	n := int(b[0])
	if lenBytes == 2 {
		n = int(binary.BigEndian.Uint16(b))
	}
	b = b[lenBytes:]
	if len(b) < n {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}
