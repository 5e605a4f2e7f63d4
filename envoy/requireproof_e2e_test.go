package envoy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/botauthz/botauthz/internal/browsertest"
)

// requireProofPolicy enforces require_proof on the login route (Envoy's
// /login prefix) and trusts the TLS fingerprint header, as the shipped
// pair of files does: nothing but a passed challenge opens it. The
// challenge's client-side evidence is not looked at: a Chromium driven
// over the DevTools protocol is automation by its own account
// (navigator.webdriver), and this test is about what a passed challenge
// opens, not about who may pass one.
const requireProofPolicy = `
version: require-proof-e2e
tls: {ja4_header: x-botauthz-ja4, trusted: true}
challenge: {evidence: "off"}
routes:
  default:
    mode: shadow
  login:
    mode: enforce
    require_proof: true
    challenge: {provider: pow, difficulty: 3}
`

// cffiClient is curl_cffi impersonating Chrome, with one session (its
// cookies kept) going through a route that requires proof as a scraper
// would: it navigates, is redirected to the challenge, fetches the
// challenge page (it cannot run its script), navigates again, then calls
// an API of the route as a page's fetch would. Redirects are not followed, so each answer is seen.
// It prints one JSON object per request.
const cffiClient = `
import json, sys
from curl_cffi import requests
a = json.loads(sys.argv[1])
s = requests.Session(impersonate="chrome", verify=a["ca"], timeout=30)
def show(step, r):
    print(json.dumps({"step": step, "status": r.status_code, "location": r.headers.get("location", ""),
                      "content_type": r.headers.get("content-type", ""), "body": r.text[:4096]}))
r = s.get(a["base"] + a["path"], allow_redirects=False)
show("navigate", r)
if r.headers.get("location"):
    show("challenge page", s.get(a["base"] + r.headers["location"], allow_redirects=False))
show("navigate again", s.get(a["base"] + a["path"], allow_redirects=False))
show("api", s.get(a["base"] + a["api"], allow_redirects=False, headers={"Accept": "application/json",
    "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}))
`

