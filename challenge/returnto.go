package challenge

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// The public paths the Handler serves. Envoy routes everything under Prefix
// to botauthz's public HTTP port with ext_authz disabled.
const (
	// Prefix is the path prefix the Handler owns; mount it there. Any path
	// under it other than the three below is answered 404.
	Prefix = "/.botauthz/"
	// Path is where the challenge page is served.
	Path = Prefix + "challenge"
	// ScriptPath is where the proof-of-work script is served.
	ScriptPath = Path + ".js"
	// VerifyPath is where the challenge page posts its answer.
	VerifyPath = Path + "/verify"
)

// maxReturnTo bounds return_to so a redirect never carries an oversized
// Location header.
const maxReturnTo = 2048

// SafeReturnTo returns p if it is a same-origin relative path that is safe to
// put in a Location header, and "/" otherwise. It refuses absolute URLs,
// scheme-relative "//host" and the backslash variants browsers treat alike,
// control characters (header injection), invalid UTF-8 and over-long values,
// checking the percent-decoded form too so that encoding cannot smuggle any of
// these past a later decoder.
func SafeReturnTo(p string) string {
	if !safePath(p) {
		return "/"
	}
	if strings.IndexByte(p, '%') >= 0 {
		dec, err := url.PathUnescape(p)
		if err != nil || !safePath(dec) {
			return "/"
		}
	}
	return p
}

func safePath(p string) bool {
	if len(p) == 0 || len(p) > maxReturnTo || p[0] != '/' {
		return false
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(p)
}

// URL returns the challenge page's URL for a visitor who wanted returnTo on
// the named route (the route picks the kind of challenge; an unknown or empty
// one means the default route). The result is a relative URL, so the visitor
// stays on the host it asked for.
func URL(returnTo, route string) string {
	return Path + "?route=" + url.QueryEscape(route) + "&return_to=" + url.QueryEscape(SafeReturnTo(returnTo))
}
