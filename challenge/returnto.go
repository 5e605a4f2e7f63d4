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
	// under it other than the six below is answered 404.
	Prefix = "/.botauthz/"
	// Path is where the challenge page is served.
	Path = Prefix + "challenge"
	// ScriptPath is where the proof-of-work script is served.
	ScriptPath = Path + ".js"
	// VerifyPath is where the challenge page posts its answer.
	VerifyPath = Path + "/verify"
	// ProofPath serves a challenge's own script (proof.go).
	ProofPath = Path + "/proof.js"
	// StylePath serves the pages' stylesheet.
	StylePath = Path + ".css"
	// ThemePath serves the policy's colours as a stylesheet (style.go).
	ThemePath = Path + "/theme.css"
)

// maxReturnTo bounds return_to so a redirect never carries an oversized
// Location header.
const maxReturnTo = 2048

// SafeReturnTo returns p, with its dot-segments removed, if it is a
// same-origin relative path that is safe to put in a Location header, and
// "/" otherwise. It refuses absolute URLs, scheme-relative "//host" and the
// backslash variants browsers treat alike, control characters (header
// injection), invalid UTF-8 and over-long values, checking the
// percent-decoded form too so that encoding cannot smuggle any of these past
// a later decoder.
//
// Dot-segments ("." and "..", also spelled with %2E as browsers and many
// servers read them) are removed from the path as RFC 3986 section 5.2.4
// does and the checks run again on the result, because the browser removes
// them before it follows the redirect: "/..//host" would otherwise pass as a
// path and land on "//host". The query and fragment are left as they are,
// and what is returned is exactly what was checked. A path that
// still has a dot-segment once percent-decoded ("/a%2F..%2Fb") is refused,
// since a server that decodes %2F would climb where the check did not look.
// The result is idempotent, so every hop that applies it agrees.
func SafeReturnTo(p string) string {
	// Check the value as given first, so that what normalising drops (a
	// control character in a removed segment, say) is refused all the
	// same.
	if !safeEncoded(p) {
		return "/"
	}
	path, rest := splitPath(p)
	path = removeDotSegments(path)
	n := path + rest
	if n != p && !safeEncoded(n) {
		return "/"
	}
	dec, err := url.PathUnescape(path)
	if err != nil || hasDotSegment(dec) {
		return "/"
	}
	return n
}

// safeEncoded reports whether p passes safePath both as it is and, when it
// has escapes, percent-decoded.
func safeEncoded(p string) bool {
	if !safePath(p) {
		return false
	}
	if strings.IndexByte(p, '%') < 0 {
		return true
	}
	dec, err := url.PathUnescape(p)
	return err == nil && safePath(dec)
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

// splitPath splits a relative reference into its path and the query and
// fragment after it, which dot-segment removal must not touch.
func splitPath(p string) (path, rest string) {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

// removeDotSegments applies RFC 3986 section 5.2.4 to path, which starts
// with "/", reading segments with dotSegment. A final "." or ".." leaves a
// trailing slash ("/a/b/.." is "/a/"), as the RFC does.
func removeDotSegments(path string) string {
	if strings.IndexByte(path, '.') < 0 && strings.IndexByte(path, '%') < 0 {
		return path // nothing to remove: the common case costs no allocation
	}
	segs := strings.Split(path[1:], "/")
	out := make([]string, 0, len(segs))
	for i, seg := range segs {
		switch dotSegment(seg) {
		case 0:
			out = append(out, seg)
			continue
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		}
		if i == len(segs)-1 {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// hasDotSegment reports whether a percent-decoded path still has a
// dot-segment. dotSegment reads a leftover %2E as a dot, so a double-encoded
// "%252E%252E" counts too, for servers that decode twice.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if dotSegment(seg) != 0 {
			return true
		}
	}
	return false
}

// dotSegment returns 1 if seg is ".", 2 if it is "..", and 0 otherwise,
// reading "%2E" or "%2e" as a dot the way the WHATWG URL parser (and so
// every browser) does.
func dotSegment(seg string) int {
	dots := 0
	for i := 0; i < len(seg); dots++ {
		if dots == 2 {
			return 0 // a third dot: "..." is an ordinary name
		}
		switch {
		case seg[i] == '.':
			i++
		case len(seg)-i >= 3 && seg[i] == '%' && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
		default:
			return 0
		}
	}
	return dots
}

// URL returns the challenge page's URL for a visitor who wanted returnTo on
// the named route (the route picks the kind of challenge; an unknown or empty
// one means the default route). The result is a relative URL, so the visitor
// stays on the host it asked for.
func URL(returnTo, route string) string {
	return Path + "?route=" + url.QueryEscape(route) + "&return_to=" + url.QueryEscape(SafeReturnTo(returnTo))
}
