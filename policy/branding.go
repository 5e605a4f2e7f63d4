package policy

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Branding is how the challenge and failure pages present the site
// (challenge.branding). Every value is validated: the URLs and colours end
// up in the page, its stylesheet and its Content-Security-Policy.
type Branding struct {
	// Title is the site's name: in the page's title, above the heading, and
	// the logo's text alternative. Empty for none.
	Title string
	// LogoURL is an https URL or a same-origin path ("/…"); empty for no
	// logo.
	LogoURL string
	// LogoOrigin is LogoURL's origin ("https://cdn.example.com") when it
	// is on another origin, which the pages' img-src then allows; empty for
	// a same-origin path or no logo.
	LogoOrigin string
	// SupportURL is an https or mailto: link for visitors who are stuck;
	// empty for none.
	SupportURL string
	// SupportText is the support link's text in every language; empty
	// uses the translated default.
	SupportText string
	// Colors are the pages' accent colours.
	Colors BrandColors
}

// BrandColors are the accent colours of the challenge pages, each "#rgb" or
// "#rrggbb": Accent for the top border, the progress bar and the buttons,
// AccentText for text on Accent, and their variants for a dark colour
// scheme. Each text colour has a contrast of at least MinTextContrast with
// its accent.
type BrandColors struct {
	Accent, AccentText         string
	AccentDark, AccentTextDark string
}

// MinTextContrast is the least WCAG 2 contrast ratio between an accent and
// the text on it: level AA for normal text.
const MinTextContrast = 4.5

// Bounds of the branding's text values: a title is a name, not a paragraph.
const (
	maxBrandText = 100
	maxBrandURL  = 2048
)

func buildBranding(b *Branding, def, file *rawBranding) error {
	if def == nil {
		def = &rawBranding{}
	}
	if file == nil {
		file = &rawBranding{}
	}
	empty := ""
	b.Title = *pick(file.Title, pick(def.Title, &empty))
	b.LogoURL = *pick(file.LogoURL, pick(def.LogoURL, &empty))
	b.SupportURL = *pick(file.SupportURL, pick(def.SupportURL, &empty))
	b.SupportText = *pick(file.SupportText, pick(def.SupportText, &empty))
	for _, t := range []struct{ key, v string }{{"title", b.Title}, {"support_text", b.SupportText}} {
		if err := checkBrandText(t.v); err != nil {
			return &Error{Path: "challenge.branding." + t.key, Msg: err.Error()}
		}
	}
	if b.LogoURL != "" {
		origin, err := logoOrigin(b.LogoURL)
		if err != nil {
			return &Error{Path: "challenge.branding.logo_url", Msg: err.Error()}
		}
		b.LogoOrigin = origin
		if b.Title == "" {
			return &Error{Path: "challenge.branding.title", Msg: "required with logo_url: it is the logo's text alternative"}
		}
	}
	if b.SupportURL != "" {
		if err := checkSupportURL(b.SupportURL); err != nil {
			return &Error{Path: "challenge.branding.support_url", Msg: err.Error()}
		}
	}

	var dc, fc rawBrandColors
	if def.Colors != nil {
		dc = *def.Colors
	}
	if file.Colors != nil {
		fc = *file.Colors
	}
	c := &b.Colors
	for _, f := range []struct {
		key       string
		dst       *string
		file, def *string
	}{
		{"accent", &c.Accent, fc.Accent, dc.Accent},
		{"accent_text", &c.AccentText, fc.AccentText, dc.AccentText},
		{"accent_dark", &c.AccentDark, fc.AccentDark, dc.AccentDark},
		{"accent_text_dark", &c.AccentTextDark, fc.AccentTextDark, dc.AccentTextDark},
	} {
		*f.dst = strings.ToLower(*pick(f.file, pick(f.def, &empty)))
		if _, ok := ParseColor(*f.dst); !ok {
			return &Error{Path: "challenge.branding.colors." + f.key, Msg: fmt.Sprintf("%q is not a colour written #rgb or #rrggbb", *f.dst)}
		}
	}
	for _, pair := range []struct{ key, bg, fg string }{
		{"accent_text", c.Accent, c.AccentText},
		{"accent_text_dark", c.AccentDark, c.AccentTextDark},
	} {
		bg, _ := ParseColor(pair.bg)
		fg, _ := ParseColor(pair.fg)
		if r := ContrastRatio(bg, fg); r < MinTextContrast {
			return &Error{Path: "challenge.branding.colors." + pair.key, Msg: fmt.Sprintf(
				"%s on %s has a contrast of %.2f:1, below %.1f:1: the button text would be hard to read; pick a darker or lighter colour", pair.fg, pair.bg, math.Floor(r*100)/100, MinTextContrast)}
		}
	}
	return nil
}

