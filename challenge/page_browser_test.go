package challenge

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/botauthz/botauthz/policy"

	"github.com/botauthz/botauthz/internal/browsertest"
)

// browserPolicyYAML brands the pages with a logo served by the test's own
// origin and colours of its own, so the screenshots show branding. The
// slow route's work takes seconds, long enough to look at its progress;
// the slower one's hours, so its status reads out the progress before it
// could end.
const browserPolicyYAML = `
challenge:
  ttl: 5m
  providers:
    turnstile: {site_key: "1x00000000000000000000AA", secret_env: "TURNSTILE_SECRET"}
  branding:
    title: "Example Shop"
    logo_url: /static/logo.svg
    support_url: "mailto:help@example.com"
    colors: {accent: "#0f766e", accent_text: "#ffffff", accent_dark: "#5eead4", accent_text_dark: "#042f2e"}
routes:
  slow:
    challenge: {provider: pow, difficulty: 6}
  slower:
    challenge: {provider: pow, difficulty: 8}
  signup:
    challenge: {provider: turnstile}
`

const logoSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="168" height="40" viewBox="0 0 168 40">
<rect x="0" y="4" width="32" height="32" rx="8" fill="#0f766e"/><path d="M9 20l5 5 9-10" stroke="#fff" stroke-width="3" fill="none"/>
<style>text { fill: #0f766e } @media (prefers-color-scheme: dark) { text { fill: #5eead4 } }</style>
<text x="42" y="27" font-family="sans-serif" font-size="18" font-weight="600">Example Shop</text></svg>`

// realVerifyHeader, sent by the browser, lets an answer through to the
// real verify endpoint; without it the test server answers 204, which
// leaves the browser on the challenge page whatever the script posts.
const realVerifyHeader = "X-Botauthz-Test-Verify"

// testHook collects the page's CSP violations from before its first
// script runs. Injected through DevTools, it is not itself under the CSP.
const testHook = `window.__botauthzTest = {violations: []};
document.addEventListener("securitypolicyviolation", function (e) {
  window.__botauthzTest.violations.push(e.violatedDirective + " " + e.blockedURI);
});`

// pageFacts is what the browser reports about a rendered page.
type pageFacts struct {
	Lang, Heading           string
	ScrollWidth, InnerWidth int
	BodyBackground          string
	CardBackground          string
	TextColor, HelpColor    string
	FontFamily              string
	Brand                   string
	Sheets                  []struct {
		Href  string
		Rules int
	}
	LogoWidth     int
	SpinnerMotion string
	Turnstile     bool
	Violations    []string
	HookInstalled bool
}

const factsJS = `(() => {
  const main = document.querySelector("main");
  const help = document.querySelector(".help");
  const status = document.getElementById("botauthz-status");
  const logo = document.querySelector(".brand-logo");
  const body = getComputedStyle(document.body);
  return {
    Lang: document.documentElement.lang,
    Heading: document.querySelector("h1").textContent,
    ScrollWidth: document.documentElement.scrollWidth,
    InnerWidth: window.innerWidth,
    BodyBackground: body.backgroundColor,
    CardBackground: getComputedStyle(main).backgroundColor,
    TextColor: getComputedStyle(main).color,
    HelpColor: help ? getComputedStyle(help).color : "",
    FontFamily: body.fontFamily,
    Brand: getComputedStyle(document.documentElement).getPropertyValue("--brand").trim(),
    Sheets: Array.from(document.styleSheets, (s) => {
      // A sheet the browser refused has no readable rules.
      try { return {Href: s.href || "", Rules: s.cssRules.length}; } catch (e) { return {Href: s.href || "", Rules: -1}; }
    }),
    LogoWidth: logo && logo.complete ? logo.naturalWidth : 0,
    SpinnerMotion: status ? getComputedStyle(status, "::before").animationName : "",
    Turnstile: typeof window.turnstile !== "undefined",
    Violations: window.__botauthzTest ? window.__botauthzTest.violations : [],
    HookInstalled: !!window.__botauthzTest,
  };
})()`

// focusFacts is what has the keyboard focus, and how it shows.
type focusFacts struct {
	Tag, Text                  string
	FocusVisible               bool
	OutlineStyle, OutlineColor string
	OutlineWidth               float64
	Color, Background          string
}

const focusJS = `(() => {
  const a = document.activeElement;
  const cs = getComputedStyle(a);
  return {
    Tag: a.tagName, Text: a.textContent.trim(), FocusVisible: a.matches(":focus-visible"),
    OutlineStyle: cs.outlineStyle, OutlineColor: cs.outlineColor, OutlineWidth: parseFloat(cs.outlineWidth) || 0,
    Color: cs.color, Background: cs.backgroundColor,
  };
})()`

// cssColor reads a computed colour, "rgb(r, g, b)".
func cssColor(t *testing.T, s string) policy.RGB {
	t.Helper()
	var r, g, b uint8
	if _, err := fmt.Sscanf(s, "rgb(%d, %d, %d)", &r, &g, &b); err != nil {
		t.Fatalf("colour %q: %v", s, err)
	}
	return policy.RGB{r, g, b}
}

// TestPageInABrowser renders the challenge pages in headless Chromium at a
// desktop and a phone width, light and dark, in English, German and
// Spanish, and checks what a visitor gets: the text in their language, the
// stylesheets applied under the unchanged CSP with no violation, nothing
// wider than a phone, readable contrast, and a visible keyboard focus. It
// saves a full-page screenshot of each (to $BOTAUTHZ_SCREENSHOTS when set).
func TestPageInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := browsertest.Chromium(t)
	shots := os.Getenv("BOTAUTHZ_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withPolicy(testPolicy(t, browserPolicyYAML)))
	mux := http.NewServeMux()
	mux.Handle(Prefix, e.h)
	mux.HandleFunc("POST "+VerifyPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(realVerifyHeader) != "" {
			e.h.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /static/logo.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(logoSVG))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// One browser for every case, a tab each; the whole test is bounded.
	deadline, cancelDeadline := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancelDeadline)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadline, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	catalog := e.h.catalog
	st := e.h.styleFor(e.policy)
	backgrounds := map[string]string{}
	type size struct{ w, h int64 }
	for _, sz := range []size{{1280, 800}, {360, 740}} {
		for _, scheme := range []string{"light", "dark"} {
			for _, lang := range []string{"en", "de", "es"} {
				name := fmt.Sprintf("pow-%s-%d-%s", lang, sz.w, scheme)
				t.Run(name, func(t *testing.T) {
					msgs := catalog.match(lang).msgs
					tab := openTab(t, browser, sz.w, sz.h, scheme, lang, nil)
					resp := navigate(t, tab, srv.URL+URL("/account", "slow"))
					checkStrictCSP(t, headerOf(resp, "Content-Security-Policy"), true)
					// The work is running and shown.
					if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.getElementById("botauthz-progress").value > 0 && !document.getElementById("botauthz-status").hidden`)); err != nil {
						t.Fatalf("no progress shown: %v", err)
					}
					if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.querySelector(".brand-logo").complete`)); err != nil {
						t.Fatalf("logo: %v", err)
					}
					f := facts(t, tab)
					checkPage(t, f, sz.w, lang, msgs["title"], st)
					if want := map[string]string{"light": "#0f766e", "dark": "#5eead4"}[scheme]; f.Brand != want {
						t.Errorf("--brand %q, want the policy's %s colour %s (theme.css applied)", f.Brand, scheme, want)
					}
					// The spinner turns, unless the visitor asked for less
					// motion (emulated with the dark scheme).
					if want := map[string]string{"light": "botauthz-spin", "dark": "none"}[scheme]; f.SpinnerMotion != want {
						t.Errorf("spinner animation %q, want %q", f.SpinnerMotion, want)
					}
					checkFocus(t, tab, "A", msgs["retry"], f.CardBackground)
					backgrounds[name] = f.BodyBackground
					screenshot(t, tab, filepath.Join(shots, name+".png"), sz.w)
					if sz.w == 360 && scheme == "light" && lang == "en" {
						checkViolationsAreSeen(t, tab)
					}
				})
			}
		}
	}
	for name, light := range backgrounds {
		if !strings.HasSuffix(name, "-light") {
			continue
		}
		if dark := backgrounds[strings.TrimSuffix(name, "-light")+"-dark"]; dark == light {
			t.Errorf("%s: the same background %s light and dark", name, light)
		}
	}

	t.Run("progress-announced-de", func(t *testing.T) {
		msgs := catalog.match("de").msgs
		before, after, _ := strings.Cut(msgs["status_progress"], percentPlaceholder)
		tab := openTab(t, browser, 360, 740, "light", "de", nil)
		navigate(t, tab, srv.URL+URL("/account", "slower"))
		text, err := chromedp.Run(tab, chromedp.Poll[string](fmt.Sprintf(`(() => {
			const t = document.getElementById("botauthz-status").textContent, a = %q, b = %q;
			return t.startsWith(a) && t.endsWith(b) && /^[0-9]+$/.test(t.slice(a.length, t.length - b.length)) && t;
		})()`, before, after), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err != nil {
			t.Fatalf("the status never read out the progress as %q: %v", msgs["status_progress"], err)
		}
		t.Logf("status: %s", text)
	})

	for _, scheme := range []string{"light", "dark"} {
		t.Run("captcha-de-360-"+scheme, func(t *testing.T) {
			msgs := catalog.match("de").msgs
			tab := openTab(t, browser, 360, 740, scheme, "de", nil)
			resp := navigate(t, tab, srv.URL+URL("/signup", "signup"))
			checkStrictCSP(t, headerOf(resp, "Content-Security-Policy"), false)
			f := facts(t, tab)
			checkPage(t, f, 360, "de", msgs["title"], st)
			if f.Turnstile {
				t.Error("the CAPTCHA vendor's script ran; the test blocks it so Tab reaches the page's own button")
			}
			fc := checkFocus(t, tab, "BUTTON", msgs["continue"], f.CardBackground)
			if r := policy.ContrastRatio(cssColor(t, fc.Color), cssColor(t, fc.Background)); r < 4.5 {
				t.Errorf("button text contrast %.2f:1", r)
			}
			screenshot(t, tab, filepath.Join(shots, "captcha-de-360-"+scheme+".png"), 360)
		})
	}

	t.Run("failure-es-360-light", func(t *testing.T) {
		msgs := catalog.match("es").msgs
		tab := openTab(t, browser, 360, 740, "light", "es", map[string]any{realVerifyHeader: "1"})
		navigate(t, tab, srv.URL+URL("/account", "slow"))
		if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.querySelector("input[name=token]").value = "x";
			document.getElementById("botauthz-challenge").submit()`)); err != nil {
			t.Fatal(err)
		}
		// The poll is cut short by the navigation it waits for, so it is
		// asked again until the failure page is there or the tab's time
		// is up.
		for {
			_, err := chromedp.Run(tab, chromedp.Poll[bool](fmt.Sprintf(`(document.querySelector("h1") || {}).textContent === %q`, msgs["fail_title"])))
			if err == nil {
				break
			}
			if tab.Err() != nil {
				t.Fatalf("no failure page in Spanish: %v", err)
			}
		}
		f := facts(t, tab)
		checkPage(t, f, 360, "es", msgs["fail_title"], st)
		checkFocus(t, tab, "A", msgs["fail_retry"], f.CardBackground)
		screenshot(t, tab, filepath.Join(shots, "failure-es-360-light.png"), 360)
	})
	t.Logf("screenshots in %s", shots)
}

