// Package otlptest runs a real OTLP/gRPC trace collector for tests: a
// gRPC server on a loopback port that implements the collector's
// TraceService and keeps every span it receives, flattened for assertions.
//
// It exists so that tracing is tested end to end, through the same
// exporter, wire format and environment variables as in production, rather
// than against an in-memory exporter that skips all three. It is for tests
// only and must not be imported by production code.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	// Exporters compress when OTEL_EXPORTER_OTLP_COMPRESSION=gzip: the
	// receiver must be able to read that too.
	_ "google.golang.org/grpc/encoding/gzip"
)

// Span is one received span, flattened: ids are lowercase hex, attribute
// values are Go values (string, bool, int64, float64, []byte, []any or
// map[string]any).
type Span struct {
	// ServiceName is the service.name of the span's resource.
	ServiceName string
	// Resource holds the resource's attributes.
	Resource map[string]any
	// Scope is the instrumentation scope's name.
	Scope string
	Name  string
	// TraceID, SpanID and ParentSpanID are hex strings; ParentSpanID is
	// empty for a root span.
	TraceID      string
	SpanID       string
	ParentSpanID string
	// Kind is "server", "client", "internal", "producer", "consumer" or
	// "unspecified".
	Kind       string
	Attributes map[string]any
	// StatusCode is "unset", "ok" or "error"; StatusMessage its message.
	StatusCode    string
	StatusMessage string
}

// Receiver is a running OTLP/gRPC trace collector.
type Receiver struct {
	addr string

	mu    sync.Mutex
	spans []Span
	// changed is closed and replaced whenever spans arrive, so that WaitFor
	// wakes up on new data instead of polling on a timer.
	changed chan struct{}
}

// traceService keeps the gRPC method off Receiver's API.
type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	r *Receiver
}

// Start starts a Receiver on 127.0.0.1 on a free port. It is stopped when
// the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	r := &Receiver{addr: lis.Addr().String(), changed: make(chan struct{})}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, &traceService{r: r})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns when Stop closes the listener; nothing to report.
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r
}

// Endpoint returns the receiver's address as "127.0.0.1:PORT". Prefix it
// with "http://" for OTEL_EXPORTER_OTLP_ENDPOINT to make the exporter use
// plain text.
func (r *Receiver) Endpoint() string { return r.addr }

// Spans returns a copy of the spans received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitFor returns the spans received once done reports true for them, and
// fails the test if that has not happened within timeout. done is asked
// again each time spans arrive.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, done func([]Span) bool) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans := append([]Span(nil), r.spans...)
		changed := r.changed
		r.mu.Unlock()
		if done(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("otlptest: condition not met within %v; received %d spans: %+v", timeout, len(spans), spans)
			return nil
		}
	}
}

// Export implements the collector's TraceService.
func (s *traceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attributes(rs.GetResource().GetAttributes())
		service, _ := res["service.name"].(string)
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				got = append(got, Span{
					ServiceName:   service,
					Resource:      res,
					Scope:         ss.GetScope().GetName(),
					Name:          sp.GetName(),
					TraceID:       hex.EncodeToString(sp.GetTraceId()),
					SpanID:        hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID:  hex.EncodeToString(sp.GetParentSpanId()),
					Kind:          kind(sp.GetKind()),
					Attributes:    attributes(sp.GetAttributes()),
					StatusCode:    status(sp.GetStatus().GetCode()),
					StatusMessage: sp.GetStatus().GetMessage(),
				})
			}
		}
	}
	r := s.r
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func kind(k tracepb.Span_SpanKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "SPAN_KIND_"))
}

func status(c tracepb.Status_StatusCode) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "STATUS_CODE_"))
}

func attributes(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = value(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attributes(x.KvlistValue.GetValues())
	}
	return nil
}
