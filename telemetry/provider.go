package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/botauthz/botauthz/buildinfo"
)

// ServiceName is the service.name botauthz reports unless OTEL_SERVICE_NAME
// or OTEL_RESOURCE_ATTRIBUTES says otherwise.
const ServiceName = "botauthz"

// Options configure Setup.
type Options struct {
	// Build is the running binary's build information: its
	// ServiceVersion is reported as service.version, and the whole of it
	// as botauthz_build_info. A zero Build reports neither.
	Build buildinfo.Info
	// Logger receives setup problems that do not stop botauthz (a partly
	// invalid OTEL_RESOURCE_ATTRIBUTES or OTEL_PROPAGATORS) and what was
	// configured; nil discards them. Export errors are not routed here:
	// that would take otel.SetErrorHandler, which is global.
	Logger *slog.Logger
}

// Provider owns botauthz's OpenTelemetry providers, built from the
// standard OTEL_* environment variables. It never installs them globally:
// cmd hands them to whatever needs them.
type Provider struct {
	tracer     trace.TracerProvider
	tracerSDK  *sdktrace.TracerProvider // nil while tracing is off
	meters     *sdkmetric.MeterProvider
	propagator propagation.TextMapPropagator
	metrics    http.Handler

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds the providers from the OTEL_* environment:
//
//   - Tracing is on only when OTEL_TRACES_EXPORTER is set and not "none",
//     or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and OTEL_SDK_DISABLED is not
//     true. Otherwise the TracerProvider is a no-op. When on, spans go
//     through a batch processor (OTEL_BSP_*) to the exporter autoexport
//     picks (OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/protobuf), sampled by
//     OTEL_TRACES_SAMPLER (default parentbased_always_on).
//   - Metrics are always exposed in the Prometheus format by
//     MetricsHandler. They are also pushed over OTLP when
//     OTEL_METRICS_EXPORTER is set and neither "none" nor "prometheus", or
//     when OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set.
//   - The propagator is OTEL_PROPAGATORS when set, else W3C trace context,
//     baggage and B3 (single and multi header).
//
// The resource has service.name "botauthz" and service.version, both
// overridable with OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func Setup(ctx context.Context, opts Options) (*Provider, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	getenv := os.Getenv

	var serviceVersion string
	if opts.Build.Version != "" {
		serviceVersion = opts.Build.ServiceVersion()
	}
	res, err := newResource(ctx, serviceVersion)
	if err != nil {
		if res == nil {
			return nil, fmt.Errorf("telemetry: build resource: %w", err)
		}
		// A partly unparsable OTEL_RESOURCE_ATTRIBUTES is not worth
		// refusing to start an authorization service over.
		log.Warn("telemetry: some resource attributes ignored", "err", err)
	}

	p := &Provider{tracer: noop.NewTracerProvider(), propagator: newPropagator(getenv, log)}

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: register Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	if opts.Build.Version != "" {
		if err := reg.Register(buildInfoCollector(opts.Build)); err != nil {
			return nil, fmt.Errorf("telemetry: register build info: %w", err)
		}
	}
	// Scope labels would add otel_scope_* to every series for no query's
	// benefit. target_info stays: it carries service.version.
	promReader, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: create Prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promReader)}
	if otlpMetricsConfigured(getenv) {
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: create metric exporter from OTEL_METRICS_EXPORTER: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(r))
		log.Info("telemetry: exporting metrics over OTLP besides /metrics")
	}
	p.meters = sdkmetric.NewMeterProvider(mopts...)
	p.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg,
		ErrorLog:      promErrorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
		// OpenMetrics carries exemplars, which link latency buckets to traces.
		EnableOpenMetrics: true,
	})

	if tracingConfigured(getenv) {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, errors.Join(
				fmt.Errorf("telemetry: create span exporter from OTEL_TRACES_EXPORTER: %w", err),
				p.meters.Shutdown(ctx))
		}
		// No WithSampler: the SDK then reads OTEL_TRACES_SAMPLER(_ARG) and
		// defaults to parent-based always-on, so Envoy's sampling decision
		// is followed.
		p.tracerSDK = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		p.tracer = p.tracerSDK
		log.Info("telemetry: tracing on")
	}
	return p, nil
}

