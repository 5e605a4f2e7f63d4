package challenge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

// t0 is the start of every test's clock: no test reads the real time.
var t0 = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

const (
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

	ipClient   = "203.0.113.7"
	ipSameNet  = "203.0.113.200" // same /24 as ipClient
	ipOtherNet = "198.51.100.7"
)

// testPolicyYAML has a route per kind of challenge: the default proof of
// work, an easier one, a CAPTCHA with a verifier in most tests, and one whose
// provider is configured in the policy but never gets a verifier.
const testPolicyYAML = `
challenge:
  cookie_name: botauthz_clearance
  ttl: 5m
  providers:
    turnstile: {site_key: "1x00000000000000000000AA", secret_env: "TURNSTILE_SECRET"}
    hcaptcha: {site_key: "10000000-ffff-ffff-ffff-000000000001", secret_env: "HCAPTCHA_SECRET"}
routes:
  login:
    challenge: {provider: pow, difficulty: 2}
  signup:
    challenge: {provider: turnstile}
  comments:
    challenge: {provider: hcaptcha}
`

// testPolicy parses doc, or testPolicyYAML when doc is empty.
func testPolicy(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	if doc == "" {
		doc = testPolicyYAML
	}
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return p
}

// testKey returns a deterministic key whose secret derives from its id.
func testKey(id string) clearance.Key {
	sum := sha256.Sum256([]byte("challenge test secret for " + id))
	return clearance.Key{ID: id, Secret: sum[:]}
}

// clock is a test clock, moved only by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// event is one Observer call; outcome is empty for ChallengeIssued.
type event struct{ route, provider, outcome string }

// recorder is an Observer that keeps every call.
type recorder struct {
	mu      sync.Mutex
	issued  []event
	results []event
	// evidence holds each ChallengeEvidence call as
	// "outcome:marked:reason,reason".
	evidence []string
	// unlisted holds each result under a route's name whose outcome
	// Outcomes does not list for its provider: metrics would not have
	// started its series at zero.
	unlisted []event
}

func (r *recorder) ChallengeEvidence(route, outcome string, marked bool, reasons []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evidence = append(r.evidence, fmt.Sprintf("%s:%v:%s", outcome, marked, strings.Join(reasons, ",")))
}

func (r *recorder) ChallengeIssued(route, provider string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.issued = append(r.issued, event{route, provider, ""})
}

func (r *recorder) ChallengeResult(route, provider, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, event{route, provider, outcome})
	if route != unknownLabel && !slices.Contains(Outcomes(provider), outcome) {
		r.unlisted = append(r.unlisted, event{route, provider, outcome})
	}
}

// take returns the results recorded since the last take.
func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.results
	r.results = nil
	return out
}

// fakeVerifier is a provider.Verifier whose answer the test sets.
type fakeVerifier struct {
	name, siteKey string

	mu     sync.Mutex
	result provider.Result
	calls  []verifyCall
}

type verifyCall struct{ token, remoteIP string }

func (f *fakeVerifier) Name() string    { return f.name }
func (f *fakeVerifier) SiteKey() string { return f.siteKey }

func (f *fakeVerifier) Verify(_ context.Context, token, remoteIP string) provider.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, verifyCall{token, remoteIP})
	return f.result
}

func (f *fakeVerifier) set(r provider.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.result = r
}

func (f *fakeVerifier) lastCall() verifyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return verifyCall{}
	}
	return f.calls[len(f.calls)-1]
}

var (
	okResult   = provider.Result{OK: true, Reason: provider.ReasonOK, Score: -1}
	failResult = func(reason string) provider.Result { return provider.Result{Reason: reason, Score: -1} }
)

// env is one handler under test and what it was built with.
type env struct {
	h         *Handler
	clock     *clock
	rec       *recorder
	signer    *clearance.Signer
	policy    *policy.Policy
	turnstile *fakeVerifier
}

type envOption func(*Options)

func withKeys(ids ...string) envOption {
	return func(o *Options) {
		o.Keys = nil
		for _, id := range ids {
			o.Keys = append(o.Keys, testKey(id))
		}
	}
}

