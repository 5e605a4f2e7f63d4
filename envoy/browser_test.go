package envoy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/internal/browsertest"
)

// TestChallengeInABrowser drives headless Chromium through the real Envoy's
// TLS listener to three botauthz replicas behind its round robin, sharing
// their clearance keys as the Kubernetes Secret has them share: a navigation
// that scores as a challenge is redirected, the browser solves the proof of
// work (the page from one replica, the answer to another), gets the Secure
// clearance cookie, lands on the page it asked for and reaches the upstream;
// ten more navigations, spread over the replicas, pass at once. The cookie
// is then replayed from elsewhere, where it must not count.
func TestChallengeInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := browsertest.Chromium(t)
	key, err := clearance.GenerateKey("e2e")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := json.Marshal(key.Secret) // base64 of the secret
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOTAUTHZ_CLEARANCE_KEYS", key.ID+":"+strings.Trim(string(keys), `"`))
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	// Chromium is a real browser here: only its headless mode's user agent
	// says otherwise (HeadlessChrome, which is declared automation), so it is
	// overridden with Chrome's own. A real browser scores as a human, so the
	// login route makes every visitor look fast: each request is over a soft
	// limit of less than one, and velocity.route_ip, weighed heavily on this
	// route, puts a clean browser far under the challenge threshold (30)
	// whatever the trained bias; a valid clearance, weighed as heavily the
	// other way, lifts it back. Nothing is denied here: the test is about
	// challenges.
	// chromedp's Chromium says navigator.webdriver, so its evidence is
	// automated: a marked clearance would be proof but no lift, and refuse
	// gives none. This test is about the challenge's round trip, so the
	// evidence is off here; evidence_test.go tests refuse and a person's
	// browser, extauthz tests a marked clearance.
	if err := os.WriteFile(policyFile, []byte("challenge:\n  evidence: \"off\"\n"+evidencePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHarnessOpts(t, harnessOptions{policy: policyFile, replicas: 3})

	ctx := headlessChromium(t, chromium)
	var body, ua string
	landed := solveChallenge(t, ctx, h.proxy+"/login/account?tab=orders")
	if body, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	if ua, err = chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`)); err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(landed); u.Path != "/login/account" || u.Query().Get("tab") != "orders" {
		t.Fatalf("landed on %q, want the page first asked for", landed)
	}
	var upstream http.Header
	if err := json.Unmarshal([]byte(body), &upstream); err != nil {
		t.Fatalf("the upstream's answer is not its header echo: %v\n%s", err, body)
	}
	if !strings.Contains(upstream.Get("X-Bot-Reasons"), "clearance.valid") {
		t.Errorf("upstream reasons %q lack clearance.valid", upstream.Get("X-Bot-Reasons"))
	}

	// It really was challenged, and passed once, over all the replicas.
	issued, passed := 0, 0
	for _, r := range h.replicas {
		metrics, err := get(r.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		issued += metricValue(metrics, `botauthz_challenges_issued_total{provider="pow",route="login"}`)
		passed += metricValue(metrics, `botauthz_challenges_results_total{outcome="passed",provider="pow",route="login"}`)
	}
	if issued != 1 || passed != 1 {
		t.Errorf("challenges issued %d, passed %d over the replicas; want 1 and 1", issued, passed)
	}

	// Ten more navigations, round robin over the replicas, pass at once.
	for i := range 10 {
		page := fmt.Sprintf("/login/page-%d", i)
		if err := chromedp.Do(ctx, chromedp.Navigate(h.proxy+page)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := url.Parse(got); u.Path != page {
			t.Fatalf("navigation %d went to %q, want %s without a challenge", i+1, got, page)
		}
	}

	// The cookie itself, replayed by other clients through Envoy.
	cookies, err := chromedp.Run(ctx, func(ctx context.Context, tgt *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tgt, network.GetCookies, network.GetCookiesParams{})
		return res.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var value string
	for _, c := range cookies {
		if c.Name == "botauthz_clearance" {
			value = c.Value
			if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("clearance cookie attributes: HttpOnly=%v Secure=%v SameSite=%v", c.HTTPOnly, c.Secure, c.SameSite)
			}
		}
	}
	if value == "" {
		t.Fatalf("no clearance cookie in the browser: %+v", cookies)
	}
	// The browser's own navigation headers, as the upstream saw them, less
	// what Envoy and botauthz added and the cookie under test.
	browser := map[string]string{}
	for k, v := range upstream {
		switch lk := strings.ToLower(k); {
		case strings.HasPrefix(lk, "x-"), lk == "cookie", lk == "content-length":
		default:
			browser[k] = v[0]
		}
	}
	withCookie := func(v string) []string { return []string{"Cookie", "botauthz_clearance=" + v} }
	cases := []struct {
		name   string
		ip     string
		ua     string
		cookie string
		pass   bool
	}{
		{"the same browser and network pass", "127.0.0.1", ua, value, true},
		{"another network is challenged again", "198.51.100.7", ua, value, false},
		{"another user agent is challenged again", "127.0.0.1", ua + " Other", value, false},
		{"a tampered cookie is challenged again", "127.0.0.1", ua, value[:len(value)-2] + "AA", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := map[string]string{}
			for k, v := range browser {
				hdr[k] = v
			}
			hdr["User-Agent"] = c.ua
			r := h.do(t, "GET", "/login/account", c.ip, hdr, withCookie(c.cookie)...)
			if passed := r.status == 200; passed != c.pass {
				t.Errorf("status %d, want pass=%v", r.status, c.pass)
			}
			if !c.pass && !strings.HasPrefix(r.header.Get("Location"), "/.botauthz/challenge") {
				t.Errorf("location %q, want the challenge", r.header.Get("Location"))
			}
		})
	}
}

// headlessChromium starts the Chromium at path, headless (the new mode:
// Chrome's own browser code), trusting the harness's self-signed
// certificate, with the user agent Chrome sends when not headless; it is
// closed when the test ends. The context has a deadline.
func headlessChromium(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserAgent(chromiumUserAgent(t, path)))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// solveChallenge navigates the browser to target, which challenges it: the
// challenge page solves the proof of work and posts it, and the browser
// follows the 303 back to where it wanted to go. It returns where the
// browser landed, once that is target's path.
func solveChallenge(t *testing.T, ctx context.Context, target string) string {
	t.Helper()
	want, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(target)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	var landed string
	waitFor(t, "the browser back on the page it asked for", 60*time.Second, func() error {
		var err error
		if landed, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
			return err
		}
		if u, _ := url.Parse(landed); u.Path != want.Path {
			page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
			return fmt.Errorf("on %q:\n%s", landed, page)
		}
		return nil
	})
	return landed
}

// metricValue is the value of one series in a Prometheus text exposition,
// 0 when it is absent.
func metricValue(exposition, series string) int {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// chromiumUserAgent is the user agent the Chromium at path sends when it is
// not headless: Chrome's reduced user agent with its major version.
func chromiumUserAgent(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", path, err)
	}
	// "Chromium 142.0.7444.175 built on Debian …"
	var major string
	for _, f := range strings.Fields(string(out)) {
		if m, _, ok := strings.Cut(f, "."); ok {
			if _, err := strconv.Atoi(m); err == nil {
				major = m
				break
			}
		}
	}
	if major == "" {
		t.Fatalf("no version in %q", out)
	}
	return "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + major + ".0.0.0 Safari/537.36"
}
