package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

func TestCheckConfig(t *testing.T) {
	cases := []struct {
		name     string
		file     string
		wantCode int
		wantOut  string
	}{
		{"a good file lists its routes", "../../envoy/botauthz.yaml", 0, "route login"},
		{"a bad file names the key", "../../policy/testdata/bad/unknown-route-key.yaml", 1, "routes.login.limts: unknown key"},
		{"a missing file says so", "nope.yaml", 1, "no such file"},
		{"an empty file is refused", "/dev/null", 1, "the file has no keys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), []string{"-check-config", c.file}, &out, &out)
			if code != c.wantCode || !strings.Contains(out.String(), c.wantOut) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out.String(), c.wantCode, c.wantOut)
			}
		})
	}
}

func TestFlagsEnvironmentAndDefaults(t *testing.T) {
	t.Setenv("BOTAUTHZ_GRPC_ADDR", "127.0.0.1:7001")
	t.Setenv("BOTAUTHZ_REDIS_BUDGET", "35ms")
	t.Setenv("BOTAUTHZ_ADMIN_ADDR", "127.0.0.1:7002")
	c, err := parseFlags([]string{"-admin-addr", "127.0.0.1:7003"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.grpcAddr != "127.0.0.1:7001" || c.redisBudget != 35*time.Millisecond {
		t.Errorf("environment not read: grpc %q budget %s", c.grpcAddr, c.redisBudget)
	}
	if c.adminAddr != "127.0.0.1:7003" {
		t.Errorf("admin addr %q: a flag must win over the environment", c.adminAddr)
	}
	if c.httpAddr != ":8080" || c.redisURL != "" || c.policyFile != "" {
		t.Errorf("defaults: http %q redis %q config %q", c.httpAddr, c.redisURL, c.policyFile)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-redis-budget", "0s"},
		{"-log-format", "xml"},
		{"-no-such-flag"},
		{"stray-argument"},
	} {
		var out bytes.Buffer
		if code := run(context.Background(), args, &out, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2 (output %q)", args, code, out.String())
		}
	}
}

func TestStartFailsOnABadPolicyOrTakenPort(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"-config", "../../policy/testdata/bad/bad-mode.yaml",
		"-grpc-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "routes.login.mode") {
		t.Errorf("bad policy: exit %d output %q", code, out.String())
	}
}

func TestStartsAndDecidesWithRedisDown(t *testing.T) {
	c, err := parseFlags([]string{"-grpc-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-redis", "redis://127.0.0.1:1/0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(t.Context(), c, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		t.Fatalf("start with Redis down: %v", err)
	}
	defer a.closeListeners()
	defer a.store.Close()
	resp, err := a.authz.Check(t.Context(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:  &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Headers: map[string]string{"user-agent": "curl/8.5.0"}}},
	}})
	if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("Check = %v, %v", resp, err)
	}
	degraded := false
	for _, h := range resp.GetOkResponse().GetHeaders() {
		degraded = degraded || h.GetHeader().GetKey() == "x-bot-degraded"
	}
	if !degraded {
		t.Errorf("decision with Redis down is not marked degraded: %v", resp)
	}
}