// openTab opens a tab of browser with the viewport, colour scheme (dark
// also asks for reduced motion), Accept-Language and extra headers, the
// CSP violation hook, and third-party hosts blocked. It closes with the
// test.
func openTab(t *testing.T, browser context.Context, width, height int64, scheme, lang string, extra map[string]any) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(cancelTimeout)
	motion := "no-preference"
	if scheme == "dark" {
		motion = "reduce"
	}
	headers := network.Headers{"Accept-Language": lang}
	for k, v := range extra {
		headers[k] = v
	}
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(width, height),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tgt, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: motion},
			}}); err != nil {
				return fmt.Errorf("emulate media: %w", err)
			}
			if _, err := cdp.Call(ctx, tgt, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			if _, err := cdp.Call(ctx, tgt, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers}); err != nil {
				return fmt.Errorf("headers: %w", err)
			}
			// The test server is on 127.0.0.1 over http: anything over
			// https is a third party (the CAPTCHA vendor's script).
			if _, err := cdp.Call(ctx, tgt, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{
				{URLPattern: "https://*:*/*", Block: true},
			}}); err != nil {
				return fmt.Errorf("block: %w", err)
			}
			_, err := cdp.Call(ctx, tgt, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: testHook})
			return err
		}),
	)
	if err != nil {
		t.Fatalf("set up the tab: %v", err)
	}
	return ctx
}

