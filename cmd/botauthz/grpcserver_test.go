package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcproto "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/ratelimit"
)

func TestMaxCheckBytesFlag(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.maxCheckBytes != 64<<20 {
		t.Errorf("default %d, want 64 MiB", c.maxCheckBytes)
	}
	t.Setenv("BOTAUTHZ_MAX_CHECK_BYTES", "16777216")
	if c, err = parseFlags(nil, io.Discard); err != nil || c.maxCheckBytes != 16<<20 {
		t.Errorf("from the environment: %v, %v; want 16 MiB", c, err)
	}
	for _, v := range []string{"0", "-1", "65536", "4294967296", "64MiB"} {
		var out bytes.Buffer
		if code := run(context.Background(), []string{"-max-check-bytes", v}, &out, &out); code != 2 {
			t.Errorf("-max-check-bytes %s: exit %d, want 2 (output %q)", v, code, out.String())
		}
	}
}

// rawCodec lets a test client send bytes the Go protobuf library would
// refuse to marshal, as a C++ Envoy can.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return grpcproto.Name }

// oddCheck is an Envoy-like Check with the given user agent and a filler
// header of n bytes, marshalled with a placeholder user agent that is then
// overwritten, so that ua may be any bytes of the same length.
func oddCheck(t testing.TB, ua string, n int) []byte {
	t.Helper()
	placeholder := strings.Repeat("U", len(ua))
	wire, err := proto.Marshal(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Headers: map[string]string{
				"user-agent": placeholder, "accept": "text/html", "x-filler": strings.Repeat("a", n)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(wire, []byte(placeholder))
	if i < 0 || bytes.Count(wire, []byte(placeholder)) != 1 {
		t.Fatal("placeholder user agent not found once")
	}
	copy(wire[i:], ua)
	return wire
}

// rawCheck sends wire as a CheckRequest and decodes the response.
func rawCheck(ctx context.Context, conn *grpc.ClientConn, wire []byte) (*authv3.CheckResponse, error) {
	var out []byte
	if err := conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, &wire, &out, grpc.ForceCodecV2(rawCodec{})); err != nil {
		return nil, err
	}
	resp := new(authv3.CheckResponse)
	if err := proto.Unmarshal(out, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// TestAppDecidesEveryCheckThatFits runs botauthz with -max-check-bytes 6 MiB:
// a Check with an invalid UTF-8 user agent and a 5 MB Check are decided,
// the first counted in botauthz_checks_sanitized_total; a 7 MiB Check is
// refused with ResourceExhausted; health checks share the codec.
func TestAppDecidesEveryCheckThatFits(t *testing.T) {
	a, _ := startApp(t, "-max-check-bytes", "6291456")
	conn, err := grpc.NewClient(a.grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for name, wire := range map[string][]byte{
		"invalid UTF-8 user agent": oddCheck(t, "Mozilla/5.0 \xff\xfe\xc3", 0),
		"5 MB":                     oddCheck(t, "curl/8.5.0", 5<<20),
	} {
		resp, err := rawCheck(ctx, conn, wire)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.GetStatus() == nil || (resp.GetOkResponse() == nil && resp.GetDeniedResponse() == nil) {
			t.Errorf("%s: no decision: %v", name, resp)
		}
	}
	if _, err := rawCheck(ctx, conn, oddCheck(t, "curl/8.5.0", 7<<20)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("7 MiB Check: %v, want ResourceExhausted", err)
	}
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v, %v", h, err)
	}

	resp, err := http.Get("http://" + a.adminLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nbotauthz_checks_sanitized_total 1\n") {
		t.Errorf("/metrics lacks botauthz_checks_sanitized_total 1:\n%s", body)
	}
}

// TestStatsHandlerSeesRefusals backs the choice documented on
// checkServerOptions: a stats handler would see each Check refused as too
// large (an End with ResourceExhausted), and nothing cheaper does; botauthz
// does not install one because of what it costs every other Check.
func TestStatsHandlerSeesRefusals(t *testing.T) {
	opts, err := checkServerOptions(minMaxCheckBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	authz, err := extauthz.New(extauthz.Options{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(opts, grpc.StatsHandler(refusalCounter{&refused}))...)
	authv3.RegisterAuthorizationServer(srv, authz)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := rawCheck(ctx, conn, oddCheck(t, "curl/8.5.0", 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := rawCheck(ctx, conn, oddCheck(t, "curl/8.5.0", 2*minMaxCheckBytes)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("2 MiB Check: %v, want ResourceExhausted", err)
	}
	// The server may report the End after the client has the status: poll.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
poll:
	for refused.Load() != 1 {
		select {
		case <-deadline:
			break poll
		case <-tick.C:
		}
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("the stats handler saw %d refusals, want 1", n)
	}
}

// stackRecorder answers every Check OK and sends the handler goroutine's
// stack to stacks.
type stackRecorder struct {
	authv3.UnimplementedAuthorizationServer
	stacks chan string
}

func (s stackRecorder) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s.stacks <- string(debug.Stack())
	return &authv3.CheckResponse{}, nil
}

// TestChecksRunOnStreamWorkers: with checkServerOptions, a Check runs on
// one of grpc's stream workers, which keep their stacks from Check to
// Check, rather than on a goroutine started for it (streamWorkers).
func TestChecksRunOnStreamWorkers(t *testing.T) {
	opts, err := checkServerOptions(defaultMaxCheckBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := stackRecorder{stacks: make(chan string, 1)}
	srv := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(srv, rec)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	for i := range 3 {
		if _, err := client.Check(t.Context(), &authv3.CheckRequest{}); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
		if stack := <-rec.stacks; !strings.Contains(stack, "grpc.(*Server).serverWorker") {
			t.Errorf("Check %d ran on a goroutine of its own:\n%s", i, stack)
		}
	}
	if n := streamWorkers(1); n < 32 {
		t.Errorf("streamWorkers(1) = %d, want at least the harness's 32 callers", n)
	}
}
