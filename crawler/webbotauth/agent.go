package webbotauth

import (
	"errors"
	"net/url"
	"strings"
)

// This file reads the Signature-Agent field and matches the URL a signature
// covers to a configured agent.
//
// draft-ietf-webbotauth-httpsig-protocol-01 §5.2.1 makes Signature-Agent a
// Dictionary whose member keyed to the signature's label is covered as
// "signature-agent";key="<label>", each member a String holding an https
// URL and carrying no parameters (a verifier MUST ignore a member with
// parameters). Earlier drafts (draft-meunier-web-bot-auth-architecture up to
// -03, and the deployed web-bot-auth npm package 0.1.3) send one bare String,
// Signature-Agent: "https://…", covered as "signature-agent"; -01 lets a
// verifier accept it as a one-member dictionary keyed to the label, and we do.
//
// What the URL means changed too. Up to draft-ietf-webbotauth-httpsig-protocol-00
// the value (of the default "directory" type) was an origin whose key
// directory sits at /.well-known/http-message-signatures-directory; -01
// makes every value the URL of the JWK Set itself. We accept both: an origin
// (empty path or "/") names the configured agent with that origin, any
// other URL must equal a configured agent's directory URL (its well-known
// URL, or the URL configured for it), query and fragment dropped as -01
// §5.5 drops them from the identifier.

// maxAgentLen bounds the agent reported for an untrusted signature: it is
// client-chosen text headed for logs.
const maxAgentLen = 256

var errAgentAmbiguous = errors.New("signature covers several signature-agent members, none keyed to its label")

// isLegacyAgent reports whether a Signature-Agent value is the bare String
// of earlier drafts: a String starts with a double quote, a Dictionary key
// cannot (-01 §5.2.1).
func isLegacyAgent(v string) bool {
	v = trimOWS(v)
	return v != "" && v[0] == '"'
}

// agentClaim is the Signature-Agent member a signature covers.
type agentClaim struct {
	key    string // dictionary key; "" for the bare-string form
	url    string
	params bool // the member carried parameters
}

// signatureAgent holds the request's Signature-Agent field, parsed once
// for all the signatures of a request.
type signatureAgent struct {
	raw    string
	parsed bool
	legacy *item
	dict   []member
	err    error
}

func (a *signatureAgent) parse() error {
	if a.parsed {
		return a.err
	}
	a.parsed = true
	if len(a.raw) > maxFieldBytes {
		a.err = errors.New("signature-agent field too large")
		return a.err
	}
	if isLegacyAgent(a.raw) {
		it, err := parseItem(a.raw)
		if err == nil && it.value.kind != kindString {
			err = errors.New("signature-agent field is not a string")
		}
		a.legacy, a.err = &it, err
		return a.err
	}
	a.dict, a.err = parseDictionary(a.raw)
	return a.err
}

// coveredAgent returns the Signature-Agent member the signature labelled
// label covers. covered is false when the signature covers none. Several
// covered members are fine when one is keyed to the label (a signer that
// also covers another signer's member, -01 §5.2.2); otherwise which agent
// signed is ambiguous, an error.
func (a *signatureAgent) coveredAgent(sig *member, label string) (claim agentClaim, covered bool, err error) {
	var claims []agentClaim
	for i := range sig.items {
		c := &sig.items[i]
		if c.value.kind != kindString || c.value.str != "signature-agent" {
			continue
		}
		if err := a.parse(); err != nil {
			return agentClaim{}, true, err
		}
		cl, err := a.claimFor(c, label)
		if err != nil {
			return agentClaim{}, true, err
		}
		claims = append(claims, cl)
	}
	if len(claims) == 0 {
		return agentClaim{}, false, nil
	}
	for _, cl := range claims {
		if cl.key == label {
			return cl, true, nil
		}
	}
	for _, cl := range claims[1:] {
		if cl != claims[0] {
			return agentClaim{}, true, errAgentAmbiguous
		}
	}
	return claims[0], true, nil // one member, perhaps covered in two forms
}

// claimFor resolves one covered "signature-agent" component to a member.
func (a *signatureAgent) claimFor(c *item, label string) (agentClaim, error) {
	if k, ok := c.param("key"); ok {
		if k.kind != kindString || a.legacy != nil {
			return agentClaim{}, errors.New("signature-agent;key on a field that is not a dictionary")
		}
		for i := range a.dict {
			if a.dict[i].key == k.str {
				return memberClaim(&a.dict[i])
			}
		}
		return agentClaim{}, errors.New("covered signature-agent member is missing")
	}
	if a.legacy != nil {
		return agentClaim{url: a.legacy.value.str, params: len(a.legacy.params) > 0}, nil
	}
	// The whole dictionary is covered: the member keyed to the label names
	// the signer, or the only member if there is one.
	for i := range a.dict {
		if a.dict[i].key == label {
			return memberClaim(&a.dict[i])
		}
	}
	if len(a.dict) == 1 {
		return memberClaim(&a.dict[0])
	}
	return agentClaim{}, errAgentAmbiguous
}

func memberClaim(m *member) (agentClaim, error) {
	if m.inner || m.item.value.kind != kindString {
		return agentClaim{}, errors.New("signature-agent member is not a string")
	}
	return agentClaim{key: m.key, url: m.item.value.str, params: len(m.item.params) > 0}, nil
}

// agentURL is a Signature-Agent URL reduced to what identifies it: the
// origin (lower-case https://host[:port], default port dropped) and the
// path ("/" when empty), without query or fragment.
type agentURL struct {
	origin string
	path   string
}

// parseAgentURL normalizes an https URL (RFC 3986 §6.2.2 and §6.2.3: case,
// default port, empty path; percent-encodings compared decoded).
func parseAgentURL(raw string) (agentURL, bool) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Opaque != "" || u.User != nil || u.Host == "" {
		return agentURL{}, false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Host), ":443")
	if strings.HasSuffix(host, ":") {
		return agentURL{}, false // "https://host:" has an empty port
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	return agentURL{origin: "https://" + host, path: p}, true
}

// isOrigin reports whether the URL names an origin rather than a resource.
func (a agentURL) isOrigin() bool { return a.path == "/" }

func (a agentURL) String() string {
	if a.isOrigin() {
		return a.origin
	}
	return a.origin + a.path
}
