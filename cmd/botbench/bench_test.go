package main

import (
	"context"
	"net"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// BenchmarkNoopCheck is cmd/botauthz's BenchmarkGRPCCheck with the no-op
// server: the same request, client and loopback connection, so that
//
//	go test -run '^$' -bench 'BenchmarkGRPCCheck/tracing-off' -cpuprofile botauthz.out ./cmd/botauthz
//	go test -run '^$' -bench BenchmarkNoopCheck -cpuprofile noop.out ./cmd/botbench
//
// profile the same path, and what botauthz adds shows up as the
// difference. "pool" sends botbench's request pool instead (header_map,
// as the shipped Envoy does).
func BenchmarkNoopCheck(b *testing.B) {
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Scheme: "http", Headers: map[string]string{
				"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
				"accept":     "text/html", "accept-language": "en", "accept-encoding": "gzip, br"}}},
	}}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, noop{})
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

	b.Run("small", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.Check(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pool", func(b *testing.B) {
		p, err := newPool(poolOptions{clients4: 10000, clients6: 500, seed: 1, encoding: encodingHeaderMap})
		if err != nil {
			b.Fatal(err)
		}
		t, err := dialGRPC(ln.Addr().String(), 1)
		if err != nil {
			b.Fatal(err)
		}
		defer t.close()
		b.ReportAllocs()
		i := uint64(0)
		for b.Loop() {
			if o, err := t.send(context.Background(), 0, p.at(i)); o != outOK {
				b.Fatalf("outcome %d: %v", o, err)
			}
			i++
		}
	})
}
