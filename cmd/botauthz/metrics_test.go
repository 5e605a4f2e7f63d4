package main

import (
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/telemetry"
)

// metricValues scrapes the admin port's /metrics and returns every sample's
// value by name{labels}, labels sorted as seriesKey renders them.
func metricValues(t *testing.T, a *app) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.adminLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[seriesKey(telemetry.Series{Name: name, Labels: labels})] = v
		}
	}
	return out
}

// seriesKey renders a series as name{a=x,b=y}, labels sorted.
func seriesKey(s telemetry.Series) string {
	parts := make([]string, 0, len(s.Labels))
	for k, v := range s.Labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// A fresh botauthz, before any Check, exports at zero every series whose
// labels it knows (its policy's routes included), the counter store's
// failures, and its state gauges one series per state; a policy reload
// that adds a route starts that route's series too.
func TestFreshServerExportsSeriesAtZero(t *testing.T) {
	redis := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) { t.Helper(); writeAside(t, path, s) }
	write("version: v1\nroutes: {login: {mode: enforce}, api: {mode: shadow}}\n")
	a, _ := startApp(t, "-config", path, "-redis", redis.URL())
	modelVersion := a.authz.Model().Version()

	got := metricValues(t, a)
	table := a.recorder.StartSeries(a.authz.Policy(), modelVersion)
	if len(table) == 0 {
		t.Fatal("StartSeries is empty")
	}
	for _, s := range table {
		if v, ok := got[seriesKey(s)]; !ok || v != 0 {
			t.Errorf("%s = %v (exported: %v), want 0 before any Check", seriesKey(s), v, ok)
		}
	}
	routes := map[string]bool{}
	for _, s := range table {
		if s.Name == "botauthz_degraded_decisions_total" {
			routes[s.Labels["route"]] = true
		}
	}
	for _, route := range []string{"login", "api", "default"} {
		if !routes[route] {
			t.Errorf("StartSeries has no degraded decisions series for route %s", route)
		}
	}
	want := map[string]float64{
		"botauthz_store_calls_total{}":                                             0,
		"botauthz_store_degraded_total{}":                                          0,
		"botauthz_store_failures_total{reason=budget}":                             0,
		"botauthz_store_failures_total{reason=breaker}":                            0,
		"botauthz_store_failures_total{reason=overloaded}":                         0,
		"botauthz_store_breaker_state{state=closed}":                               1,
		"botauthz_store_breaker_state{state=half_open}":                            0,
		"botauthz_store_breaker_state{state=open}":                                 0,
		"botauthz_kill_switch{state=none}":                                         1,
		"botauthz_kill_switch{state=shadow}":                                       0,
		"botauthz_kill_switch{state=bypass}":                                       0,
		"botauthz_policy_last_reload_successful{}":                                 1,
		"botauthz_policy_reloads_total{result=error}":                              0,
		"botauthz_policy_reloads_total{result=ok}":                                 0,
		"botauthz_history_writes_total{result=error}":                              0,
		"botauthz_degraded_decisions_total{route=login}":                           0,
		"botauthz_challenges_results_total{outcome=passed,provider=pow,route=api}": 0,
	}
	for key, w := range want {
		if v, ok := got[key]; !ok || v != w {
			t.Errorf("%s = %v (exported: %v), want %v", key, v, ok, w)
		}
	}

	// A reload that adds a route starts its series.
	write("version: v2\nroutes: {login: {mode: enforce}, api: {mode: shadow}, search: {mode: enforce}}\n")
	poll(t, "the new route's series", func() bool {
		_, ok := metricValues(t, a)["botauthz_degraded_decisions_total{route=search}"]
		return ok
	})
	got = metricValues(t, a)
	for _, key := range []string{
		"botauthz_degraded_decisions_total{route=search}",
		"botauthz_challenges_results_total{outcome=passed,provider=pow,route=search}",
		"botauthz_decisions_total{action=allow,enforced_action=allow,mode=enforce,model=" + modelVersion + ",route=search}",
	} {
		if v, ok := got[key]; !ok || v != 0 {
			t.Errorf("after the reload, %s = %v (exported: %v), want 0", key, v, ok)
		}
	}
	if v := got["botauthz_policy_reloads_total{result=ok}"]; v != 1 {
		t.Errorf("policy reloads ok = %v, want 1", v)
	}

	// A refused file: counted, and the last reload reads failed.
	write("version: v3\nroutes: {login: {mode: enforcing}}\n")
	poll(t, "the refused reload in /metrics", func() bool {
		return metricValues(t, a)["botauthz_policy_reloads_total{result=error}"] == 1
	})
	if v := metricValues(t, a)["botauthz_policy_last_reload_successful{}"]; v != 0 {
		t.Errorf("botauthz_policy_last_reload_successful = %v after a refused file, want 0", v)
	}
	if !slices.Contains(a.authz.Policy().RouteNames(), "search") {
		t.Errorf("routes %v after a refused file, want v2's still in force", a.authz.Policy().RouteNames())
	}
}
