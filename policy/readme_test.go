package policy

import (
	"os"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/scoring"
)

// The README's policy example and signal table are documentation that must
// not drift: the example goes through the real loader, and every signal the
// model knows is documented.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadmePolicyExampleParses(t *testing.T) {
	_, rest, ok := strings.Cut(readme(t), "<!-- policy-example -->\n```yaml\n")
	if !ok {
		t.Fatal("README.md has no policy example")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md policy example is not closed")
	}
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("README policy example: %v", err)
	}
	if r := p.Route("login"); r.Mode != ModeCanary || r.CanaryPercent != 10 || len(r.Limits) != 2 || r.Challenge.Provider != "turnstile" {
		t.Errorf("README example login route = %+v", r)
	}
}

func TestReadmeDocumentsEverySignal(t *testing.T) {
	doc := readme(t)
	for _, c := range scoring.Codes() {
		if !strings.Contains(doc, "`"+c.String()+"`") {
			t.Errorf("README.md does not document signal %s", c)
		}
	}
}

func TestReadmeBrandingExampleParses(t *testing.T) {
	_, rest, ok := strings.Cut(readme(t), "<!-- branding-example -->\n```yaml\n")
	if !ok {
		t.Fatal("README.md has no branding example")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md branding example is not closed")
	}
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("README branding example: %v", err)
	}
	if b := p.Challenge.Branding; b.Title != "Example Shop" || b.LogoOrigin != "https://static.example.com" || b.Colors.AccentDark != "#5eead4" {
		t.Errorf("README branding example = %+v", b)
	}
	// The table's defaults are the embedded ones.
	def := Default().Challenge.Branding.Colors
	for _, c := range []string{def.Accent, def.AccentText, def.AccentDark, def.AccentTextDark} {
		if !strings.Contains(readme(t), "`"+c+"`") {
			t.Errorf("README does not give the default colour %s", c)
		}
	}
}
