package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/challenge/provider"
)

// TestChallengeProvidersFromTheTable: the policy accepts exactly the
// provider package's vendors under challenge.providers, routes may name
// each, and the refusal of another name lists exactly provider.Names().
func TestChallengeProvidersFromTheTable(t *testing.T) {
	for _, name := range provider.Names() {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte("challenge:\n  providers:\n    " + name + ": {site_key: x, secret_env: X}\n" +
				"routes:\n  signup:\n    challenge: {provider: " + name + "}\n"))
			if err != nil {
				t.Fatalf("provider %s refused: %v", name, err)
			}
			if _, ok := p.Challenge.Providers[name]; !ok || p.Route("signup").Challenge.Provider != name {
				t.Errorf("provider %s not configured or not the route's: %+v", name, p.Challenge)
			}
		})
	}
	for _, bad := range []string{"pow", "recaptchav4", "Turnstile", "captcha"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			_, err := Parse([]byte("challenge:\n  providers:\n    " + bad + ": {site_key: x, secret_env: X}\n"))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			_, list, ok := strings.Cut(msg, "unknown provider (want ")
			list, _, closed := strings.Cut(list, ")")
			if !ok || !closed {
				t.Fatalf("error %q does not say which providers are known", msg)
			}
			names := strings.Split(strings.Replace(list, " or ", ", ", 1), ", ")
			if !slices.Equal(names, provider.Names()) {
				t.Errorf("error %q lists %q, want provider.Names() %q", msg, names, provider.Names())
			}
		})
	}
}
