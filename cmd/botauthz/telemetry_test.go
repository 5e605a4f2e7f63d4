package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/botauthz/botauthz/internal/otlptest"
	"github.com/botauthz/botauthz/internal/redistest"
)

// TestCheckSpanContinuesEnvoysTrace runs botauthz in process with OTLP export
// to a real in-process collector and a real Redis, sends a Check carrying a
// W3C traceparent in its gRPC metadata (as Envoy does), and expects the Check
// span under that parent with the bot.* attributes, and the Redis round trip
// as its child.
func TestCheckSpanContinuesEnvoysTrace(t *testing.T) {
	collector := otlptest.Start(t)
	redis := redistest.Start(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+collector.Endpoint())
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	a, stop := startApp(t, "-redis", redis.URL())
	ctx := context.Background()

	conn, err := grpc.NewClient(a.grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	md := metadata.Pairs("traceparent", "00-"+traceID+"-"+parentID+"-01")
	_, err = authv3.NewAuthorizationClient(conn).Check(metadata.NewOutgoingContext(ctx, md), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Headers: map[string]string{"user-agent": "curl/8.5.0"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	// The admin port serves the metrics of that Check.
	resp, err := http.Get("http://" + a.adminLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `botauthz_decisions_total{action="deny",enforced_action="allow",mode="shadow",model="`+a.authz.Model().Version()+`",route="default"} 1`) {
		t.Errorf("/metrics lacks the Check's decision:\n%s", body)
	}

	if err := stop(); err != nil { // shutdown flushes the span exporter
		t.Fatal(err)
	}
	spans := collector.WaitFor(t, 10*time.Second, func(s []otlptest.Span) bool {
		return findSpan(s, "envoy.service.auth.v3.Authorization/Check") != nil && findSpan(s, "ratelimit.Hit") != nil
	})
	check := findSpan(spans, "envoy.service.auth.v3.Authorization/Check")
	if check.TraceID != traceID || check.ParentSpanID != parentID || check.ServiceName != "botauthz" {
		t.Errorf("Check span trace %s parent %s service %s, want trace %s parent %s from botauthz",
			check.TraceID, check.ParentSpanID, check.ServiceName, traceID, parentID)
	}
	for _, attr := range []string{"bot.score", "bot.category", "bot.action", "bot.enforced_action", "bot.mode", "bot.route", "bot.reasons", "bot.degraded", "bot.certainty"} {
		if _, ok := check.Attributes[attr]; !ok {
			t.Errorf("Check span lacks %s: %v", attr, check.Attributes)
		}
	}
	// curl declares automation: denied (in shadow, only recorded).
	if got, certainty := check.Attributes["bot.action"], check.Attributes["bot.certainty"]; got != "deny" || certainty != "declared_automation" {
		t.Errorf("bot.action = %v, bot.certainty = %v; want deny, declared_automation", got, certainty)
	}
	if hit := findSpan(spans, "ratelimit.Hit"); hit.ParentSpanID != check.SpanID || hit.TraceID != traceID {
		t.Errorf("Redis span parent %s trace %s, want the Check span %s", hit.ParentSpanID, hit.TraceID, check.SpanID)
	}
}

func findSpan(spans []otlptest.Span, name string) *otlptest.Span {
	for i := range spans {
		if spans[i].Name == name {
			return &spans[i]
		}
	}
	return nil
}
