package k8s

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingapiv1 "istio.io/api/networking/v1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istiosecurityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/yaml"

	"github.com/botauthz/botauthz/policy"
)

const challengePrefix = "/.botauthz/"

// istioWiring is one shipped or rendered set of Istio objects, with the
// policy botauthz runs beside it.
type istioWiring struct {
	name   string
	objs   manifests
	policy *policy.Policy
	// externalGateway: the VirtualService names a Gateway this set does not
	// ship (the chart's gateway.create=false), by design.
	externalGateway string
}

func istioWirings(t *testing.T) []istioWiring {
	t.Helper()
	plain := decodeFile(t, "istio.yaml")
	plainPolicy, err := policy.Parse([]byte(one[corev1ConfigMap](t, decodeFile(t, "botauthz.yaml"), "ConfigMap", "botauthz-policy").Data["policy.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	chart := render(t, valueSets["istio"]).objs
	existing := render(t, valueSets["istio-existing"]).objs
	overlay := kustomizeBuild(t, "kustomize/overlays/istio")
	return []istioWiring{
		{name: "istio.yaml", objs: plain, policy: plainPolicy},
		{name: "chart", objs: chart, policy: chartPolicy(t, chart)},
		{name: "chart, existing gateway", objs: existing, policy: chartPolicy(t, existing), externalGateway: "istio-system/shop"},
		{name: "overlay", objs: overlay, policy: overlayPolicy(t, overlay)},
	}
}

// TestIstioGatewaysAreShipped: every VirtualService names a Gateway that the
// same set of objects ships, bound to the gateway pods the CUSTOM policy
// selects, serving the VirtualService's hosts.
func TestIstioGatewaysAreShipped(t *testing.T) {
	for _, w := range istioWirings(t) {
		t.Run(w.name, func(t *testing.T) {
			authz := theAuthorizationPolicy(t, w.objs)
			vss := w.objs.byKind("VirtualService")
			if len(vss) == 0 {
				t.Fatal("no VirtualService")
			}
			for _, m := range vss {
				vs := m.Obj.(*istionetworkingv1.VirtualService)
				if len(vs.Spec.Gateways) == 0 {
					t.Errorf("%s binds to no gateway", m)
				}
				for _, gw := range vs.Spec.Gateways {
					if gw == w.externalGateway {
						continue
					}
					ns, name, ok := strings.Cut(gw, "/")
					if !ok {
						ns, name = m.Namespace, gw
					}
					g := findGateway(w.objs, ns, name)
					if g == nil {
						t.Errorf("%s names gateway %s, which is not shipped", m, gw)
						continue
					}
					if !equalMaps(g.Spec.Selector, authz.Spec.Selector.GetMatchLabels()) {
						t.Errorf("Gateway %s selects %v, the CUSTOM AuthorizationPolicy %v", gw, g.Spec.Selector, authz.Spec.Selector.GetMatchLabels())
					}
					for _, h := range vs.Spec.Hosts {
						if !slices.ContainsFunc(g.Spec.Servers, func(s *networkingapiv1.Server) bool { return slices.Contains(s.Hosts, h) }) {
							t.Errorf("Gateway %s serves no host %s", gw, h)
						}
					}
				}
			}
		})
	}
}

func findGateway(ms manifests, ns, name string) *istionetworkingv1.Gateway {
	for _, m := range ms.byKind("Gateway") {
		if m.Namespace == ns && m.Name == name {
			return m.Obj.(*istionetworkingv1.Gateway)
		}
	}
	return nil
}

func theAuthorizationPolicy(t *testing.T, ms manifests) *istiosecurityv1.AuthorizationPolicy {
	t.Helper()
	aps := ms.byKind("AuthorizationPolicy")
	if len(aps) != 1 {
		t.Fatalf("%d AuthorizationPolicies, want 1", len(aps))
	}
	ap := aps[0].Obj.(*istiosecurityv1.AuthorizationPolicy)
	if ap.Spec.Action.String() != "CUSTOM" {
		t.Errorf("AuthorizationPolicy action %v, want CUSTOM", ap.Spec.Action)
	}
	return ap
}

// isCatchAll: a route that takes every request a route before it left.
func isCatchAll(r *networkingv1alpha3.HTTPRoute) bool {
	if len(r.Match) == 0 {
		return true
	}
	for _, m := range r.Match {
		u := m.GetUri()
		if len(m.Headers) > 0 || len(m.QueryParams) > 0 || m.Method != nil || m.Authority != nil || len(m.WithoutHeaders) > 0 || m.Port != 0 {
			continue
		}
		if u == nil || u.GetPrefix() == "/" || u.GetPrefix() == "" && u.GetRegex() == ".*" {
			return true
		}
	}
	return false
}

func routesChallenge(r *networkingv1alpha3.HTTPRoute) bool {
	return slices.ContainsFunc(r.Match, func(m *networkingv1alpha3.HTTPMatchRequest) bool {
		return m.GetUri().GetPrefix() == challengePrefix
	})
}

// shadowedChallenges returns why /.botauthz/ could be shadowed: Istio merges
// the VirtualServices of one host on one gateway in no specified order, so
// any of them with a catch-all route must itself route /.botauthz/ first.
func shadowedChallenges(ms manifests) []string {
	var problems []string
	for _, m := range ms.byKind("VirtualService") {
		vs := m.Obj.(*istionetworkingv1.VirtualService)
		challenge := false
		for i, r := range vs.Spec.Http {
			if routesChallenge(r) {
				challenge = true
			}
			if isCatchAll(r) && !challenge {
				problems = append(problems, m.String()+": route "+r.Name+" ("+string(rune('0'+i))+") catches every path before any "+challengePrefix+" route")
			}
		}
	}
	return problems
}

// TestChallengeRouteCannotBeShadowed checks the shipped VirtualServices with
// shadowedChallenges, and shadowedChallenges on the layout the issue found:
// a VirtualService of its own for /.botauthz/ beside the app's catch-all.
func TestChallengeRouteCannotBeShadowed(t *testing.T) {
	for _, w := range istioWirings(t) {
		if p := shadowedChallenges(w.objs); len(p) > 0 {
			t.Errorf("%s: %s", w.name, strings.Join(p, "; "))
		}
		if !slices.ContainsFunc(w.objs.byKind("VirtualService"), func(m manifest) bool {
			return slices.ContainsFunc(m.Obj.(*istionetworkingv1.VirtualService).Spec.Http, routesChallenge)
		}) {
			t.Errorf("%s: no VirtualService routes %s to botauthz", w.name, challengePrefix)
		}
	}

	old, err := decodeAll("the old layout", []byte(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: botauthz-challenge, namespace: botauthz}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/ingressgateway]
  http:
  - match: [{uri: {prefix: /.botauthz/}}]
    route: [{destination: {host: botauthz.botauthz.svc.cluster.local, port: {number: 8080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/ingressgateway]
  http:
  - route: [{destination: {host: shop}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if p := shadowedChallenges(old); len(p) != 1 {
		t.Errorf("the old layout: %q, want the app's catch-all found", p)
	}
	after, err := decodeAll("challenge after the catch-all", []byte(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  http:
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: shop}}]
  - match: [{uri: {prefix: /.botauthz/}}]
    route: [{destination: {host: botauthz}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if p := shadowedChallenges(after); len(p) != 1 {
		t.Errorf("a catch-all before %s: %q, want it found", challengePrefix, p)
	}
}

// TestRouteContextEnvoyFilter: the per-route EnvoyFilter gives each route of
// the policy its context_extensions on the gateway's route of the same name,
// as an ExtAuthzPerRoute Envoy accepts, on the gateway pods the CUSTOM
// policy selects.
func TestRouteContextEnvoyFilter(t *testing.T) {
	for _, w := range istioWirings(t) {
		t.Run(w.name, func(t *testing.T) {
			authz := theAuthorizationPolicy(t, w.objs)
			var ef *istionetworkingv1alpha3.EnvoyFilter
			var efNamespace string
			for _, m := range w.objs.byKind("EnvoyFilter") {
				if strings.HasSuffix(m.Name, "-route-context") {
					ef, efNamespace = m.Obj.(*istionetworkingv1alpha3.EnvoyFilter), m.Namespace
				}
			}
			if ef == nil {
				t.Fatalf("no route-context EnvoyFilter among %v", w.objs.names())
			}
			if !equalMaps(ef.Spec.GetWorkloadSelector().GetLabels(), authz.Spec.Selector.GetMatchLabels()) {
				t.Errorf("EnvoyFilter selects %v, the CUSTOM AuthorizationPolicy %v", ef.Spec.GetWorkloadSelector().GetLabels(), authz.Spec.Selector.GetMatchLabels())
			}
			if ns := theAuthorizationPolicyNamespace(w.objs); efNamespace != ns {
				t.Errorf("EnvoyFilter in %q, the AuthorizationPolicy in %q: a workloadSelector selects in its own namespace", efNamespace, ns)
			}

			// The VirtualService routes by name, and the gateway they bind to.
			routes := map[string]*networkingv1alpha3.HTTPRoute{}
			var gateways []string
			for _, m := range w.objs.byKind("VirtualService") {
				vs := m.Obj.(*istionetworkingv1.VirtualService)
				gateways = append(gateways, vs.Spec.Gateways...)
				for _, r := range vs.Spec.Http {
					routes[r.Name] = r
				}
			}

			patched := map[string]bool{}
			for _, p := range ef.Spec.GetConfigPatches() {
				if p.GetApplyTo() != networkingv1alpha3.EnvoyFilter_HTTP_ROUTE || p.GetMatch().GetContext() != networkingv1alpha3.EnvoyFilter_GATEWAY {
					t.Errorf("patch applies to %v in %v, want HTTP_ROUTE on GATEWAY", p.GetApplyTo(), p.GetMatch().GetContext())
				}
				if op := p.GetPatch().GetOperation(); op != networkingv1alpha3.EnvoyFilter_Patch_MERGE {
					t.Errorf("patch operation %v, want MERGE (keeps istiod's route)", op)
				}
				rc := p.GetMatch().GetRouteConfiguration()
				if !slices.Contains(gateways, rc.GetGateway()) {
					t.Errorf("patch matches gateway %q, the VirtualService binds to %v", rc.GetGateway(), gateways)
				}
				name := rc.GetVhost().GetRoute().GetName()
				vsRoute, ok := routes[name]
				if !ok {
					t.Errorf("patch matches route %q, which no VirtualService names: it would match nothing, silently", name)
				}
				// istiod names the Envoy route "<route>.<match>" when a match
				// has a name, and the patch would miss it.
				for _, m := range vsRoute.GetMatch() {
					if m.GetName() != "" {
						t.Errorf("route %s: match named %q", name, m.GetName())
					}
				}

				// A MERGE value is part of a route (no match, no action), so
				// only the ExtAuthzPerRoute inside can be validated.
				r := &routev3.Route{}
				raw, err := protojson.Marshal(p.GetPatch().GetValue())
				if err != nil {
					t.Fatal(err)
				}
				if err := strict.Unmarshal(raw, r); err != nil {
					t.Fatalf("route patch %s: %v", name, err)
				}
				any, ok := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"]
				if !ok || len(r.GetTypedPerFilterConfig()) != 1 {
					t.Fatalf("route patch %s: typed_per_filter_config %v, want envoy.filters.http.ext_authz only", name, r.GetTypedPerFilterConfig())
				}
				per := &extauthzv3.ExtAuthzPerRoute{}
				if err := any.UnmarshalTo(per); err != nil {
					t.Fatalf("route patch %s: %v", name, err)
				}
				if err := per.ValidateAll(); err != nil {
					t.Fatal(err)
				}
				ext := per.GetCheckSettings().GetContextExtensions()
				if len(ext) != 1 || ext["route"] != name {
					t.Errorf("route patch %s: context_extensions %v, want {route: %s}", name, ext, name)
				}
				if _, ok := w.policy.Routes[ext["route"]]; !ok {
					t.Errorf("context_extensions route %q is not a route of the policy: botauthz would use default", ext["route"])
				}
				patched[name] = true
			}
			for name := range w.policy.Routes {
				if name != "default" && !patched[name] {
					t.Errorf("the policy's route %q gets no context_extensions: its requests would run on default", name)
				}
			}
		})
	}
}

func theAuthorizationPolicyNamespace(ms manifests) string {
	return ms.byKind("AuthorizationPolicy")[0].Namespace
}

// TestFingerprintFilterCopiesAgree: the chart and the overlay ship the JA4
// EnvoyFilter that istio.yaml documents and envoyfilter_test.go checks.
func TestFingerprintFilterCopiesAgree(t *testing.T) {
	want := one[istionetworkingv1alpha3.EnvoyFilter](t, decodeFile(t, "istio.yaml"), "EnvoyFilter", fingerprintFilter)
	for name, objs := range map[string]manifests{
		"chart":   render(t, valueSets["istio"]).objs,
		"overlay": kustomizeBuild(t, "kustomize/overlays/istio"),
	} {
		got := one[istionetworkingv1alpha3.EnvoyFilter](t, objs, "EnvoyFilter", fingerprintFilter)
		if !proto.Equal(&got.Spec, &want.Spec) {
			t.Errorf("%s: EnvoyFilter %s differs from istio.yaml's", name, fingerprintFilter)
		}
	}
	if n := len(render(t, valueSets["istio-existing"]).objs.byKind("EnvoyFilter")); n != 1 {
		t.Errorf("wiring.istio.fingerprints=false: %d EnvoyFilters, want only the route one", n)
	}
}

// TestOverlayIstioIsIstioYAML: the overlay's copy of istio.yaml is the same
// objects.
func TestOverlayIstioIsIstioYAML(t *testing.T) {
	a, err := os.ReadFile("istio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("kustomize/overlays/istio/istio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("kustomize/overlays/istio/istio.yaml differs from istio.yaml: cp k8s/istio.yaml k8s/kustomize/overlays/istio/")
	}
}

// TestMeshConfigRegistersTheProvider: istio-mesh-config.yaml's meshConfig
// decodes strictly into Istio's MeshConfig and registers the provider the
// AuthorizationPolicy names, at botauthz's gRPC Service port.
func TestMeshConfigRegistersTheProvider(t *testing.T) {
	data, err := os.ReadFile("istio-mesh-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var op struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			MeshConfig json.RawMessage `json:"meshConfig"`
		} `json:"spec"`
	}
	dec := json.NewDecoder(strings.NewReader(string(j)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&op); err != nil {
		t.Fatal(err)
	}
	if op.Kind != "IstioOperator" || op.APIVersion != "install.istio.io/v1alpha1" {
		t.Errorf("%s %s, want an IstioOperator", op.APIVersion, op.Kind)
	}
	mesh := &meshv1alpha1.MeshConfig{}
	// Strict, without strictProto's round trip: protojson writes the
	// timeout back as 0.250s.
	if err := strict.Unmarshal(op.Spec.MeshConfig, mesh); err != nil {
		t.Fatalf("meshConfig: %v", err)
	}
	authz := theAuthorizationPolicy(t, decodeFile(t, "istio.yaml"))
	var found bool
	for _, p := range mesh.GetExtensionProviders() {
		if p.GetName() != authz.Spec.GetProvider().GetName() {
			continue
		}
		found = true
		g := p.GetEnvoyExtAuthzGrpc()
		if g.GetService() != "botauthz.botauthz.svc.cluster.local" || g.GetPort() != 9001 {
			t.Errorf("provider %s calls %s:%d, want botauthz.botauthz.svc.cluster.local:9001", p.GetName(), g.GetService(), g.GetPort())
		}
		if !g.GetFailOpen() {
			t.Error("provider does not fail open: an unreachable botauthz would take the site down")
		}
	}
	if !found {
		t.Errorf("no extensionProvider %q", authz.Spec.GetProvider().GetName())
	}

	// NOTES prints the same block for the chart's Service.
	notes := render(t, valueSets["istio"]).notes
	for _, want := range []string{"name: botauthz", "service: botauthz.botauthz.svc.cluster.local", "port: 9001", "failOpen: true"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lacks %q:\n%s", want, notes)
		}
	}
}
