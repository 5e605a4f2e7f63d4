package webbotauth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file reads a key directory: a JWK Set (RFC 7517 §5) whose keys are
// found by their RFC 7638 SHA-256 thumbprint, the keyid of
// draft-ietf-webbotauth-httpsig-protocol-01 §5.2.

const (
	// maxKeys bounds a directory's keys: -01 §6.7 asks verifiers to
	// enforce a maximum key count, and an agent rotates with two or three.
	maxKeys = 64
	// rfc9421TestKeyX is the public key of RFC 9421 Appendix B.1.4
	// (test-key-ed25519): -01 §6.8 says verifiers SHOULD reject known test
	// keys found in directories, since anyone can sign with them.
	rfc9421TestKeyX = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
)

// directoryKey is one usable Ed25519 key.
type directoryKey struct {
	pub ed25519.PublicKey
	// nbf and exp are the draft's optional per-key validity (its §5.5.1
	// example carries them), Unix seconds; 0 when absent.
	nbf, exp int64
}

// keySet is one successfully read directory. It is never modified once
// published, so Verify reads it without locks.
type keySet struct {
	ed map[string]directoryKey // by thumbprint
	// other holds the thumbprints of well-formed keys of types this package
	// does not verify (RSA, EC, other OKP curves), so a signature by one is
	// reported as unsupported rather than as a forgery.
	other   map[string]struct{}
	fetched time.Time
	proven  bool // the response carried directory signatures, all valid
}

// jwk holds the members of a JWK this package reads.
type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	D      string   `json:"d"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Nbf    *float64 `json:"nbf"`
	Exp    *float64 `json:"exp"`
}

// parseJWKS reads a JWK Set. A key this package cannot use is skipped, and
// why is returned for the log; a body that is not a JWK Set, or holds more
// than maxKeys keys, is an error.
func parseJWKS(body []byte, allowTestKeys bool) (*keySet, []string, error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`not a JWK Set: no "keys" member`)
	}
	if n := len(*doc.Keys); n > maxKeys {
		return nil, nil, fmt.Errorf("%d keys, over the limit of %d", n, maxKeys)
	}
	ks := &keySet{ed: map[string]directoryKey{}, other: map[string]struct{}{}}
	var skipped []string
	for i, raw := range *doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		if k.Kty == "OKP" && k.Crv == "Ed25519" {
			id, dk, err := edKey(&k, allowTestKeys)
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
				continue
			}
			ks.ed[id] = dk
			continue
		}
		if id, ok := otherThumbprint(&k); ok {
			ks.other[id] = struct{}{}
			continue
		}
		skipped = append(skipped, fmt.Sprintf("key %d: unsupported kty %q crv %q", i, k.Kty, k.Crv))
	}
	return ks, skipped, nil
}

// edKey checks an Ed25519 JWK (RFC 8037 §2) and returns its thumbprint.
// kid is not read: -01 §5.5 requires it to equal the thumbprint at the
// well-known URI, and deriving the id ourselves checks the directory's
// labelling instead of trusting it.
func edKey(k *jwk, allowTestKeys bool) (string, directoryKey, error) {
	if k.D != "" {
		return "", directoryKey{}, errors.New("directory publishes a private key")
	}
	if k.Use != "" && k.Use != "sig" {
		return "", directoryKey{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return "", directoryKey{}, errors.New("key_ops lacks verify")
	}
	switch k.Alg {
	case "", "EdDSA", "Ed25519", "ed25519": // JOSE names and the RFC 9421 one
	default:
		return "", directoryKey{}, fmt.Errorf("alg %q on an Ed25519 key", k.Alg)
	}
	x, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.X, "="))
	if err != nil || len(x) != ed25519.PublicKeySize {
		return "", directoryKey{}, errors.New("x is not a base64url Ed25519 public key")
	}
	canonicalX := base64.RawURLEncoding.EncodeToString(x)
	if canonicalX == rfc9421TestKeyX && !allowTestKeys {
		return "", directoryKey{}, errors.New("RFC 9421 test key refused")
	}
	dk := directoryKey{pub: ed25519.PublicKey(x)}
	if k.Nbf != nil {
		dk.nbf = int64(*k.Nbf)
	}
	if k.Exp != nil {
		dk.exp = int64(*k.Exp)
	}
	return thumbprint("crv", "Ed25519", "kty", "OKP", "x", canonicalX), dk, nil
}

// otherThumbprint gives the thumbprint of a well-formed key of another
// type, with the required members of RFC 7638 §3.2 (RSA, EC) and RFC 8037
// §2 (other OKP curves).
func otherThumbprint(k *jwk) (string, bool) {
	switch {
	case k.Kty == "RSA" && k.N != "" && k.E != "":
		return thumbprint("e", k.E, "kty", "RSA", "n", k.N), true
	case k.Kty == "EC" && k.Crv != "" && k.X != "" && k.Y != "":
		return thumbprint("crv", k.Crv, "kty", "EC", "x", k.X, "y", k.Y), true
	case k.Kty == "OKP" && k.Crv != "" && k.X != "":
		return thumbprint("crv", k.Crv, "kty", "OKP", "x", k.X), true
	}
	return "", false
}

// thumbprint is the RFC 7638 JWK SHA-256 thumbprint, base64url without
// padding, of the required members given as name, value pairs already in
// lexicographic order: their JSON object without whitespace, hashed.
func thumbprint(pairs ...string) string {
	b := make([]byte, 0, 128)
	b = append(b, '{')
	for i := 0; i < len(pairs); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, pairs[i])
		b = append(b, ':')
		b = appendJSONString(b, pairs[i+1])
	}
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// appendJSONString escapes only what RFC 8259 requires, as RFC 7638 §3.3
// asks; encoding/json would also escape <, > and &.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// activeAt reports whether the key's own validity window, if any, holds at
// now, with the verifier's skew.
func (k directoryKey) activeAt(now, skew int64) bool {
	if k.nbf != 0 && now+skew < k.nbf {
		return false
	}
	if k.exp != 0 && now-skew > k.exp {
		return false
	}
	return true
}
