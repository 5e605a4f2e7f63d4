package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/botauthz/botauthz/internal/otlptest"

	"github.com/botauthz/botauthz/buildinfo"
)

func TestSetupWithoutOTelEnvDoesNotTrace(t *testing.T) {
	p := newTestProvider(t)
	if p.TracingEnabled() {
		t.Error("TracingEnabled() = true without any OTEL_* variable")
	}
	if _, ok := p.TracerProvider().(noop.TracerProvider); !ok {
		t.Errorf("TracerProvider() is %T, want noop.TracerProvider", p.TracerProvider())
	}
	_, span := p.TracerProvider().Tracer("t").Start(context.Background(), "s")
	defer span.End()
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a span of the unconfigured provider records")
	}
}

func TestTracingConfigured(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"exporter otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"exporter console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none"}, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"none beats an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, false},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"metrics endpoint alone", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4317"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tracingConfigured(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOTLPMetricsConfigured(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"exporter otlp", map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, true},
		{"exporter none", map[string]string{"OTEL_METRICS_EXPORTER": "none"}, false},
		{"exporter prometheus is /metrics already", map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, false},
		{"metrics endpoint", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://collector:4317"}, true},
		{"generic endpoint is for traces", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, false},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_METRICS_EXPORTER": "otlp"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otlpMetricsConfigured(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSpansReachOTLPCollector(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantService string
	}{
		{"default service name", nil, "botauthz"},
		{"OTEL_SERVICE_NAME overrides", map[string]string{"OTEL_SERVICE_NAME": "botauthz-eu"}, "botauthz-eu"},
		{"OTEL_RESOURCE_ATTRIBUTES overrides", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=botauthz-canary,deployment.environment=prod"}, "botauthz-canary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			rcv := otlptest.Start(t)
			t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+rcv.Endpoint())
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx := context.Background()
			p, err := Setup(ctx, Options{Build: buildinfo.Info{Version: "1.2.3", Revision: "abc", GoVersion: "go1.26.0"}})
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if !p.TracingEnabled() {
				t.Fatal("TracingEnabled() = false with OTEL_TRACES_EXPORTER=otlp")
			}
			_, span := p.TracerProvider().Tracer("test").Start(ctx, "envoy.service.auth.v3.Authorization/Check", trace.WithSpanKind(trace.SpanKindServer))
			want := span.SpanContext()
			span.End()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			spans := rcv.WaitFor(t, 10*time.Second, func(s []otlptest.Span) bool { return len(s) > 0 })
			got := spans[0]
			if got.ServiceName != tt.wantService {
				t.Errorf("service.name = %q, want %q", got.ServiceName, tt.wantService)
			}
			if v := got.Resource["service.version"]; v != "1.2.3" {
				t.Errorf("service.version = %v, want 1.2.3", v)
			}
			if got.TraceID != want.TraceID().String() || got.SpanID != want.SpanID().String() {
				t.Errorf("received span %s/%s, want %s/%s", got.TraceID, got.SpanID, want.TraceID(), want.SpanID())
			}
			if got.Kind != "server" {
				t.Errorf("kind = %q, want server", got.Kind)
			}
		})
	}
}

