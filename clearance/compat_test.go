package clearance

import (
	"crypto/sha256"
	"net/netip"
	"testing"
	"time"
)

// compatKey, compatBinding and compatIssued made compatCookie with the v1
// format as first shipped (0.1.0). A change of the format must keep such
// cookies verifying for their TTL, or be a new version.
var (
	compatKey     = Key{ID: "site.2026-11", Secret: func() []byte { s := sha256.Sum256([]byte("botauthz clearance compat key")); return s[:] }()}
	compatBinding = BindingFor(netip.MustParseAddr("203.0.113.7"), "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	compatIssued  = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

const compatCookie = "v1.site.2026-11.AAAAAGsODgAAAAAAaw4cEKAAi0sgiCwjzjZJdhUzI9QEGMsAcQNwb3cFbG9naW4.IRg1LL_3v1dZ1tyc91LIH_zvhM3ZugiEC0V2X4GQN-k"

// TestCookiesIssuedBeforeStillVerify pins the v1 wire format: a cookie
// issued by 0.1.0 verifies, within its TTL, with the same claims, and Issue
// still spells it byte for byte the same.
func TestCookiesIssuedBeforeStillVerify(t *testing.T) {
	s, err := NewSigner(Options{Keys: []Key{compatKey}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Issue(compatBinding, "pow", "login", compatIssued); got != compatCookie {
		t.Errorf("Issue = %q, want the 0.1.0 value %q", got, compatCookie)
	}
	c, st := s.Verify(compatCookie, compatBinding, compatIssued.Add(59*time.Minute))
	if st != Valid || c.KeyID != compatKey.ID || c.Provider != "pow" || c.Route != "login" || !c.IssuedAt.Equal(compatIssued) || !c.Expires.Equal(compatIssued.Add(time.Hour)) {
		t.Errorf("Verify = %+v, %v; want Valid with the issued claims", c, st)
	}
	if _, st := s.Verify(compatCookie, compatBinding, compatIssued.Add(time.Hour)); st != Expired {
		t.Errorf("after its TTL: %v, want Expired", st)
	}
}
