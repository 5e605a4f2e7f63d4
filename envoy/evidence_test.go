package envoy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/botauthz/botauthz/internal/redistest"

	"github.com/botauthz/botauthz/internal/browsertest"
)

// evidencePolicy enforces challenges on login as TestChallengeInABrowser's
// policy does (a clean browser is challenged by velocity, a clearance lifts
// it), with the evidence refused as shipped (challenge.evidence is not set).
const evidencePolicy = `
routes:
  default:
    mode: shadow
  login:
    mode: enforce
    deny_below: 1
    challenge: {provider: pow, difficulty: 3}
    limits:
      - {key: route_ip, window: 60s, score_above: 0.5}
    score:
      weights:
        velocity.route_ip: -9
        clearance.valid: 12
`

// evidenceCounts reads the challenge outcomes and evidence reasons off the
// replica's /metrics.
func evidenceCounts(t *testing.T, h *harness) map[string]int {
	t.Helper()
	metrics, err := get(h.botAdmin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, o := range []string{"passed", "automated", "wrong_answer"} {
		out[o] = metricValue(metrics, `botauthz_challenges_results_total{outcome="`+o+`",provider="pow",route="login"}`)
	}
	for _, r := range []string{"none", "evidence.missing", "evidence.script", "evidence.webdriver", "evidence.headless",
		"evidence.automation_globals", "evidence.software_gl", "evidence.geometry", "evidence.pointer", "evidence.timezone"} {
		out[r] = metricValue(metrics, `botauthz_challenge_evidence_total{reason="`+r+`"}`)
	}
	return out
}

// delta is after minus before, for the keys that changed.
func delta(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func wantDelta(t *testing.T, got map[string]int, want map[string]int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes and evidence reasons counted: %v, want %v", got, want)
	}
}

// TestChallengeEvidenceWithRealAutomation runs three visitors through the
// real Envoy to one botauthz that refuses automated evidence (the default):
// headless Chromium driven by chromedp with Chrome's user agent, a Go
// program that solves the proof of work without a browser, and Chromium
// opened under Xvfb as a person opens it, without the DevTools protocol,
// watched from the server side. Only the last gets a clearance.
func TestChallengeEvidenceWithRealAutomation(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := browsertest.Chromium(t)
	xvfbRun := xvfbRunPath(t)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(evidencePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHarnessOpts(t, harnessOptions{policy: policyFile})
	ua := chromiumUserAgent(t, chromium)

	t.Run("chromedp's headless Chromium gets no clearance", func(t *testing.T) {
		before := evidenceCounts(t, h)
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
			chromedp.Flag("headless", "new"), chromedp.Flag("ignore-certificate-errors", true), chromedp.UserAgent(ua))
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		defer cancelAlloc()
		ctx, cancel := chromedp.NewContext(allocCtx)
		defer cancel()
		ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
		defer cancelTimeout()

		if err := chromedp.Do(ctx, chromedp.Navigate(h.proxy+"/login/account")); err != nil {
			t.Fatalf("browser: %v", err)
		}
		// It solves the proof of work and posts it with its evidence; the
		// answer is refused with the page that says why.
		waitFor(t, "the refusal page", 30*time.Second, func() error {
			title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
			if err != nil {
				return err
			}
			if title != "The check did not pass" {
				return fmt.Errorf("title %q", title)
			}
			return nil
		})
		body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "automation software") {
			t.Errorf("the refusal does not say why:\n%s", body)
		}
		// What this browser shows of itself, for the record: the server
		// keeps none of it.
		seen, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({webdriver: navigator.webdriver,
			brands: navigator.userAgentData && navigator.userAgentData.brands.map(function (b) { return b.brand; }),
			gl: (function () { var g = document.createElement("canvas").getContext("webgl"); if (!g) return "";
				var i = g.getExtension("WEBGL_debug_renderer_info"); return i ? g.getParameter(i.UNMASKED_RENDERER_WEBGL) : ""; })(),
			screen: [screen.width, screen.height], pointer: matchMedia("(any-pointer: fine)").matches ? "fine" :
				matchMedia("(any-pointer: coarse)").matches ? "coarse" : "none"})`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("chromedp headless Chromium shows: %s", seen)

		cookies, err := chromedp.Run(ctx, func(ctx context.Context, tgt *chromedp.Target) ([]*network.Cookie, error) {
			res, err := cdp.Call(ctx, tgt, network.GetCookies, network.GetCookiesParams{})
			return res.Cookies, err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cookies {
			if c.Name == "botauthz_clearance" {
				t.Errorf("the automated browser got a clearance cookie")
			}
		}
		// Its next navigation is challenged again.
		if err := chromedp.Do(ctx, chromedp.Navigate(h.proxy+"/login/other")); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := url.Parse(got); u.Path != "/.botauthz/challenge" {
			t.Errorf("the next navigation went to %q, want the challenge", got)
		}
		// Only webdriver is strong here; the weak reasons that fired are
		// logged, whatever they are.
		d := delta(before, evidenceCounts(t, h))
		if d["automated"] != 1 || d["passed"] != 0 || d["evidence.webdriver"] != 1 {
			t.Errorf("outcomes and evidence reasons counted: %v, want automated 1 with evidence.webdriver", d)
		}
		t.Logf("counted for chromedp: %v", d)
	})

	t.Run("a Go program that solves the proof of work gets no clearance", func(t *testing.T) {
		const ip = "198.51.100.23"
		target := "/.botauthz/challenge?route=login&return_to=%2Flogin%2Faccount"
		for _, c := range []struct {
			name     string
			evidence func(token string) string
			reason   string
		}{
			{"without evidence", func(string) string { return "" }, "evidence.missing"},
			// It copies a person's evidence, but cannot derive the proof
			// without the page's per-challenge script.
			{"with a person's evidence copied", func(string) string {
				return `{"v":1,"proof":"0123456789abcdef","webdriver":false,"ua":"` + ua + `","brands":["Not:A-Brand","Chromium"],` +
					`"globals":[],"gl":"","tz":"UTC","screen":[1280,1024],"outer":[1050,1004],"inner":[1050,861],"pointer":"fine"}`
			}, "evidence.script"},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := evidenceCounts(t, h)
				page := h.httpDo(t, "GET", target, ip, ua, nil)
				if page.StatusCode != 200 {
					t.Fatalf("challenge page: status %d", page.StatusCode)
				}
				body := readAll(t, page)
				token, challenge := attr(t, body, `name="token" value="([^"]*)"`), attr(t, body, `data-challenge="([^"]*)"`)
				difficulty, err := strconv.Atoi(attr(t, body, `data-difficulty="([^"]*)"`))
				if err != nil {
					t.Fatal(err)
				}
				form := url.Values{"token": {token}, "nonce": {solvePoW(challenge, difficulty)}}
				if ev := c.evidence(token); ev != "" {
					form.Set("evidence", ev)
				}
				resp := h.httpDo(t, "POST", "/.botauthz/challenge/verify", ip, ua, form)
				readAll(t, resp)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("answer: status %d, want 403", resp.StatusCode)
				}
				for _, ck := range resp.Cookies() {
					if ck.Name == "botauthz_clearance" {
						t.Errorf("the program got a clearance cookie")
					}
				}
				wantDelta(t, delta(before, evidenceCounts(t, h)), map[string]int{"automated": 1, c.reason: 1})
			})
		}
	})

	t.Run("Chromium opened by a person under Xvfb gets a clearance", func(t *testing.T) {
		before := evidenceCounts(t, h)
		// As a person opens it (startHeadedChromium says how).
		done := startHeadedChromium(t, xvfbRun, chromium, "-screen 0 1280x1024x24",
			h.proxy+"/.botauthz/challenge?route=login&return_to=%2Flogin%2Fperson")
		// Watched from the server side: the answer passes, with its
		// evidence verified.
		waitFor(t, "the person's answer passed", 45*time.Second, func() error {
			select {
			case <-done:
				return fmt.Errorf("xvfb-run exited")
			default:
			}
			if d := delta(before, evidenceCounts(t, h)); d["passed"] < 1 {
				return fmt.Errorf("counted %v", d)
			}
			return nil
		})
		d := delta(before, evidenceCounts(t, h))
		if d["automated"] != 0 || d["passed"] != 1 {
			t.Errorf("outcomes counted: %v, want one pass", d)
		}
		for _, strong := range []string{"evidence.missing", "evidence.script", "evidence.webdriver", "evidence.headless", "evidence.automation_globals"} {
			if d[strong] != 0 {
				t.Errorf("%s fired for a person's browser: %v", strong, d)
			}
		}
		t.Logf("counted for the person's Chromium: %v", d)
	})
}

