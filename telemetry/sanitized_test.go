package telemetry

import "testing"

// TestRecorderCountsSanitizedChecks expects the series from the start, at
// zero, and one more per sanitized Check.
func TestRecorderCountsSanitizedChecks(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	const name = "botauthz_checks_sanitized_total"
	if diff := mapDiff(scrape(t, p.MetricsHandler()).values(name), map[string]float64{"": 0}); diff != "" {
		t.Errorf("before any Check, %s:%s", name, diff)
	}
	r.CheckSanitized()
	r.CheckSanitized()
	if diff := mapDiff(scrape(t, p.MetricsHandler()).values(name), map[string]float64{"": 2}); diff != "" {
		t.Errorf("after two, %s:%s", name, diff)
	}
}
