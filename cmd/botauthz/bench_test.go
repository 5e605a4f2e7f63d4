package main

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/telemetry"
)

// BenchmarkGRPCCheck measures a whole Check over loopback gRPC, as Envoy
// makes it, with botauthz's server options (codec, receive limit), with and
// without tracing: what an unconfigured tracer costs.
func BenchmarkGRPCCheck(b *testing.B) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{}) // no OTEL_* env: tracing off
	if err != nil {
		b.Fatal(err)
	}
	recording := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())) // records, exports nowhere
	cases := []struct {
		name string
		opts []grpc.ServerOption
		tp   trace.TracerProvider
	}{
		// What botauthz runs without OTEL_* configuration.
		{"tracing-off", nil, nil},
		// The stats handler with a no-op tracer, which botauthz no longer installs.
		{"otelgrpc-noop-tracer", []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tel.TracerProvider()), otelgrpc.WithPropagators(tel.Propagator()),
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider())))}, tel.TracerProvider()},
		// The smallest stats handler that could count Checks refused as too
		// large, which botauthz does not install: grpc builds its events
		// for every Check all the same.
		{"refusal-stats-handler", []grpc.ServerOption{grpc.StatsHandler(refusalCounter{})}, nil},
		// Tracing on: every Check span and its Redis child recorded.
		{"tracing-on", []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(recording), otelgrpc.WithPropagators(tel.Propagator()),
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider())))}, recording},
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Scheme: "http", Headers: map[string]string{
				"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
				"accept":     "text/html", "accept-language": "en", "accept-encoding": "gzip, br"}}},
	}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			authz, err := extauthz.New(extauthz.Options{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), TracerProvider: c.tp})
			if err != nil {
				b.Fatal(err)
			}
			opts, err := checkServerOptions(defaultMaxCheckBytes, nil)
			if err != nil {
				b.Fatal(err)
			}
			srv := grpc.NewServer(append(opts, c.opts...)...)
			extauthz.Register(srv, authz)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(ln)
			defer srv.Stop()
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := authv3.NewAuthorizationClient(conn)
			// Envoy sends its span context with every Check.
			ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// refusalCounter is a stats handler that would count the Checks grpc
// refuses as larger than the receive limit: they end with ResourceExhausted
// before any handler runs.
type refusalCounter struct{ refused *atomic.Int64 }

func (refusalCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (h refusalCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	if end, ok := s.(*stats.End); ok && status.Code(end.Error) == codes.ResourceExhausted && h.refused != nil {
		h.refused.Add(1)
	}
}

func (refusalCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (refusalCounter) HandleConn(context.Context, stats.ConnStats) {}