func withRedeemer(r Redeemer) envOption { return func(o *Options) { o.Redeemer = r } }

func withPolicy(p *policy.Policy) envOption {
	return func(o *Options) { o.Policy = func() *policy.Policy { return p } }
}

func withVerifiers(v map[string]provider.Verifier) envOption {
	return func(o *Options) { o.Verifiers = v }
}

// newEnv builds a handler signing with key "k1", a turnstile verifier that
// passes, a test clock and a recording observer.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{
		clock:     &clock{t: t0},
		rec:       &recorder{},
		policy:    testPolicy(t, ""),
		turnstile: &fakeVerifier{name: provider.Turnstile, siteKey: "1x00000000000000000000AA", result: okResult},
	}
	o := Options{
		Policy:    func() *policy.Policy { return e.policy },
		Keys:      []clearance.Key{testKey("k1")},
		Verifiers: map[string]provider.Verifier{provider.Turnstile: e.turnstile},
		Observer:  e.rec,
		Now:       e.clock.Now,
	}
	t.Cleanup(func() {
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		for _, ev := range e.rec.unlisted {
			t.Errorf("ChallengeResult %+v: Outcomes(%q) does not list it", ev, ev.provider)
		}
	})
	for _, opt := range opts {
		opt(&o)
	}
	if e.signer == nil {
		s, err := clearance.NewSigner(clearance.Options{Keys: o.Keys, TTL: time.Hour})
		if err != nil {
			t.Fatalf("signer: %v", err)
		}
		e.signer = s
	}
	o.Signer = e.signer
	if o.Policy != nil {
		e.policy = o.Policy()
	}
	h, err := NewHandler(o)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	e.h = h
	return e
}

// client is who makes a request: the address Envoy vouches for and the
// user agent.
type client struct{ ip, ua string }

var alice = client{ipClient, uaFirefox}