// startHeadedChromium opens url in Chromium under xvfb-run (screen is
// Xvfb's -screen setting) as a person would: a fresh profile, no automation
// flags and no DevTools protocol; --no-sandbox only because tests run as
// root, --ignore-certificate-errors for the harness's self-signed
// certificate. It runs in its own process group, so that the test's
// cleanup ends xvfb-run, Xvfb and Chromium together (and logs their output
// if the test failed); done is closed if it exits first.
func startHeadedChromium(t *testing.T, xvfbRun, chromium, screen, url string) (done <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(xvfbRun, "-a", "-s", screen, chromium, "--no-sandbox", "--no-first-run",
		"--no-default-browser-check", "--user-data-dir="+t.TempDir(), "--ignore-certificate-errors", url)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("xvfb-run chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("--- xvfb-run chromium output ---\n%s", out.String())
		}
	})
	return exited
}

// xvfbRunPath finds xvfb-run, or skips (fails under make test).
func xvfbRunPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("xvfb-run"); err == nil {
		return p
	}
	if os.Getenv(redistest.EnvRequire) == "1" {
		t.Fatal("xvfb-run not found; `make test` installs it")
	}
	t.Skip("xvfb-run not found; run `make test` to install it")
	return ""
}

// httpDo sends one request through Envoy as the client at ip with user
// agent ua, a form body when form is not nil. Redirects are not followed.
func (h *harness) httpDo(t *testing.T, method, path, ip, ua string, form url.Values) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.proxy+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func attr(t *testing.T, body, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s on the page:\n%s", re, body)
	}
	return m[1]
}

// solvePoW is the documented puzzle (README, challenge.js) reimplemented:
// the first decimal nonce with hex(SHA-256(challenge ":" nonce)) starting
// with difficulty zeros.
func solvePoW(challenge string, difficulty int) string {
	zeros := strings.Repeat("0", difficulty)
	for n := 0; ; n++ {
		nonce := strconv.Itoa(n)
		sum := sha256.Sum256([]byte(challenge + ":" + nonce))
		if strings.HasPrefix(hex.EncodeToString(sum[:]), zeros) {
			return nonce
		}
	}
}
