package webbotauth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// This file checks the signatures a directory server may put on its own
// response (draft-ietf-webbotauth-httpsig-protocol-01 Appendix B.1): one
// per key, tag="http-message-signatures-directory", covering
// "@authority";req and content-digest (RFC 9530).
//
// -01 makes this proof optional for a verifier that resolves the directory
// itself (Appendix B.1: "A verifier MAY use a key obtained by resolving the
// directory itself whether or not it has valid proof"); it matters for the
// domain binding and for redistributed key material, neither of which this
// package does. So a response without proof is accepted: we fetched it
// over TLS from the URL the operator configured. A response that carries
// proof must carry a valid one: the body and its proof come in one
// response from the operator, and when they disagree (a bad signature, a
// digest that does not match the body, a proof dated in the future, which
// Appendix B.1 says MUST be rejected, or one expired) the publisher or
// something on the path is broken, and the fetch fails, keeping the last
// good key set.

const directoryTag = "http-message-signatures-directory"

// verifyDirectoryProof checks every directory signature of a response.
// proven is true when there was at least one and all that could be
// checked verified. A signature by a key of a type this package does not
// verify is skipped.
func verifyDirectoryProof(h http.Header, body []byte, authority string, ks *keySet, now time.Time, skew time.Duration) (proven bool, err error) {
	in := strings.Join(h.Values("Signature-Input"), ", ")
	if !strings.Contains(in, directoryTag) {
		return false, nil
	}
	inputs, err := parseDictionary(in)
	if err != nil {
		return false, fmt.Errorf("signature-input field: %w", err)
	}
	sigs, err := parseDictionary(strings.Join(h.Values("Signature"), ", "))
	if err != nil {
		return false, fmt.Errorf("signature field: %w", err)
	}
	res := proofResolver{authority: authority, fields: map[string]string{}}
	for name, vals := range h {
		res.fields[strings.ToLower(name)] = strings.Join(vals, ", ")
	}
	digestChecked := false
	for i := range inputs {
		m := &inputs[i]
		if !m.inner {
			continue
		}
		if tag, ok := findParam(m.params, "tag"); !ok || tag.kind != kindString || tag.str != directoryTag {
			continue
		}
		ok, err := verifyOneProof(m, sigs, res, ks, now, skew)
		if err != nil {
			return false, fmt.Errorf("signature %q: %w", m.key, err)
		}
		if !ok {
			continue
		}
		if !digestChecked {
			if err := checkContentDigest(res.fields["content-digest"], body); err != nil {
				return false, err
			}
			digestChecked = true
		}
		proven = true
	}
	return proven, nil
}

// verifyOneProof checks one directory signature; ok is false when it was
// made with a key this package does not verify.
func verifyOneProof(m *member, sigs []member, res proofResolver, ks *keySet, now time.Time, skew time.Duration) (ok bool, err error) {
	var sig []byte
	for i := range sigs {
		if sigs[i].key == m.key && !sigs[i].inner && sigs[i].item.value.kind == kindBytes {
			sig = sigs[i].item.value.bytes
		}
	}
	if sig == nil {
		return false, errors.New("no matching Signature member")
	}
	sp, ok := readSigParams(m.params)
	if !ok {
		return false, errors.New("created, expires and keyid are required")
	}
	s := int64(skew.Seconds())
	switch t := now.Unix(); {
	case sp.created > t+s:
		return false, errors.New("created is in the future")
	case t > sp.expires+s:
		return false, errors.New("expired")
	}
	var coversAuthority, coversDigest bool
	for i := range m.items {
		c := &m.items[i]
		if c.value.kind != kindString {
			return false, errors.New("component identifier is not a string")
		}
		switch c.value.str {
		case "@authority":
			_, req := c.param("req")
			coversAuthority = coversAuthority || (req && len(c.params) == 1)
		case "content-digest":
			coversDigest = coversDigest || len(c.params) == 0
		}
	}
	if !coversAuthority || !coversDigest {
		return false, errors.New(`must cover "@authority";req and "content-digest"`)
	}
	key, found := ks.ed[sp.keyid]
	if !found {
		if _, other := ks.other[sp.keyid]; other {
			return false, nil
		}
		return false, fmt.Errorf("keyid %q is not a key of the directory", sp.keyid)
	}
	if sp.hasAlg && sp.alg != "ed25519" {
		return false, fmt.Errorf("alg %q on an Ed25519 key", sp.alg)
	}
	base, err := appendSignatureBase(nil, m, res)
	if err != nil {
		return false, err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(key.pub, base, sig) {
		return false, errors.New("bad signature")
	}
	return true, nil
}

// proofResolver resolves the components of a directory response: fields
// of the response, and the authority of the request that fetched it.
type proofResolver struct {
	authority string
	fields    map[string]string
}

func (p proofResolver) componentValue(c *item) (string, error) {
	name := c.value.str
	if name == "@authority" {
		// Only with req: a response has no authority of its own (RFC 9421
		// §2.4).
		if _, req := c.param("req"); !req || len(c.params) != 1 {
			return "", errUnknownParam
		}
		return p.authority, nil
	}
	if name == "@status" {
		if len(c.params) != 0 {
			return "", errUnknownParam
		}
		return "200", nil // only a 200 response is read at all
	}
	if name[0] == '@' {
		return "", errUnknownDerive
	}
	return fieldValue(p.fields, name, c.params)
}

// checkContentDigest checks an RFC 9530 Content-Digest against the body:
// every sha-256 and sha-512 member must match, and one must be present.
func checkContentDigest(field string, body []byte) error {
	if field == "" {
		return errors.New("no content-digest field")
	}
	dict, err := parseDictionary(field)
	if err != nil {
		return fmt.Errorf("content-digest field: %w", err)
	}
	checked := false
	for _, m := range dict {
		if m.inner || m.item.value.kind != kindBytes {
			continue
		}
		var sum []byte
		switch m.key {
		case "sha-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		if subtle.ConstantTimeCompare(sum, m.item.value.bytes) != 1 {
			return fmt.Errorf("content-digest %s does not match the body", m.key)
		}
		checked = true
	}
	if !checked {
		return errors.New("content-digest has no sha-256 or sha-512 member")
	}
	return nil
}
