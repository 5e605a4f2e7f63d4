package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/botauthz/botauthz/buildinfo"
)

// clearOTelEnv blanks every OTEL_* variable for the test, so that the
// machine's environment cannot turn exporters on. Setup treats empty as
// unset.
func clearOTelEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
		}
	}
}

// newTestProvider sets up a Provider from an empty OTEL_* environment and
// shuts it down at the end of the test.
func newTestProvider(t *testing.T) *Provider {
	t.Helper()
	clearOTelEnv(t)
	p, err := Setup(context.Background(), Options{Build: buildinfo.Info{Version: "test", Revision: "abc", GoVersion: "go1.26.0"}})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return p
}

// exposition is one scrape of a MetricsHandler.
type exposition struct {
	text     string
	families map[string]*dto.MetricFamily
}

// scrape fetches h in the Prometheus text format, as a Prometheus server
// that does not negotiate OpenMetrics would.
func scrape(t testing.TB, h http.Handler) exposition {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return exposition{text: string(body), families: fams}
}

// sampleNames returns the names of the samples the exposition carries: a
// histogram family F contributes F_bucket, F_sum and F_count, as a
// PromQL expression must name them.
func (e exposition) sampleNames() map[string]bool {
	names := map[string]bool{}
	for name, f := range e.families {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	return names
}

// labelKey renders a metric's labels as "a=x,b=y", sorted, leaving out
// the labels named in skip.
func labelKey(m *dto.Metric, skip ...string) string {
	var parts []string
	for _, l := range m.GetLabel() {
		if slices.Contains(skip, l.GetName()) {
			continue
		}
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// values returns a counter's or gauge's value by labelKey; nil when the
// family is absent.
func (e exposition) values(name string) map[string]float64 {
	f, ok := e.families[name]
	if !ok {
		return nil
	}
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		switch {
		case m.GetCounter() != nil:
			out[labelKey(m)] = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			out[labelKey(m)] = m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			out[labelKey(m)] = m.GetUntyped().GetValue()
		}
	}
	return out
}

// histogram is one histogram series: its count, sum, and cumulative
// bucket counts by upper bound.
type histogram struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

// histograms returns a histogram family's series by labelKey.
func (e exposition) histograms(name string) map[string]histogram {
	f, ok := e.families[name]
	if !ok {
		return nil
	}
	out := map[string]histogram{}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		hs := histogram{count: h.GetSampleCount(), sum: h.GetSampleSum(), buckets: map[float64]uint64{}}
		for _, b := range h.GetBucket() {
			hs.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		out[labelKey(m)] = hs
	}
	return out
}

// mapDiff describes how got differs from want, or "" when they match.
func mapDiff[V comparable](got, want map[string]V) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "\n  missing {%s}: want %v", k, w)
		case !wok:
			fmt.Fprintf(&b, "\n  unexpected {%s} = %v", k, g)
		case g != w:
			fmt.Fprintf(&b, "\n  {%s} = %v, want %v", k, g, w)
		}
	}
	return b.String()
}

// nonZero returns the series of values whose value is not 0: those that
// counted, leaving out the ones exported at zero from the start.
func nonZero(values map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range values {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