func navigate(t *testing.T, tab context.Context, target string) *network.Response {
	t.Helper()
	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(target))
	if err != nil {
		t.Fatalf("navigate %s: %v", target, err)
	}
	if resp == nil || resp.Status != http.StatusOK {
		t.Fatalf("navigate %s: %+v", target, resp)
	}
	return resp
}

func headerOf(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

func facts(t *testing.T, tab context.Context) pageFacts {
	t.Helper()
	f, err := chromedp.Run(tab, chromedp.Evaluate[pageFacts](factsJS))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return f
}

// checkPage checks what every page must show: the language, the heading,
// our two stylesheets applied, no CSP violation, no horizontal overflow,
// and text contrast of at least 4.5:1.
func checkPage(t *testing.T, f pageFacts, width int64, lang, heading string, st *pageStyle) {
	t.Helper()
	if f.Lang != lang {
		t.Errorf("<html lang=%q>, want %q", f.Lang, lang)
	}
	if f.Heading != heading {
		t.Errorf("heading %q, want %q", f.Heading, heading)
	}
	if !f.HookInstalled {
		t.Error("the CSP violation hook did not run; the test cannot see violations")
	}
	if len(f.Violations) > 0 {
		t.Errorf("CSP violations: %q", f.Violations)
	}
	if len(f.Sheets) != 2 || !strings.HasSuffix(f.Sheets[0].Href, StylePath+"?v=") && !strings.Contains(f.Sheets[0].Href, StylePath+"?v=") ||
		!strings.Contains(f.Sheets[1].Href, st.themeURL()) || f.Sheets[0].Rules < 20 || f.Sheets[1].Rules != 2 {
		t.Errorf("stylesheets %+v, want ours then the theme, both loaded", f.Sheets)
	}
	if !strings.HasPrefix(f.FontFamily, "system-ui") {
		t.Errorf("font-family %q: the stylesheet is not applied", f.FontFamily)
	}
	if f.InnerWidth != int(width) {
		t.Errorf("viewport %d px, want %d", f.InnerWidth, width)
	}
	if f.ScrollWidth > f.InnerWidth {
		t.Errorf("the page is %d px wide in a %d px viewport: it scrolls sideways", f.ScrollWidth, f.InnerWidth)
	}
	if f.LogoWidth == 0 {
		t.Error("the logo did not load")
	}
	card := cssColor(t, f.CardBackground)
	for what, c := range map[string]string{"text": f.TextColor, "help text": f.HelpColor} {
		if c == "" {
			continue
		}
		if r := policy.ContrastRatio(cssColor(t, c), card); r < 4.5 {
			t.Errorf("%s contrast %.2f:1 on the card, want at least 4.5", what, r)
		}
	}
}

// checkFocus presses Tab once and checks that it focuses the page's
// interactive element, tag with text, and that the focus shows: a solid
// outline that contrasts at least 3:1 with the card behind it.
func checkFocus(t *testing.T, tab context.Context, tag, text, card string) focusFacts {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	f, err := chromedp.Run(tab, chromedp.Evaluate[focusFacts](focusJS))
	if err != nil {
		t.Fatal(err)
	}
	if f.Tag != tag || f.Text != text {
		t.Errorf("Tab focused <%s> %q, want <%s> %q", f.Tag, f.Text, tag, text)
	}
	if !f.FocusVisible || f.OutlineStyle == "none" || f.OutlineWidth < 2 {
		t.Errorf("focus not visible: :focus-visible %v, outline %s %.1fpx", f.FocusVisible, f.OutlineStyle, f.OutlineWidth)
	} else if r := policy.ContrastRatio(cssColor(t, f.OutlineColor), cssColor(t, card)); r < 3 {
		t.Errorf("focus outline %s contrasts %.2f:1 with the card", f.OutlineColor, r)
	}
	return f
}

// screenshot saves a full-page PNG and checks it is one, width wide.
func screenshot(t *testing.T, tab context.Context, path string, width int64) {
	t.Helper()
	b, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if got := img.Bounds().Dx(); got != int(width) {
		t.Errorf("screenshot %d px wide, want %d", got, width)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkViolationsAreSeen is the control for the "no CSP violation" checks:
// an inline style, which the CSP forbids, is reported by the hook.
func checkViolationsAreSeen(t *testing.T, tab context.Context) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Evaluate[chromedp.Void](`document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>')`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`window.__botauthzTest.violations.some((v) => v.startsWith("style-src"))`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("an inline style was not reported as a CSP violation, so the hook would miss one: %v", err)
	}
}
