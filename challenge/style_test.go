package challenge

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

// brandingYAML sets every branding key.
const brandingYAML = `  branding:
    title: "Example Shop"
    logo_url: "https://cdn.example.com/logo.svg"
    support_url: "mailto:help@example.com"
    colors: {accent: "#a00", accent_text: "#fff", accent_dark: "#ffb4a8", accent_text_dark: "#000000"}
`

// brandedPolicy is testPolicyYAML with brandingYAML.
func brandedPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	return testPolicy(t, strings.Replace(testPolicyYAML, "challenge:\n", "challenge:\n"+brandingYAML, 1))
}

// parseCSP splits a Content-Security-Policy into its directives' sources.
func parseCSP(t testing.TB, header string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range strings.Split(header, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			t.Errorf("CSP %q has an empty directive", header)
			continue
		}
		if _, dup := out[f[0]]; dup {
			t.Errorf("CSP %q repeats %s", header, f[0])
		}
		out[f[0]] = f[1:]
	}
	return out
}

// checkStrictCSP asserts what every page's policy must keep: nothing by
// default, no inline or eval, no data: or wildcard host, and exactly the
// image sources wanted. pow pages also have script-src and style-src
// exactly 'self'.
func checkStrictCSP(t testing.TB, header string, pow bool, imgSrc ...string) {
	t.Helper()
	csp := parseCSP(t, header)
	if !slices.Equal(csp["default-src"], []string{"'none'"}) {
		t.Errorf("default-src %q, want 'none'", csp["default-src"])
	}
	for name, sources := range csp {
		for _, s := range sources {
			if s == "'unsafe-inline'" || s == "'unsafe-eval'" || s == "data:" || s == "*" || s == "https:" || strings.HasPrefix(s, "'unsafe-") {
				t.Errorf("%s allows %s", name, s)
			}
		}
	}
	for _, d := range []string{"form-action", "base-uri", "frame-ancestors"} {
		if len(csp[d]) != 1 {
			t.Errorf("%s %q", d, csp[d])
		}
	}
	if pow {
		for _, d := range []string{"script-src", "style-src"} {
			if !slices.Equal(csp[d], []string{"'self'"}) {
				t.Errorf("%s %q, want exactly 'self' on a proof-of-work page", d, csp[d])
			}
		}
		if _, ok := csp["frame-src"]; ok {
			t.Error("a proof-of-work page allows frames")
		}
	}
	if want := append([]string{"'self'"}, imgSrc...); !slices.Equal(csp["img-src"], want) {
		t.Errorf("img-src %q, want %q", csp["img-src"], want)
	}
}

func getWith(h http.Handler, target string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Envoy-External-Address", ipClient)
	req.Header.Set("User-Agent", uaFirefox)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPageInTheRequestedLanguage(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ acceptLanguage, lang, heading, failTitle string }{
		{"", "en", "Checking your browser", "The check did not pass"},
		{"de-AT,de;q=0.9,en;q=0.5", "de", "Wir prüfen kurz Ihren Browser", "Die Prüfung ist fehlgeschlagen"},
		{"es-ES", "es", "Estamos comprobando su navegador", "No se ha superado la verificación"},
		{"fr", "en", "Checking your browser", "The check did not pass"},
	}
	for _, c := range cases {
		t.Run(c.lang+" for "+c.acceptLanguage, func(t *testing.T) {
			for _, route := range []string{"login", "signup"} {
				rec := getWith(e.h, URL("/a", route), map[string]string{"Accept-Language": c.acceptLanguage})
				body := rec.Body.String()
				if !strings.Contains(body, `<html lang="`+c.lang+`" dir="ltr">`) {
					t.Errorf("%s: no <html lang=%q>", route, c.lang)
				}
				if !strings.Contains(body, `<h1 id="botauthz-title">`+c.heading+`</h1>`) {
					t.Errorf("%s: heading is not %q", route, c.heading)
				}
				if got := rec.Header().Get("Content-Language"); got != c.lang {
					t.Errorf("%s: Content-Language %q", route, got)
				}
				if got := rec.Header().Values("Vary"); !slices.Contains(got, "Accept-Language") {
					t.Errorf("%s: Vary %q", route, got)
				}
			}
			req := httptestPost(url.Values{"token": {"nonsense"}})
			req.Header.Set("Accept-Language", c.acceptLanguage)
			rec := httptestRecord(e.h, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "<h1 id=\"botauthz-title\">"+c.failTitle+"</h1>") ||
				rec.Header().Get("Content-Language") != c.lang {
				t.Errorf("failure page: status %d, Content-Language %q, want %q titled %q:\n%s", rec.Code, rec.Header().Get("Content-Language"), c.lang, c.failTitle, rec.Body)
			}
			e.rec.take()
		})
	}
}

