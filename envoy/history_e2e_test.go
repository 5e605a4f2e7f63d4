package envoy

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

// historyPolicy keeps history with a short escalation, limits the api
// route per address and requires proof on login.
const historyPolicy = `
version: history-e2e
session_cookie: sid
history: {window: 10m, escalate_after: 3, session_networks: 2}
routes:
  default: {mode: enforce}
  api:
    mode: enforce
    limits:
      - {key: ip, window: 60s, max: 3}
  login:
    mode: enforce
    require_proof: true
`

// TestHistoryThroughEnvoy runs history through the real Envoy and Redis,
// clients posing as addresses through the trusted x-forwarded-for hop: a
// client that keeps breaking a limit is denied where a newcomer is asked
// to come back later, and its denials lower its next score; a clearance
// earned on one network is refused on another; one session cookie from
// many networks is named.
func TestHistoryThroughEnvoy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	key := clearanceKeyEnv(t, "e2e-history")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(historyPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHarnessWith(t, policyFile)

	api := maps.Clone(chrome)
	api["Accept"] = "application/json"
	api["Sec-Fetch-Site"], api["Sec-Fetch-Mode"], api["Sec-Fetch-Dest"] = "same-origin", "cors", "empty"
	delete(api, "Sec-Fetch-User")
	delete(api, "Upgrade-Insecure-Requests")
	reason := func(r response) string {
		var body struct{ Reason string }
		json.Unmarshal([]byte(r.body), &body)
		return body.Reason
	}

	t.Run("a client denied repeatedly is denied sooner", func(t *testing.T) {
		// breakLimit makes the client's first four API calls, the fourth
		// over the limit, and returns the fourth's answer.
		breakLimit := func(ip string) response {
			for i := range 3 {
				if r := h.do(t, "GET", "/api/items", ip, api); r.status != 200 {
					t.Fatalf("%s: call %d under the limit: %d %q", ip, i+1, r.status, r.body)
				}
			}
			return h.do(t, "GET", "/api/items", ip, api)
		}
		if r := breakLimit("203.0.113.20"); r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("first breach: %d (retry-after %q), want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
		}
		// Each breach lowers the next score (history.ratelimited), which
		// may challenge it first; escalate_after breaches in all make the
		// next one a deny.
		var breaches int
		waitFor(t, "the repeated breaches escalate", 20*time.Second, func() error {
			switch r := h.do(t, "GET", "/api/items", "203.0.113.20", api); {
			case r.status == 429, r.status == 403 && strings.Contains(r.body, "challenge_required"):
				breaches++
				return fmt.Errorf("%d more breaches answered %d", breaches, r.status)
			case r.status == 403 && reason(r) == "rule.escalated":
				return nil
			default:
				t.Fatalf("status %d body %q, want 429 or a challenge, then 403 for rule.escalated", r.status, r.body)
				return nil
			}
		})
		if breaches < 2 {
			t.Errorf("escalated after %d breaches, want escalate_after (3) first", breaches+1)
		}
		// A newcomer breaking the same limit is asked to come back later.
		if r := breakLimit("203.0.113.21"); r.status != 429 {
			t.Errorf("a newcomer's first breach: %d %q, want 429", r.status, r.body)
		}
		// Its denials and breaches weigh on it everywhere: the page a
		// newcomer browses freely challenges it.
		if fresh, reasons := h.score(t, "203.0.113.22", chrome); strings.Contains(reasons, "history.") {
			t.Errorf("a newcomer's page: %d (%s), want no history", fresh, reasons)
		}
		// Its denials are written after the decisions, within a flush.
		waitFor(t, "the escalated client challenged on a page", 20*time.Second, func() error {
			if r := h.do(t, "GET", "/", "203.0.113.20", chrome); r.status != 302 || !strings.HasPrefix(r.header.Get("Location"), "/.botauthz/challenge") {
				return fmt.Errorf("the escalated client's page: %d (location %q), want a redirect to the challenge", r.status, r.header.Get("Location"))
			}
			return nil
		})
	})

	t.Run("a clearance reused from a second network is refused", func(t *testing.T) {
		signer, err := clearance.NewSigner(clearance.Options{Keys: []clearance.Key{key}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		earned := "203.0.113.30"
		value := signer.Issue(clearance.BindingFor(netip.MustParseAddr(earned), chrome["User-Agent"]), "pow", "login", time.Now())
		cookie := maps.Clone(chrome)
		cookie["Cookie"] = "sid=s-30; " + policy.Default().Challenge.CookieName + "=" + value
		if r := h.do(t, "GET", "/login", earned, cookie); r.status != 200 || r.upstream == nil {
			t.Fatalf("on the network it was earned on: %d %q, want through", r.status, r.body)
		}
		for _, ip := range []string{"198.51.100.30", "192.0.2.30"} {
			r := h.do(t, "GET", "/login", ip, cookie)
			if r.status != 302 || !strings.HasPrefix(r.header.Get("Location"), "/.botauthz/challenge") {
				t.Errorf("from %s: %d (location %q), want a redirect to the challenge", ip, r.status, r.header.Get("Location"))
			}
		}
		if r := h.do(t, "GET", "/login", "203.0.113.31", cookie); r.status != 200 {
			t.Errorf("from the same /24: %d, want through (the binding is the network)", r.status)
		}
	})

	t.Run("one session from many networks is named", func(t *testing.T) {
		cookie := maps.Clone(chrome)
		cookie["Cookie"] = "sid=passed-around"
		h.score(t, "203.0.113.40", cookie)
		h.score(t, "198.51.100.40", cookie)
		waitFor(t, "session.many_networks from a third network", 20*time.Second, func() error {
			if got, reasons := h.score(t, "192.0.2.40", cookie); !strings.Contains(reasons, "session.many_networks") {
				return fmt.Errorf("scores %d (%s)", got, reasons)
			}
			return nil
		})
	})
}
