package envoy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/botauthz/botauthz/internal/redistest"

	"github.com/botauthz/botauthz/internal/browsertest"
)

// The request headers front-proxy.yaml sets from the client's ClientHello.
const (
	ja4Header = "x-botauthz-ja4"
	ja3Header = "x-botauthz-ja3"
)

var (
	// ja4Pattern is a JA4 fingerprint as Envoy writes it.
	ja4Pattern = regexp.MustCompile(`^t1[0-3][di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$`)
	// ja3Pattern is a JA3 hash (MD5).
	ja3Pattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// tlsPolicy trusts the fingerprint header, as envoy/botauthz.yaml does
// behind front-proxy.yaml, and enforces every route. Every decision is
// logged (-decision-log-allow-sample 1) with the features that fired, so
// that each client's can be read back.
const tlsPolicy = `
version: tls-e2e
tls: {ja4_header: x-botauthz-ja4, trusted: true}
decision_log: {features: true}
routes:
  default:
    mode: enforce
`

// tlsAccessLog is an access log on the TLS listener, written to path as
// JSON lines: each request's path and status, the fingerprints Envoy
// computed for its connection, and the x-botauthz-ja4 the request carried
// when it was logged. For a request ext_authz stopped that is the value
// botauthz saw; from one it let through the router has removed it.
func tlsAccessLog(path string) map[string]string {
	return map[string]string{
		"          stat_prefix: ingress_http\n": `          stat_prefix: ingress_http
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ` + path + `
              log_format:
                json_format:
                  path: "%REQ(:PATH)%"
                  code: "%RESPONSE_CODE%"
                  protocol: "%PROTOCOL%"
                  sni: "%REQUESTED_SERVER_NAME%"
                  user_agent: "%REQ(USER-AGENT)%"
                  ja4: "%TLS_JA4_FINGERPRINT%"
                  ja3: "%TLS_JA3_FINGERPRINT%"
                  seen_ja4: "%REQ(X-BOTAUTHZ-JA4)%"
`,
	}
}

// accessEntry is one line of tlsAccessLog.
type accessEntry struct {
	Path      string  `json:"path"`
	Code      int     `json:"code"`
	Protocol  string  `json:"protocol"`
	SNI       string  `json:"sni"`
	UserAgent string  `json:"user_agent"`
	JA4       string  `json:"ja4"`
	JA3       string  `json:"ja3"`
	SeenJA4   *string `json:"seen_ja4"`
}

// decisionLine is what a test reads of botauthz's decision log.
type decisionLine struct {
	Path      string `json:"path"`
	UserAgent string `json:"user_agent"`
	Score     int    `json:"score"`
	Action    string `json:"action"`
	Enforced  string `json:"enforced_action"`
	Features  string `json:"features"`
	// Rule is the rule that decided, if one did; Clearance what the
	// clearance cookie was, if one came.
	Rule      string `json:"rule"`
	Clearance string `json:"clearance"`
	Reasons   []struct {
		Code string `json:"code"`
	} `json:"reasons"`
}

// tlsSignals lists the tls.* features and reasons of a decision.
func (d decisionLine) tlsSignals() []string {
	var out []string
	for _, f := range strings.Split(d.Features, ",") {
		if strings.HasPrefix(f, "tls.") && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, r := range d.Reasons {
		if strings.HasPrefix(r.Code, "tls.") && !slices.Contains(out, r.Code) {
			out = append(out, r.Code)
		}
	}
	return out
}

func (d decisionLine) reasons() string {
	var codes []string
	for _, r := range d.Reasons {
		codes = append(codes, r.Code)
	}
	return strings.Join(codes, ",")
}

// tlsHarness is the shared harness with tlsPolicy and tlsAccessLog.
type tlsHarness struct {
	*harness
	accessLog string
	port      string
}

func startTLSHarness(t *testing.T) *tlsHarness {
	t.Helper()
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(tlsPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	accessLog := filepath.Join(dir, "access.log")
	h := startHarnessOpts(t, harnessOptions{
		policy:        policyFile,
		args:          []string{"-decision-log-allow-sample", "1"},
		envoyRewrites: tlsAccessLog(accessLog),
		// Envoy writes access logs out every 10 s by default.
		envoyArgs: []string{"--file-flush-interval-msec", "20"},
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.proxy, "https://"))
	return &tlsHarness{harness: h, accessLog: accessLog, port: port}
}

// url is the TLS listener's address for path by host name: a client sends
// SNI for a name, never for an IP address, and a browser's ClientHello
// without it is not the one it sends to a site.
func (h *tlsHarness) url(path string) string {
	return "https://localhost:" + h.port + path
}

// access waits for Envoy's access log line of the request for path.
func (h *tlsHarness) access(t *testing.T, path string) accessEntry {
	t.Helper()
	var found accessEntry
	waitFor(t, "envoy's access log line for "+path, 20*time.Second, func() error {
		b, err := os.ReadFile(h.accessLog)
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(b)) {
			var e accessEntry
			if json.Unmarshal([]byte(line), &e) == nil && e.Path == path {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no line for %s yet", path)
	})
	return found
}

// decisions waits for botauthz's decisions on requests for path (a
// browser may come back after a challenge).
func (h *tlsHarness) decisions(t *testing.T, path string) []decisionLine {
	t.Helper()
	var found []decisionLine
	waitFor(t, "botauthz's decision log line for "+path, 20*time.Second, func() error {
		found = found[:0]
		for line := range strings.Lines(h.botauthz.out.String()) {
			if !strings.Contains(line, `"msg":"decision"`) {
				continue
			}
			var d decisionLine
			if json.Unmarshal([]byte(line), &d) == nil && d.Path == path {
				found = append(found, d)
			}
		}
		if len(found) == 0 {
			return fmt.Errorf("no decision on %s yet", path)
		}
		return nil
	})
	return found
}

// measured is what a client's request through Envoy gave.
type measured struct {
	access    accessEntry
	decisions []decisionLine
}

// measure reads back what Envoy and botauthz made of the request for path
// and logs it.
func (h *tlsHarness) measure(t *testing.T, client, path string) measured {
	t.Helper()
	m := measured{access: h.access(t, path), decisions: h.decisions(t, path)}
	d := m.decisions[0]
	t.Logf("%s: status %d over %s, JA4 %s, JA3 %s; score %d, %s, reasons %q, TLS signals %v",
		client, m.access.Code, m.access.Protocol, m.access.JA4, m.access.JA3, d.Score, d.Action, d.reasons(), d.tlsSignals())
	if !ja4Pattern.MatchString(m.access.JA4) || m.access.JA4[3] != 'd' {
		t.Errorf("%s: JA4 %q, want one of a ClientHello with SNI (t1?d…)", client, m.access.JA4)
	}
	if !ja3Pattern.MatchString(m.access.JA3) {
		t.Errorf("%s: JA3 %q is not an MD5", client, m.access.JA3)
	}
	return m
}

// stoppedForTLS says whether the request was stopped (a challenge's 302 or
// a 403) with tls.mismatch among its features.
func (m measured) stoppedForTLS(t *testing.T, client string) {
	t.Helper()
	if m.access.Code != http.StatusFound && m.access.Code != http.StatusForbidden {
		t.Errorf("%s: status %d, want it stopped (302 to the challenge, or 403)", client, m.access.Code)
	}
	if d := m.decisions[0]; !slices.Contains(d.tlsSignals(), "tls.mismatch") {
		t.Errorf("%s: TLS signals %v (features %q), want tls.mismatch: a Chrome header set over another TLS stack",
			client, d.tlsSignals(), d.Features)
	}
}

// notStoppedForTLS says that no decision on the request counted its TLS
// against it.
func (m measured) notStoppedForTLS(t *testing.T, client string) {
	t.Helper()
	for _, d := range m.decisions {
		if s := d.tlsSignals(); len(s) > 0 {
			t.Errorf("%s: decision %s (score %d) counted its TLS against it: %v (features %q)",
				client, d.Action, d.Score, s, d.Features)
		}
	}
}

// missing skips a test whose client is not installed, or fails it under
// make test (BOTAUTHZ_TEST_REQUIRE=1), which installs them all.
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv(redistest.EnvRequire) == "1" {
		t.Fatalf("%s not found; `make test` installs it", what)
	}
	t.Skipf("%s not found; run `make test` to install it", what)
}

// lookPath finds the first of names (an environment variable's value
// first) or skips.
func lookPath(t *testing.T, env string, names ...string) string {
	t.Helper()
	for _, name := range append([]string{os.Getenv(env)}, names...) {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, names[0])
	return ""
}

// pythonWith finds the Python `make test` sets up in .tools/python (or
// $BOTAUTHZ_PYTHON) with module importable, or skips.
func pythonWith(t *testing.T, module string) string {
	t.Helper()
	py := os.Getenv("BOTAUTHZ_PYTHON")
	if py == "" {
		py, _ = filepath.Abs("../.tools/python/bin/python")
	}
	if out, err := exec.Command(py, "-c", "import "+module).CombinedOutput(); err != nil {
		missing(t, fmt.Sprintf("Python with %s (%s: %v)", module, py, strings.TrimSpace(err.Error()+" "+string(out))))
	}
	return py
}

// copiedChrome is a real Chromium 156 navigation's header set, as a
// script copies it from the browser's developer tools, in its order.
func copiedChrome(t *testing.T) [][2]string {
	t.Helper()
	b, err := os.ReadFile("../testdata/corpus/sources/clients/capture-scripts/copied/chromium-156.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Headers [][2]string }
	if err := json.Unmarshal(b, &f); err != nil || len(f.Headers) == 0 {
		t.Fatalf("chromium-156.json: %v, %d headers", err, len(f.Headers))
	}
	return f.Headers
}

// pythonClient requests a URL with python-requests and the given headers
// (in their order, nothing else but what http.client must add) or, with
// impersonate set, with curl_cffi impersonating that browser with its own
// headers. Redirects are not followed.
const pythonClient = `
import json, sys
a = json.loads(sys.argv[1])
if a["impersonate"]:
    from curl_cffi import requests
    r = requests.get(a["url"], impersonate=a["impersonate"], verify=a["ca"], allow_redirects=False, timeout=30)
else:
    import requests
    s = requests.Session()
    s.headers.clear()
    r = s.get(a["url"], headers=dict(a["headers"]), verify=a["ca"], allow_redirects=False, timeout=30)
print(r.status_code)
`

// nodeClient requests a URL with Node's fetch and the given headers;
// redirects are not followed.
const nodeClient = `
const a = JSON.parse(process.argv[1]);
fetch(a.url, {headers: a.headers, redirect: "manual"})
  .then(async (r) => { await r.arrayBuffer(); console.log(r.status); })
  .catch((e) => { console.error(e); process.exit(1); });
`

// runClient runs a client process to its end, with a deadline.
func runClient(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(name), err, out)
	}
	return string(out)
}

func clientArgs(t *testing.T, url, ca, impersonate string, headers [][2]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"url": url, "ca": ca, "impersonate": impersonate, "headers": headers})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTLSFingerprintsOfRealClients sends real clients through the real
// Envoy over TLS, by host name (SNI), to botauthz trusting the JA4 header
// front-proxy.yaml sets, on an enforced route. HTTP libraries sending a
// copied Chrome navigation header set are stopped for their TLS stack;
// real Chromium (headless with an ordinary user agent, and headed under
// Xvfb) and Firefox ESR are never held to theirs. curl_cffi, built to
// impersonate browsers' ClientHellos, is measured and logged only. Each
// client's JA4 and JA3 are logged (envoy/testdata/tls-measured.md holds the
// full measurement).
func TestTLSFingerprintsOfRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	h := startTLSHarness(t)
	chrome := copiedChrome(t)

	libraries := []struct {
		name string
		send func(t *testing.T, url string)
	}{
		{"python-requests", func(t *testing.T, url string) {
			py := pythonWith(t, "requests")
			runClient(t, nil, py, "-c", pythonClient, clientArgs(t, url, h.certFile, "", chrome))
		}},
		{"go-net-http", func(t *testing.T, url string) {
			client := &http.Client{
				Timeout:   30 * time.Second,
				Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.roots}, ForceAttemptHTTP2: true},
				CheckRedirect: func(*http.Request, []*http.Request) error {
					return http.ErrUseLastResponse
				},
			}
			defer client.CloseIdleConnections()
			req, err := http.NewRequest("GET", url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range chrome {
				req.Header.Add(kv[0], kv[1])
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}},
		{"curl", func(t *testing.T, url string) {
			curl := lookPath(t, "BOTAUTHZ_CURL", "curl")
			args := []string{"-sS", "-o", "/dev/null", "--cacert", h.certFile}
			for _, kv := range chrome {
				args = append(args, "-H", kv[0]+": "+kv[1])
			}
			runClient(t, nil, curl, append(args, url)...)
		}},
		{"node-fetch", func(t *testing.T, url string) {
			node := lookPath(t, "BOTAUTHZ_NODE", "node", "nodejs")
			runClient(t, []string{"NODE_EXTRA_CA_CERTS=" + h.certFile}, node, "-e", nodeClient, clientArgs(t, url, "", "", chrome))
		}},
	}
	t.Run("libraries sending Chrome's headers are stopped for their TLS", func(t *testing.T) {
		for _, c := range libraries {
			t.Run(c.name, func(t *testing.T) {
				path := "/tls/" + c.name
				c.send(t, h.url(path))
				h.measure(t, c.name, path).stoppedForTLS(t, c.name)
			})
		}
	})

	t.Run("a client's own x-botauthz-ja4 never reaches botauthz", func(t *testing.T) {
		py := pythonWith(t, "requests")
		// Chromium 156's JA4 as FoxIO's specification computes it, and
		// the JA3 of curl_cffi's Chrome, sent by Python posing as Chrome.
		const forged = "t13d1517h2_8daaf6152771_cb7bf5808d99"
		headers := append(slices.Clone(chrome), [2]string{"X-Botauthz-Ja4", forged}, [2]string{ja3Header, "92b154c31258dfbe282522b39f42db88"})
		path := "/tls/python-requests-forging-the-header"
		runClient(t, nil, py, "-c", pythonClient, clientArgs(t, h.url(path), h.certFile, "", headers))
		m := h.measure(t, "python-requests forging x-botauthz-ja4", path)
		m.stoppedForTLS(t, "python-requests forging x-botauthz-ja4")
		// Stopped by ext_authz, the request still holds the headers botauthz
		// was sent.
		if m.access.SeenJA4 == nil || *m.access.SeenJA4 != m.access.JA4 || m.access.JA4 == forged {
			t.Errorf("botauthz was sent x-botauthz-ja4 %v, want Envoy's %q", deref(m.access.SeenJA4), m.access.JA4)
		}
	})

	t.Run("Chromium is not stopped for its TLS", func(t *testing.T) {
		chromium := browsertest.Chromium(t)
		path := "/tls/chromium-headless"
		// A fresh profile, headless (the new mode: Chrome's own browser
		// code), with the user agent Chrome sends when not headless.
		// --dump-dom loads the page (and a challenge, if it gets one) and
		// exits.
		runClient(t, nil, chromium, "--headless=new", "--no-sandbox", "--ignore-certificate-errors",
			"--user-data-dir="+t.TempDir(), "--user-agent="+chromiumUserAgent(t, chromium), "--dump-dom", h.url(path))
		h.measure(t, "chromium headless", path).notStoppedForTLS(t, "chromium")
	})

	t.Run("headed Chromium under Xvfb is not stopped for its TLS", func(t *testing.T) {
		chromium, xvfbRun := browsertest.Chromium(t), xvfbRunPath(t)
		path := "/tls/chromium-headed"
		// As a person opens it, with its own user agent. It does not exit
		// by itself: watched from the server side, ended at cleanup.
		startHeadedChromium(t, xvfbRun, chromium, "-screen 0 1280x1024x24", h.url(path))
		h.measure(t, "chromium headed", path).notStoppedForTLS(t, "chromium headed")
	})

	t.Run("Firefox ESR is not stopped for its TLS", func(t *testing.T) {
		firefox := lookPath(t, "BOTAUTHZ_FIREFOX", "firefox-esr", "firefox")
		certutil := lookPath(t, "BOTAUTHZ_CERTUTIL", "certutil")
		// A profile whose certificate database trusts the listener's
		// self-signed certificate: Firefox has no switch to ignore
		// certificate errors, and must not need one.
		profile := t.TempDir()
		runClient(t, nil, certutil, "-N", "-d", "sql:"+profile, "--empty-password")
		runClient(t, nil, certutil, "-A", "-d", "sql:"+profile, "-n", "botauthz-e2e", "-t", "C,,", "-i", h.certFile)
		path := "/tls/firefox-esr-headless"
		runClient(t, nil, firefox, "--headless", "--no-remote", "--profile", profile,
			"--screenshot", filepath.Join(profile, "page.png"), h.url(path))
		h.measure(t, "firefox-esr headless", path).notStoppedForTLS(t, "firefox-esr")
	})

	t.Run("curl_cffi impersonating browsers is measured", func(t *testing.T) {
		py := pythonWith(t, "curl_cffi")
		for _, browser := range []string{"chrome", "safari", "firefox"} {
			path := "/tls/curl_cffi-" + browser
			runClient(t, nil, py, "-c", pythonClient, clientArgs(t, h.url(path), h.certFile, browser, nil))
			h.measure(t, "curl_cffi impersonating "+browser, path)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

// captureAuthz stands in for botauthz: it records the headers of every
// Check, by path, and allows.
type captureAuthz struct {
	authv3.UnimplementedAuthorizationServer
	mu     sync.Mutex
	checks map[string][][2]string
}

func (c *captureAuthz) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	var headers [][2]string
	for _, kv := range h.GetHeaderMap().GetHeaders() {
		v := kv.GetValue()
		if raw := kv.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		headers = append(headers, [2]string{kv.GetKey(), v})
	}
	for k, v := range h.GetHeaders() {
		headers = append(headers, [2]string{k, v})
	}
	c.mu.Lock()
	c.checks[h.GetPath()] = headers
	c.mu.Unlock()
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: 0}}, nil
}

// values are the values of the header name a Check of path carried.
func (c *captureAuthz) values(path, name string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	headers, ok := c.checks[path]
	var out []string
	for _, kv := range headers {
		if kv[0] == name {
			out = append(out, kv[1])
		}
	}
	return out, ok
}

// TestTLSFingerprintHeadersComeFromEnvoy runs front-proxy.yaml in a real
// Envoy with a stand-in ext_authz service that records each Check: the
// x-botauthz-ja4 and x-botauthz-ja3 it gets are Envoy's, exactly one of
// each, whatever the client sent under those names (again and again, in any
// case, over HTTP/1.1 or HTTP/2), and the upstream never sees them. This is
// what lets a policy trust the header (tls.trusted); extauthz's tests show
// an untrusted one is ignored.
func TestTLSFingerprintHeadersComeFromEnvoy(t *testing.T) {
	envoyBin := envoyBinary(t)
	capture := &captureAuthz{checks: map[string][][2]string{}}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, capture)
	healthpb.RegisterHealthServer(gs, health.NewServer()) // SERVING
	go gs.Serve(grpcLn)
	t.Cleanup(gs.Stop)

	// The upstream echoes the request headers it received as JSON.
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.Header)
	})}
	go app.Serve(appLn)
	t.Cleanup(func() { app.Close() })

	listenPort, adminPort := freePort(t), freePort(t)
	certFile, keyFile, roots := selfSigned(t)
	conf := envoyConfig(t, certFile, keyFile, map[string]string{
		"port_value: 9901 }":                    fmt.Sprintf("port_value: %d }", adminPort),
		"address: 0.0.0.0, port_value: 10443 }": fmt.Sprintf("address: 127.0.0.1, port_value: %d }", listenPort),
		"address: 0.0.0.0, port_value: 10000 }": fmt.Sprintf("address: 127.0.0.1, port_value: %d }", freePort(t)),
		"port_value: 9001 }":                    fmt.Sprintf("port_value: %d }", grpcLn.Addr().(*net.TCPAddr).Port),
		"port_value: 8000 }":                    fmt.Sprintf("port_value: %d }", appLn.Addr().(*net.TCPAddr).Port),
		"random_sampling: { value: 10 }":        "random_sampling: { value: 0 }",
	})
	confPath := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "envoy", envoyBin, "-c", confPath, "--use-dynamic-base-id", "-l", "warning",
		"--log-path", filepath.Join(t.TempDir(), "envoy.log"))
	admin := &harness{envoyAdmin: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}
	waitFor(t, "envoy ready", 30*time.Second, func() error { return expectStatus(admin.envoyAdmin+"/ready", 200) })
	admin.waitHealthy(t, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", listenPort)

	// HTTP/1.1, written by hand: repeats and any case go out as written.
	h1 := func(t *testing.T, path string, lines ...string) http.Header {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		req := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + strings.Join(append(lines, ""), "\r\n") + "\r\n"
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		return upstreamEcho(t, conn)
	}
	// HTTP/2, with net/http's client.
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	h2 := func(t *testing.T, path string, header http.Header) http.Header {
		t.Helper()
		req, err := http.NewRequest("GET", fmt.Sprintf("https://localhost:%d%s", listenPort, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s over %s, want HTTP/2", path, resp.Proto)
		}
		var up http.Header
		if err := json.NewDecoder(resp.Body).Decode(&up); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s: status %d, %v; want the upstream's echo", path, resp.StatusCode, err)
		}
		return up
	}

	for _, c := range []struct {
		name   string
		honest func(t *testing.T) http.Header
		forged func(t *testing.T) http.Header
	}{
		{"HTTP/1.1", func(t *testing.T) http.Header {
			return h1(t, "/fp/h1/honest")
		}, func(t *testing.T) http.Header {
			return h1(t, "/fp/h1/forged",
				"X-Botauthz-Ja4: forged-t13d1517h2_8daaf6152771_cb7bf5808d99",
				"x-botauthz-ja4: forged-again",
				"X-BOTAUTHZ-JA3: forged-92b154c31258dfbe282522b39f42db88",
				"x-botauthz-ja4:")
		}},
		{"HTTP/2", func(t *testing.T) http.Header {
			return h2(t, "/fp/h2/honest", http.Header{})
		}, func(t *testing.T) http.Header {
			return h2(t, "/fp/h2/forged", http.Header{
				"X-Botauthz-Ja4": {"forged-t13d1517h2_8daaf6152771_cb7bf5808d99", "forged-again"},
				"X-Botauthz-Ja3": {"forged-92b154c31258dfbe282522b39f42db88"},
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefix := "/fp/h1/"
			if c.name == "HTTP/2" {
				prefix = "/fp/h2/"
			}
			ups := map[string]http.Header{"honest": c.honest(t), "forged": c.forged(t)}
			// The same client's connections, so Envoy's fingerprints match.
			want := map[string][]string{}
			for _, kind := range []string{"honest", "forged"} {
				for _, name := range []string{ja4Header, ja3Header} {
					got, ok := capture.values(prefix+kind, name)
					if !ok {
						t.Fatalf("%s%s never reached ext_authz", prefix, kind)
					}
					if len(got) != 1 || strings.Contains(got[0], "forged") {
						t.Errorf("%s request: ext_authz got %s %q, want Envoy's one value", kind, name, got)
						continue
					}
					if pattern := map[string]*regexp.Regexp{ja4Header: ja4Pattern, ja3Header: ja3Pattern}[name]; !pattern.MatchString(got[0]) {
						t.Errorf("%s request: ext_authz got %s %q, not a fingerprint", kind, name, got[0])
					}
					if kind == "honest" {
						want[name] = got
					} else if !slices.Equal(got, want[name]) {
						t.Errorf("forged request: ext_authz got %s %q, the same client's honest one %q", name, got, want[name])
					}
				}
				for _, name := range []string{ja4Header, ja3Header} {
					if v := ups[kind].Values(name); len(v) > 0 {
						t.Errorf("%s request: the upstream got %s %q", kind, name, v)
					}
				}
			}
			t.Logf("Envoy's fingerprints of Go's crypto/tls over %s: %s %q, %s %q", c.name, ja4Header, want[ja4Header], ja3Header, want[ja3Header])
		})
	}
}

// upstreamEcho reads an HTTP/1.1 answer from conn: the upstream's echo of
// the request headers it got.
func upstreamEcho(t *testing.T, conn net.Conn) http.Header {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var up http.Header
	if err := json.NewDecoder(resp.Body).Decode(&up); resp.StatusCode != 200 || err != nil {
		t.Fatalf("status %d, %v; want the upstream's echo", resp.StatusCode, err)
	}
	return up
}
