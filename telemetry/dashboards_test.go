package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
)

const (
	dashboardFile = "grafana/botauthz.json"
	alertsFile    = "prometheus/alerts.yaml"
	scrapeFile    = "prometheus/scrape.yaml"
	k8sFile       = "../k8s/botauthz.yaml"
)

// metricName matches the botauthz metric names in a PromQL expression or
// in prose; a name written as botauthz_x_{bucket,sum,count} matches as
// "botauthz_x_".
var metricName = regexp.MustCompile(`\bbotauthz_[a-zA-Z0-9_]+`)

// liveExposition records a known mix of decisions through a real Recorder
// whose observed sources are real (a Guard around a Memory store, a
// started rollout Controller) and scrapes the result.
func liveExposition(t *testing.T) exposition {
	t.Helper()
	r, p := newTestRecorder(t, RecorderOptions{DecisionLog: slog.New(slog.NewJSONHandler(io.Discard, nil)), AllowSample: 1})
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	guard := ratelimit.NewGuard(mem, ratelimit.GuardOptions{Budget: time.Hour})
	ctrl := startController(t)
	pol := testPolicy(t)
	crawlers := liveVerifier(t)
	for _, err := range []error{
		r.ObserveGuard(guard),
		r.ObserveMemory(mem),
		r.ObserveRollout(ctrl.View, func() *policy.Policy { return pol }),
		r.ObserveCrawlers(crawlers),
		r.ObserveReputation(liveReputation(t)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	obs := make([]ratelimit.Observation, 2)
	counters := []ratelimit.Counter{{Key: "ip:203.0.113.77", Window: time.Minute}, {Key: "subnet:203.0.113.0/24", Window: time.Minute}}
	if err := guard.Hit(ctx, time.Now(), counters, obs); err != nil {
		t.Fatal(err)
	}
	allow, challenge, deny, limit := policy.ActionAllow, policy.ActionChallenge, policy.ActionDeny, policy.ActionRateLimit
	for _, d := range []*extauthz.Decision{
		{Route: "login", Mode: policy.ModeEnforce, Score: 92, Action: allow, Enforced: allow},
		{Route: "login", Mode: policy.ModeEnforce, Score: 12, Action: challenge, Enforced: challenge},
		{Route: "login", Mode: policy.ModeEnforce, Score: 1, Action: deny, Enforced: deny},
		{Route: "login", Mode: policy.ModeEnforce, Score: 70, Action: limit, Enforced: limit},
		{Route: "default", Mode: policy.ModeShadow, Score: 1, Action: deny, Enforced: allow},
		{Route: "api", Mode: policy.ModeShadow, Score: 55, Action: allow, Enforced: allow, Degraded: true},
		{Route: "login", Mode: policy.ModeEnforce, Score: 84, Action: allow, Enforced: allow, Clearance: clearance.Valid},
	} {
		r.ObserveCheck(ctx, d, benchFacts(), 120*time.Microsecond)
	}
	r.ObserveCheck(ctx, crawlerDecision(t, crawlers, "66.249.66.1", googlebotHeaders), benchFacts(), 120*time.Microsecond)
	r.ReputationReloaded("cloud", nil)
	r.ChallengeIssued("login", "pow")
	r.ChallengeResult("login", "pow", "passed")
	r.ChallengeEvidence("login", "automated", false, []string{"evidence.webdriver"})
	r.PolicyReloaded(true, nil)
	if _, err := ctrl.Apply(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "test", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	return scrape(t, p.MetricsHandler())
}

// dashboardQueries returns every PromQL text of the dashboard: panel and
// row targets' expr and the template variables' queries.
func dashboardQueries(t *testing.T, dash map[string]any) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(dash)
	return out
}

func readDashboard(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return dash
}

// alertRules is the part of a Prometheus rule file the tests read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readAlerts(t *testing.T) alertRules {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return rules
}

func TestDashboardsAndAlertsUseExposedMetrics(t *testing.T) {
	exposed := liveExposition(t).sampleNames()

	used := map[string][]string{} // name → where
	for _, q := range dashboardQueries(t, readDashboard(t)) {
		for _, name := range metricName.FindAllString(q, -1) {
			used[name] = append(used[name], dashboardFile)
		}
	}
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			for _, name := range metricName.FindAllString(r.Expr, -1) {
				used[name] = append(used[name], alertsFile+" "+r.Alert)
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("found only %d metric names in the dashboard and alerts: %v", len(used), used)
	}
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !exposed[name] {
			t.Errorf("%s (used in %s) is not in the /metrics exposition", name, strings.Join(slices.Compact(used[name]), ", "))
		}
	}
}

