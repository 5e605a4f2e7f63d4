package telemetry

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/botauthz/botauthz/challenge"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

// TestPromtoolRules runs promtool over the rule files: check rules (syntax,
// PromQL, duplicate names) and test rules (alerts_test.yaml: every alert
// firing and not, every recording rule's value). Debian's prometheus
// package ships promtool; make deps installs it.
func TestPromtoolRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("BOTAUTHZ_TEST_REQUIRE") == "1" {
			t.Fatalf("promtool not found (BOTAUTHZ_TEST_REQUIRE=1 requires it): %v", err)
		}
		t.Skip("promtool not found on PATH: the alert and recording rules are not tested; apt-get install prometheus to run this test")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml", "recording.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = "prometheus"
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// The unit tests cover every rule: each alert has an alert_rule_test and
// each recording rule a promql_expr_test of its own name.
func TestPromtoolTestsCoverEveryRule(t *testing.T) {
	data, err := os.ReadFile("prometheus/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
			PromQLExprTest []struct {
				Expr string `yaml:"expr"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tests.RuleFiles, "alerts.yaml") || !slices.Contains(tests.RuleFiles, "recording.yaml") {
		t.Errorf("rule_files %v, want alerts.yaml and recording.yaml", tests.RuleFiles)
	}
	firing, quiet, exprs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, tt := range tests.Tests {
		for _, a := range tt.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
		for _, e := range tt.PromQLExprTest {
			exprs[strings.TrimSpace(e.Expr)] = true
		}
	}
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			if !firing[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: tested firing %v, not firing %v; want both", r.Alert, firing[r.Alert], quiet[r.Alert])
			}
		}
	}
	for name := range recordedNames(t) {
		covered := false
		for e := range exprs {
			covered = covered || e == name || strings.HasPrefix(e, name+"{")
		}
		if !covered {
			t.Errorf("recording rule %s has no promql_expr_test of its own", name)
		}
	}
}

// rateOf matches a counter that a rule takes rate() or increase() of.
var rateOf = regexp.MustCompile(`(?:rate|increase)\((botauthz_[a-zA-Z0-9_]+_total)\b`)

// startPolicy has a route of each kind of challenge provider.
func startPolicy(t testing.TB, extraRoute string) *policy.Policy {
	t.Helper()
	src := `
version: v1
challenge:
  providers:
    turnstile: {site_key: 1x00000000000000000000AA, secret_env: BOTAUTHZ_TURNSTILE_SECRET}
routes:
  login: {mode: enforce}
  signup: {mode: shadow, challenge: {provider: turnstile}}
`
	if extraRoute != "" {
		src += "  " + extraRoute + ": {mode: canary, canary_percent: 5}\n"
	}
	p, err := policy.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// seriesKey renders a series as name{a=x,b=y}, labels sorted.
func seriesKey(s Series) string {
	parts := make([]string, 0, len(s.Labels))
	for k, v := range s.Labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// A fresh Recorder exports every series of its StartSeries table at zero
// once the policy is applied, before any Check: the table the code starts
// from is the one checked, and a hand list below keeps the table itself
// from losing the series the alerts need.
func TestStartSeriesAreExportedAtZero(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	pol := startPolicy(t, "")
	const model = "lr-test"
	r.PolicyApplied(pol, model)
	e := scrape(t, p.MetricsHandler())

	table := r.StartSeries(pol, model)
	keys := map[string]bool{}
	for _, s := range table {
		keys[seriesKey(s)] = true
		v, ok := e.values(s.Name)[labelKey(labelsMetric(s.Labels))]
		if !ok {
			t.Errorf("%s is not exported", seriesKey(s))
		} else if v != 0 {
			t.Errorf("%s = %v before any event, want 0", seriesKey(s), v)
		}
	}
	// What the alerts and the dashboard rely on, by hand.
	must := []Series{
		{"botauthz_policy_reloads_total", map[string]string{"result": "ok"}},
		{"botauthz_policy_reloads_total", map[string]string{"result": "error"}},
		{"botauthz_degraded_decisions_total", map[string]string{"route": "default"}},
		{"botauthz_degraded_decisions_total", map[string]string{"route": "login"}},
		{"botauthz_degraded_decisions_total", map[string]string{"route": "signup"}},
		{"botauthz_decisions_total", map[string]string{"route": "login", "action": "allow", "enforced_action": "allow", "mode": "enforce", "model": model}},
		{"botauthz_decisions_total", map[string]string{"route": "signup", "action": "allow", "enforced_action": "allow", "mode": "shadow", "model": model}},
		{"botauthz_challenges_issued_total", map[string]string{"route": "login", "provider": "pow"}},
		{"botauthz_challenges_results_total", map[string]string{"route": "login", "provider": "pow", "outcome": "passed"}},
		{"botauthz_challenges_results_total", map[string]string{"route": "login", "provider": "pow", "outcome": "wrong_answer"}},
		{"botauthz_challenges_results_total", map[string]string{"route": "signup", "provider": "turnstile", "outcome": "passed"}},
		{"botauthz_challenges_results_total", map[string]string{"route": "signup", "provider": "turnstile", "outcome": "provider_rejected"}},
		{"botauthz_clearance_total", map[string]string{"status": "valid"}},
		{"botauthz_clearance_total", map[string]string{"status": "bad_signature"}},
		{"botauthz_history_writes_total", map[string]string{"result": "error"}},
		{"botauthz_checks_sanitized_total", map[string]string{}},
		{"botauthz_crawler_claims_total", map[string]string{"verdict": "impersonation", "category": "search"}},
		{"botauthz_challenge_evidence_total", map[string]string{"reason": "none"}},
	}
	for _, s := range must {
		if !keys[seriesKey(s)] {
			t.Errorf("StartSeries lacks %s", seriesKey(s))
		}
	}
	// A CAPTCHA route has no proof-of-work outcomes, and no route has
	// bad_token, which only an untrusted token (route unknown) gets.
	for _, s := range table {
		if s.Name != "botauthz_challenges_results_total" {
			continue
		}
		if s.Labels["outcome"] == challenge.OutcomeBadToken ||
			s.Labels["provider"] == "turnstile" && s.Labels["outcome"] == challenge.OutcomeWrongAnswer {
			t.Errorf("StartSeries has %s, which no answer reports", seriesKey(s))
		}
	}
}

// labelsMetric makes a dto.Metric of labels, for labelKey.
func labelsMetric(labels map[string]string) *dto.Metric {
	m := &dto.Metric{}
	for k, v := range labels {
		m.Label = append(m.Label, &dto.LabelPair{Name: &k, Value: &v})
	}
	return m
}

// A route that a reload adds has its series at once; a route's counts
// survive the reload.
func TestPolicyAppliedStartsNewRoutes(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	r.PolicyApplied(startPolicy(t, ""), "lr-test")
	r.ChallengeResult("login", "pow", "passed")

	before := scrape(t, p.MetricsHandler()).values("botauthz_degraded_decisions_total")
	if _, ok := before["route=search"]; ok {
		t.Fatal("route search exported before the policy naming it")
	}
	r.PolicyApplied(startPolicy(t, "search"), "lr-test")
	e := scrape(t, p.MetricsHandler())
	if v, ok := e.values("botauthz_degraded_decisions_total")["route=search"]; !ok || v != 0 {
		t.Errorf("degraded decisions of the new route search: %v (exported %v), want 0", v, ok)
	}
	if v, ok := e.values("botauthz_decisions_total")["action=allow,enforced_action=allow,mode=canary,model=lr-test,route=search"]; !ok || v != 0 {
		t.Errorf("decisions of the new route search: %v (exported %v), want 0", v, ok)
	}
	if v := e.values("botauthz_challenges_results_total")["outcome=passed,provider=pow,route=login"]; v != 1 {
		t.Errorf("login's passed challenges after the reload: %v, want the 1 counted before", v)
	}
}

// Every counter that a rule takes rate() or increase() of exists in a
// fresh server's exposition, before its first event: one that appeared
// with its first event would start at 1, and increase() would miss it.
func TestRuleCountersExistFromStart(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	g := ratelimit.NewGuard(newFakeStore(t), ratelimit.GuardOptions{})
	for _, err := range []error{
		r.ObserveGuard(g),
		r.ObserveCrawlers(liveVerifier(t)),
		r.ObserveReputation(liveReputation(t)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	r.PolicyApplied(startPolicy(t, ""), "lr-test")
	e := scrape(t, p.MetricsHandler())

	used := map[string]string{}
	for _, file := range []string{alertsFile, recordingFile} {
		for _, g := range readRules(t, file).Groups {
			for _, rule := range g.Rules {
				for _, m := range rateOf.FindAllStringSubmatch(rule.Expr, -1) {
					used[m[1]] = file + " " + rule.Alert + rule.Record
				}
			}
		}
	}
	if len(used) < 4 {
		t.Fatalf("found only %d counters under rate() or increase(): %v", len(used), used)
	}
	for name, where := range used {
		f, ok := e.families[name]
		if !ok || len(f.GetMetric()) == 0 {
			t.Errorf("%s (rated in %s) is not in a fresh server's exposition", name, where)
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s{%s} = %v before any event, want 0", name, labelKey(m), v)
			}
		}
	}
}

func TestLastPolicyReloadSuccessful(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	value := func() map[string]float64 {
		return scrape(t, p.MetricsHandler()).values("botauthz_policy_last_reload_successful")
	}
	steps := []struct {
		name   string
		reload func()
		want   float64
	}{
		{"at start", func() {}, 1},
		{"a refused file", func() { r.PolicyReloaded(false, context.Canceled) }, 0},
		{"refused again", func() { r.PolicyReloaded(false, context.Canceled) }, 0},
		{"a good file", func() { r.PolicyReloaded(true, nil) }, 1},
	}
	for _, s := range steps {
		s.reload()
		if diff := mapDiff(value(), map[string]float64{"": s.want}); diff != "" {
			t.Errorf("%s:%s", s.name, diff)
		}
	}
	if diff := mapDiff(scrape(t, p.MetricsHandler()).values("botauthz_policy_reloads_total"),
		map[string]float64{"result=ok": 1, "result=error": 2}); diff != "" {
		t.Errorf("reloads:%s", diff)
	}
}

// PolicyApplied works at policy load, not per Check: once a route is
// applied, recording its Checks allocates nothing more.
func TestPolicyAppliedKeepsCheckAllocationFree(t *testing.T) {
	r, _ := newTestRecorder(t, RecorderOptions{})
	pol := startPolicy(t, "")
	r.PolicyApplied(pol, "lr-test")
	d := benchDecision("login", "lr-test")
	f := benchFacts()
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { r.ObserveCheck(ctx, d, f, 80*time.Microsecond) }); n != 0 {
		t.Errorf("ObserveCheck allocates %v times per call, want 0", n)
	}
}
