package k8s

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/botauthz/botauthz/buildinfo"
	"github.com/botauthz/botauthz/k8s/internal/promrules"
)

// TestGeneratedRulesAreUpToDate: the chart's and the component's copies of
// telemetry/prometheus are what the generator makes of it now.
func TestGeneratedRulesAreUpToDate(t *testing.T) {
	files, err := promrules.Generate("..")
	if err != nil {
		t.Fatal(err)
	}
	stale, err := promrules.Stale("..", files)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("out of date: %s; run %s", strings.Join(stale, ", "), promrules.Command)
	}
}

// TestStaleRulesAreFound: Stale notices a changed copy and a copy whose
// source is gone.
func TestStaleRulesAreFound(t *testing.T) {
	repo := t.TempDir()
	src := filepath.Join(repo, promrules.SourceDir)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, path), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(promrules.SourceDir, "alerts.yaml"), "groups:\n- name: a\n  rules: []\n")
	write(filepath.Join(promrules.SourceDir, "alerts_test.yaml"), "rule_files: [alerts.yaml]\ntests: []\n")
	write(filepath.Join(promrules.SourceDir, "scrape.yaml"), "rule_files: [alerts.yaml]\nscrape_configs: []\n")
	files, err := promrules.Generate(repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("generated %v, want the copy of alerts.yaml and the PrometheusRule (neither scrape.yaml nor a promtool test)", files)
	}
	if err := promrules.Write(repo, files); err != nil {
		t.Fatal(err)
	}
	if stale, err := promrules.Stale(repo, files); err != nil || len(stale) != 0 {
		t.Fatalf("fresh output stale: %v %v", stale, err)
	}
	write(filepath.Join(promrules.SourceDir, "recording.yaml"), "groups:\n- name: r\n  rules: []\n")
	write(filepath.Join(promrules.SourceDir, "scrape.yaml"), "rule_files: [alerts.yaml, recording.yaml]\nscrape_configs: []\n")
	write(filepath.Join(promrules.ChartDir, "old.yaml"), "groups: []\n")
	files, err = promrules.Generate(repo)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := promrules.Stale(repo, files)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(promrules.ChartDir, "old.yaml"),
		filepath.Join(promrules.ChartDir, "recording.yaml"),
		promrules.ComponentFile,
	}
	if !reflect.DeepEqual(stale, want) {
		t.Errorf("stale %v, want %v", stale, want)
	}
}

// canonicalGroups reads every rule file of telemetry/prometheus.
func canonicalGroups(t *testing.T) []monitoringv1.RuleGroup {
	t.Helper()
	names, err := promrules.Sources("..")
	if err != nil {
		t.Fatal(err)
	}
	var all []monitoringv1.RuleGroup
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("..", promrules.SourceDir, n))
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(data, &f); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		all = append(all, f.Groups...)
	}
	return all
}

// checkRuleGroups: a PrometheusRule carries exactly the canonical groups.
func checkRuleGroups(t *testing.T, what string, got []monitoringv1.RuleGroup) {
	t.Helper()
	want := canonicalGroups(t)
	if len(want) == 0 {
		t.Fatal("no canonical rule groups")
	}
	if !reflect.DeepEqual(got, want) {
		gy, _ := yaml.Marshal(got)
		wy, _ := yaml.Marshal(want)
		t.Errorf("%s differs from telemetry/prometheus (run %s):\n got %s\nwant %s", what, promrules.Command, gy, wy)
	}
}

// TestChartMonitoring: with monitoring on, the chart's ServiceMonitor
// scrapes the admin port's /metrics and its PrometheusRule carries the
// canonical groups; with it off (the default), neither is rendered.
func TestChartMonitoring(t *testing.T) {
	ms := render(t, valueSets["monitoring"]).objs
	sm := one[monitoringv1.ServiceMonitor](t, ms, "ServiceMonitor", releaseName)
	checkServiceMonitor(t, sm, one[corev1.Service](t, ms, "Service", releaseName))
	pr := one[monitoringv1.PrometheusRule](t, ms, "PrometheusRule", releaseName)
	checkRuleGroups(t, "the chart's PrometheusRule", pr.Spec.Groups)
	if pr.Labels["release"] != "kps" {
		t.Errorf("PrometheusRule labels %v: monitoring.prometheusRule.labels not applied", pr.Labels)
	}
	def := render(t, "").objs
	if n := len(def.byKind("ServiceMonitor")) + len(def.byKind("PrometheusRule")); n != 0 {
		t.Errorf("%d Prometheus Operator objects by default: install fails without its CRDs", n)
	}
}

var imageRef = regexp.MustCompile(`^[a-z0-9.-]+(/[a-z0-9._-]+)+:([A-Za-z0-9_][A-Za-z0-9_.-]*)(@sha256:[0-9a-f]{64})?$`)

// TestImagesArePinned: no shipped or rendered object runs an untagged image
// or :latest, and the tag is the release's.
func TestImagesArePinned(t *testing.T) {
	sets := map[string]manifests{
		"botauthz.yaml":   decodeFile(t, "botauthz.yaml"),
		"kustomize base":  kustomizeBuild(t, "kustomize/base"),
		"kustomize istio": kustomizeBuild(t, "kustomize/overlays/istio"),
	}
	for name, set := range valueSets {
		sets["chart "+name] = render(t, set).objs
	}
	for name, ms := range sets {
		n := 0
		for _, d := range ms.byKind("Deployment") {
			dep := deploymentOf(t, manifests{d})
			for _, c := range append(dep.Spec.Template.Spec.InitContainers, dep.Spec.Template.Spec.Containers...) {
				n++
				checkImage(t, name, c.Image)
			}
		}
		if n == 0 {
			t.Errorf("%s: no container", name)
		}
	}
	if img := container(t, render(t, "image.tag=0.0.9,image.digest=sha256:"+strings.Repeat("a", 64)).objs).Image; img != "ghcr.io/botauthz/botauthz:0.0.9@sha256:"+strings.Repeat("a", 64) {
		t.Errorf("image with tag and digest: %q", img)
	}

	for _, bad := range []string{"ghcr.io/botauthz/botauthz", "ghcr.io/botauthz/botauthz:latest", "botauthz:0.1.0"} {
		if imageRef.MatchString(bad) && !strings.HasSuffix(bad, ":latest") {
			t.Errorf("checkImage would take %q", bad)
		}
	}
}

func checkImage(t *testing.T, where, img string) {
	t.Helper()
	m := imageRef.FindStringSubmatch(img)
	switch {
	case m == nil:
		t.Errorf("%s: image %q is untagged or not fully qualified", where, img)
	case m[2] == "latest":
		t.Errorf("%s: image %q: a moving tag", where, img)
	case strings.HasPrefix(img, "ghcr.io/botauthz/botauthz:") && m[2] != buildinfo.Version:
		t.Errorf("%s: image %q, want the release %s", where, img, buildinfo.Version)
	}
}
