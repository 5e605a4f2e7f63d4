package k8s

import (
	"os"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

// corev1ConfigMap shortens one[…] calls.
type corev1ConfigMap = corev1.ConfigMap

// kustomizeBuild runs `kustomize build dir` in process, offline, and decodes
// the result strictly.
func kustomizeBuild(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeAll("kustomize "+dir, out)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func overlayPolicy(t *testing.T, ms manifests) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(one[corev1.ConfigMap](t, ms, "ConfigMap", "botauthz-policy").Data["policy.yaml"]))
	if err != nil {
		t.Fatalf("the overlay's policy: %v", err)
	}
	return p
}

// TestKustomizeBase: the base builds without a namespace or any CRD, its
// policy and override file load, and its placeholder clearance key stops a
// start instead of running on it.
func TestKustomizeBase(t *testing.T) {
	ms := kustomizeBuild(t, "kustomize/base")
	for _, m := range ms {
		if m.Namespace != "" {
			t.Errorf("%s: the base sets a namespace", m)
		}
		switch m.Obj.(type) {
		case *monitoringv1.ServiceMonitor, *monitoringv1.PrometheusRule:
			t.Errorf("%s in the base: kubectl apply -k fails on a cluster without the Prometheus Operator", m)
		}
	}
	p := overlayPolicy(t, ms)
	if p.TLS.Trusted {
		t.Error("the base trusts the JA4 header, with no proxy in it that overwrites the header")
	}
	d := deploymentOf(t, ms)
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/botauthz/botauthz:0.1.0" {
		t.Errorf("image %q", c.Image)
	}
	if _, err := rollout.ParseOverride([]byte(one[corev1.ConfigMap](t, ms, "ConfigMap", "botauthz-override").Data["override.yaml"])); err != nil {
		t.Errorf("override.yaml: %v", err)
	}
	keys := envVar(c, "BOTAUTHZ_CLEARANCE_KEYS")
	if keys == nil || keys.ValueFrom == nil || keys.ValueFrom.SecretKeyRef == nil {
		t.Fatal("BOTAUTHZ_CLEARANCE_KEYS not from a Secret")
	}
	// kustomize renames the Deployment's reference to the hashed Secret.
	s := one[corev1.Secret](t, ms, "Secret", keys.ValueFrom.SecretKeyRef.Name)
	if _, err := clearance.ParseKeys(s.StringData[keys.ValueFrom.SecretKeyRef.Key] + string(s.Data[keys.ValueFrom.SecretKeyRef.Key])); err == nil {
		t.Error("the placeholder clearance key parses: a forgotten replacement would run on it")
	}
	checkNetworkPolicy(t, one[networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", "botauthz"), d)
	if one[corev1.Service](t, ms, "Service", "botauthz").Spec.Ports[0].Name != "grpc" {
		t.Error("the Service's first port is not grpc")
	}
}

// TestKustomizeIstioOverlay: the overlay puts botauthz in its namespace and
// the gateway's objects in istio-system, and its policy trusts the JA4
// header its EnvoyFilter sets, and is otherwise botauthz.yaml's.
func TestKustomizeIstioOverlay(t *testing.T) {
	ms := kustomizeBuild(t, "kustomize/overlays/istio")
	for _, m := range ms {
		want := "botauthz"
		switch m.Kind {
		case "Namespace":
			want = ""
		case "Gateway", "AuthorizationPolicy", "EnvoyFilter":
			want = "istio-system"
		}
		if m.Namespace != want {
			t.Errorf("%s: namespace %q, want %q", m, m.Namespace, want)
		}
	}
	got := overlayPolicy(t, ms)
	if !got.TLS.Trusted {
		t.Error("the overlay's policy does not trust the JA4 header its EnvoyFilter sets")
	}
	want, err := policy.Parse([]byte(one[corev1.ConfigMap](t, decodeFile(t, "botauthz.yaml"), "ConfigMap", "botauthz-policy").Data["policy.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != want.Version || len(got.Routes) != len(want.Routes) || got.Rollout != want.Rollout {
		t.Errorf("the overlay's policy differs from botauthz.yaml's: version %q/%q, %d/%d routes, rollout %+v/%+v",
			got.Version, want.Version, len(got.Routes), len(want.Routes), got.Rollout, want.Rollout)
	}
}

// TestKustomizeMonitoringComponent: the component adds a ServiceMonitor on
// the admin port and the PrometheusRule to an overlay, in its namespace.
func TestKustomizeMonitoringComponent(t *testing.T) {
	dir := t.TempDir()
	// kustomize takes bases and components by relative path only.
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := filepath.Rel(dir, a)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: botauthz\n" +
		"resources:\n- " + abs("kustomize/base") + "\ncomponents:\n- " + abs("kustomize/components/monitoring") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	ms := kustomizeBuild(t, dir)
	sm := one[monitoringv1.ServiceMonitor](t, ms, "ServiceMonitor", "botauthz")
	svc := one[corev1.Service](t, ms, "Service", "botauthz")
	checkServiceMonitor(t, sm, svc)
	pr := one[monitoringv1.PrometheusRule](t, ms, "PrometheusRule", "botauthz")
	checkRuleGroups(t, "the component's PrometheusRule", pr.Spec.Groups)
	for _, m := range ms {
		if m.Namespace != "botauthz" {
			t.Errorf("%s: namespace %q", m, m.Namespace)
		}
	}
}

// checkServiceMonitor: it selects the Service and scrapes /metrics on the
// Service port that leads to the container's admin port.
func checkServiceMonitor(t *testing.T, sm *monitoringv1.ServiceMonitor, svc *corev1.Service) {
	t.Helper()
	if !equalMaps(sm.Spec.Selector.MatchLabels, svc.Labels) && !subset(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("ServiceMonitor selects %v, the Service's labels are %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("%d endpoints", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	var target string
	for _, p := range svc.Spec.Ports {
		if p.Name == ep.Port {
			target = p.TargetPort.String()
		}
	}
	if target != "admin" {
		t.Errorf("ServiceMonitor scrapes Service port %q, which leads to %q, want the container's admin port", ep.Port, target)
	}
	if ep.Path != "/metrics" {
		t.Errorf("path %q", ep.Path)
	}
}

func subset(want, have map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
