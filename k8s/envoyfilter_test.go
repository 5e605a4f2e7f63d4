package k8s

import (
	"encoding/json"
	"reflect"
	"testing"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/botauthz/botauthz/policy"
)

// fingerprintFilter is the EnvoyFilter in istio.yaml that gives botauthz the
// client's TLS fingerprints.
const fingerprintFilter = "botauthz-tls-fingerprint"

// The fingerprint headers the gateway sets, and the Envoy formatter for each.
var fingerprintHeaders = []struct{ name, formatter string }{
	{"x-botauthz-ja4", "%TLS_JA4_FINGERPRINT%"},
	{"x-botauthz-ja3", "%TLS_JA3_FINGERPRINT%"},
}

// strict decodes JSON and fails on any field the message does not have. The
// @type of an Any resolves in the global registry, which holds the Envoy
// types this file imports.
var strict = protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}

// toJSONValue round-trips v through encoding/json, so YAML- and
// protojson-sourced trees compare equal (numbers become float64).
func toJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeEnvoyFilter decodes the EnvoyFilter's spec into Istio's API type,
// strictly, and checks that nothing was lost or renamed on the way: the
// Kubernetes API server prunes fields its CRD schema does not name, and the
// schema knows only the camelCase names (protojson would also take
// snake_case). Inside a patch value anything goes as far as Kubernetes is
// concerned; those are checked against Envoy's types below.
func decodeEnvoyFilter(t *testing.T, o object) *networkingv1alpha3.EnvoyFilter {
	t.Helper()
	var spec any
	if err := o.Spec.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ef := &networkingv1alpha3.EnvoyFilter{}
	if err := strict.Unmarshal(raw, ef); err != nil {
		t.Fatalf("EnvoyFilter %s: %v", o.Metadata.Name, err)
	}
	back, err := protojson.Marshal(ef)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(back, &got); err != nil {
		t.Fatal(err)
	}
	if want := toJSONValue(t, spec); !reflect.DeepEqual(got, want) {
		t.Fatalf("EnvoyFilter %s does not survive a round trip through istio.io/api (a snake_case or defaulted field?):\n got %s\nwant %s",
			o.Metadata.Name, back, raw)
	}
	return ef
}

// decodeValue decodes a patch value (a google.protobuf.Struct) strictly into
// the Envoy message it stands for, as istiod's validation does in its strict
// pass, then runs the message's own validation rules (Envoy NACKs a config
// that breaks them).
func decodeValue(t *testing.T, what string, v *structpb.Struct, into interface {
	proto.Message
	ValidateAll() error
}) {
	t.Helper()
	if v == nil {
		t.Fatalf("%s: no patch value", what)
	}
	raw, err := protojson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := strict.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := into.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func fingerprintPatches(t *testing.T) (listenerFilter, httpFilter *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) {
	t.Helper()
	objs := load(t, "istio.yaml")
	o, ok := objs["EnvoyFilter/"+fingerprintFilter]
	if !ok {
		t.Fatalf("istio.yaml lacks EnvoyFilter/%s", fingerprintFilter)
	}
	if o.APIVersion != "networking.istio.io/v1alpha3" {
		t.Errorf("EnvoyFilter apiVersion %q, want networking.istio.io/v1alpha3", o.APIVersion)
	}
	ef := decodeEnvoyFilter(t, o)

	// It must select the workloads the CUSTOM policy puts ext_authz on.
	authz := objs["AuthorizationPolicy/botauthz"]
	var authzSpec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	}
	if err := authz.Spec.Decode(&authzSpec); err != nil {
		t.Fatal(err)
	}
	if got, want := ef.GetWorkloadSelector().GetLabels(), authzSpec.Selector.MatchLabels; len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("EnvoyFilter selects %v, the CUSTOM AuthorizationPolicy %v: they must be the same gateway", got, want)
	}
	if o.Metadata.Namespace != authz.Metadata.Namespace {
		t.Errorf("EnvoyFilter in namespace %q, the AuthorizationPolicy in %q", o.Metadata.Namespace, authz.Metadata.Namespace)
	}

	for _, p := range ef.GetConfigPatches() {
		if p.GetMatch().GetContext() != networkingv1alpha3.EnvoyFilter_GATEWAY {
			t.Errorf("%s patch: context %v, want GATEWAY", p.GetApplyTo(), p.GetMatch().GetContext())
		}
		switch p.GetApplyTo() {
		case networkingv1alpha3.EnvoyFilter_LISTENER_FILTER:
			if listenerFilter != nil {
				t.Fatal("two LISTENER_FILTER patches")
			}
			listenerFilter = p
		case networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
			if httpFilter != nil {
				t.Fatal("two HTTP_FILTER patches")
			}
			httpFilter = p
		default:
			t.Errorf("unexpected %s patch", p.GetApplyTo())
		}
	}
	if listenerFilter == nil || httpFilter == nil {
		t.Fatalf("EnvoyFilter %s: want one LISTENER_FILTER and one HTTP_FILTER patch", fingerprintFilter)
	}
	return listenerFilter, httpFilter
}