// checkBrandText refuses text that is too long or holds control
// characters (a stray newline in a title is a mistake, not a wish).
func checkBrandText(s string) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("not UTF-8")
	case utf8.RuneCountInString(s) > maxBrandText:
		return fmt.Errorf("%d characters, at most %d", utf8.RuneCountInString(s), maxBrandText)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%q holds a control character", s)
	}
	return nil
}

// logoOrigin validates a logo URL, an https URL or a same-origin path,
// and returns its origin for the pages' img-src: empty for a path. The
// origin goes into a Content-Security-Policy, so its host is held to the
// characters of a DNS name.
func logoOrigin(s string) (string, error) {
	if len(s) > maxBrandURL {
		return "", fmt.Errorf("%d bytes, at most %d", len(s), maxBrandURL)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '\\' || r == 0x7f }) {
		return "", fmt.Errorf("%q holds a space, a backslash or a control character", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return "", nil
	}
	if u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("%q is neither an https URL nor a path starting with /", s)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
		return "", fmt.Errorf("%q: host %q is not a DNS name", s, host)
	}
	origin := "https://" + strings.ToLower(host)
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: port %q out of range 1-65535", s, port)
		}
		if port != "443" {
			origin += ":" + port
		}
	}
	return origin, nil
}

// checkSupportURL accepts an https URL with a host, or a mailto: link.
func checkSupportURL(s string) error {
	if len(s) > maxBrandURL {
		return fmt.Errorf("%d bytes, at most %d", len(s), maxBrandURL)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '\\' || r == 0x7f }) {
		return fmt.Errorf("%q holds a space, a backslash or a control character", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "" && u.User == nil:
		return nil
	case u.Scheme == "mailto" && u.Opaque != "":
		return nil
	}
	return fmt.Errorf("%q is neither an https URL nor a mailto: link", s)
}

// RGB is a colour's red, green and blue, 0-255.
type RGB [3]uint8

// ParseColor reads "#rgb" or "#rrggbb" (either case); ok is false for
// anything else, so nothing but a colour reaches a stylesheet.
func ParseColor(s string) (c RGB, ok bool) {
	if len(s) != 4 && len(s) != 7 || s[0] != '#' {
		return c, false
	}
	hex := s[1:]
	for i := range hex {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(hex[i])) {
			return c, false
		}
	}
	for i := range 3 {
		var v uint64
		if len(hex) == 3 {
			v, _ = strconv.ParseUint(hex[i:i+1], 16, 8)
			v *= 17
		} else {
			v, _ = strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		}
		c[i] = uint8(v)
	}
	return c, true
}

// ContrastRatio is WCAG 2's contrast ratio of two colours, from 1 to 21.
func ContrastRatio(a, b RGB) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2's relative luminance of an sRGB colour.
func luminance(c RGB) float64 {
	var l [3]float64
	for i, v := range c {
		x := float64(v) / 255
		if x <= 0.04045 {
			l[i] = x / 12.92
		} else {
			l[i] = math.Pow((x+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}
