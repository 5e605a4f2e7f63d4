package challenge

import (
	"net/url"
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SafeReturnTo(c.in); got != c.want {
				t.Errorf("SafeReturnTo(%q) = %q, want %q", c.in, got, c.want)
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
	for _, s := range []string{"/", "/login?x=1", "//evil", `/\x`, "/%2f%2f", "javascript:x", "/a%0d%0a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeReturnTo(s)
		if got != "/" && got != s {
			t.Fatalf("SafeReturnTo(%q) = %q: must return the input or /", s, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
			t.Fatalf("SafeReturnTo(%q) = %q parses as %v, %v: not a relative path", s, got, u, err)
		}
		if strings.ContainsAny(got, "\r\n\\") {
			t.Fatalf("SafeReturnTo(%q) = %q contains CR, LF or backslash", s, got)
		}
	})
}