// startApp runs botauthz in process on loopback ports, with args added to
// the flags, until the test ends. stop ends it early and returns what serve
// returned.
func startApp(t *testing.T, args ...string) (a *app, stop func() error) {
	t.Helper()
	c, err := parseFlags(append([]string{"-grpc-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-drain-delay", "0"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if a, err = newApp(ctx, c, slog.New(slog.DiscardHandler), nil, nil); err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.serve(ctx) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() { cancel(); serveErr = <-served })
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

// gateStore holds every Hit until released, to keep a Check in flight.
type gateStore struct {
	ratelimit.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Hit(ctx context.Context, now time.Time, c []ratelimit.Counter, o []ratelimit.Observation) error {
	g.entered <- struct{}{}
	<-g.release
	return g.Store.Hit(ctx, now, c, o)
}

func TestServeThenDrainFinishesInFlightChecks(t *testing.T) {
	c, err := parseFlags([]string{"-grpc-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	store := &gateStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), entered: make(chan struct{}, 1), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, c, slog.New(slog.DiscardHandler), nil, store)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.serve(ctx) }()

	conn, err := grpc.NewClient(a.grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", hc, err)
	}
	if _, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx); err != nil {
		t.Errorf("reflection: %v", err)
	}
	admin := "http://" + a.adminLn.Addr().String()
	if code := httpStatus(t, admin+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code := httpStatus(t, admin+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	if code := httpStatus(t, "http://"+a.publicLn.Addr().String()+"/.botauthz/challenge"); code != 200 {
		t.Errorf("challenge page = %d", code)
	}

	// A Check in flight when the signal comes.
	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Headers: map[string]string{"user-agent": "curl/8.5.0"}}},
		}})
		inflight <- result{resp, err}
	}()
	<-store.entered

	cancel() // what SIGTERM does through signal.NotifyContext
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for httpStatus(t, admin+"/readyz") != http.StatusServiceUnavailable {
		select {
		case <-deadline:
			t.Fatal("/readyz did not turn 503 while draining")
		case <-tick.C:
		}
	}
	hs, err := a.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hs.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health while draining = %v, %v; want NOT_SERVING", hs, err)
	}
	select {
	case err := <-served:
		t.Fatalf("serve returned %v with a Check in flight", err)
	default:
	}

	close(store.release)
	r := <-inflight
	if r.err != nil || r.resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Errorf("in-flight Check = %v, %v; want its answer", r.resp, r.err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve = %v, want a clean stop", err)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadyzSaysWhenTheClearanceKeyIsMadeUp: replicas that each make up a
// key reject each other's clearances, which challenges people in a loop
// behind a load balancer; /readyz must say so, and stay ready.
func TestReadyzSaysWhenTheClearanceKeyIsMadeUp(t *testing.T) {
	t.Setenv("BOTAUTHZ_CLEARANCE_KEYS", "")
	a, _ := startApp(t)
	code, status, detail := readyComponent(t, a, "clearance")
	if code != http.StatusOK || status != "degraded" || !strings.Contains(detail, "BOTAUTHZ_CLEARANCE_KEYS") {
		t.Errorf("/readyz = %d, clearance %q %q; want ready, degraded, naming BOTAUTHZ_CLEARANCE_KEYS", code, status, detail)
	}

	key, err := clearance.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := startApp(t, "-clearance-keys", key.ID+":"+base64.StdEncoding.EncodeToString(key.Secret))
	if code, status, _ := readyComponent(t, b, "clearance"); code != http.StatusOK || status != "ok" {
		t.Errorf("with a key: /readyz = %d, clearance %q; want ok", code, status)
	}
}

// /readyz and the start-up line name the scoring model in force, so an
// operator can tell which weights a replica scores with.
func TestReadyzAndStartNameTheModel(t *testing.T) {
	m, err := scoring.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseFlags([]string{"-grpc-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
		"-drain-delay", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, c, slog.New(slog.NewJSONHandler(&logs, nil)), nil, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.serve(ctx) }()
	defer func() { cancel(); <-served }()

	resp, err := http.Get("http://" + a.adminLn.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Components map[string]struct {
			Status     string `json:"status"`
			Detail     string `json:"detail"`
			Model      string `json:"model"`
			FeatureSet int    `json:"feature_set"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	got := body.Components["model"]
	if resp.StatusCode != http.StatusOK || got.Status != "ok" || got.Model != m.Version() || got.FeatureSet != scoring.FeatureSet {
		t.Errorf("/readyz = %d, model component %+v; want ok, %s, feature set %d", resp.StatusCode, got, m.Version(), scoring.FeatureSet)
	}
	// The shipped crawler directory, every range list loaded.
	if cr := body.Components["crawlers"]; cr.Status != "ok" || !strings.HasPrefix(cr.Detail, "63 crawlers, 13 range lists (oldest published ") {
		t.Errorf("/readyz crawlers component %+v", cr)
	}

	// serve logs "serving" right after it starts the servers.
	var line struct {
		Msg        string `json:"msg"`
		Model      string `json:"model"`
		FeatureSet int    `json:"feature_set"`
	}
	poll(t, "the start-up line", func() bool {
		for l := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(l, `"msg":"serving"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatal(err)
				}
				return true
			}
		}
		return false
	})
	if line.Msg != "serving" || line.Model != m.Version() || line.FeatureSet != scoring.FeatureSet {
		t.Errorf("start-up line %+v, want serving with model %s and feature set %d\n%s", line, m.Version(), scoring.FeatureSet, logs.String())
	}
}

// lockedBuffer is a bytes.Buffer that a logger and a test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCheckConfigListsEveryProblem: -check-config shows every problem of a
// file at once, each with its line and key path.
func TestCheckConfigListsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("routes:\n  login:\n    mode: enforse\n  search:\n    challenge_below: 200\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-check-config", path}, &out, &out); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	for _, want := range []string{"2 problems:", "  line 3: routes.login.mode: unknown mode", "  line 5: routes.search.challenge_below: 200 out of range"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
