package otlptest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestReceiverFlattensExportedSpans(t *testing.T) {
	ctx := context.Background()
	r := Start(t)
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(r.Endpoint()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"), attribute.String("service.version", "1.2.3"))),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	tracer := tp.Tracer("scope-a")
	pctx, parent := tracer.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(pctx, "child", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("s", "v"),
		attribute.Bool("b", true),
		attribute.Int("i", 7),
		attribute.Float64("f", 1.5),
		attribute.StringSlice("ss", []string{"x", "y"}),
	))
	child.SetStatus(codes.Error, "boom")
	child.End()
	parent.End()

	spans := r.WaitFor(t, 10*time.Second, func(s []Span) bool { return len(s) == 2 })
	byName := map[string]Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	p, c := byName["parent"], byName["child"]
	pc, cc := parent.SpanContext(), child.SpanContext()

	tests := []struct {
		name      string
		got, want any
	}{
		{"service name", c.ServiceName, "svc"},
		{"resource attribute", fmt.Sprint(c.Resource["service.version"]), "1.2.3"},
		{"scope", c.Scope, "scope-a"},
		{"trace id", c.TraceID, cc.TraceID().String()},
		{"span id", c.SpanID, cc.SpanID().String()},
		{"parent span id", c.ParentSpanID, pc.SpanID().String()},
		{"root has no parent", p.ParentSpanID, ""},
		{"server kind", p.Kind, "server"},
		{"client kind", c.Kind, "client"},
		{"string attribute", c.Attributes["s"], "v"},
		{"bool attribute", c.Attributes["b"], true},
		{"int attribute", c.Attributes["i"], int64(7)},
		{"float attribute", c.Attributes["f"], 1.5},
		{"slice attribute", fmt.Sprint(c.Attributes["ss"]), "[x y]"},
		{"status", c.StatusCode, "error"},
		{"status message", c.StatusMessage, "boom"},
		{"unset status", p.StatusCode, "unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v (%T), want %v (%T)", tt.got, tt.got, tt.want, tt.want)
			}
		})
	}
	if got := len(r.Spans()); got != 2 {
		t.Errorf("Spans() returned %d spans, want 2", got)
	}
}

// fatalRecorder records a Fatalf instead of stopping the test, so the
// failure path of WaitFor can be checked.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper()               {}
func (f *fatalRecorder) Fatalf(string, ...any) { f.failed = true }

func TestWaitForFailsAtDeadline(t *testing.T) {
	r := Start(t)
	f := &fatalRecorder{TB: t}
	if got := r.WaitFor(f, time.Millisecond, func([]Span) bool { return false }); got != nil {
		t.Errorf("WaitFor returned %v after its deadline, want nil", got)
	}
	if !f.failed {
		t.Error("WaitFor did not fail the test at its deadline")
	}
}