// cffiStep is one line cffiClient prints.
type cffiStep struct {
	Step        string `json:"step"`
	Status      int    `json:"status"`
	Location    string `json:"location"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// TestRequireProofThroughEnvoy runs a route with require_proof through the
// real Envoy over TLS: curl_cffi impersonating Chrome, whose TLS and
// headers pass for Chrome's (it scores as a human), never gets through,
// since it cannot run the challenge's script; headless Chromium, scoring as
// a human too, is challenged once, passes, lands on the page it asked for
// and browses two more pages without another challenge.
func TestRequireProofThroughEnvoy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	clearanceKeyEnv(t, "e2e")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(requireProofPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every decision is logged, allows included, to be read back.
	h := startHarnessOpts(t, harnessOptions{policy: policyFile, args: []string{"-decision-log-allow-sample", "1"}})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.proxy, "https://"))
	th := &tlsHarness{harness: h, port: port}

	// challengedForProof checks that a decision on path was a challenge for
	// lack of proof. With human set, the request also scored as a human's:
	// the score alone would have let it through.
	challengedForProof := func(t *testing.T, client, path string, d decisionLine, human bool) {
		t.Helper()
		t.Logf("%s on %s: score %d, %s (%s), rule %q, reasons %q", client, path, d.Score, d.Action, d.Enforced, d.Rule, d.reasons())
		if d.Action != "challenge" || d.Enforced != "challenge" || d.Rule != "rule.require_proof" {
			t.Errorf("%s on %s: %s enforced as %s, rule %q; want a challenge for rule.require_proof", client, path, d.Action, d.Enforced, d.Rule)
		}
		if human && d.Score < 30 {
			t.Errorf("%s on %s scored %d (%s): the score alone challenges it, so this proves nothing about require_proof", client, path, d.Score, d.reasons())
		}
	}

	// decisionsUntil waits until the decisions on path satisfy done: a
	// decision log line reaches the test through botauthz's stdout pipe a
	// little after the response reaches the client.
	decisionsUntil := func(t *testing.T, path string, done func([]decisionLine) bool) []decisionLine {
		t.Helper()
		var ds []decisionLine
		waitFor(t, "the decisions on "+path, 20*time.Second, func() error {
			if ds = th.decisions(t, path); !done(ds) {
				return fmt.Errorf("%d decisions so far", len(ds))
			}
			return nil
		})
		return ds
	}
	allowed := func(ds []decisionLine) bool { return ds[len(ds)-1].Action == "allow" }

	// challenges reads how many challenge pages were served and passed.
	challenges := func(t *testing.T) (issued, passed int) {
		t.Helper()
		metrics, err := get(h.botAdmin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		return metricValue(metrics, `botauthz_challenges_issued_total{provider="pow",route="login"}`),
			metricValue(metrics, `botauthz_challenges_results_total{outcome="passed",provider="pow",route="login"}`)
	}

	t.Run("curl_cffi impersonating Chrome never gets through", func(t *testing.T) {
		py := pythonWith(t, "curl_cffi")
		const path, api = "/login/cffi", "/login/cffi-api"
		args, err := json.Marshal(map[string]string{"base": th.url(""), "path": path, "api": api, "ca": h.certFile})
		if err != nil {
			t.Fatal(err)
		}
		out := runClient(t, nil, py, "-c", cffiClient, string(args))
		steps := map[string]cffiStep{}
		for line := range strings.Lines(out) {
			var s cffiStep
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("curl_cffi printed %q: %v", line, err)
			}
			steps[s.Step] = s
		}
		for _, step := range []string{"navigate", "navigate again"} {
			s := steps[step]
			u, err := url.Parse(s.Location)
			if s.Status != http.StatusFound || err != nil || u.Path != "/.botauthz/challenge" ||
				u.Query().Get("route") != "login" || u.Query().Get("return_to") != path {
				t.Errorf("%s: status %d, location %q; want a 302 to the login route's challenge", step, s.Status, s.Location)
			}
		}
		if s := steps["challenge page"]; s.Status != http.StatusOK || !strings.HasPrefix(s.ContentType, "text/html") {
			t.Errorf("challenge page: status %d, %s; want the page", s.Status, s.ContentType)
		}
		var body struct {
			Error        string `json:"error"`
			ChallengeURL string `json:"challenge_url"`
		}
		s := steps["api"]
		if err := json.Unmarshal([]byte(s.Body), &body); s.Status != http.StatusForbidden || err != nil ||
			body.Error != "challenge_required" || !strings.HasPrefix(body.ChallengeURL, "/.botauthz/challenge?route=login&") {
			t.Errorf("api: status %d, body %q; want the JSON challenge 403", s.Status, s.Body)
		}
		navigations := decisionsUntil(t, path, func(ds []decisionLine) bool { return len(ds) >= 2 })
		for _, d := range navigations {
			challengedForProof(t, "curl_cffi", path, d, true)
		}
		if len(navigations) != 2 {
			t.Errorf("%d decisions on %s, want one per navigation (2): the challenge page is not checked", len(navigations), path)
		}
		// Its fetch contradicts itself (fetch.inconsistent) and may score
		// low: only the rule is held here.
		for _, d := range th.decisions(t, api) {
			challengedForProof(t, "curl_cffi", api, d, false)
		}
		if _, passed := challenges(t); passed != 0 {
			t.Errorf("%d challenges passed: curl_cffi cannot run the page's script", passed)
		}
	})

	t.Run("Chromium passes the challenge once, then browses", func(t *testing.T) {
		chromium := browsertest.Chromium(t)
		issuedBefore, passedBefore := challenges(t)
		ctx := headlessChromium(t, chromium)
		const first = "/login/account"
		landed := solveChallenge(t, ctx, th.url(first+"?tab=orders"))
		if u, _ := url.Parse(landed); u.Query().Get("tab") != "orders" {
			t.Errorf("landed on %q, want the page first asked for", landed)
		}
		// The first decision on it challenged a human's score; the one
		// after the challenge let it in (checked below).
		challengedForProof(t, "chromium", first, th.decisions(t, first)[0], true)

		pages := []string{first, "/login/orders", "/login/settings"}
		for i, page := range pages {
			if i > 0 {
				// A navigation of its own, which Envoy checks as any other.
				if err := chromedp.Do(ctx, chromedp.Navigate(th.url(page))); err != nil {
					t.Fatal(err)
				}
				got, err := chromedp.Run(ctx, chromedp.Location())
				if err != nil {
					t.Fatal(err)
				}
				if u, _ := url.Parse(got); u.Path != page {
					t.Fatalf("navigation to %s went to %q: challenged again", page, got)
				}
			}
			text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
			if err != nil {
				t.Fatal(err)
			}
			var upstream http.Header
			if err := json.Unmarshal([]byte(text), &upstream); err != nil {
				t.Fatalf("%s: the page is not the upstream's header echo: %v\n%s", page, err, text)
			}
			if r := upstream.Get("X-Bot-Reasons"); strings.Contains(r, "rule.") || upstream.Get("X-Bot-Action") != "allow" {
				t.Errorf("%s: upstream got action %q, reasons %q; want allowed on its score", page, upstream.Get("X-Bot-Action"), r)
			}
			// The decision that let it through: the clearance, no rule.
			ds := decisionsUntil(t, page, allowed)
			last := ds[len(ds)-1]
			t.Logf("chromium on %s: score %d, %s, clearance %q, reasons %q", page, last.Score, last.Action, last.Clearance, last.reasons())
			if last.Action != "allow" || last.Rule != "" || last.Clearance != "valid" {
				t.Errorf("%s: last decision %s, rule %q, clearance %q; want allowed with a valid clearance", page, last.Action, last.Rule, last.Clearance)
			}
		}
		if n := len(th.decisions(t, "/login/orders")) + len(th.decisions(t, "/login/settings")); n != 2 {
			t.Errorf("%d decisions on the next two pages, want one each", n)
		}

		if issued, passed := challenges(t); issued-issuedBefore != 1 || passed-passedBefore != 1 {
			t.Errorf("Chromium was served %d challenges and passed %d; want 1 and 1", issued-issuedBefore, passed-passedBefore)
		}
	})
}
