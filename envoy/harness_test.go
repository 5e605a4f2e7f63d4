package envoy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/internal/devcert"
	"github.com/botauthz/botauthz/internal/otlptest"
	"github.com/botauthz/botauthz/internal/redistest"
)

// botauthzBin and botctlBin are built once by TestMain.
var botauthzBin, botctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "botauthz-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	botauthzBin, botctlBin = filepath.Join(dir, "botauthz"), filepath.Join(dir, "botctl")
	build := exec.Command("go", "build", "-o", dir, "../cmd/botauthz", "../cmd/botctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build botauthz and botctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// envoyBinary finds a real Envoy: $BOTAUTHZ_ENVOY, the copy `make test`
// installs under .tools/, or envoy on PATH.
func envoyBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BOTAUTHZ_ENVOY"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../.tools/envoy/envoy/_bin/envoy"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p
	}
	if os.Getenv(redistest.EnvRequire) == "1" {
		t.Fatal("envoy not found; `make test` installs it")
	}
	t.Skip("envoy not found; run `make test` to install it")
	return ""
}

// freePort returns a loopback port nothing listens on, for a process the
// test starts to bind. It is drawn below Linux's ephemeral range
// (32768-60999): a port the kernel hands out for ":0" is also one it hands
// to outgoing connections, and with Envoy, Chromium and Redis clients busy
// dialling, one grabbed the port between this check and the child's bind
// (CI saw "bind: address already in use"). Two tests drawing the same port
// at once is left to chance, 1 in 12,000.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free port below the ephemeral range in 100 draws")
	return 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		case <-tick.C:
		}
	}
}

// process is a child process whose output goes to a buffer shown on failure.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProcess(t *testing.T, name string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for the exit.
func (p *process) stop(t *testing.T, timeout time.Duration) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s of SIGTERM", p.name, timeout)
		return nil
	}
}

// harness is the whole path: client → Envoy → botauthz replicas (→ Redis)
// → upstream.
type harness struct {
	redis     *redistest.Server
	collector *otlptest.Receiver
	// replicas are the botauthz processes behind Envoy's botauthz clusters.
	replicas []*botReplica
	// botauthz and botAdmin are the first replica's.
	botauthz *process
	botAdmin string
	envoy    *process
	// proxy is Envoy's TLS listener, e.g. https://127.0.0.1:PORT; plain is
	// its plain HTTP listener, which only redirects there.
	proxy, plain string
	envoyAdmin   string
	// roots trusts the listener's self-signed certificate, which certFile
	// holds (PEM).
	roots    *x509.CertPool
	certFile string
	client   *http.Client
}

// botReplica is one botauthz process that can be restarted on the same
// ports.
type botReplica struct {
	name  string
	args  []string
	admin string
	proc  *process
}

// start runs the replica and waits until it is ready.
func (r *botReplica) start(t *testing.T) {
	t.Helper()
	if err := r.tryStart(t); err != nil {
		t.Fatal(err)
	}
}

// tryStart starts the replica and waits until it is ready, or says why
// not: it did not become ready within 20 s, or it exited first (with its
// output, which says which port was taken if one was).
func (r *botReplica) tryStart(t *testing.T) error {
	t.Helper()
	r.proc = startProcess(t, r.name, botauthzBin, r.args...)
	// A probe gives up after a second: the admin port may be another
	// process's, which need not answer.
	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.proc.done:
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", r.name, r.proc.err, r.proc.out.String())
		default:
		}
		resp, err := probe.Get(r.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s ready: not within 20s: %w", r.name, err)
		}
		<-tick.C
	}
}

// Envoy's two encodings of the headers in a CheckRequest: header_map, as
// the shipped front-proxy.yaml asks for, and the headers map, Envoy's default.
const (
	headerMap  = "header_map"
	headersMap = "headers"
)

// harnessOptions say what to run; the zero value is the shipped setup with
// one replica.
type harnessOptions struct {
	// policy is botauthz's policy file (default botauthz.yaml).
	policy string
	// encoding is how Envoy sends the headers (default header_map).
	encoding string
	// replicas is the number of botauthz processes (default 1).
	replicas int
	// args are extra botauthz flags.
	args []string
	// envoyRewrites are more rewrites of front-proxy.yaml (each from must
	// occur once), envoyArgs more Envoy flags.
	envoyRewrites map[string]string
	envoyArgs     []string
}

func startHarness(t *testing.T) *harness {
	t.Helper()
	return startHarnessOpts(t, harnessOptions{})
}

// startHarnessWith runs the harness with botauthz on the given policy file.
func startHarnessWith(t *testing.T, policyFile string) *harness {
	t.Helper()
	return startHarnessOpts(t, harnessOptions{policy: policyFile})
}