func TestBrandedPage(t *testing.T) {
	e := newEnv(t, withPolicy(brandedPolicy(t)))
	for _, route := range []string{"login", "signup"} {
		pg := alice.getPage(t, e.h, route, "/a")
		checkStrictCSP(t, pg.rec.Header().Get("Content-Security-Policy"), route == "login", "https://cdn.example.com")
		for _, want := range []string{
			`<title>Checking your browser – Example Shop</title>`,
			`<header class="brand"><img class="brand-logo" src="https://cdn.example.com/logo.svg" alt="Example Shop"></header>`,
			`<a href="mailto:help@example.com">Contact support</a>`,
			`<link rel="stylesheet" href="` + e.h.styleURL() + `">`,
		} {
			if !strings.Contains(pg.body, want) {
				t.Errorf("%s: page lacks %s", route, want)
			}
		}
		checkSelfContained(t, pg.body, e.h)
	}
	rec := httptestRecord(e.h, httptestPost(url.Values{"token": {"nonsense"}}))
	checkStrictCSP(t, rec.Header().Get("Content-Security-Policy"), false, "https://cdn.example.com")
	if csp := parseCSP(t, rec.Header().Get("Content-Security-Policy")); csp["script-src"] != nil || !slices.Equal(csp["style-src"], []string{"'self'"}) {
		t.Errorf("failure page CSP %q: want no script and style-src 'self'", rec.Header().Get("Content-Security-Policy"))
	}
	if !strings.Contains(rec.Body.String(), `alt="Example Shop"`) {
		t.Error("failure page has no logo")
	}

	st := e.h.styleFor(e.policy)
	theme := alice.do(e.h, http.MethodGet, st.themeURL(), nil)
	for _, want := range []string{"--brand: #a00; --brand-contrast: #fff;", "(prefers-color-scheme: dark) { :root { --brand: #ffb4a8; --brand-contrast: #000000; } }"} {
		if !strings.Contains(theme.Body.String(), want) {
			t.Errorf("theme lacks %q:\n%s", want, theme.Body)
		}
	}
	if strings.Count(theme.Body.String(), "{") != 3 {
		t.Errorf("theme has more than the two rules:\n%s", theme.Body)
	}
}

func TestUnbrandedPageHasNoBrandOrExtraOrigin(t *testing.T) {
	e := newEnv(t)
	pg := alice.getPage(t, e.h, "login", "/")
	checkStrictCSP(t, pg.rec.Header().Get("Content-Security-Policy"), true)
	for _, unwanted := range []string{`class="brand"`, "<img", "mailto:", " – "} {
		if strings.Contains(pg.body, unwanted) {
			t.Errorf("page without branding has %s", unwanted)
		}
	}
	if !strings.Contains(pg.body, `<a href="/.botauthz/challenge?route=login&amp;return_to=%2F">Start the check again</a>`) {
		t.Error("no link to start again")
	}
}

func TestSupportTextAndSameOriginLogo(t *testing.T) {
	p := testPolicy(t, strings.Replace(testPolicyYAML, "challenge:\n", `challenge:
  branding: {title: "Shop & Co", logo_url: "/static/logo.png", support_url: "https://help.example.com/?a=1&b=2", support_text: "Hilfe <hier>"}
`, 1))
	e := newEnv(t, withPolicy(p))
	pg := alice.getPage(t, e.h, "login", "/")
	checkStrictCSP(t, pg.rec.Header().Get("Content-Security-Policy"), true)
	for _, want := range []string{
		`<img class="brand-logo" src="/static/logo.png" alt="Shop &amp; Co">`,
		`<a href="https://help.example.com/?a=1&amp;b=2">Hilfe &lt;hier&gt;</a>`,
	} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestAssetsAreCachedByContentHash(t *testing.T) {
	e := newEnv(t)
	st := e.h.styleFor(e.policy)
	for _, c := range []struct {
		name, hashed, plain, contentType, contains string
	}{
		{"stylesheet", e.h.styleURL(), StylePath, "text/css; charset=utf-8", "prefers-reduced-motion"},
		{"theme", st.themeURL(), ThemePath, "text/css; charset=utf-8", "--brand: #1d4ed8"},
		{"script", e.h.scriptURL(), ScriptPath, "text/javascript; charset=utf-8", "botauthzSolved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := alice.do(e.h, http.MethodGet, c.hashed, nil)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != c.contentType ||
				rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" ||
				rec.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(rec.Body.String(), c.contains) {
				t.Errorf("%s: status %d, headers %v", c.hashed, rec.Code, rec.Header())
			}
			etag := rec.Header().Get("ETag")
			for _, target := range []string{c.plain, c.plain + "?v=old"} {
				if rec := alice.do(e.h, http.MethodGet, target, nil); rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-cache" {
					t.Errorf("%s: status %d, Cache-Control %q, want no-cache", target, rec.Code, rec.Header().Get("Cache-Control"))
				}
			}
			req := httptestGet(c.plain)
			req.Header.Set("If-None-Match", etag)
			if rec := httptestRecord(e.h, req); rec.Code != http.StatusNotModified {
				t.Errorf("revalidation: status %d, want 304", rec.Code)
			}
			if rec := alice.do(e.h, http.MethodPost, c.plain, url.Values{}); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("POST: status %d", rec.Code)
			}
		})
	}
}