// buildInfoCollector exports botauthz_build_info, 1 with the build's
// version, revision and Go version as labels, the Prometheus convention
// for joining them onto other series (on (instance) group_left).
// target_info carries service.version too, but a query that wants the
// commit or the Go version would have to know OTel's resource layout.
func buildInfoCollector(b buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "botauthz_build_info",
		Help: "A metric with a constant value 1, labelled with the version, the commit and the Go version botauthz was built from.",
		ConstLabels: prometheus.Labels{
			"version":    b.ServiceVersion(),
			"revision":   b.Revision,
			"go_version": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// TracerProvider returns the tracer provider: a no-op one unless tracing
// is configured.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tracer }

// MeterProvider returns the meter provider whose metrics MetricsHandler
// exposes.
func (p *Provider) MeterProvider() metric.MeterProvider { return p.meters }

// Propagator returns the propagator that continues the caller's trace.
func (p *Provider) Propagator() propagation.TextMapPropagator { return p.propagator }

// MetricsHandler serves the metrics in the Prometheus text or OpenMetrics
// format: botauthz's own, from a private registry, plus the Go runtime and
// process collectors.
func (p *Provider) MetricsHandler() http.Handler { return p.metrics }

// TracingEnabled reports whether spans are exported.
func (p *Provider) TracingEnabled() bool { return p.tracerSDK != nil }

// Shutdown flushes pending spans and metrics and stops the exporters.
// Later calls return the first call's result.
func (p *Provider) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Provider) shutdown(ctx context.Context) error {
	var errs []error
	if p.tracerSDK != nil {
		if err := p.tracerSDK.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down tracer provider: %w", err))
		}
	}
	if err := p.meters.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shut down meter provider: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}

// newResource describes botauthz; the environment goes last so that it
// overrides the defaults.
func newResource(ctx context.Context, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", ServiceName)}
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	return resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
}

// sdkDisabled reports OTEL_SDK_DISABLED=true. It switches off the
// exporters; /metrics stays, being botauthz's own interface.
func sdkDisabled(getenv func(string) string) bool {
	return strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true")
}

// tracingConfigured says whether spans should be exported. autoexport
// alone would default to OTLP on localhost, so an unconfigured botauthz
// would build, sample and drop spans for nothing.
func tracingConfigured(getenv func(string) string) bool {
	if sdkDisabled(getenv) {
		return false
	}
	if exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp != "" {
		return exp != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// otlpMetricsConfigured says whether metrics should also be pushed.
// "prometheus" is what MetricsHandler already serves: autoexport would
// open a second listener on port 9464 for the same numbers. The generic
// OTEL_EXPORTER_OTLP_ENDPOINT alone does not push metrics, since it is set
// for traces and Prometheus already scrapes.
func otlpMetricsConfigured(getenv func(string) string) bool {
	if sdkDisabled(getenv) {
		return false
	}
	if exp := strings.TrimSpace(getenv("OTEL_METRICS_EXPORTER")); exp != "" {
		return exp != "none" && exp != "prometheus"
	}
	return getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != ""
}

// newPropagator returns OTEL_PROPAGATORS's propagators when it is set, else
// B3 and W3C trace context with baggage, so that a trace Envoy propagates in
// either format continues here.
func newPropagator(getenv func(string) string, log *slog.Logger) propagation.TextMapPropagator {
	// Each extractor overwrites the span context of the one before when its
	// header is present, so W3C trace context, last, wins when Envoy sends
	// both formats.
	def := propagation.NewCompositeTextMapPropagator(
		b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader|b3.B3SingleHeader)),
		propagation.TraceContext{},
		propagation.Baggage{},
	)
	env := getenv("OTEL_PROPAGATORS")
	if strings.TrimSpace(env) == "" {
		return def
	}
	var names []string
	for n := range strings.SplitSeq(env, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	// Called directly rather than through autoprop.NewTextMapPropagator,
	// which reports unknown names to the global error handler.
	prop, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		if prop == nil {
			log.Warn("telemetry: OTEL_PROPAGATORS names no known propagator; using tracecontext, baggage and b3", "value", env, "err", err)
			return def
		}
		log.Warn("telemetry: OTEL_PROPAGATORS: unknown propagators ignored", "value", env, "err", err)
	}
	return prop
}

// promErrorLog hands promhttp's errors (a collector failing during a
// scrape) to the operational log.
type promErrorLog struct{ log *slog.Logger }

func (l promErrorLog) Println(v ...any) {
	l.log.Error("telemetry: metrics scrape", "err", fmt.Sprint(v...))
}