func startHarnessOpts(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.policy == "" {
		o.policy = shippedPolicyWithoutTLS(t)
	}
	if o.encoding == "" {
		o.encoding = headerMap
	}
	if o.replicas == 0 {
		o.replicas = 1
	}
	envoyBin := envoyBinary(t)
	h := &harness{redis: redistest.Start(t), collector: otlptest.Start(t)}
	// botauthz exports its spans to the same collector as Envoy.
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+h.collector.Endpoint())
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")

	// The upstream echoes the request headers it received as JSON.
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(r.Header)
	})}
	go app.Serve(appLn)
	t.Cleanup(func() { app.Close() })

	var grpcPorts, httpPorts []int
	for i := range o.replicas {
		// freePort's ports are free when drawn but not held, so another
		// process under go test ./... may bind one first (seen in CI):
		// botauthz then exits with "address already in use", and the
		// replica gets new ports. Envoy, started below, is given the ports
		// that served.
		for attempt := 1; ; attempt++ {
			grpcPort, adminPort, httpPort := freePort(t), freePort(t), freePort(t)
			r := &botReplica{
				name:  fmt.Sprintf("botauthz-%d", i+1),
				admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
				args: append([]string{
					"-grpc-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort),
					"-admin-addr", fmt.Sprintf("127.0.0.1:%d", adminPort),
					"-http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
					"-config", o.policy,
					"-redis", h.redis.URL(),
					"-log-format", "text",
				}, o.args...),
			}
			err := r.tryStart(t)
			if err == nil {
				grpcPorts, httpPorts = append(grpcPorts, grpcPort), append(httpPorts, httpPort)
				h.replicas = append(h.replicas, r)
				break
			}
			if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
				t.Fatal(err)
			}
			t.Logf("%s: a port drawn for it was taken, drawing again: %v", r.name, err)
		}
	}
	h.botauthz, h.botAdmin = h.replicas[0].proc, h.replicas[0].admin

	listenPort, plainPort, envoyAdminPort := freePort(t), freePort(t), freePort(t)
	certFile, keyFile, roots := selfSigned(t)
	h.roots, h.certFile = roots, certFile
	repl := map[string]string{
		"port_value: 9901 }":                    fmt.Sprintf("port_value: %d }", envoyAdminPort),
		"address: 0.0.0.0, port_value: 10443 }": fmt.Sprintf("address: 127.0.0.1, port_value: %d }", listenPort),
		"address: 0.0.0.0, port_value: 10000 }": fmt.Sprintf("address: 127.0.0.1, port_value: %d }", plainPort),
		"port_redirect: 10443":                  fmt.Sprintf("port_redirect: %d", listenPort),
		"port_value: 9001 }":                    endpoints(grpcPorts),
		"port_value: 8080 }":                    endpoints(httpPorts),
		"port_value: 8000 }":                    fmt.Sprintf("port_value: %d }", appLn.Addr().(*net.TCPAddr).Port),
		// Tests pose as many clients through x-forwarded-for.
		"xff_num_trusted_hops: 0":        "xff_num_trusted_hops: 1",
		"port_value: 4317 }":             "port_value: " + strings.TrimPrefix(h.collector.Endpoint(), "127.0.0.1:") + " }",
		"random_sampling: { value: 10 }": "random_sampling: { value: 100 }",
		"encode_raw_headers: true":       fmt.Sprintf("encode_raw_headers: %t", o.encoding == headerMap),
	}
	for from, to := range o.envoyRewrites {
		repl[from] = to
	}
	conf := envoyConfig(t, certFile, keyFile, repl)
	confPath := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h.envoy = startProcess(t, "envoy", envoyBin, append([]string{"-c", confPath, "--use-dynamic-base-id", "-l", "warning",
		"--log-path", filepath.Join(t.TempDir(), "envoy.log")}, o.envoyArgs...)...)
	h.proxy = fmt.Sprintf("https://127.0.0.1:%d", listenPort)
	h.plain = fmt.Sprintf("http://127.0.0.1:%d", plainPort)
	h.envoyAdmin = fmt.Sprintf("http://127.0.0.1:%d", envoyAdminPort)
	waitFor(t, "envoy ready", 30*time.Second, func() error { return expectStatus(h.envoyAdmin+"/ready", 200) })
	h.waitHealthy(t, o.replicas)

	h.client = &http.Client{
		Timeout: 10 * time.Second,
		// Send exactly the profile's headers: no accept-encoding added by Go.
		// Connections are kept for reuse: a TLS handshake per request would
		// cost the load tests more CPU than what they measure.
		Transport: &http.Transport{DisableCompression: true, TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 256},
		// Redirects are assertions here, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h
}

