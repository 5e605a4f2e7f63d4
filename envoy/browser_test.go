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
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/internal/redistest"
)

// chromiumPath finds Debian's Chromium, or skips (fails under make test).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("BOTAUTHZ_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(redistest.EnvRequire) == "1" {
		t.Fatal("chromium not found; `make test` installs it")
	}
	t.Skip("chromium not found; run `make test` to install it")
	return ""
}

// TestChallengeInABrowser drives headless Chromium through the real Envoy:
// a navigation that scores as a challenge is redirected, the browser solves
// the proof of work, gets the clearance cookie, lands on the page it asked
// for and reaches the upstream; the next navigation passes at once. The
// cookie is then replayed from elsewhere, where it must not count.
func TestChallengeInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath(t)
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
	if err := os.WriteFile(policyFile, []byte(`
challenge:
  insecure_cookie: true   # the harness speaks plain http
routes:
  default:
    mode: shadow
  login:
    mode: enforce
    challenge_below: 90    # headless Chromium scores about 40: challenge it
    challenge: {provider: pow, difficulty: 3}
    limits: []
`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHarnessWith(t, policyFile)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("headless", "new"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var landed, body, ua string
	target := h.proxy + "/login/account?tab=orders"
	if err := chromedp.Do(ctx, chromedp.Navigate(target)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	// The challenge page solves the proof of work and posts it; the browser
	// follows the 303 back to where it wanted to go.
	waitFor(t, "the browser back on the page it asked for", 60*time.Second, func() error {
		var err error
		if landed, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
			return err
		}
		if u, _ := url.Parse(landed); u.Path != "/login/account" {
			page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
			return fmt.Errorf("on %q:\n%s", landed, page)
		}
		return nil
	})
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

	// It really was challenged, and passed once.
	metrics, err := get(h.botAdmin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`botauthz_challenges_issued_total{provider="pow",route="login"} 1`,
		`botauthz_challenges_results_total{outcome="passed",provider="pow",route="login"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A second navigation passes without a challenge.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.proxy+"/login/settings")); err != nil {
		t.Fatal(err)
	}
	second, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(second); u.Path != "/login/settings" {
		t.Errorf("second navigation went to %q, want no challenge", second)
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
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("clearance cookie attributes: HttpOnly=%v SameSite=%v", c.HTTPOnly, c.SameSite)
			}
		}
	}
	if value == "" {
		t.Fatalf("no clearance cookie in the browser: %+v", cookies)
	}
	browser := map[string]string{"User-Agent": ua, "Accept": "text/html", "Accept-Language": "en-US", "Accept-Encoding": "gzip, deflate, br, zstd"}
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