// TestReloadedBrandingTakesEffect: a new policy's colours and logo reach
// the next page, under a new theme URL and CSP.
func TestReloadedBrandingTakesEffect(t *testing.T) {
	var cur atomic.Pointer[policy.Policy]
	cur.Store(testPolicy(t, ""))
	e := newEnv(t, func(o *Options) { o.Policy = cur.Load })
	before := alice.getPage(t, e.h, "login", "/")
	cur.Store(brandedPolicy(t))
	after := alice.getPage(t, e.h, "login", "/")
	themeRe := func(body string) string {
		_, rest, _ := strings.Cut(body, ThemePath+"?v=")
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	if themeRe(before.body) == themeRe(after.body) {
		t.Error("the theme URL did not change with the colours")
	}
	checkStrictCSP(t, before.rec.Header().Get("Content-Security-Policy"), true)
	checkStrictCSP(t, after.rec.Header().Get("Content-Security-Policy"), true, "https://cdn.example.com")
	if theme := alice.do(e.h, http.MethodGet, ThemePath+"?v="+themeRe(after.body), nil); !strings.Contains(theme.Body.String(), "#a00") {
		t.Errorf("theme after the reload:\n%s", theme.Body)
	}
}

func TestPageCSP(t *testing.T) {
	for _, c := range []struct {
		prov, origin string
		failure      bool
		want         string
	}{
		{Pow, "", false, "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'"},
		{Pow, "https://cdn.example.com", false, "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self' https://cdn.example.com"},
		{"", "", true, "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self'"},
		{"", "https://img.example.org:8443", true, "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; img-src 'self' https://img.example.org:8443"},
	} {
		if got := pageCSP(c.prov, c.origin, c.failure); got != c.want {
			t.Errorf("pageCSP(%q, %q, %v) =\n%s\nwant\n%s", c.prov, c.origin, c.failure, got, c.want)
		}
	}
}

// TestMessagesDirAtStart: NewHandler loads the policy's messages_dir and
// refuses a bad one, so a bad file stops the start (and -check-config).
func TestMessagesDirAtStart(t *testing.T) {
	good := writeMessages(t, map[string]string{"fr.yaml": "title: Vérification de votre navigateur\n"})
	e := newEnv(t, withPolicy(testPolicy(t, strings.Replace(testPolicyYAML, "challenge:\n", "challenge:\n  messages_dir: "+good+"\n", 1))))
	rec := getWith(e.h, URL("/", "login"), map[string]string{"Accept-Language": "fr-FR"})
	if !strings.Contains(rec.Body.String(), `<html lang="fr" dir="ltr">`) || !strings.Contains(rec.Body.String(), "Vérification de votre navigateur</h1>") {
		t.Errorf("French page:\n%s", rec.Body)
	}
	bad := writeMessages(t, map[string]string{"fr.yaml": "titre: Vérification\n"})
	p := testPolicy(t, strings.Replace(testPolicyYAML, "challenge:\n", "challenge:\n  messages_dir: "+bad+"\n", 1))
	_, err := NewHandler(Options{Policy: func() *policy.Policy { return p }, Signer: e.signer, Keys: []clearance.Key{testKey("k1")}})
	if err == nil || !strings.Contains(err.Error(), `fr.yaml: line 1: unknown key "titre"`) {
		t.Errorf("NewHandler with a bad messages file: %v", err)
	}
}
