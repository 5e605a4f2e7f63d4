package webbotauth

import (
	"errors"
	"fmt"
	"strings"
)

// This file resolves covered components against a request as Envoy's
// ext_authz CheckRequest describes it (RFC 9421 §2.1 fields, §2.2 derived
// components).

var (
	errFieldMissing  = errors.New("field not in message")
	errUnknownParam  = errors.New("unknown or inapplicable component parameter")
	errUnknownDerive = errors.New("unknown derived component")
)

// requestResolver resolves components of a request.
type requestResolver struct {
	r *Request
}

func (rr requestResolver) componentValue(c *item) (string, error) {
	name := c.value.str
	if name[0] == '@' {
		return rr.derived(name, c.params)
	}
	return fieldValue(rr.r.Headers, name, c.params)
}

// derived gives a derived component's value (RFC 9421 §2.2). Only
// @query-param takes a parameter; "req" marks a request component inside a
// signed response, so on a request it is an error like any other
// (§2.5 step 2.4).
func (rr requestResolver) derived(name string, params []param) (string, error) {
	if name == "@query-param" {
		return queryParam(rr.r.Path, params)
	}
	if len(params) > 0 {
		return "", errUnknownParam
	}
	r := rr.r
	switch name {
	case "@method":
		// Case-sensitive, taken as is (§2.2.1).
		if r.Method == "" {
			return "", errFieldMissing
		}
		return r.Method, nil
	case "@authority":
		return requestAuthority(r)
	case "@scheme":
		if r.Scheme == "" {
			return "", errFieldMissing
		}
		return strings.ToLower(r.Scheme), nil
	case "@target-uri":
		authority, err := requestAuthority(r)
		if err != nil || r.Scheme == "" {
			return "", errFieldMissing
		}
		return strings.ToLower(r.Scheme) + "://" + authority + requestTarget(r), nil
	case "@request-target":
		return requestTarget(r), nil
	case "@path":
		p, _, _ := strings.Cut(requestTarget(r), "?")
		if p == "" {
			return "/", nil // §2.2.6: an empty path is "/"
		}
		return p, nil
	case "@query":
		// §2.2.7: the query with its "?", or "?" alone when there is none.
		_, q, _ := strings.Cut(requestTarget(r), "?")
		return "?" + q, nil
	}
	return "", errUnknownDerive
}

// requestTarget is the path and query as sent; Envoy gives the origin form.
func requestTarget(r *Request) string {
	if r.Path == "" {
		return "/"
	}
	return r.Path
}

// requestAuthority is @authority: the :authority (Host for HTTP/1.1, which
// Envoy also reports as :authority) lower-cased and without the scheme's
// default port (RFC 9421 §2.2.3, RFC 9110 §4.2.3).
func requestAuthority(r *Request) (string, error) {
	a := r.Authority
	if a == "" {
		a = r.Headers["host"]
	}
	if a == "" {
		return "", errFieldMissing
	}
	return normalizeAuthority(a, r.Scheme), nil
}

// normalizeAuthority lower-cases an authority and drops the scheme's
// default port. An empty scheme drops either default port: both ends of a
// signature then agree whatever the proxy reported.
func normalizeAuthority(a, scheme string) string {
	a = strings.ToLower(a)
	switch strings.ToLower(scheme) {
	case "https":
		return strings.TrimSuffix(a, ":443")
	case "http":
		return strings.TrimSuffix(a, ":80")
	case "":
		return strings.TrimSuffix(strings.TrimSuffix(a, ":443"), ":80")
	}
	return a
}

// fieldValue gives an HTTP field's component value (RFC 9421 §2.1):
// the field value with surrounding whitespace removed, re-serialized
// strictly under ;sf (§2.1.1), or one Dictionary member under ;key=
// (§2.1.2). bs, req and tr need the field's separate lines, a response or
// trailers, none of which an ext_authz CheckRequest carries: they are
// errors, as any unknown parameter is.
func fieldValue(headers map[string]string, name string, params []param) (string, error) {
	raw, ok := headers[name]
	if !ok {
		return "", errFieldMissing
	}
	raw = trimOWS(raw)
	var key string
	sf, hasKey := false, false
	for _, p := range params {
		switch p.key {
		case "sf":
			if err := boolParam(p.value); err != nil {
				return "", err
			}
			sf = true
		case "key":
			if p.value.kind != kindString {
				return "", errors.New("key parameter is not a string")
			}
			key, hasKey = p.value.str, true
		default:
			return "", errUnknownParam
		}
	}
	switch {
	case hasKey:
		// A key names a Dictionary member whatever the field: the signer
		// asserted the type by using it, and a value that does not parse as
		// a Dictionary fails the verification.
		dict, err := parseDictionary(raw)
		if err != nil {
			return "", fmt.Errorf("field %s: %w", name, err)
		}
		for _, m := range dict {
			if m.key == key {
				return string(appendMemberValue(nil, m)), nil
			}
		}
		return "", fmt.Errorf("dictionary member %q: %w", key, errFieldMissing)
	case sf:
		return strictSerialize(name, raw)
	}
	return raw, nil
}

// sfType is the Structured Field type of a field this package knows.
type sfType uint8

const (
	sfItem sfType = iota + 1
	sfList
	sfDictionary
)

// structuredType gives the type of the fields ;sf can re-serialize. RFC
// 9421 §2.1.1 makes ;sf an error for a field whose type the verifier does
// not know; these are the ones a bot might plausibly cover.
func structuredType(name string) sfType {
	switch name {
	case "signature-agent": // draft-ietf-webbotauth-httpsig-protocol-01 §5.2.1
		return sfDictionary
	case "content-digest", "repr-digest", "want-content-digest": // RFC 9530
		return sfDictionary
	case "priority": // RFC 9218
		return sfDictionary
	case "sec-ch-ua": // User-Agent Client Hints
		return sfList
	case "sec-ch-ua-mobile", "sec-ch-ua-platform":
		return sfItem
	}
	return 0
}

func strictSerialize(name, raw string) (string, error) {
	t := structuredType(name)
	if name == "signature-agent" && isLegacyAgent(raw) {
		t = sfItem // the bare-string form of earlier drafts
	}
	switch t {
	case sfItem:
		it, err := parseItem(raw)
		if err != nil {
			return "", fmt.Errorf("field %s: %w", name, err)
		}
		return string(appendItem(nil, it)), nil
	case sfList:
		l, err := parseList(raw)
		if err != nil {
			return "", fmt.Errorf("field %s: %w", name, err)
		}
		return string(appendList(nil, l)), nil
	case sfDictionary:
		d, err := parseDictionary(raw)
		if err != nil {
			return "", fmt.Errorf("field %s: %w", name, err)
		}
		return string(appendDictionary(nil, d)), nil
	}
	return "", fmt.Errorf("field %s: structured type unknown", name)
}
