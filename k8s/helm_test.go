package k8s

import (
	"os"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/botauthz/botauthz/buildinfo"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

const (
	chartDir         = "helm/botauthz"
	releaseName      = "botauthz"
	releaseNamespace = "botauthz"
)

// kubeVersion is the cluster the chart is rendered for: Helm's client-only
// default (1.20) is older than the chart's kubeVersion allows.
var kubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}

// valueSets are the chart's configurations the tests render, as --set
// strings (empty: the defaults).
var valueSets = map[string]string{
	"defaults":        "",
	"istio":           "wiring.mode=istio,policy.tls.trusted=true",
	"istio-existing":  "wiring.mode=istio,wiring.istio.gateway.create=false,wiring.istio.gateway.name=istio-system/shop,wiring.istio.fingerprints=false",
	"envoy":           "wiring.mode=envoy,policy.tls.trusted=true",
	"monitoring":      "monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.prometheusRule.labels.release=kps",
	"hpa":             "autoscaling.enabled=true,autoscaling.minReplicas=2",
	"existing-secret": "secret.existingSecret=botauthz-prod",
	"redis":           "redis.url=redis://:pw@redis.botauthz.svc:6379/0,secret.adminTokens=sre:rw:0123456789abcdef0123,secret.clearanceKeys=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	"one-replica":     "replicaCount=1,networkPolicy.adminFrom=null,networkPolicy.adminFromOwnNamespace=false",
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

func parseValues(t *testing.T, set string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if set != "" {
		if err := strvals.ParseInto(set, vals); err != nil {
			t.Fatalf("--set %s: %v", set, err)
		}
	}
	return vals
}

// rendered is one rendering of the chart.
type rendered struct {
	objs  manifests
	notes string
}

// render renders the chart as `helm template` would, offline: a client-only
// dry-run install with the Helm SDK.
func render(t *testing.T, set string) rendered {
	t.Helper()
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.IncludeCRDs = true
	install.KubeVersion = kubeVersion
	install.ReleaseName = releaseName
	install.Namespace = releaseNamespace
	rel, err := install.Run(loadChart(t), parseValues(t, set))
	if err != nil {
		t.Fatalf("render --set %q: %v", set, err)
	}
	ms, err := decodeAll("chart --set "+set, []byte(rel.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	return rendered{objs: ms, notes: rel.Info.Notes}
}

// TestChartLints: helm lint passes with no warning, for every value set.
func TestChartLints(t *testing.T) {
	for name, set := range valueSets {
		t.Run(name, func(t *testing.T) {
			vals := parseValues(t, set)
			linter := lint.AllWithKubeVersion(chartDir, vals, releaseNamespace, kubeVersion)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

// TestChartRefusesUnknownValues: values.schema.json catches a misspelt key.
func TestChartRefusesUnknownValues(t *testing.T) {
	for _, set := range []string{"replicas=2", "wiring.mode=nginx", "networkPolicy.adminFromm=null", "image.tag=latest"} {
		install := action.NewInstall(&action.Configuration{})
		install.DryRun, install.ClientOnly, install.ReleaseName, install.Namespace = true, true, releaseName, releaseNamespace
		install.KubeVersion = kubeVersion
		if _, err := install.Run(loadChart(t), parseValues(t, set)); err == nil {
			t.Errorf("--set %s rendered without an error", set)
		}
	}
}

// TestChartVersionIsTheRelease: the chart deploys the release this tree is.
func TestChartVersionIsTheRelease(t *testing.T) {
	c := loadChart(t)
	if c.Metadata.AppVersion != buildinfo.Version {
		t.Errorf("Chart.yaml appVersion %q, buildinfo.Version %q: release them together", c.Metadata.AppVersion, buildinfo.Version)
	}
	img := container(t, render(t, "").objs).Image
	if want := "ghcr.io/botauthz/botauthz:" + buildinfo.Version; img != want {
		t.Errorf("image %q, want %q", img, want)
	}
}

func deploymentOf(t *testing.T, ms manifests) *appsv1.Deployment {
	t.Helper()
	return one[appsv1.Deployment](t, ms, "Deployment", releaseName)
}

func container(t *testing.T, ms manifests) corev1.Container {
	t.Helper()
	cs := deploymentOf(t, ms).Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	return cs[0]
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// TestChartPod: the pod runs as the image's numeric non-root user with a
// read-only root file system, is probed on the admin port, and takes its
// secrets from the Secret, in every value set.
func TestChartPod(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, set := range valueSets {
		t.Run(name, func(t *testing.T) {
			ms := render(t, set).objs
			d := deploymentOf(t, ms)
			pod := d.Spec.Template.Spec
			if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser 65532 (the Dockerfile's USER)", sc)
			}
			c := container(t, ms)
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("container securityContext %+v: want a read-only root and no privilege escalation", sc)
			}
			for probe, p := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe || p.HTTPGet.Port.String() != "admin" {
					t.Errorf("probe for %s: %+v, want GET %s on the admin port", probe, p, probe)
				}
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "admin" && p.ContainerPort == 9090 }) {
				t.Errorf("no container port admin 9090: %+v", c.Ports)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
			}
			for _, e := range c.Env {
				if !strings.Contains(string(readme), "`"+e.Name+"`") {
					t.Errorf("the Deployment sets %s, which the README does not document", e.Name)
				}
			}
			keys := envVar(c, "BOTAUTHZ_CLEARANCE_KEYS")
			if keys == nil || keys.ValueFrom == nil || keys.ValueFrom.SecretKeyRef == nil {
				t.Fatal("BOTAUTHZ_CLEARANCE_KEYS does not come from a Secret: every replica would make up its own key")
			}
			secretName := keys.ValueFrom.SecretKeyRef.Name
			if strings.Contains(set, "existingSecret") {
				if secretName != "botauthz-prod" {
					t.Errorf("clearance keys from Secret %q, want the existing botauthz-prod", secretName)
				}
				if len(ms.byKind("Secret")) != 0 {
					t.Error("the chart renders a Secret beside secret.existingSecret")
				}
				return
			}
			s := one[corev1.Secret](t, ms, "Secret", secretName)
			if _, err := clearance.ParseKeys(string(s.Data[keys.ValueFrom.SecretKeyRef.Key])); err != nil {
				t.Errorf("the Secret's clearance keys do not parse: %v", err)
			}
		})
	}
}

// TestChartRedisFromSecret: redis.url reaches BOTAUTHZ_STORE through the
// Secret, never in the Deployment itself; without it no BOTAUTHZ_STORE.
func TestChartRedisFromSecret(t *testing.T) {
	ms := render(t, valueSets["redis"]).objs
	e := envVar(container(t, ms), "BOTAUTHZ_STORE")
	if e == nil || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("BOTAUTHZ_STORE = %+v, want it from the Secret", e)
	}
	ref := e.ValueFrom.SecretKeyRef
	s := one[corev1.Secret](t, ms, "Secret", ref.Name)
	if got := string(s.Data[ref.Key]); got != "redis://:pw@redis.botauthz.svc:6379/0" {
		t.Errorf("Secret %s key %s = %q", ref.Name, ref.Key, got)
	}
	if ref.Optional != nil && *ref.Optional {
		t.Error("redis-url is optional although redis.url is set")
	}
	if e := envVar(container(t, render(t, "").objs), "BOTAUTHZ_STORE"); e != nil {
		t.Errorf("BOTAUTHZ_STORE set without redis.url: %+v", e)
	}
	// An existing Secret may or may not hold redis-url.
	e = envVar(container(t, render(t, valueSets["existing-secret"]).objs), "BOTAUTHZ_STORE")
	if e == nil || e.ValueFrom.SecretKeyRef.Optional == nil || !*e.ValueFrom.SecretKeyRef.Optional {
		t.Errorf("with secret.existingSecret BOTAUTHZ_STORE = %+v, want an optional reference", e)
	}
}

// TestChartPolicyAndOverrideParse: the ConfigMaps hold a policy and an
// override file botauthz loads, and the policy names the override file
// where the override ConfigMap is mounted.
func TestChartPolicyAndOverrideParse(t *testing.T) {
	for name, set := range valueSets {
		t.Run(name, func(t *testing.T) {
			ms := render(t, set).objs
			p := chartPolicy(t, ms)
			c := container(t, ms)
			mounted := false
			for _, m := range c.VolumeMounts {
				if m.Name == "override" && m.MountPath+"/override.yaml" == p.Rollout.OverrideFile && m.SubPath == "" {
					mounted = true
				}
			}
			if !mounted {
				t.Errorf("policy override_file %q is not where the override ConfigMap is mounted (as a directory): %+v", p.Rollout.OverrideFile, c.VolumeMounts)
			}
			o := one[corev1.ConfigMap](t, ms, "ConfigMap", releaseName+"-override")
			if _, err := rollout.ParseOverride([]byte(o.Data["override.yaml"])); err != nil {
				t.Errorf("override.yaml: %v", err)
			}
			if cfg := envVar(c, "BOTAUTHZ_CONFIG"); cfg == nil || cfg.Value != "/etc/botauthz/policy/policy.yaml" {
				t.Errorf("BOTAUTHZ_CONFIG = %+v", cfg)
			}
		})
	}
}

func chartPolicy(t *testing.T, ms manifests) *policy.Policy {
	t.Helper()
	cm := one[corev1.ConfigMap](t, ms, "ConfigMap", releaseName+"-policy")
	p, err := policy.Parse([]byte(cm.Data["policy.yaml"]))
	if err != nil {
		t.Fatalf("the chart's policy: %v\n%s", err, cm.Data["policy.yaml"])
	}
	return p
}

// TestChartReplicasAndDisruption: the PDB exists when more than one replica
// runs, and the HPA, when on, owns the replica count.
func TestChartReplicasAndDisruption(t *testing.T) {
	ms := render(t, "").objs
	if r := deploymentOf(t, ms).Spec.Replicas; r == nil || *r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
	pdb := one[policyv1.PodDisruptionBudget](t, ms, "PodDisruptionBudget", releaseName)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	if got, want := pdb.Spec.Selector.MatchLabels, deploymentOf(t, ms).Spec.Selector.MatchLabels; !equalMaps(got, want) {
		t.Errorf("PDB selects %v, the Deployment %v", got, want)
	}
	if len(ms.byKind("HorizontalPodAutoscaler")) != 0 {
		t.Error("an HPA by default")
	}

	if got := render(t, valueSets["one-replica"]).objs.byKind("PodDisruptionBudget"); len(got) != 0 {
		t.Error("a PDB for one replica would block every node drain")
	}

	ms = render(t, valueSets["hpa"]).objs
	if r := deploymentOf(t, ms).Spec.Replicas; r != nil {
		t.Errorf("replicas %d beside the HPA: every upgrade would reset the HPA's count", *r)
	}
	hpa := one[autoscalingv2.HorizontalPodAutoscaler](t, ms, "HorizontalPodAutoscaler", releaseName)
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != releaseName || *hpa.Spec.MinReplicas != 2 {
		t.Errorf("HPA %+v", hpa.Spec)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		t.Errorf("HPA metrics %+v, want CPU", hpa.Spec.Metrics)
	}
	if len(ms.byKind("PodDisruptionBudget")) != 1 {
		t.Error("no PDB with an HPA of at least 2 replicas")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestChartNetworkPolicy: the admin port is reachable only from the peers
// the values name (plus botauthz's own namespace), the Check and challenge
// ports from the in-cluster peers.
func TestChartNetworkPolicy(t *testing.T) {
	ms := render(t, "").objs
	np := one[networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", releaseName)
	checkNetworkPolicy(t, np, deploymentOf(t, ms))
	var admin []networkingv1.NetworkPolicyPeer
	for _, r := range np.Spec.Ingress {
		if slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.IntValue() == 9090 }) {
			admin = r.From
		}
	}
	if len(admin) != 2 ||
		admin[0].NamespaceSelector == nil || admin[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" ||
		admin[1].PodSelector == nil || len(admin[1].PodSelector.MatchLabels) != 0 || admin[1].NamespaceSelector != nil {
		t.Errorf("admin port peers %+v: want the monitoring namespace and this namespace's pods", admin)
	}

	// With no peer named, nobody may reach the admin port.
	np = one[networkingv1.NetworkPolicy](t, render(t, valueSets["one-replica"]).objs, "NetworkPolicy", releaseName)
	for _, r := range np.Spec.Ingress {
		if slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.IntValue() == 9090 }) {
			t.Errorf("admin port open to %+v although no peer is listed", r.From)
		}
	}
}

// checkNetworkPolicy: the policy selects the pods, restricts ingress, lets
// 9001 and 8080 in from somewhere, and never puts 9090 in the same rule as
// them (which would open the admin port to the gateway's peers).
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, d *appsv1.Deployment) {
	t.Helper()
	if !equalMaps(np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("NetworkPolicy selects %v, the Deployment's pods are %v", np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Error("NetworkPolicy does not restrict ingress")
	}
	open := map[int]bool{}
	for _, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("ingress rule %+v opens every port", r)
		}
		var ports []int
		for _, p := range r.Ports {
			ports = append(ports, p.Port.IntValue())
			open[p.Port.IntValue()] = true
		}
		if slices.Contains(ports, 9090) && len(ports) > 1 {
			t.Errorf("the admin port shares a rule with %v", ports)
		}
		if slices.Contains(ports, 9090) && len(r.From) == 0 {
			t.Error("the admin port is open to everyone")
		}
	}
	for _, p := range []int{9001, 8080} {
		if !open[p] {
			t.Errorf("port %d is not let in: the gateway could not reach botauthz", p)
		}
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if !open[int(p.ContainerPort)] && p.ContainerPort != 9090 {
				t.Errorf("container port %d is closed by the NetworkPolicy", p.ContainerPort)
			}
		}
	}
}

// TestChartTrustedFingerprintsNeedAProxy: NOTES warns when the policy trusts
// the JA4 header but the release ships nothing that overwrites it.
func TestChartTrustedFingerprintsNeedAProxy(t *testing.T) {
	const warning = "policy.tls.trusted is true"
	if notes := render(t, "policy.tls.trusted=true").notes; !strings.Contains(notes, warning) {
		t.Errorf("no warning for a trusted header with wiring none:\n%s", notes)
	}
	for _, set := range []string{valueSets["istio"], valueSets["envoy"]} {
		if notes := render(t, set).notes; strings.Contains(notes, warning) {
			t.Errorf("--set %s: a warning although the wiring sets the header", set)
		}
	}
}

// TestChartDefaultsAreSafe: by default nothing is enforced before someone
// decides to, and the JA4 header is not trusted without a proxy that sets it.
func TestChartDefaultsAreSafe(t *testing.T) {
	p := chartPolicy(t, render(t, "").objs)
	if p.TLS.Trusted {
		t.Error("the default policy trusts the JA4 header with no proxy to overwrite it")
	}
}