// shippedPolicyWithoutTLS is botauthz.yaml with the TLS fingerprint header
// distrusted, for the tests that pose as browsers by their headers alone:
// they send them over Go's crypto/tls, and with the fingerprint trusted
// every such "browser" is what it is, a Go program posing as Chrome
// (tls.mismatch). tls_e2e_test.go runs real clients and browsers with the
// fingerprint trusted; TestPairedPolicyIsValid checks the file as shipped.
func shippedPolicyWithoutTLS(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("botauthz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "botauthz.yaml")
	s := rewrite(t, string(b), map[string]string{
		"tls: {ja4_header: x-botauthz-ja4, trusted: true}": "tls: {ja4_header: x-botauthz-ja4, trusted: false}",
	})
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitHealthy waits until Envoy's health checks see n botauthz replicas
// healthy.
func (h *harness) waitHealthy(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("envoy sees %d botauthz replicas healthy", n), 30*time.Second, func() error {
		if got := h.healthyReplicas(); got != n {
			return fmt.Errorf("%d healthy", got)
		}
		return nil
	})
}

// healthyReplicas counts the botauthz gRPC endpoints Envoy routes to.
func (h *harness) healthyReplicas() int {
	body, err := get(h.envoyAdmin + "/clusters")
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "botauthz_grpc::") && strings.HasSuffix(line, "::health_flags::healthy") {
			n++
		}
	}
	return n
}

// endpoints is the port line of a cluster's one endpoint in front-proxy.yaml
// turned into one endpoint per port.
func endpoints(ports []int) string {
	var b strings.Builder
	for i, p := range ports {
		if i > 0 {
			b.WriteString("\n        - endpoint:\n            address:\n              socket_address: { address: 127.0.0.1, ")
		}
		fmt.Fprintf(&b, "port_value: %d }", p)
	}
	return b.String()
}

// envoyConfig is front-proxy.yaml with its certificate paths pointed at
// certFile and keyFile and the given rewrites made.
func envoyConfig(t *testing.T, certFile, keyFile string, repl map[string]string) string {
	t.Helper()
	cfg, err := os.ReadFile("front-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	repl["filename: envoy/tls/tls.crt"] = "filename: " + certFile
	repl["filename: envoy/tls/tls.key"] = "filename: " + keyFile
	return rewrite(t, string(cfg), repl)
}

// selfSigned writes a fresh self-signed certificate for localhost and
// 127.0.0.1, as `make certs` does, and returns its files and a pool that
// trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	certFile, keyFile, roots, err := devcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, roots
}

func rewrite(t *testing.T, s string, repl map[string]string) string {
	t.Helper()
	for from, to := range repl {
		if strings.Count(s, from) != 1 {
			t.Fatalf("rewriting a config file: %q occurs %d times, want once", from, strings.Count(s, from))
		}
		s = strings.Replace(s, from, to, 1)
	}
	return s
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String(), nil
}

func expectStatus(url string, code int) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != code {
		return fmt.Errorf("%s: status %d, want %d", url, resp.StatusCode, code)
	}
	return nil
}

// client profiles: header sets of the kinds of clients the tests pose as.
var (
	// chrome is Chrome 142 navigating to a page over https, as it sends it.
	chrome = map[string]string{
		"User-Agent":                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
		"Sec-Ch-Ua":                 `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`,
		"Sec-Ch-Ua-Mobile":          "?0",
		"Sec-Ch-Ua-Platform":        `"Linux"`,
		"Upgrade-Insecure-Requests": "1",
		"Accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
		"Sec-Fetch-Site":            "none",
		"Sec-Fetch-Mode":            "navigate",
		"Sec-Fetch-User":            "?1",
		"Sec-Fetch-Dest":            "document",
		"Accept-Encoding":           "gzip, deflate, br, zstd",
		"Accept-Language":           "en-US,en;q=0.9",
		"Priority":                  "u=0, i",
	}
	curlNavigation = map[string]string{"User-Agent": "curl/8.5.0", "Accept": "text/html"}
	curlAPI        = map[string]string{"User-Agent": "curl/8.5.0", "Accept": "application/json"}
	// fakerNavigation is a script posing as Chrome with a browser's accept
	// headers but no client hints or fetch metadata over https: it
	// contradicts itself, so it is likely automated and challenged (curl,
	// which declares itself, is denied).
	fakerNavigation = map[string]string{
		"User-Agent":      chrome["User-Agent"],
		"Accept":          "text/html,application/xhtml+xml,*/*;q=0.8",
		"Accept-Language": "en-US,en;q=0.9",
		"Accept-Encoding": "gzip, deflate, br",
	}
	fakerAPI = map[string]string{
		"User-Agent":      chrome["User-Agent"],
		"Accept":          "application/json",
		"Accept-Language": "en-US,en;q=0.9",
		"Accept-Encoding": "gzip, deflate, br",
	}
)