func TestDocumentedMetricNamesMatchExposition(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, name := range metricName.FindAllString(string(doc), -1) {
		documented[strings.TrimSuffix(name, "_")] = true
	}
	e := liveExposition(t)
	for name := range documented {
		if _, ok := e.families[name]; !ok {
			t.Errorf("doc.go documents %s, which /metrics does not expose", name)
		}
	}
	for name := range e.families {
		if strings.HasPrefix(name, "botauthz_") && !documented[name] {
			t.Errorf("/metrics exposes %s, which doc.go does not document", name)
		}
	}
}

// balanced reports whether the brackets of a PromQL expression pair up,
// a cheap check against a broken edit.
func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for _, c := range expr {
		switch {
		case c == '"':
			inString = !inString
		case inString:
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return errors.New("unbalanced " + string(c))
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || inString {
		return errors.New("unclosed bracket or string")
	}
	return nil
}

func TestDashboardStructure(t *testing.T) {
	dash := readDashboard(t)
	if v, _ := dash["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v, want 36 or later", dash["schemaVersion"])
	}
	if dash["uid"] != "botauthz" || dash["title"] == "" {
		t.Errorf("uid %v title %v", dash["uid"], dash["title"])
	}

	vars := map[string]map[string]any{}
	templating, _ := dash["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, v := range list {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		vars[name] = m
	}
	t.Run("datasource variable", func(t *testing.T) {
		v := vars["datasource"]
		if v["type"] != "datasource" || v["query"] != "prometheus" {
			t.Errorf("got %v, want a prometheus datasource variable", v)
		}
	})
	t.Run("route variable", func(t *testing.T) {
		v := vars["route"]
		q, _ := v["query"].(map[string]any)
		const want = "label_values(botauthz_decisions_total, route)"
		if v["type"] != "query" || q["query"] != want || v["definition"] != want {
			t.Errorf("got %v, want a query variable on %s", v, want)
		}
	})

	panels, _ := dash["panels"].([]any)
	ids := map[float64]bool{}
	exprsByTitle := map[string][]string{}
	for _, p := range panels {
		panel, _ := p.(map[string]any)
		title, _ := panel["title"].(string)
		if id, _ := panel["id"].(float64); ids[id] {
			t.Errorf("panel %q: duplicate id %v", title, id)
		} else {
			ids[id] = true
		}
		grid, _ := panel["gridPos"].(map[string]any)
		if w, _ := grid["w"].(float64); w <= 0 {
			t.Errorf("panel %q: no gridPos width", title)
		}
		if panel["type"] == "row" {
			continue
		}
		if ds, _ := panel["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
			t.Errorf("panel %q: datasource %v, want uid ${datasource}", title, panel["datasource"])
		}
		targets, _ := panel["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no targets", title)
		}
		for _, tg := range targets {
			target, _ := tg.(map[string]any)
			expr, _ := target["expr"].(string)
			if ds, _ := target["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
				t.Errorf("panel %q: target datasource %v, want uid ${datasource}", title, target["datasource"])
			}
			if err := balanced(expr); err != nil {
				t.Errorf("panel %q: %v in %s", title, err, expr)
			}
			exprsByTitle[title] = append(exprsByTitle[title], expr)
		}
	}

	// The panels an operator relies on, and what each must query.
	want := []struct {
		title    string
		contains []string
	}{
		{"Decision rate by action and mode", []string{"botauthz_decisions_total", "action, mode", `route=~"$route"`}},
		{"Shadow: would have blocked", []string{`action!="allow"`, `enforced_action="allow"`}},
		{"Score distribution", []string{"botauthz_score_bucket"}},
		{"Check latency p50 / p99", []string{"histogram_quantile(0.5,", "histogram_quantile(0.99,", "botauthz_check_duration_seconds_bucket"}},
		{"Counter store failures", []string{"botauthz_store_failures_total", "reason"}},
		{"Degraded share", []string{"botauthz_degraded_decisions_total", "/ sum(rate(botauthz_decisions_total"}},
		{"Store breaker state", []string{"botauthz_store_breaker_state"}},
		{"Kill switch", []string{"botauthz_kill_switch"}},
		{"Route modes", []string{"botauthz_route_mode", "botauthz_route_canary_percent"}},
	}
	for _, w := range want {
		t.Run(w.title, func(t *testing.T) {
			exprs, ok := exprsByTitle[w.title]
			if !ok {
				t.Fatalf("no panel titled %q", w.title)
			}
			all := strings.Join(exprs, "\n")
			for _, s := range w.contains {
				if !strings.Contains(all, s) {
					t.Errorf("queries lack %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestAlertRules(t *testing.T) {
	rules := readAlerts(t)
	type rule struct {
		expr, forDur, severity string
		annotations            map[string]string
	}
	got := map[string]rule{}
	for _, g := range rules.Groups {
		if g.Name == "" {
			t.Error("a rule group has no name")
		}
		for _, r := range g.Rules {
			got[r.Alert] = rule{r.Expr, r.For, r.Labels["severity"], r.Annotations}
		}
	}
	want := []struct {
		alert, forDur, severity string
		contains                []string
	}{
		{"BotauthzKillSwitchOn", "10m", "page", []string{"botauthz_kill_switch", "> 0"}},
		{"BotauthzDegradedShareHigh", "10m", "warning", []string{"botauthz_degraded_decisions_total", "botauthz_decisions_total", "> 0.05"}},
		{"BotauthzCheckLatencyHigh", "10m", "page", []string{"histogram_quantile(0.99", "botauthz_check_duration_seconds_bucket", "> 0.05"}},
		{"BotauthzStoreBreakerOpen", "5m", "warning", []string{"botauthz_store_breaker_state"}},
		{"BotauthzCrawlerRangesRefreshFailing", "24h", "warning", []string{"botauthz_crawler_ranges_refresh_failures_total", "> 0"}},
	}
	if len(got) != len(want) {
		t.Errorf("got %d alerts, want %d", len(got), len(want))
	}
	for _, w := range want {
		t.Run(w.alert, func(t *testing.T) {
			r, ok := got[w.alert]
			if !ok {
				t.Fatal("missing")
			}
			if r.forDur != w.forDur {
				t.Errorf("for: %q, want %q", r.forDur, w.forDur)
			}
			if _, err := time.ParseDuration(r.forDur); err != nil {
				t.Errorf("for: %v", err)
			}
			if r.severity != w.severity {
				t.Errorf("severity %q, want %q", r.severity, w.severity)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.annotations[a]) == "" {
					t.Errorf("annotation %s missing", a)
				}
			}
			if err := balanced(r.expr); err != nil {
				t.Errorf("expr: %v: %s", err, r.expr)
			}
			for _, s := range w.contains {
				if !strings.Contains(r.expr, s) {
					t.Errorf("expr lacks %q: %s", s, r.expr)
				}
			}
		})
	}
}

// adminPortName returns the name of the botauthz container port the k8s
// manifest calls admin, so the scrape config cannot drift from it.
func adminPortName(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(k8sFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name  string `yaml:"name"`
							Ports []struct {
								Name          string `yaml:"name"`
								ContainerPort int    `yaml:"containerPort"`
							} `yaml:"ports"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", k8sFile, err)
		}
		if doc.Kind != "Deployment" {
			continue
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == "admin" {
					return p.Name
				}
			}
		}
	}
	t.Fatalf("%s: no container port named admin", k8sFile)
	return ""
}

func TestScrapeConfig(t *testing.T) {
	data, err := os.ReadFile(scrapeFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName             string `yaml:"job_name"`
			MetricsPath         string `yaml:"metrics_path"`
			KubernetesSDConfigs []struct {
				Role string `yaml:"role"`
			} `yaml:"kubernetes_sd_configs"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				Regex        string   `yaml:"regex"`
				Action       string   `yaml:"action"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", scrapeFile, err)
	}
	port := adminPortName(t)
	var k8s, static bool
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q, want /metrics", sc.JobName, sc.MetricsPath)
		}
		if len(sc.KubernetesSDConfigs) > 0 {
			if sc.KubernetesSDConfigs[0].Role != "pod" {
				t.Errorf("job %s: role %q, want pod", sc.JobName, sc.KubernetesSDConfigs[0].Role)
			}
			for _, rc := range sc.RelabelConfigs {
				if rc.Action == "keep" && slices.Equal(rc.SourceLabels, []string{"__meta_kubernetes_pod_container_port_name"}) && rc.Regex == port {
					k8s = true
				}
			}
		}
		for _, st := range sc.StaticConfigs {
			if len(st.Targets) > 0 {
				static = true
			}
		}
	}
	if !k8s {
		t.Errorf("no Kubernetes pod job keeping container port %q", port)
	}
	if !static {
		t.Error("no static example job")
	}
}
