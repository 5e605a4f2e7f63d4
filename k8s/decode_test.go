package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istiosecurityv1 "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
)

// manifest is one decoded Kubernetes object: Obj points at its real API
// type (*appsv1.Deployment, *istionetworkingv1.VirtualService, …).
type manifest struct {
	Source    string // where it came from, for messages
	Kind      string
	Name      string
	Namespace string
	Obj       any
}

func (m manifest) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", m.Kind, m.Namespace, m.Name, m.Source)
}

// manifests is every object of a file, a chart rendering or a kustomize build.
type manifests []manifest

// byKind returns the objects of one kind.
func (ms manifests) byKind(kind string) manifests {
	var out manifests
	for _, m := range ms {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// one returns the only object of kind and name (any namespace), or fails.
func one[T any](t *testing.T, ms manifests, kind, name string) *T {
	t.Helper()
	var found *T
	for _, m := range ms {
		if m.Kind != kind || m.Name != name {
			continue
		}
		if found != nil {
			t.Fatalf("two %s %s", kind, name)
		}
		o, ok := m.Obj.(*T)
		if !ok {
			t.Fatalf("%s decoded into %T", m, m.Obj)
		}
		found = o
	}
	if found == nil {
		t.Fatalf("no %s %s among %v", kind, name, ms.names())
	}
	return found
}

func (ms manifests) names() []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Kind+"/"+m.Name)
	}
	return out
}

// typeMeta is what picks the Go type of a document.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// k8sTypes are the Kubernetes and Prometheus Operator kinds the shipped
// manifests may hold, each decoded strictly by sigs.k8s.io/json, as the API
// server's strict field validation does: unknown and duplicate fields and
// fields in the wrong case are errors.
var k8sTypes = map[typeMeta]func() any{
	{"v1", "Namespace"}:                             func() any { return &corev1.Namespace{} },
	{"v1", "ConfigMap"}:                             func() any { return &corev1.ConfigMap{} },
	{"v1", "Secret"}:                                func() any { return &corev1.Secret{} },
	{"v1", "Service"}:                               func() any { return &corev1.Service{} },
	{"apps/v1", "Deployment"}:                       func() any { return &appsv1.Deployment{} },
	{"policy/v1", "PodDisruptionBudget"}:            func() any { return &policyv1.PodDisruptionBudget{} },
	{"autoscaling/v2", "HorizontalPodAutoscaler"}:   func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	{"networking.k8s.io/v1", "NetworkPolicy"}:       func() any { return &networkingv1.NetworkPolicy{} },
	{"monitoring.coreos.com/v1", "ServiceMonitor"}:  func() any { return &monitoringv1.ServiceMonitor{} },
	{"monitoring.coreos.com/v1", "PrometheusRule"}:  func() any { return &monitoringv1.PrometheusRule{} },
	{"networking.istio.io/v1", "Gateway"}:           func() any { return &istionetworkingv1.Gateway{} },
	{"networking.istio.io/v1", "VirtualService"}:    func() any { return &istionetworkingv1.VirtualService{} },
	{"networking.istio.io/v1alpha3", "EnvoyFilter"}: func() any { return &istionetworkingv1alpha3.EnvoyFilter{} },
	{"security.istio.io/v1", "AuthorizationPolicy"}: func() any { return &istiosecurityv1.AuthorizationPolicy{} },
}

// istioSpec returns the spec message of an Istio object. Istio's own
// UnmarshalJSON for specs lets unknown fields through
// (jsonpb.Unmarshaler{AllowUnknownFields: true}), so decodeObject decodes the
// spec again with protojson, which refuses them.
func istioSpec(obj any) proto.Message {
	switch o := obj.(type) {
	case *istionetworkingv1.Gateway:
		return &o.Spec
	case *istionetworkingv1.VirtualService:
		return &o.Spec
	case *istionetworkingv1alpha3.EnvoyFilter:
		return &o.Spec
	case *istiosecurityv1.AuthorizationPolicy:
		return &o.Spec
	}
	return nil
}

// decodeObject decodes one JSON document into its API type, strictly.
func decodeObject(source string, doc []byte) (manifest, error) {
	var tm typeMeta
	if err := json.Unmarshal(doc, &tm); err != nil {
		return manifest{}, fmt.Errorf("%s: %w", source, err)
	}
	newObj, ok := k8sTypes[tm]
	if !ok {
		return manifest{}, fmt.Errorf("%s: %s %s is a kind these tests do not know: add its Go type to k8sTypes", source, tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	strictErrs, err := sigsjson.UnmarshalStrict(doc, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return manifest{}, fmt.Errorf("%s: %s: %w", source, tm.Kind, err)
	}
	if len(strictErrs) > 0 {
		return manifest{}, fmt.Errorf("%s: %s: %w", source, tm.Kind, errors.Join(strictErrs...))
	}
	if spec := istioSpec(obj); spec != nil {
		var raw struct {
			Spec json.RawMessage `json:"spec"`
		}
		if err := json.Unmarshal(doc, &raw); err != nil {
			return manifest{}, err
		}
		if err := strictProto(raw.Spec, spec); err != nil {
			return manifest{}, fmt.Errorf("%s: %s spec: %w", source, tm.Kind, err)
		}
	}
	meta := struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
	}{}
	if err := json.Unmarshal(doc, &meta); err != nil {
		return manifest{}, err
	}
	return manifest{Source: source, Kind: tm.Kind, Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, Obj: obj}, nil
}

// strictProto decodes JSON into m refusing unknown fields, then checks that
// nothing was lost or renamed on the way: the API server prunes fields its
// CRD schema does not name, and that schema knows only the camelCase names
// (protojson would also take snake_case).
func strictProto(raw []byte, m proto.Message) error {
	if err := strict.Unmarshal(raw, m); err != nil {
		return err
	}
	back, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	var got, want any
	if err := json.Unmarshal(back, &got); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		return err
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("does not survive a round trip through its API type (a snake_case or defaulted field?):\n got %s\nwant %s", back, raw)
	}
	return nil
}

