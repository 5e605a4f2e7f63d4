package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/redis/go-redis/v9"
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
	recordingFile = "prometheus/recording.yaml"
	scrapeFile    = "prometheus/scrape.yaml"
	k8sFile       = "../k8s/botauthz.yaml"
)

// metricName matches the botauthz metric names in a PromQL expression or
// in prose, recorded ones (level:botauthz_x:operations) whole; a name
// written as botauthz_x_{bucket,sum,count} matches as "botauthz_x_".
var metricName = regexp.MustCompile(`[a-zA-Z0-9_:]*\bbotauthz_[a-zA-Z0-9_:]+`)

// liveExposition records a known mix of decisions through a real Recorder
// whose observed sources are real (a Guard around a Memory store, a
// Redis store, a started rollout Controller) and scrapes the result.
func liveExposition(t *testing.T) exposition {
	t.Helper()
	r, p := newTestRecorder(t, RecorderOptions{DecisionLog: slog.New(slog.NewJSONHandler(io.Discard, nil)), AllowSample: 1})
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	guard := ratelimit.NewGuard(mem, ratelimit.GuardOptions{Budget: time.Hour})
	ctrl := startController(t)
	pol := testPolicy(t)
	crawlers := liveVerifier(t)
	// A Redis store only reports its housekeeping failures: never dialled,
	// it has none.
	rs := ratelimit.NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}))
	t.Cleanup(func() { _ = rs.Close() })
	for _, err := range []error{
		r.ObserveGuard(guard),
		r.ObserveMemory(mem),
		r.ObserveRedis(rs),
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
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T, file string) alertRules {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return rules
}

func readAlerts(t *testing.T) alertRules { return readRules(t, alertsFile) }

// recordedNames returns the names recording.yaml's rules define.
func recordedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, g := range readRules(t, recordingFile).Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				t.Errorf("%s: group %s has a rule that records nothing: %s", recordingFile, g.Name, r.Expr)
			}
			names[r.Record] = true
		}
	}
	return names
}

