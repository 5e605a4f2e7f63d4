package clearance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// An Envelope signs a binary payload into text and opens it again. It is
// the one format of every value botauthz signs for a client to carry back:
// the clearance cookie (v1) and the challenge token (c1). The text is
//
//	<prefix><kid>.<base64url(payload)>.<base64url(mac)>
//
// with unpadded base64url, so every byte is an RFC 6265 cookie-octet and
// safe in a URL or a form. The kid may contain dots, base64url cannot, so the
// text is split at its last two dots. The MAC is
//
//	HMAC-SHA256(secret, context || "<prefix><kid>.<base64url(payload)>")
//
// over the text exactly as sent, so no other spelling of the same fields
// verifies; the context names the kind of value and its version, so a MAC
// made for one kind can never pass as another even though they share keys.
// The payload is signed, not encrypted.
//
// The first key signs, every key verifies, so keys rotate as the README
// says. An Envelope is immutable and safe for concurrent use; Open allocates
// nothing, because the clearance cookie is opened on every request that
// carries one.
type Envelope struct {
	prefix, context string
	maxPayload      int
	maxText         int
	signing         *envelopeKey
	byID            map[string]*envelopeKey
}

// envelopeKey is one key of an Envelope with a pool of hashing state:
// building an HMAC costs several allocations and two SHA-256 blocks.
type envelopeKey struct {
	id   string
	pool sync.Pool // of *envelopeScratch
}

// envelopeScratch is the working state of one Seal or Open, used by one
// goroutine between pool Get and Put.
type envelopeScratch struct {
	mac hash.Hash // HMAC-SHA256 keyed with the key's secret
	// buf holds the context followed by the signed text.
	buf []byte
	sum [sha256.Size]byte
}

// Why Open refused a text.
var (
	// ErrMalformed is a text that is not an envelope of this kind: wrong
	// prefix, characters, key id, lengths or base64.
	ErrMalformed = errors.New("malformed")
	// ErrUnknownKey is a well-formed text signed by a key not in the set.
	ErrUnknownKey = errors.New("signed by an unknown key")
	// ErrBadSignature is a text whose MAC does not match its key.
	ErrBadSignature = errors.New("signature does not match")
)

const macB64Len = (sha256.Size*8 + 5) / 6

// NewEnvelope returns an Envelope for texts starting with prefix, MACs
// keyed after context, payloads of at most maxPayload bytes, signed by
// keys[0]. The keys must follow the rules of every clearance key (ids of
// 1–32 characters of A-Z a-z 0-9 . _ -, secrets of at least 32 bytes, unique
// ids), so one key file serves every kind of envelope. It copies the keys.
func NewEnvelope(prefix, context string, maxPayload int, keys []Key) (*Envelope, error) {
	if err := checkKeys(keys, entryPos); err != nil {
		return nil, err
	}
	if prefix == "" || strings.ContainsFunc(prefix, func(r rune) bool { return r > 0x7f || !idChar(byte(r)) }) {
		return nil, fmt.Errorf("envelope prefix %q: want characters of A-Z a-z 0-9 . _ -", prefix)
	}
	e := &Envelope{
		prefix:     prefix,
		context:    context,
		maxPayload: maxPayload,
		maxText:    len(prefix) + maxKeyIDLen + 1 + base64.RawURLEncoding.EncodedLen(maxPayload) + 1 + macB64Len,
		byID:       make(map[string]*envelopeKey, len(keys)),
	}
	bufLen := len(context) + e.maxText
	for i, k := range keys {
		secret := append([]byte(nil), k.Secret...)
		ek := &envelopeKey{id: k.ID}
		ek.pool.New = func() any {
			return &envelopeScratch{mac: hmac.New(sha256.New, secret), buf: make([]byte, bufLen)}
		}
		e.byID[k.ID] = ek
		if i == 0 {
			e.signing = ek
		}
	}
	return e, nil
}

// MaxPayload is the longest payload e seals and opens.
func (e *Envelope) MaxPayload() int { return e.maxPayload }

// SigningKeyID is the id of the key Seal signs with.
func (e *Envelope) SigningKeyID() string { return e.signing.id }

// Seal returns the text of payload signed with the first key. A payload
// longer than MaxPayload is a caller's bug, and panics.
func (e *Envelope) Seal(payload []byte) string {
	if len(payload) > e.maxPayload {
		panic(fmt.Sprintf("clearance: envelope payload of %d bytes, more than %d", len(payload), e.maxPayload))
	}
	k := e.signing
	sc := k.pool.Get().(*envelopeScratch)
	defer k.pool.Put(sc)
	// The signed text is built right after the context, so the MAC input
	// needs no copy.
	w := copy(sc.buf, e.context)
	start := w
	w += copy(sc.buf[w:], e.prefix)
	w += copy(sc.buf[w:], k.id)
	sc.buf[w] = '.'
	w++
	base64.RawURLEncoding.Encode(sc.buf[w:], payload)
	w += base64.RawURLEncoding.EncodedLen(len(payload))
	mac := sc.sign(w)
	sc.buf[w] = '.'
	w++
	base64.RawURLEncoding.Encode(sc.buf[w:], mac)
	w += macB64Len
	return string(sc.buf[start:w])
}

// Open checks text and returns its payload, decoded into dst (which must
// hold MaxPayload bytes), and the id of the key that signed it. The checks
// run in the order form, key, MAC. With ErrUnknownKey and ErrBadSignature
// the decoded payload is returned too, unauthenticated, so that a caller
// can tell a value that is not its kind at all (a payload of the wrong
// shape) from a forged one; it must not interpret it further. Open refuses a
// text longer than any Seal makes before looking at it, so garbage costs
// little. The key id returned is the Envelope's own copy: it does not pin
// text.
func (e *Envelope) Open(text string, dst []byte) (payload []byte, kid string, err error) {
	if len(text) > e.maxText || !strings.HasPrefix(text, e.prefix) {
		return nil, "", ErrMalformed
	}
	signedEnd := strings.LastIndexByte(text, '.')
	if signedEnd < len(e.prefix) {
		return nil, "", ErrMalformed
	}
	signed, mac64 := text[:signedEnd], text[signedEnd+1:]
	dot := strings.LastIndexByte(signed, '.')
	if dot < len(e.prefix) {
		return nil, "", ErrMalformed
	}
	id, payload64 := signed[len(e.prefix):dot], signed[dot+1:]
	if !validKeyID(id) || len(mac64) != macB64Len {
		return nil, "", ErrMalformed
	}
	var mac [sha256.Size]byte
	if n, ok := decodeB64(mac[:], mac64); !ok || n != len(mac) {
		return nil, "", ErrMalformed
	}
	n, ok := decodeB64(dst[:min(len(dst), e.maxPayload)], payload64)
	if !ok {
		return nil, "", ErrMalformed
	}
	k := e.byID[id]
	if k == nil {
		return dst[:n], "", ErrUnknownKey
	}
	sc := k.pool.Get().(*envelopeScratch)
	defer k.pool.Put(sc)
	w := copy(sc.buf, e.context)
	w += copy(sc.buf[w:], signed)
	if !hmac.Equal(sc.sign(w), mac[:]) {
		return dst[:n], "", ErrBadSignature
	}
	return dst[:n], k.id, nil
}

// sign returns the MAC of sc.buf[:n] (the context and the signed text). The
// result aliases sc.sum.
func (sc *envelopeScratch) sign(n int) []byte {
	sc.mac.Reset()
	sc.mac.Write(sc.buf[:n])
	return sc.mac.Sum(sc.sum[:0])
}