// TestEnvoyFilterTurnsOnFingerprints: the gateway's own TLS inspector
// computes JA4 and JA3.
func TestEnvoyFilterTurnsOnFingerprints(t *testing.T) {
	p, _ := fingerprintPatches(t)
	const name = "envoy.filters.listener.tls_inspector"
	if got := p.GetMatch().GetListener().GetListenerFilter(); got != name {
		t.Errorf("listener filter patch matches %q, want %q (the inspector istiod generates)", got, name)
	}
	// istiod's MERGE of a listener filter merges into every listener filter
	// on the listener whatever its name (1.27 on, still so on Istio's main
	// branch in August 2026); next to a PROXY protocol filter it panics and
	// istiod drops every EnvoyFilter patch on the gateway.
	if op := p.GetPatch().GetOperation(); op != networkingv1alpha3.EnvoyFilter_Patch_REPLACE {
		t.Errorf("listener filter patch operation %v, want REPLACE (see istio.yaml)", op)
	}

	lf := &listenerv3.ListenerFilter{}
	decodeValue(t, "listener filter patch value", p.GetPatch().GetValue(), lf)
	if lf.GetName() != name {
		t.Errorf("listener filter named %q, want %q: REPLACE would rename istiod's inspector", lf.GetName(), name)
	}
	ti := &tlsinspectorv3.TlsInspector{}
	if err := lf.GetTypedConfig().UnmarshalTo(ti); err != nil {
		t.Fatalf("listener filter typed_config: %v", err)
	}
	if err := ti.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if !ti.GetEnableJa4Fingerprinting().GetValue() {
		t.Error("tls_inspector: enable_ja4_fingerprinting is not true")
	}
	if !ti.GetEnableJa3Fingerprinting().GetValue() {
		t.Error("tls_inspector: enable_ja3_fingerprinting is not true")
	}
	// REPLACE drops what istiod set; the value restates it.
	if got := ti.GetInitialReadBufferSize().GetValue(); got != 512 {
		t.Errorf("tls_inspector: initial_read_buffer_size %d, want istiod's 512", got)
	}
}

// headerMutation decodes the HTTP filter patch's value, strictly, down to
// its typed_config.
func headerMutation(t *testing.T, p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) *headermutationv3.HeaderMutation {
	t.Helper()
	hf := &hcmv3.HttpFilter{}
	decodeValue(t, "HTTP filter patch value", p.GetPatch().GetValue(), hf)
	if hf.GetName() != "envoy.filters.http.header_mutation" {
		t.Errorf("HTTP filter named %q, want envoy.filters.http.header_mutation", hf.GetName())
	}
	hm := &headermutationv3.HeaderMutation{}
	if err := hf.GetTypedConfig().UnmarshalTo(hm); err != nil {
		t.Fatalf("HTTP filter typed_config: %v", err)
	}
	if err := hm.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	return hm
}

