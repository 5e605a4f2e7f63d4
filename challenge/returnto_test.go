package challenge

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestSafeReturnTo(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"keeps a plain path", "/login", "/login"},
		{"keeps the query string", "/search?q=a+b&page=2", "/search?q=a+b&page=2"},
		{"keeps an absolute URL inside the query", "/go?to=https://example.org/", "/go?to=https://example.org/"},
		{"keeps harmless percent-encoding", "/caf%C3%A9", "/caf%C3%A9"},
		{"refuses empty", "", "/"},
		{"refuses a relative path without slash", "login", "/"},
		{"refuses scheme-relative", "//evil.example", "/"},
		{"refuses scheme-relative with path", "//evil.example/login", "/"},
		{"refuses backslash after slash", `/\evil.example`, "/"},
		{"refuses backslash anywhere", `/a\b`, "/"},
		{"refuses an absolute URL", "https://evil.example", "/"},
		{"refuses an upper-case absolute URL", "HTTPS://evil.example/", "/"},
		{"refuses javascript", "javascript:alert(1)", "/"},
		{"refuses mixed-case javascript", "JaVaScRiPt:alert(1)", "/"},
		{"refuses percent-encoded double slash", "/%2F%2Fevil.example", "/"},
		{"refuses mixed-case percent-encoded slash", "/%2f/evil.example", "/"},
		{"refuses percent-encoded backslash", "/%5Cevil.example", "/"},
		{"refuses percent-encoded lower-case backslash", "/%5cevil.example", "/"},
		{"refuses CR LF injection", "/a\r\nSet-Cookie: x=1", "/"},
		{"refuses percent-encoded CR LF", "/a%0d%0aSet-Cookie:%20x=1", "/"},
		{"refuses a tab", "/a\tb", "/"},
		{"refuses NUL", "/a\x00b", "/"},
		{"refuses invalid UTF-8", "/a\xffb", "/"},
		{"refuses a broken escape", "/a%zz", "/"},
		{"refuses over-long values", "/" + strings.Repeat("a", maxReturnTo), "/"},
		{"keeps the longest allowed value", "/" + strings.Repeat("a", maxReturnTo-1), "/" + strings.Repeat("a", maxReturnTo-1)},

		// Dot-segments are removed (RFC 3986 section 5.2.4) before the
		// checks, and the result is the normalised path.
		{"refuses dot-dot then double slash", "/..//evil.example", "/"},
		{"refuses dot then double slash", "/.//evil.example", "/"},
		{"refuses dot-dot back to a double slash", "/a/..//evil.example", "/"},
		{"refuses a deeper climb to a double slash", "/a/b/../..//evil.example/x", "/"},
		{"refuses percent-encoded dot-dot then double slash", "/%2E%2E//evil.example", "/"},
		{"refuses lower-case percent-encoded dot-dot", "/%2e%2e//evil.example", "/"},
		{"refuses half-encoded dot-dot", "/.%2e//evil.example", "/"},
		{"refuses percent-encoded dot then double slash", "/%2e//evil.example", "/"},
		{"refuses dot-dot then encoded double slash", "/../%2F%2Fevil.example", "/"},
		{"refuses dot-dot then encoded backslash", "/a/../%5Cevil.example", "/"},
		{"refuses dot-dot between encoded slashes", "/a%2F..%2F%2Fevil.example", "/"},
		{"refuses encoded dot-dot and slashes", "/%2E%2E%2F%2Fevil.example", "/"},
		{"refuses double-encoded dot-dot", "/%252e%252e/x", "/"},
		{"refuses a control character in a removed segment", "/a\x00/../b", "/"},
		{"normalises a climb above the root", "/../../login", "/login"},
		{"normalises a single dot", "/./login", "/login"},
		{"normalises dot-dot", "/a/b/../c", "/a/c"},
		{"normalises encoded dot-dot", "/a/b/%2E%2E/c", "/a/c"},
		{"normalises RFC 3986 example", "/a/b/c/./../../g", "/a/g"},
		{"keeps a trailing slash for a final dot-dot", "/a/b/..", "/a/"},
		{"keeps a trailing slash for a final dot", "/a/.", "/a/"},
		{"normalises to the root", "/..", "/"},
		{"leaves the query alone", "/a/../b?next=/../x/./y", "/b?next=/../x/./y"},
		{"leaves a query of encoded dots alone", "/b?p=%2e%2e%2F%2Fx", "/b?p=%2e%2e%2F%2Fx"},
		{"leaves the fragment alone", "/a/./b#/../c", "/a/b#/../c"},
		{"keeps names that only contain dots", "/v1.2/.well-known/a..b/.../x.", "/v1.2/.well-known/a..b/.../x."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SafeReturnTo(c.in); got != c.want {
				t.Errorf("SafeReturnTo(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// TestSolvedChallengeRedirectsToTheCheckedPath follows a return_to sent in
// the raw query, as a crafted link would, through a solved challenge to the
// Location header.
func TestSolvedChallengeRedirectsToTheCheckedPath(t *testing.T) {
	base, err := url.Parse("https://shop.example/cart")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, rawReturnTo, want string
	}{
		{"dot-dot then double slash", "%2F..%2F%2Fevil.com", "/"},
		{"encoded dot-dot then double slash", "%2F%252E%252E%2F%2Fevil.com", "/"},
		{"dot-segments in a real path", "%2Fa%2F.%2Fb%2F..%2Fc%3Fnext%3D%2F..%2Fx", "/a/c?next=/../x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			rec := alice.do(e.h, http.MethodGet, Path+"?route=login&return_to="+c.rawReturnTo, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET challenge page: status %d: %s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			tok, chal := submatch(tokenRe, body), submatch(challengeRe, body)
			diff, err := strconv.Atoi(submatch(difficultyRe, body))
			if tok == "" || chal == "" || err != nil {
				t.Fatalf("no proof-of-work challenge on the page:\n%s", body)
			}
			rec = alice.verify(e.h, answer(html.UnescapeString(tok), solve(t, chal, diff)))
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status %d, want 303: %s", rec.Code, rec.Body)
			}
			loc := rec.Header().Get("Location")
			if loc != c.want {
				t.Errorf("Location = %q, want %q", loc, c.want)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if r := base.ResolveReference(u); r.Host != base.Host || strings.HasPrefix(r.Path, "//") {
				t.Errorf("Location %q resolves to %v", loc, r)
			}
		})
	}
}

func TestURLRoundTripsThroughTheQuery(t *testing.T) {
	cases := []struct {
		name, returnTo, route string
	}{
		{"query and spaces", "/login?next=/a&b=c d", "login"},
		{"unsafe return_to", "//evil.example", "default"},
		{"plain path, no route", "/plain", ""},
		{"route needing escapes", "/x", "a&return_to=//evil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(URL(c.returnTo, c.route))
			if err != nil {
				t.Fatal(err)
			}
			if u.Path != Path || u.Host != "" || u.Scheme != "" {
				t.Errorf("URL(%q, %q) = %q is not a relative URL to the challenge page", c.returnTo, c.route, u)
			}
			q := u.Query()
			if got := q.Get("return_to"); got != SafeReturnTo(c.returnTo) || len(q["return_to"]) != 1 {
				t.Errorf("return_to round trip of %q = %q", c.returnTo, q["return_to"])
			}
			if got := q.Get("route"); got != c.route {
				t.Errorf("route round trip of %q = %q", c.route, got)
			}
		})
	}
	if got, want := URL("/a b", "login"), Path+"?route=login&return_to=%2Fa+b"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{
		"/", "/login?x=1", "//evil", `/\x`, "/%2f%2f", "javascript:x", "/a%0d%0a",
		"/..//evil", "/./", "/a/../b", "/a/b/..", "/%2e%2e//evil", "/.%2E/%2e/x",
		"/a%2F..%2F%2Fevil", "/../%2F%2Fevil", "/x/..?q=/../", "/a/.#/../b", "/%252e%252e/",
	} {
		f.Add(s)
	}
	base, err := url.Parse("https://example.com/a/b")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeReturnTo(s)
		if again := SafeReturnTo(got); again != got {
			// The page, the token and the verifier each apply it, so
			// it must be stable.
			t.Fatalf("SafeReturnTo(%q) = %q, but SafeReturnTo(%q) = %q", s, got, got, again)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
			t.Fatalf("SafeReturnTo(%q) = %q does not start with exactly one slash", s, got)
		}
		if strings.ContainsAny(got, "\r\n\\") {
			t.Fatalf("SafeReturnTo(%q) = %q contains CR, LF or backslash", s, got)
		}
		path, _, _ := strings.Cut(got, "?")
		path, _, _ = strings.Cut(path, "#")
		dec, err := url.PathUnescape(path)
		if err != nil {
			t.Fatalf("SafeReturnTo(%q) = %q has a broken escape: %v", s, got, err)
		}
		for _, p := range []string{path, dec} {
			for seg := range strings.SplitSeq(p, "/") {
				if d, _ := url.PathUnescape(seg); d == "." || d == ".." {
					t.Fatalf("SafeReturnTo(%q) = %q has the dot-segment %q in %q", s, got, seg, p)
				}
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
			t.Fatalf("SafeReturnTo(%q) = %q parses as %v, %v: not a relative path", s, got, u, err)
		}
		if r := base.ResolveReference(u); r.Host != "example.com" || r.Scheme != "https" {
			t.Fatalf("SafeReturnTo(%q) = %q resolves to %v, off example.com", s, got, r)
		}
	})
}