func TestDashboardsAndAlertsUseExposedMetrics(t *testing.T) {
	exposed := liveExposition(t).sampleNames()
	// A recorded name counts as known once recording.yaml defines it; the
	// names its own expressions use are checked like the rest.
	recorded := recordedNames(t)
	for name := range recorded {
		exposed[name] = true
	}

	used := map[string][]string{} // name → where
	for _, q := range dashboardQueries(t, readDashboard(t)) {
		for _, name := range metricName.FindAllString(q, -1) {
			used[name] = append(used[name], dashboardFile)
		}
	}
	for _, file := range []string{alertsFile, recordingFile} {
		for _, g := range readRules(t, file).Groups {
			for _, r := range g.Rules {
				for _, name := range metricName.FindAllString(r.Expr, -1) {
					used[name] = append(used[name], file+" "+r.Alert+r.Record)
				}
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
			t.Errorf("%s (used in %s) is neither in the /metrics exposition nor recorded by %s", name, strings.Join(slices.Compact(used[name]), ", "), recordingFile)
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
		if !strings.Contains(name, ":") { // recorded, not exposed
			documented[strings.TrimSuffix(name, "_")] = true
		}
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
		{"Decision rate by action and mode", []string{"route_action_enforced_action_mode:botauthz_decisions:rate5m", "action, mode", `route=~"$route"`}},
		{"Shadow: would have blocked", []string{`action!="allow"`, `enforced_action="allow"`}},
		{"Score distribution", []string{"botauthz_score_bucket"}},
		{"Check latency p50 / p99", []string{"histogram_quantile(0.5,", "histogram_quantile(0.99,", "route_le:botauthz_check_duration_seconds_bucket:rate5m", "route:botauthz_check_duration_seconds:p99_5m"}},
		{"Counter store failures", []string{"botauthz_store_failures_total", "reason"}},
		{"Degraded share", []string{"route:botauthz_degraded_decisions:rate5m", "/ sum(route:botauthz_decisions:rate5m"}},
		// The state gauges are one series per state, 1 for the one in force.
		{"Store breaker state", []string{"botauthz_store_breaker_state == 1", "by (state)"}},
		{"Kill switch", []string{"botauthz_kill_switch == 1", "by (state)"}},
		{"Challenge pass ratio", []string{"route:botauthz_challenges_passed_per_answers:ratio_rate30m", "route:botauthz_challenges_passed_per_answers:ratio_rate1d"}},
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
			if r.Alert == "" {
				t.Errorf("group %s: a rule that is not an alert belongs in %s: %s", g.Name, recordingFile, r.Expr)
				continue
			}
			if _, dup := got[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			got[r.Alert] = rule{r.Expr, r.For, r.Labels["severity"], r.Annotations}
		}
	}
	want := []struct {
		alert, forDur, severity string
		contains                []string
	}{
		{"BotauthzDown", "5m", "page", []string{"up{job=~", "== 0", "absent(up{job=~"}},
		{"BotauthzPolicyReloadErrors", "5m", "warning", []string{"botauthz_policy_last_reload_successful", "== 0"}},
		{"BotauthzKillSwitchOn", "10m", "page", []string{"botauthz_kill_switch", `state!="none"`, "== 1"}},
		{"BotauthzDegradedShareHigh", "10m", "warning", []string{":botauthz_degraded_decisions_per_decisions:ratio_rate5m", "> 0.05"}},
		{"BotauthzCheckLatencyHigh", "10m", "page", []string{":botauthz_check_duration_seconds:p99_5m", "> 0.05"}},
		{"BotauthzStoreBreakerOpen", "5m", "warning", []string{"botauthz_store_breaker_state", `state!="closed"`, "== 1"}},
		{"BotauthzChallengePassRateCollapsed", "15m", "warning", []string{"ratio_rate30m", "ratio_rate1d", "answers:rate30m"}},
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
			if r.severity != w.severity {
				t.Errorf("severity %q, want %q", r.severity, w.severity)
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

// readmeFile is where the alerts' runbooks are.
const readmeFile = "../README.md"

// runbookBase is what every runbook_url starts with: README.md on main, as
// GitHub renders it.
const runbookBase = "https://github.com/botauthz/botauthz/blob/main/README.md#"

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case,
// spaces as hyphens, every other character but letters, digits, hyphens
// and underscores dropped. A repeated heading gets -1, -2, … appended.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// readmeAnchors returns the anchors of README.md's headings, and the
// headings under "## Runbooks" by name. Fenced code blocks hold no
// headings.
func readmeAnchors(t *testing.T) (anchors map[string]bool, runbooks map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors, runbooks = map[string]bool{}, map[string]bool{}
	seen := map[string]int{}
	inFence, inRunbooks := false, false
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		level := len(line) - len(strings.TrimLeft(line, "#"))
		if level == 0 || level > 6 || !strings.HasPrefix(line[level:], " ") {
			continue
		}
		heading := strings.TrimSpace(line[level:])
		a := githubAnchor(heading)
		if n := seen[a]; n > 0 {
			seen[a]++
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			seen[a] = 1
		}
		anchors[a] = true
		if level == 2 {
			inRunbooks = heading == "Runbooks"
		} else if level == 3 && inRunbooks {
			runbooks[heading] = true
		}
	}
	return anchors, runbooks
}

func TestGitHubAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"BotauthzKillSwitchOn":                             "botauthzkillswitchon",
		"Rollout: modes, canary, kill switch":              "rollout-modes-canary-kill-switch",
		"The score: certainty rules, then a trained model": "the-score-certainty-rules-then-a-trained-model",
		"History: what a client did lately":                "history-what-a-client-did-lately",
		"`botctl`":                                         "botctl",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}

// Every alert carries what the person paged needs: a summary, a
// description, a severity, and a runbook_url that lands on its own
// runbook in README.md.
func TestAlertsHaveRunbooks(t *testing.T) {
	anchors, runbooks := readmeAnchors(t)
	alerts := map[string]bool{}
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			t.Run(r.Alert, func(t *testing.T) {
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("annotation %s missing", a)
					}
				}
				for a := range r.Annotations {
					if !slices.Contains([]string{"summary", "description", "runbook_url"}, a) {
						t.Errorf("annotation %s: only summary, description and runbook_url are expected", a)
					}
				}
				if !slices.Contains([]string{"page", "warning"}, r.Labels["severity"]) {
					t.Errorf("severity %q, want page or warning", r.Labels["severity"])
				}
				url := r.Annotations["runbook_url"]
				anchor, ok := strings.CutPrefix(url, runbookBase)
				if !ok {
					t.Fatalf("runbook_url %q does not start with %s", url, runbookBase)
				}
				if !anchors[anchor] {
					t.Errorf("runbook_url %q: README.md has no heading with anchor #%s", url, anchor)
				}
				if !runbooks[r.Alert] || anchor != githubAnchor(r.Alert) {
					t.Errorf("runbook_url %q: want #%s, the alert's own section under README.md's ## Runbooks", url, githubAnchor(r.Alert))
				}
			})
		}
	}
	for name := range runbooks {
		if !alerts[name] {
			t.Errorf("README.md has a runbook for %s, which alerts.yaml does not define", name)
		}
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
		RuleFiles     []string `yaml:"rule_files"`
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

	// The rule files it loads are the ones beside it.
	for _, f := range []string{"alerts.yaml", "recording.yaml"} {
		if !slices.Contains(cfg.RuleFiles, f) {
			t.Errorf("rule_files %v lacks %s", cfg.RuleFiles, f)
		}
	}
	for _, f := range cfg.RuleFiles {
		if _, err := os.Stat(filepath.Join(filepath.Dir(scrapeFile), f)); err != nil {
			t.Errorf("rule_files: %v", err)
		}
	}

	// BotauthzDown watches the up series of every job here, by a regular
	// expression on the job label, fully anchored as PromQL anchors it.
	var down string
	for _, g := range readAlerts(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "BotauthzDown" {
				down = r.Expr
			}
		}
	}
	m := regexp.MustCompile(`up\{job=~"([^"]+)"\}`).FindAllStringSubmatch(down, -1)
	if len(m) == 0 || len(m) != strings.Count(down, "up{") {
		t.Fatalf("BotauthzDown must select every up series by a job regex: %s", down)
	}
	for _, sub := range m {
		jobs := regexp.MustCompile("^(?:" + sub[1] + ")$")
		for _, sc := range cfg.ScrapeConfigs {
			if !jobs.MatchString(sc.JobName) {
				t.Errorf("BotauthzDown's job=~%q does not match scrape job %q", sub[1], sc.JobName)
			}
		}
		if jobs.MatchString("node-exporter") {
			t.Errorf("BotauthzDown's job=~%q matches other jobs too", sub[1])
		}
	}
}