func (c client) do(h http.Handler, method, target string, body url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if body != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	if c.ip != "" {
		req.Header.Set("X-Envoy-External-Address", c.ip)
	}
	req.Header.Set("User-Agent", c.ua)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// page is what a test reads off a challenge page.
type page struct {
	rec        *httptest.ResponseRecorder
	body       string
	token      string
	challenge  string
	difficulty int
	provider   string
}

var (
	tokenRe      = regexp.MustCompile(`name="token" value="([^"]*)"`)
	challengeRe  = regexp.MustCompile(`data-challenge="([^"]*)"`)
	difficultyRe = regexp.MustCompile(`data-difficulty="([^"]*)"`)
	providerRe   = regexp.MustCompile(`data-provider="([^"]*)"`)
)

func submatch(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// getPage fetches the challenge page for route and returnTo as c.
func (c client) getPage(t testing.TB, h http.Handler, route, returnTo string) page {
	t.Helper()
	rec := c.do(h, http.MethodGet, URL(returnTo, route), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET challenge page: status %d: %s", rec.Code, rec.Body)
	}
	p := page{rec: rec, body: rec.Body.String()}
	p.token = submatch(tokenRe, p.body)
	p.challenge = submatch(challengeRe, p.body)
	p.provider = submatch(providerRe, p.body)
	if d := submatch(difficultyRe, p.body); d != "" {
		p.difficulty, _ = strconv.Atoi(d)
	}
	if p.token == "" {
		t.Fatalf("no token on the page:\n%s", p.body)
	}
	return p
}

// solve is the Go-side solver of the proof of work.
func solve(t testing.TB, challenge string, difficulty int) string {
	t.Helper()
	for n := 0; n < 1<<28; n++ {
		nonce := strconv.Itoa(n)
		if powSolved(challenge, nonce, difficulty) {
			return nonce
		}
	}
	t.Fatalf("no nonce for %s at difficulty %d", challenge, difficulty)
	return ""
}

// wrongNonce returns a nonce that does not solve the challenge.
func wrongNonce(t testing.TB, challenge string, difficulty int) string {
	t.Helper()
	for n := 0; ; n++ {
		if nonce := strconv.Itoa(n); !powSolved(challenge, nonce, difficulty) {
			return nonce
		}
	}
}

func (c client) verify(h http.Handler, form url.Values) *httptest.ResponseRecorder {
	return c.do(h, http.MethodPost, VerifyPath, form)
}

// answer is the form a person's browser posts: the token, the nonce and
// clean evidence with the right script proof (for a token signed by a
// testKey).
func answer(token, nonce string) url.Values {
	return url.Values{"token": {token}, "nonce": {nonce}, "evidence": {cleanEvidence(token)}}
}

// testProof is the script proof for a token signed by a testKey, "" when the
// token cannot be read.
func testProof(tokenText string) string {
	parts := strings.Split(tokenText, ".")
	if len(parts) < 4 {
		return ""
	}
	kid := strings.Join(parts[1:len(parts)-2], ".")
	keys, err := newTokenKeys([]clearance.Key{testKey(kid)})
	if err != nil {
		return ""
	}
	tok, err := keys.parse(tokenText)
	if err != nil {
		return ""
	}
	p := proofProgramFor(keys.byID[kid], &tok.id)
	proof := p.proof()
	return string(proof[:])
}

// cleanEvidence is what a person's Chromium under Xvfb sends (measured),
// with the proof for tokenText.
func cleanEvidence(tokenText string) string {
	return `{"v":1,"proof":"` + testProof(tokenText) + `","webdriver":false,` +
		`"ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",` +
		`"brands":["Not:A-Brand","Chromium"],"globals":[],"gl":"","tz":"UTC",` +
		`"screen":[1280,1024],"outer":[1050,1004],"inner":[1050,861],"pointer":"fine"}`
}

func outcomes(events []event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.outcome
	}
	return out
}

func wantOutcomes(t testing.TB, got []event, want ...string) {
	t.Helper()
	if !slices.Equal(outcomes(got), want) {
		t.Errorf("outcomes = %q, want %q", outcomes(got), want)
	}
}

// clearanceCookie returns the cookie named name set by rec, or fails.
func clearanceCookie(t testing.TB, rec *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %q", name, rec.Header().Values("Set-Cookie"))
	return nil
}

func httptestGet(target string) *http.Request {
	return httptest.NewRequest(http.MethodGet, target, nil)
}

// httptestPost is a verify request without client headers.
func httptestPost(form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, VerifyPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func httptestRecord(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func serve(h http.Handler, req *http.Request) *http.Response { return httptestRecord(h, req).Result() }

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tamper flips one bit in the token's payload, keeping it valid base64url,
// so only the MAC can tell.
func tamper(t testing.TB, tok string) string {
	t.Helper()
	macDot := strings.LastIndexByte(tok, '.')
	payloadDot := strings.LastIndexByte(tok[:macDot], '.')
	raw, err := base64.RawURLEncoding.DecodeString(tok[payloadDot+1 : macDot])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1 // the last byte of return_to
	return tok[:payloadDot+1] + base64.RawURLEncoding.EncodeToString(raw) + tok[macDot:]
}

// flipChar returns another base64url character.
func flipChar(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}

// nodeForTest finds node, or skips (fails under BOTAUTHZ_TEST_REQUIRE=1,
// as make test sets); what says what goes unchecked without it.
func nodeForTest(t *testing.T, what string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("BOTAUTHZ_TEST_REQUIRE") == "1" {
			t.Fatalf("node not found (BOTAUTHZ_TEST_REQUIRE=1 requires it): %v", err)
		}
		t.Skip("node not found on PATH: " + what + "; install Node.js to run this test")
	}
	return node
}

// runScript runs harness under node with the served script as a CommonJS
// module (argv[2]) and req, as JSON, in a file (argv[3]), and returns what
// it prints.
func runScript(t *testing.T, node, harness string, req any) []byte {
	t.Helper()
	dir := t.TempDir()
	// .cjs: CommonJS whatever package.json may sit above the temp dir.
	mod := filepath.Join(dir, "challenge.cjs")
	harnessFile := filepath.Join(dir, "harness.cjs")
	reqFile := filepath.Join(dir, "request.json")
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{mod: script, harnessFile: []byte(harness), reqFile: data} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), node, harnessFile, mod, reqFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	return out
}
