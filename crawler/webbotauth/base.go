package webbotauth

import (
	"errors"
	"fmt"
)

// This file builds the RFC 9421 §2.5 signature base: one line per covered
// component, then the "@signature-params" line.

// maxComponents bounds the covered components of one signature; real
// signatures cover a handful, and the bound keeps the duplicate check and
// the base small whatever a client sends.
const maxComponents = 32

// resolver gives the component value of one covered component identifier
// for the message being verified (a request, or a directory response).
type resolver interface {
	componentValue(c *item) (string, error)
}

// appendSignatureBase appends the signature base of the signature whose
// Signature-Input member value is sig to b. Every problem is an error: RFC
// 9421 §2.5 says an unresolvable component fails the verification.
func appendSignatureBase(b []byte, sig *member, res resolver) ([]byte, error) {
	if !sig.inner {
		return nil, errors.New("signature input is not an inner list")
	}
	if len(sig.items) > maxComponents {
		return nil, fmt.Errorf("%d covered components, over %d", len(sig.items), maxComponents)
	}
	for i := range sig.items {
		c := &sig.items[i]
		if c.value.kind != kindString {
			return nil, errors.New("component identifier is not a string")
		}
		if !validComponentName(c.value.str) {
			return nil, fmt.Errorf("component name %q", c.value.str)
		}
		for j := range i {
			if sameComponent(&sig.items[j], c) {
				return nil, fmt.Errorf("component %q covered twice", c.value.str)
			}
		}
		v, err := res.componentValue(c)
		if err != nil {
			return nil, fmt.Errorf("component %q: %w", c.value.str, err)
		}
		if !baseSafe(v) {
			return nil, fmt.Errorf("component %q: value is not printable ASCII", c.value.str)
		}
		b = appendItem(b, *c)
		b = append(b, ':', ' ')
		b = append(b, v...)
		b = append(b, '\n')
	}
	// The parameters need no check: every bare item serializes to
	// printable ASCII (Display Strings are percent-encoded).
	b = append(b, `"@signature-params": `...)
	return appendMemberValue(b, *sig), nil
}

// validComponentName accepts lower-case field names (RFC 9421 §2.1 requires
// them lower-cased) and "@" derived names; "@signature-params" may never be
// covered (§2.3).
func validComponentName(name string) bool {
	if name == "" || name == "@signature-params" {
		return false
	}
	start := 0
	if name[0] == '@' {
		start = 1
		if len(name) == 1 {
			return false
		}
	}
	for i := start; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' || !isTChar(c) {
			return false
		}
	}
	return true
}

// sameComponent reports whether two identifiers are equal: same name and
// the same parameters in any order (RFC 9421 §2).
func sameComponent(a, b *item) bool {
	if a.value.str != b.value.str || len(a.params) != len(b.params) {
		return false
	}
	for _, p := range a.params {
		q, ok := findParam(b.params, p.key)
		if !ok || !sameBareItem(p.value, q) {
			return false
		}
	}
	return true
}

func sameBareItem(a, b bareItem) bool {
	return a.kind == b.kind && a.num == b.num && a.str == b.str && string(a.bytes) == string(b.bytes)
}

// baseSafe reports whether a component value may appear in a signature
// base: printable ASCII, spaces and tabs, no newline (RFC 9421 §2 and §2.5
// step 4).
func baseSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// boolParam reads a flag parameter such as ;sf or ;req: present means true,
// and anything but a true Boolean is an error.
func boolParam(v bareItem) error {
	if v.kind != kindBoolean || v.num != 1 {
		return errors.New("flag parameter is not ?1")
	}
	return nil
}
