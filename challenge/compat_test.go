package challenge

import (
	"net/netip"
	"testing"

	"github.com/botauthz/botauthz/clearance"
)

// compatToken was signed by 0.1.0 with testKey("site.2026-11") for
// compatTokenFields. A change of the format must keep tokens on pages
// already served verifying, or be a new version.
const compatToken = "c1.site.2026-11.AAcOFRwjKjE4P0ZNVFtiaQAAAABpLNqAAAAAAGks26wEoACLSyCILCPONkl2FTMj1AQYywBxA3BvdwVsb2dpbgAOL2FjY291bnQ_dGFiPTI.kBWuv0jepNU_v59fb1C-5WmBkUq9LmxMCek2yYop3Bc"

func compatTokenFields() token {
	t := token{
		iat: 1764547200, exp: 1764547500, difficulty: 4,
		client:   clearance.BindingFor(netip.MustParseAddr("203.0.113.7"), uaFirefox).Digest(),
		provider: "pow", route: "login", returnTo: "/account?tab=2",
	}
	for i := range t.id {
		t.id[i] = byte(i * 7)
	}
	return t
}

// TestTokensSignedBeforeStillVerify pins the c1 wire format: a token from
// 0.1.0 parses to the same fields, and sign spells them byte for byte the
// same.
func TestTokensSignedBeforeStillVerify(t *testing.T) {
	k, err := newTokenKeys([]clearance.Key{testKey("site.2026-11")})
	if err != nil {
		t.Fatal(err)
	}
	want := compatTokenFields()
	if got := k.sign(&want); got != compatToken {
		t.Errorf("sign = %q, want the 0.1.0 token %q", got, compatToken)
	}
	got, err := k.parse(compatToken)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got != want {
		t.Errorf("parse = %+v, want %+v", got, want)
	}
}
