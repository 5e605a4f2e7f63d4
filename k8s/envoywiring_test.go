package k8s

import (
	"encoding/json"
	"os"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/google/go-cmp/cmp"
)

// strictEnvoy decodes a YAML Envoy snippet into m, strictly, and runs its
// validation rules (Envoy NACKs a config that breaks them).
func strictEnvoy(t *testing.T, what string, y []byte, m interface {
	proto.Message
	ValidateAll() error
}) {
	t.Helper()
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := strict.Unmarshal(j, m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := m.ValidateAll(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// frontProxy is the part of envoy/front-proxy.yaml the chart's snippets
// restate: the HTTPS listener's http_filters and the clusters.
type frontProxy struct {
	StaticResources struct {
		Listeners []struct {
			Name         string `json:"name"`
			FilterChains []struct {
				Filters []struct {
					TypedConfig struct {
						HTTPFilters []json.RawMessage `json:"http_filters"`
					} `json:"typed_config"`
				} `json:"filters"`
			} `json:"filter_chains"`
		} `json:"listeners"`
		Clusters []json.RawMessage `json:"clusters"`
	} `json:"static_resources"`
}

func snippetList(t *testing.T, what, y string) []json.RawMessage {
	t.Helper()
	var list []json.RawMessage
	if err := yaml.Unmarshal([]byte(y), &list); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return list
}

// TestEnvoyWiringMatchesFrontProxy: the envoy wiring's ConfigMap holds an
// ext_authz filter, the header filter before it and botauthz's clusters
// that decode strictly into Envoy's types and say what
// envoy/front-proxy.yaml (run by the end-to-end tests) says, but for the
// addresses: the headless Service's, resolved by DNS.
func TestEnvoyWiringMatchesFrontProxy(t *testing.T) {
	ms := render(t, valueSets["envoy"]).objs
	cm := one[corev1.ConfigMap](t, ms, "ConfigMap", releaseName+"-envoy")
	headless := one[corev1.Service](t, ms, "Service", releaseName+"-headless")
	if headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s clusterIP %q, want None: a STRICT_DNS cluster must see every replica", headless.Name, headless.Spec.ClusterIP)
	}

	data, err := os.ReadFile("../envoy/front-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fp frontProxy
	if err := yaml.Unmarshal(data, &fp); err != nil {
		t.Fatal(err)
	}
	var wantFilters []json.RawMessage
	for _, l := range fp.StaticResources.Listeners {
		if l.Name == "ingress_https" {
			wantFilters = l.FilterChains[0].Filters[0].TypedConfig.HTTPFilters
		}
	}

	gotFilters := snippetList(t, "http_filters.yaml", cm.Data["http_filters.yaml"])
	if len(gotFilters) != 2 || len(wantFilters) != 3 {
		t.Fatalf("%d http_filters in the chart, %d in front-proxy.yaml: want header_mutation, ext_authz (and the router)", len(gotFilters), len(wantFilters))
	}
	for i := range gotFilters {
		got, want := &hcmv3.HttpFilter{}, &hcmv3.HttpFilter{}
		strictEnvoy(t, "chart http filter", gotFilters[i], got)
		strictEnvoy(t, "front-proxy http filter", wantFilters[i], want)
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("http filter %s differs from front-proxy.yaml's (-want +got):\n%s", want.GetName(), diff)
		}
		if got.GetName() == "envoy.filters.http.ext_authz" {
			ea := &extauthzv3.ExtAuthz{}
			if err := got.GetTypedConfig().UnmarshalTo(ea); err != nil {
				t.Fatal(err)
			}
			if ea.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "botauthz_grpc" {
				t.Errorf("ext_authz calls cluster %q", ea.GetGrpcService().GetEnvoyGrpc().GetClusterName())
			}
		}
	}

	wantClusters := map[string]*clusterv3.Cluster{}
	for _, raw := range fp.StaticResources.Clusters {
		c := &clusterv3.Cluster{}
		strictEnvoy(t, "front-proxy cluster", raw, c)
		wantClusters[c.GetName()] = c
	}
	gotClusters := snippetList(t, "clusters.yaml", cm.Data["clusters.yaml"])
	if len(gotClusters) != 2 {
		t.Fatalf("%d clusters, want botauthz_grpc and botauthz_http", len(gotClusters))
	}
	for _, raw := range gotClusters {
		got := &clusterv3.Cluster{}
		strictEnvoy(t, "chart cluster", raw, got)
		want, ok := wantClusters[got.GetName()]
		if !ok {
			t.Fatalf("cluster %q is not in front-proxy.yaml", got.GetName())
		}
		if got.GetType() != clusterv3.Cluster_STRICT_DNS {
			t.Errorf("cluster %s type %v, want STRICT_DNS", got.GetName(), got.GetType())
		}
		for _, e := range got.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints() {
			if a := e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress(); a != headless.Name+"."+releaseNamespace+".svc.cluster.local" {
				t.Errorf("cluster %s resolves %q, want the headless Service", got.GetName(), a)
			}
		}
		// The rest is front-proxy.yaml's.
		got, want = proto.Clone(got).(*clusterv3.Cluster), proto.Clone(want).(*clusterv3.Cluster)
		for _, c := range []*clusterv3.Cluster{got, want} {
			c.ClusterDiscoveryType, c.LoadAssignment = nil, nil
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("cluster %s differs from front-proxy.yaml's (-want +got):\n%s", got.GetName(), diff)
		}
	}

	routes := snippetList(t, "routes.yaml", cm.Data["routes.yaml"])
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	r := &routev3.Route{}
	strictEnvoy(t, "route", routes[0], r)
	if r.GetMatch().GetPrefix() != challengePrefix || r.GetRoute().GetCluster() != "botauthz_http" {
		t.Errorf("first route %v, want %s to botauthz_http", r, challengePrefix)
	}
	per := &extauthzv3.ExtAuthzPerRoute{}
	if err := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"].UnmarshalTo(per); err != nil || !per.GetDisabled() {
		t.Errorf("the challenge route is checked (%v): a challenged visitor could not reach the challenge", err)
	}
}
