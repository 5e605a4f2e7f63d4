package extauthz

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/reputation"
)

// networkServer runs a policy with three reputation sets — a cloud
// (datacenter), the Tor exits and the operator's own list — and rules for
// two of them, enforced everywhere.
func networkServer(t *testing.T) *Server {
	t.Helper()
	return networkServerWith(t, nil)
}

func networkServerWith(t *testing.T, signer *clearance.Signer) *Server {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"cloud.txt":   "198.51.100.0/24\n2001:db8:c10d::/48\n",
		"tor.txt":     "203.0.113.66\n",
		"abuse.txt":   "192.0.2.0/26\n",
		"partner.txt": "192.0.2.128/25\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := fmt.Sprintf(`
session_cookie: sid
reputation:
  sets:
    cloud: {kind: datacenter, format: plain, files: [%[1]s/cloud.txt]}
    tor: {kind: tor, format: plain, files: [%[1]s/tor.txt]}
    abuse: {kind: listed, format: plain, files: [%[1]s/abuse.txt]}
    partner: {kind: listed, format: plain, files: [%[1]s/partner.txt]}
rules:
  sets: {abuse: deny, tor: challenge, partner: allow}
routes:
  default: {mode: enforce}
`, dir)
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []reputation.SetConfig
	for _, s := range p.Reputation.Sets {
		cfgs = append(cfgs, reputation.SetConfig{Name: s.Name, Kind: s.Kind, Format: s.Format, Files: s.Files})
	}
	sets, err := reputation.Load(context.Background(), cfgs, reputation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Policy: p, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Network: Network{Sets: sets},
		Clearance: signer, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDatacenterAddressScoresLower(t *testing.T) {
	s := networkServer(t)
	score := func(ip string) (int, string) {
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", ip, chrome)))
		n, err := strconv.Atoi(h[HeaderScore])
		if err != nil {
			t.Fatalf("%s: score %q", ip, h[HeaderScore])
		}
		return n, h[HeaderReasons]
	}
	home, _ := score("203.0.113.9")
	for _, ip := range []string{"198.51.100.7", "2001:db8:c10d::1"} {
		cloud, reasons := score(ip)
		if cloud >= home || cloud < 30 || !contains(reasons, "ip.datacenter") {
			t.Errorf("%s: %d (%s), want below the home network's %d, still likely human, naming ip.datacenter", ip, cloud, reasons, home)
		}
	}
}

func TestSetRules(t *testing.T) {
	s := networkServer(t)
	resp := mustCheck(t, s, request("GET", "/", "", "192.0.2.7", with(chrome, "accept", "application/json")))
	if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != typev3.StatusCode_Forbidden ||
		!contains(resp.GetDeniedResponse().GetBody(), "rule.set_deny") {
		t.Errorf("an address of a denied set: %v", resp)
	}
	// A browser on a Tor exit is challenged whatever its score.
	resp = mustCheck(t, s, request("GET", "/", "", "203.0.113.66", chrome))
	if got := resp.GetDeniedResponse().GetStatus().GetCode(); got != typev3.StatusCode_Found {
		t.Errorf("a Tor exit: %v, want the challenge redirect", resp)
	}
	// An allowed set is let through without scoring, even for curl.
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "192.0.2.200", curlNav)))
	if h[HeaderReasons] != "rule.set_allow" || h[HeaderScore] != "0" {
		t.Errorf("an allowed set: %v", h)
	}
}

// A challenged set is challenged until the client passes a challenge: its
// clearance, bound to its network and browser, lets it through.
func TestSetChallengeYieldsToAClearance(t *testing.T) {
	signer := signerWith(t, newKey(t, "k1"))
	s := networkServerWith(t, signer)
	ip := "203.0.113.66"
	cookie := signer.Issue(clearance.BindingFor(netip.MustParseAddr(ip), chrome["user-agent"]), "pow", "default", testNow)
	h := with(chrome, "cookie", policy.Default().Challenge.CookieName+"="+cookie)
	up := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", ip, h)))
	if up[HeaderAction] != "allow" || contains(up[HeaderReasons], "rule.set_challenge") {
		t.Errorf("a Tor exit with a valid clearance: %v, want allowed", up)
	}
	// Without it, the same browser is challenged.
	resp := mustCheck(t, s, request("GET", "/", "", "203.0.113.66", with(chrome, "cookie", "x=y")))
	if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
		t.Errorf("without the clearance: %v, want the challenge", resp)
	}
}
