package policy

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestBrandingDefaults(t *testing.T) {
	p, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Branding{Colors: BrandColors{Accent: "#1d4ed8", AccentText: "#ffffff", AccentDark: "#8ab4f8", AccentTextDark: "#0b1020"}}
	if p.Challenge.Branding != want {
		t.Errorf("default branding %+v, want %+v", p.Challenge.Branding, want)
	}
	if p.Challenge.MessagesDir != "" {
		t.Errorf("default messages_dir %q, want none", p.Challenge.MessagesDir)
	}
}

func TestBrandingParses(t *testing.T) {
	p, err := Parse([]byte(`
challenge:
  messages_dir: /etc/botauthz/messages
  branding:
    title: "Example Shop"
    logo_url: "https://CDN.example.com:8443/logo.svg?v=2"
    support_url: "mailto:help@example.com"
    support_text: "Write to us"
    colors: {accent: "#FA0", accent_text: "#000"}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := p.Challenge.Branding
	want := Branding{
		Title: "Example Shop", LogoURL: "https://CDN.example.com:8443/logo.svg?v=2", LogoOrigin: "https://cdn.example.com:8443",
		SupportURL: "mailto:help@example.com", SupportText: "Write to us",
		// Colours the file omits keep the defaults, key by key.
		Colors: BrandColors{Accent: "#fa0", AccentText: "#000", AccentDark: "#8ab4f8", AccentTextDark: "#0b1020"},
	}
	if b != want {
		t.Errorf("branding %+v\nwant %+v", b, want)
	}
	if p.Challenge.MessagesDir != "/etc/botauthz/messages" {
		t.Errorf("messages_dir %q", p.Challenge.MessagesDir)
	}
}

func TestBrandingLogoOrigin(t *testing.T) {
	for logo, want := range map[string]string{
		"/static/logo.png":                  "",
		"https://cdn.example.com/logo.png":  "https://cdn.example.com",
		"https://cdn.example.com:443/a.png": "https://cdn.example.com",
		"https://img.example.org:8443/a":    "https://img.example.org:8443",
	} {
		p, err := Parse([]byte("challenge:\n  branding: {title: Shop, logo_url: \"" + logo + "\"}\n"))
		if err != nil {
			t.Errorf("%s: %v", logo, err)
			continue
		}
		if got := p.Challenge.Branding.LogoOrigin; got != want {
			t.Errorf("%s: origin %q, want %q", logo, got, want)
		}
	}
}

func TestBrandingRefusesBadValues(t *testing.T) {
	cases := []struct {
		name, branding, wantPath, wantMsg string
	}{
		{"colour with CSS after it", `colors: {accent: "#fff;}body{display:none"}`, "challenge.branding.colors.accent", "not a colour"},
		{"colour name", `colors: {accent: red}`, "challenge.branding.colors.accent", "not a colour"},
		{"colour without #", `colors: {accent_dark: "1d4ed8"}`, "challenge.branding.colors.accent_dark", "not a colour"},
		{"four hex digits", `colors: {accent_text: "#ffff"}`, "challenge.branding.colors.accent_text", "not a colour"},
		{"rgb() function", `colors: {accent_text_dark: "rgb(0,0,0)"}`, "challenge.branding.colors.accent_text_dark", "not a colour"},
		{"empty colour", `colors: {accent: ""}`, "challenge.branding.colors.accent", "not a colour"},
		{"low contrast", `colors: {accent: "#f5c518"}`, "challenge.branding.colors.accent_text", "#ffffff on #f5c518 has a contrast of 1.63:1, below 4.5:1"},
		{"low contrast, dark", `colors: {accent_dark: "#111111"}`, "challenge.branding.colors.accent_text_dark", "below 4.5:1"},
		{"http logo", `{title: Shop, logo_url: "http://cdn.example.com/l.png"}`, "challenge.branding.logo_url", "neither an https URL nor a path"},
		{"data logo", `{title: Shop, logo_url: "data:image/png;base64,AAAA"}`, "challenge.branding.logo_url", "neither an https URL"},
		{"scheme-relative logo", `{title: Shop, logo_url: "//cdn.example.com/l.png"}`, "challenge.branding.logo_url", "neither an https URL"},
		{"relative logo", `{title: Shop, logo_url: "logo.png"}`, "challenge.branding.logo_url", "neither an https URL"},
		{"logo with user", `{title: Shop, logo_url: "https://u:p@cdn.example.com/l.png"}`, "challenge.branding.logo_url", "neither an https URL"},
		{"logo host with a quote", `{title: Shop, logo_url: "https://cdn.example.com'/l.png"}`, "challenge.branding.logo_url", ""},
		{"logo with a space", `{title: Shop, logo_url: "https://cdn.example.com/a b.png"}`, "challenge.branding.logo_url", "space"},
		{"logo with a semicolon in the host", `{title: Shop, logo_url: "https://a.example;script-src/l.png"}`, "challenge.branding.logo_url", ""},
		{"logo without title", `{logo_url: "/logo.png"}`, "challenge.branding.title", "text alternative"},
		{"javascript support link", `{support_url: "javascript:alert(1)"}`, "challenge.branding.support_url", "neither an https URL nor a mailto"},
		{"http support link", `{support_url: "http://help.example.com"}`, "challenge.branding.support_url", "neither"},
		{"empty mailto", `{support_url: "mailto:"}`, "challenge.branding.support_url", "neither"},
		{"title with a newline", `{title: "Shop\nInc"}`, "challenge.branding.title", "control character"},
		{"long support text", `{support_text: "` + strings.Repeat("a", 101) + `"}`, "challenge.branding.support_text", "101 characters, at most 100"},
		{"unknown key", `{titel: Shop}`, "challenge.branding.titel", "unknown key"},
		{"unknown colour", `colors: {background: "#fff"}`, "challenge.branding.colors.background", "unknown key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := "challenge:\n  branding:\n    " + c.branding + "\n"
			if strings.HasPrefix(c.branding, "{") {
				doc = "challenge:\n  branding: " + c.branding + "\n"
			}
			_, err := Parse([]byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Path != c.wantPath {
				t.Errorf("error %q does not name %s", err, c.wantPath)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not say %q", err, c.wantMsg)
			}
		})
	}
}

func TestContrastRatio(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000", "#fff", 21},
		{"#fff", "#fff", 1},
		{"#1d4ed8", "#ffffff", 6.70},
		{"#777", "#fff", 4.48},
	} {
		a, _ := ParseColor(c.a)
		b, _ := ParseColor(c.b)
		if got := ContrastRatio(a, b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast %s/%s = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}
