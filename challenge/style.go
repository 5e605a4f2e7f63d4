package challenge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/botauthz/botauthz/policy"
)

// pageStyle is what the pages take from one policy: its branding, its
// colours as a stylesheet, and each kind of page's Content-Security-Policy
// (the logo's origin is in them). It is built once per policy the Handler
// sees, not per page.
type pageStyle struct {
	pol   *policy.Policy
	brand policy.Branding
	// theme sets the stylesheet's --brand and --brand-contrast, light and
	// dark, from the policy's colours, which policy parsing held to #rgb
	// and #rrggbb: nothing else can reach it.
	theme                   []byte
	themeVersion, themeETag string
	// csp is by provider, Pow included; failCSP is the failure page's.
	csp     map[string]string
	failCSP string
}

// newPageStyle builds pol's style for the providers the Handler has
// verifiers for.
func newPageStyle(pol *policy.Policy, providers []string) *pageStyle {
	b := pol.Challenge.Branding
	c := b.Colors
	theme := fmt.Appendf(nil, "/* botauthz: this policy's colours (challenge.branding.colors) */\n"+
		":root { --brand: %s; --brand-contrast: %s; }\n"+
		"@media (prefers-color-scheme: dark) { :root { --brand: %s; --brand-contrast: %s; } }\n",
		c.Accent, c.AccentText, c.AccentDark, c.AccentTextDark)
	sum := sha256.Sum256(theme)
	st := &pageStyle{
		pol:          pol,
		brand:        b,
		theme:        theme,
		themeVersion: hex.EncodeToString(sum[:8]),
		csp:          make(map[string]string, len(providers)+1),
		failCSP:      pageCSP("", b.LogoOrigin, true),
	}
	st.themeETag = `"` + st.themeVersion + `"`
	st.csp[Pow] = pageCSP(Pow, b.LogoOrigin, false)
	for _, p := range providers {
		st.csp[p] = pageCSP(p, b.LogoOrigin, false)
	}
	return st
}

// themeURL is the theme's cache-busting URL.
func (st *pageStyle) themeURL() string { return ThemePath + "?v=" + st.themeVersion }

// styleFor returns pol's style, building it when pol is not the policy
// the last one was built for (a reload). Two pages racing on a new policy
// may both build it; they build the same.
func (h *Handler) styleFor(pol *policy.Policy) *pageStyle {
	if st := h.style.Load(); st != nil && st.pol == pol {
		return st
	}
	st := newPageStyle(pol, h.providers)
	h.style.Store(st)
	return st
}

// styleURL is the shared stylesheet's cache-busting URL.
func (h *Handler) styleURL() string { return StylePath + "?v=" + h.styleVersion }

// serveAsset serves one of our scripts or stylesheets. The pages link it
// with its content hash in the query, so that URL may be cached for good;
// any other URL is revalidated with the ETag.
func serveAsset(w http.ResponseWriter, r *http.Request, contentType string, body []byte, version, etag string) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("ETag", etag)
	if r.URL.Query().Get("v") == version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// serveStyle serves the embedded stylesheet.
func (h *Handler) serveStyle(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, "text/css; charset=utf-8", stylesheet, h.styleVersion, h.styleETag)
}

// serveTheme serves the current policy's colours.
func (h *Handler) serveTheme(w http.ResponseWriter, r *http.Request) {
	st := h.styleFor(h.policy())
	serveAsset(w, r, "text/css; charset=utf-8", st.theme, st.themeVersion, st.themeETag)
}