// TestEnvoyFilterSetsFingerprintHeaders: just before ext_authz, the
// fingerprint headers are the gateway's and never a client's.
func TestEnvoyFilterSetsFingerprintHeaders(t *testing.T) {
	_, p := fingerprintPatches(t)
	l := p.GetMatch().GetListener()
	if got := l.GetFilterChain().GetFilter().GetName(); got != "envoy.filters.network.http_connection_manager" {
		t.Errorf("HTTP filter patch matches network filter %q, want the HTTP connection manager", got)
	}
	if got := l.GetFilterChain().GetFilter().GetSubFilter().GetName(); got != "envoy.filters.http.ext_authz" {
		t.Errorf("HTTP filter patch matches sub-filter %q, want envoy.filters.http.ext_authz", got)
	}
	if op := p.GetPatch().GetOperation(); op != networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE {
		t.Errorf("HTTP filter patch operation %v, want INSERT_BEFORE ext_authz", op)
	}
	// Every listener botauthz checks must strip a client's copy, plain HTTP
	// included: no narrowing to one port or listener.
	if l.GetPortNumber() != 0 || l.GetPortName() != "" || l.GetName() != "" || l.GetFilterChain().GetSni() != "" {
		t.Errorf("HTTP filter patch is narrowed to port %d / %q / listener %q / sni %q; it must apply wherever ext_authz is",
			l.GetPortNumber(), l.GetPortName(), l.GetName(), l.GetFilterChain().GetSni())
	}

	hm := headerMutation(t, p)

	// Per header, the request mutations must be: remove it, then set it from
	// the fingerprint with OVERWRITE_IF_EXISTS_OR_ADD. The remove matters:
	// with no fingerprint the value is empty and Envoy skips the overwrite.
	type step struct {
		remove bool
		append *corev3.HeaderValueOption
	}
	describe := func(s []step) []string {
		var out []string
		for _, x := range s {
			if x.remove {
				out = append(out, "remove")
			} else {
				out = append(out, "append "+x.append.GetHeader().GetValue())
			}
		}
		return out
	}
	steps := map[string][]step{}
	for _, m := range hm.GetMutations().GetRequestMutations() {
		switch a := m.GetAction().(type) {
		case *mutationrulesv3.HeaderMutation_Remove:
			steps[a.Remove] = append(steps[a.Remove], step{remove: true})
		case *mutationrulesv3.HeaderMutation_Append:
			k := a.Append.GetHeader().GetKey()
			steps[k] = append(steps[k], step{append: a.Append})
		default:
			t.Errorf("unexpected request mutation %v", m)
		}
	}
	for _, h := range fingerprintHeaders {
		s := steps[h.name]
		delete(steps, h.name)
		if len(s) != 2 || !s[0].remove || s[1].append == nil {
			t.Errorf("%s: request mutations %q, want a remove then an append", h.name, describe(s))
			continue
		}
		a := s[1].append
		if got := a.GetHeader().GetValue(); got != h.formatter {
			t.Errorf("%s = %q, want %q", h.name, got, h.formatter)
		}
		if got := a.GetAppendAction(); got != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			t.Errorf("%s: append_action %v, want OVERWRITE_IF_EXISTS_OR_ADD", h.name, got)
		}
		if a.GetAppend() != nil || a.GetKeepEmptyValue() {
			t.Errorf("%s: append %v keep_empty_value %v: want neither", h.name, a.GetAppend(), a.GetKeepEmptyValue())
		}
	}
	for k := range steps {
		t.Errorf("the header filter also changes %q", k)
	}
	if m := hm.GetMutations(); len(m.GetResponseMutations())+len(m.GetQueryParameterMutations())+
		len(m.GetRequestTrailersMutations())+len(m.GetResponseTrailersMutations()) != 0 {
		t.Error("the header filter mutates more than request headers")
	}
}

// TestPolicyTrustsTheGatewaysHeader: the policy in botauthz.yaml trusts the
// JA4 header, so it must name the header the gateway's EnvoyFilter sets from
// %TLS_JA4_FINGERPRINT% (and strips first: TestEnvoyFilterSetsFingerprintHeaders).
func TestPolicyTrustsTheGatewaysHeader(t *testing.T) {
	p, err := policy.Parse([]byte(load(t, "botauthz.yaml")["ConfigMap/botauthz-policy"].Data["policy.yaml"]))
	if err != nil {
		t.Fatalf("the policy in botauthz.yaml: %v", err)
	}
	if !p.TLS.Trusted {
		t.Fatal("the policy in botauthz.yaml does not trust the JA4 header the gateway sets (tls.trusted)")
	}
	_, hp := fingerprintPatches(t)
	var set []string
	for _, m := range headerMutation(t, hp).GetMutations().GetRequestMutations() {
		if a := m.GetAppend(); a.GetHeader().GetValue() == "%TLS_JA4_FINGERPRINT%" {
			set = append(set, a.GetHeader().GetKey())
		}
	}
	if len(set) != 1 || set[0] != p.TLS.JA4Header {
		t.Errorf("policy tls.ja4_header = %q; the EnvoyFilter sets %%TLS_JA4_FINGERPRINT%% in %q", p.TLS.JA4Header, set)
	}
}
