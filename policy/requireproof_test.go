package policy

import (
	"strings"
	"testing"
)

func TestRequireProofIsOffByDefault(t *testing.T) {
	for name, r := range Default().Routes {
		if r.RequireProof {
			t.Errorf("route %s requires proof in the embedded defaults", name)
		}
	}
	p, err := Parse([]byte(`routes: {login: {mode: enforce}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Route("login").RequireProof {
		t.Error("a route that does not ask for proof requires it")
	}
}

func TestRequireProofIsInheritedFromTheDefaultRoute(t *testing.T) {
	p, err := Load("testdata/good/require-proof.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"default": true, "checkout": true, "api": false}
	for name, w := range want {
		if got := p.Route(name).RequireProof; got != w {
			t.Errorf("route %s: require_proof %v, want %v", name, got, w)
		}
	}
	// An unknown route is the default route, which requires proof here.
	if !p.Route("unknown").RequireProof {
		t.Error("an unknown route does not take the default route's require_proof")
	}
	if c := p.Route("checkout").Challenge; c.Difficulty != 5 {
		t.Errorf("checkout challenge = %+v", c)
	}

	p, err = Parse([]byte(`
routes:
  login: {require_proof: true}
  search: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Route("login").RequireProof || p.Route("search").RequireProof || p.Route("default").RequireProof {
		t.Errorf("login %v, search %v, default %v; want only login", p.Route("login").RequireProof,
			p.Route("search").RequireProof, p.Route("default").RequireProof)
	}
}

func TestRequireProofMustBeABoolean(t *testing.T) {
	for doc, want := range map[string]string{
		"routes:\n  login:\n    require_proof: always\n": `line 3: routes.login.require_proof: "always" is not true or false`,
		"routes:\n  login:\n    require_proof: 1\n":      `routes.login.require_proof: "1" is not true or false`,
		"routes:\n  login:\n    requires_proof: true\n":  "routes.login.requires_proof: unknown key",
		"require_proof: true\n":                          "require_proof: unknown key",
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
}