type response struct {
	status int
	header http.Header
	body   string
	// upstream is what the upstream received, when the request got there.
	upstream http.Header
}

// browserOrder is the order Chrome sends a navigation's headers in (after
// Host and Connection). do writes a profile's headers in it, the rest after
// them by name: the model weighs the order (order.unlike_browser), and
// net/http's client would sort them.
var browserOrder = []string{
	"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Upgrade-Insecure-Requests", "User-Agent", "Accept",
	"Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User", "Sec-Fetch-Dest", "Accept-Encoding", "Accept-Language",
	"Cookie", "Priority",
}

// do sends a request through Envoy as the client at ip, over HTTP/1.1 and
// TLS, with the profile's headers in a browser's order (browserOrder) and
// extra's name-value pairs after them. An empty or absent User-Agent is
// not sent. Redirects are not followed: they are assertions here.
func (h *harness) do(t *testing.T, method, path, ip string, headers map[string]string, extra ...string) response {
	t.Helper()
	canonical := make(map[string]string, len(headers))
	for k, v := range headers {
		canonical[http.CanonicalHeaderKey(k)] = v
	}
	var lines []string
	add := func(k string) {
		if v, ok := canonical[k]; ok && !(k == "User-Agent" && v == "") {
			lines = append(lines, k+": "+v)
		}
		delete(canonical, k)
	}
	for _, k := range browserOrder {
		add(k)
	}
	for _, k := range slices.Sorted(maps.Keys(canonical)) {
		add(k)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		lines = append(lines, extra[i]+": "+extra[i+1])
	}
	r := h.send(t, method+" "+path+" HTTP/1.1", strings.TrimPrefix(h.proxy, "https://"), ip, lines)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		r.upstream = nil
	}
	return r
}

// raw sends one HTTP/1.1 request through Envoy exactly as written, as the
// client at ip: repeated headers and any bytes stay as they are, which
// net/http's client would not allow.
func (h *harness) raw(t *testing.T, requestLine, ip string, headers ...string) response {
	t.Helper()
	return h.send(t, requestLine, "shop.example", ip, headers)
}

// send writes one HTTP/1.1 request to Envoy's TLS listener as written: the
// request line, Host, X-Forwarded-For (the client at ip), Connection:
// close, then the header lines. It reads the answer; upstream holds the
// upstream's echo of what it got when the answer is a 200 with one.
func (h *harness) send(t *testing.T, requestLine, host, ip string, headers []string) response {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", strings.TrimPrefix(h.proxy, "https://"), &tls.Config{RootCAs: h.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(requestLine + "\r\nHost: " + host + "\r\nX-Forwarded-For: " + ip + "\r\nConnection: close\r\n")
	for _, line := range headers {
		b.WriteString(line + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", requestLine, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.StatusCode == 200 {
		var up http.Header
		if json.Unmarshal(body, &up) == nil {
			r.upstream = up
		}
	}
	return r
}

func (h *harness) envoyStat(t *testing.T, name string) int {
	t.Helper()
	body, err := get(h.envoyAdmin + "/stats?filter=" + name)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && k == name {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// clearanceKeyEnv makes a clearance key, hands it to the botauthz replicas
// the test starts through BOTAUTHZ_CLEARANCE_KEYS, and returns it, so the
// test can mint or check cookies with the same key.
func clearanceKeyEnv(t *testing.T, id string) clearance.Key {
	t.Helper()
	key, err := clearance.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := json.Marshal(key.Secret) // base64 of the secret
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOTAUTHZ_CLEARANCE_KEYS", key.ID+":"+strings.Trim(string(secret), `"`))
	return key
}

// score sends a GET / as the client at ip and returns the score and
// reasons the upstream received; the request must get through.
func (h *harness) score(t *testing.T, ip string, headers map[string]string) (int, string) {
	t.Helper()
	r := h.do(t, "GET", "/", ip, headers)
	if r.status != 200 || r.upstream == nil {
		t.Fatalf("%s: status %d body %q, want 200 from the upstream", ip, r.status, r.body)
	}
	n, err := strconv.Atoi(r.upstream.Get("X-Bot-Score"))
	if err != nil {
		t.Fatalf("%s: x-bot-score %q", ip, r.upstream.Get("X-Bot-Score"))
	}
	return n, r.upstream.Get("X-Bot-Reasons")
}