func TestSetupRefusesUnknownExporter(t *testing.T) {
	tests := []struct{ name, key, value string }{
		{"traces", "OTEL_TRACES_EXPORTER", "carrier-pigeon"},
		{"metrics", "OTEL_METRICS_EXPORTER", "carrier-pigeon"},
		{"OTLP protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "smoke-signals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv(tt.key, tt.value)
			if tt.key == "OTEL_EXPORTER_OTLP_PROTOCOL" {
				t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
			}
			p, err := Setup(context.Background(), Options{})
			if err == nil {
				_ = p.Shutdown(context.Background())
				t.Fatalf("Setup accepted %s=%s", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), "telemetry:") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

func TestPropagatorContinuesEnvoyTraces(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	tests := []struct {
		name       string
		propagator string // OTEL_PROPAGATORS
		headers    map[string]string
		wantValid  bool
	}{
		{"W3C traceparent", "", map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01"}, true},
		{"B3 single header", "", map[string]string{"b3": traceID + "-" + spanID + "-1"}, true},
		{"B3 multi header", "", map[string]string{"x-b3-traceid": traceID, "x-b3-spanid": spanID, "x-b3-sampled": "1"}, true},
		{"no trace headers", "", map[string]string{"x-request-id": "r"}, false},
		{"OTEL_PROPAGATORS=b3 takes B3", "b3", map[string]string{"b3": traceID + "-" + spanID + "-1"}, true},
		{"OTEL_PROPAGATORS=b3 ignores traceparent", "b3", map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01"}, false},
		{"unknown OTEL_PROPAGATORS falls back to the defaults", "bogus", map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv("OTEL_PROPAGATORS", tt.propagator)
			p, err := Setup(context.Background(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Shutdown(context.Background()) })

			ctx := p.Propagator().Extract(context.Background(), propagation.MapCarrier(tt.headers))
			sc := trace.SpanContextFromContext(ctx)
			if sc.IsValid() != tt.wantValid {
				t.Fatalf("extracted span context valid = %v, want %v", sc.IsValid(), tt.wantValid)
			}
			if !tt.wantValid {
				return
			}
			if !sc.IsRemote() || !sc.IsSampled() {
				t.Errorf("span context remote=%v sampled=%v, want both", sc.IsRemote(), sc.IsSampled())
			}
			if sc.TraceID().String() != traceID || sc.SpanID().String() != spanID {
				t.Errorf("extracted %s/%s, want %s/%s", sc.TraceID(), sc.SpanID(), traceID, spanID)
			}
		})
	}
}

func TestMetricsHandlerServesRuntimeAndResource(t *testing.T) {
	p := newTestProvider(t)
	e := scrape(t, p.MetricsHandler())
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "target_info"} {
		if _, ok := e.families[name]; !ok {
			t.Errorf("%s missing from the exposition", name)
		}
	}
	info := e.values("target_info")
	if len(info) != 1 {
		t.Fatalf("target_info: %v", info)
	}
	for k := range info {
		if !strings.Contains(k, "service_name=botauthz") || !strings.Contains(k, "service_version=test") {
			t.Errorf("target_info labels %q lack service_name=botauthz and service_version=test", k)
		}
	}
	build := e.values("botauthz_build_info")
	want := "go_version=go1.26.0,revision=abc,version=test"
	if len(build) != 1 || build[want] != 1 {
		t.Errorf("botauthz_build_info = %v, want {%s: 1}", build, want)
	}
}

func TestProvidersAreIsolated(t *testing.T) {
	// Two providers in one process (as in tests, or a restart in place)
	// must not share a registry: each would otherwise fail to register.
	a, b := newTestProvider(t), newTestProvider(t)
	ra, err := NewRecorder(RecorderOptions{MeterProvider: a.MeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRecorder(RecorderOptions{MeterProvider: b.MeterProvider()}); err != nil {
		t.Fatal(err)
	}
	ra.ObserveCheck(context.Background(), scoredDecision(t, "login", 0, curlHeaders), benchFacts(), time.Millisecond)
	if got := scrape(t, a.MetricsHandler()).values("botauthz_decisions_total"); len(got) != 1 {
		t.Errorf("provider a: %v, want one series", got)
	}
	if got := scrape(t, b.MetricsHandler()).values("botauthz_decisions_total"); len(got) != 0 {
		t.Errorf("provider b sees a's decisions: %v", got)
	}
}

func TestShutdownTwiceIsHarmless(t *testing.T) {
	p := newTestProvider(t) // its cleanup shuts it down once more
	for i := range 2 {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown #%d: %v", i+1, err)
		}
	}
}