// yamlDocs splits a YAML stream into JSON documents, skipping empty ones
// (a comment-only document, a template that rendered nothing).
func yamlDocs(data []byte) ([][]byte, error) {
	var docs [][]byte
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var v any
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if v == nil {
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		docs = append(docs, j)
	}
}

// decodeAll decodes every document of a YAML stream strictly.
func decodeAll(source string, data []byte) (manifests, error) {
	docs, err := yamlDocs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var ms manifests
	var errs []error
	for i, doc := range docs {
		m, err := decodeObject(fmt.Sprintf("%s#%d", source, i), doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, m)
	}
	return ms, errors.Join(errs...)
}

// decodeFile decodes a shipped manifest file strictly, or fails the test.
func decodeFile(t *testing.T, path string) manifests {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeAll(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestShippedManifestsDecodeStrictly: every object of the plain manifests is
// of a kind `kubectl apply` takes once Istio is installed (no IstioOperator:
// its CRD is not installed by Istio's charts) and decodes strictly into its
// API type.
func TestShippedManifestsDecodeStrictly(t *testing.T) {
	for _, path := range []string{"botauthz.yaml", "istio.yaml"} {
		ms := decodeFile(t, path)
		if len(ms) == 0 {
			t.Errorf("%s: no objects", path)
		}
	}
}

// TestStrictDecodingRefusesMistakes: the decoding the other tests rely on
// refuses a misspelt field at every level, where Kubernetes' and Istio's
// lenient decoders would drop it.
func TestStrictDecodingRefusesMistakes(t *testing.T) {
	cases := []struct {
		name, doc string
	}{
		{"Deployment field", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: x}, spec: {replica: 3}}`},
		{"Deployment field case", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: x}, spec: {Replicas: 3}}`},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n"},
		{"container field", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: x}, spec: {template: {spec: {containers: [{name: a, imagee: b}]}}}}`},
		{"VirtualService spec", `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: x}, spec: {hosts: [a], gatways: [b]}}`},
		{"VirtualService snake_case", `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: x}, spec: {hosts: [a], export_to: [b]}}`},
		{"EnvoyFilter spec", `{apiVersion: networking.istio.io/v1alpha3, kind: EnvoyFilter, metadata: {name: x}, spec: {configPatch: []}}`},
		{"AuthorizationPolicy spec", `{apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: {name: x}, spec: {action: CUSTOM, providr: {name: b}}}`},
		{"Istio metadata", `{apiVersion: networking.istio.io/v1, kind: Gateway, metadata: {name: x, namspace: y}, spec: {}}`},
		{"ServiceMonitor spec", `{apiVersion: monitoring.coreos.com/v1, kind: ServiceMonitor, metadata: {name: x}, spec: {endpoint: [], selector: {}}}`},
		{"PrometheusRule rule", `{apiVersion: monitoring.coreos.com/v1, kind: PrometheusRule, metadata: {name: x}, spec: {groups: [{name: g, rules: [{alert: A, expression: up}]}]}}`},
		{"unknown kind", `{apiVersion: install.istio.io/v1alpha1, kind: IstioOperator, metadata: {name: x}, spec: {}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := decodeAll(c.name, []byte(c.doc)); err == nil {
				t.Errorf("decoded without an error:\n%s", c.doc)
			} else {
				t.Log(err)
			}
		})
	}

	// Why Istio specs are decoded a second time: client-go's own decoding
	// takes the misspelling silently.
	var vs istionetworkingv1.VirtualService
	if err := json.Unmarshal([]byte(`{"spec": {"hosts": ["a"], "gatways": ["b"]}}`), &vs); err != nil {
		t.Logf("istio.io/client-go now refuses unknown spec fields itself (%v): the second pass is redundant", err)
	}
}

// TestDecodedObjectsCarryTheirNames guards decodeObject's bookkeeping.
func TestDecodedObjectsCarryTheirNames(t *testing.T) {
	ms, err := decodeAll("test", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n---\n# only a comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "a" || ms[0].Namespace != "b" || ms[0].Kind != "ConfigMap" {
		t.Fatalf("got %+v", ms)
	}
	if !strings.Contains(ms[0].String(), "ConfigMap b/a") {
		t.Errorf("String() = %q", ms[0].String())
	}
}
