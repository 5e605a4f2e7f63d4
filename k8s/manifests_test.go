package k8s

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

func load(t *testing.T, path string) map[string]object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if o.Kind == "" {
			t.Fatalf("%s: a document without a kind", path)
		}
		objs[o.Kind+"/"+o.Metadata.Name] = o
	}
	return objs
}

func TestManifestPolicyLoads(t *testing.T) {
	objs := load(t, "botauthz.yaml")
	p, err := policy.Parse([]byte(objs["ConfigMap/botauthz-policy"].Data["policy.yaml"]))
	if err != nil {
		t.Fatalf("the policy in botauthz.yaml: %v", err)
	}
	if p.Rollout.OverrideFile != "/etc/botauthz/override/override.yaml" {
		t.Errorf("override_file = %q: it must match the override volume's mount path", p.Rollout.OverrideFile)
	}
	if _, err := rollout.ParseOverride([]byte(objs["ConfigMap/botauthz-override"].Data["override.yaml"])); err != nil {
		t.Errorf("the override file in botauthz.yaml: %v", err)
	}
	if _, err := rollout.ParseOverride([]byte("kill: bypass\n")); err != nil {
		t.Errorf("the emergency patch documented in botauthz.yaml does not parse: %v", err)
	}
}

// TestManifestEnvironmentIsDocumented keeps the Deployment's environment in
// step with the flags the README documents.
func TestManifestEnvironmentIsDocumented(t *testing.T) {
	objs := load(t, "botauthz.yaml")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Env []struct {
						Name string `yaml:"name"`
					} `yaml:"env"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	}
	dep := objs["Deployment/botauthz"]
	if err := dep.Spec.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range spec.Template.Spec.Containers {
		for _, e := range c.Env {
			n++
			if !strings.Contains(string(readme), "`"+e.Name+"`") {
				t.Errorf("the Deployment sets %s, which the README does not document", e.Name)
			}
		}
	}
	if n == 0 {
		t.Error("no environment found in the Deployment")
	}
}

func TestIstioManifestParses(t *testing.T) {
	objs := load(t, "istio.yaml")
	for _, want := range []string{"Gateway/botauthz-gateway", "AuthorizationPolicy/botauthz", "VirtualService/shop", "EnvoyFilter/botauthz-route-context", "EnvoyFilter/" + fingerprintFilter} {
		if _, ok := objs[want]; !ok {
			t.Errorf("istio.yaml lacks %s", want)
		}
	}
	// The IstioOperator is install-time configuration for istiod, in a file
	// of its own: kubectl apply fails on it without its CRD.
	for key := range objs {
		if strings.HasPrefix(key, "IstioOperator/") {
			t.Errorf("istio.yaml holds %s: it belongs in istio-mesh-config.yaml", key)
		}
	}
	if _, ok := load(t, "istio-mesh-config.yaml")["IstioOperator/botauthz-mesh"]; !ok {
		t.Error("istio-mesh-config.yaml lacks the IstioOperator")
	}
}

// podSpec is the part of the Deployment's pod these tests read.
type podSpec struct {
	Template struct {
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    *int `yaml:"runAsUser"`
				RunAsGroup   *int `yaml:"runAsGroup"`
			} `yaml:"securityContext"`
			Containers []struct {
				Env []struct {
					Name      string `yaml:"name"`
					Value     string `yaml:"value"`
					ValueFrom struct {
						SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
					} `yaml:"valueFrom"`
				} `yaml:"env"`
			} `yaml:"containers"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

func deployment(t *testing.T, objs map[string]object) podSpec {
	t.Helper()
	var spec podSpec
	node := objs["Deployment/botauthz"].Spec
	if err := node.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestImageUserMatchesThePod: the kubelet refuses to start a container with
// runAsNonRoot whose user is a name, since it cannot tell that the name is
// not root. The Dockerfile's final USER must be numeric and non-zero, and
// the pod must run as the same user.
func TestImageUserMatchesThePod(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var user string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.EqualFold(f[0], "USER") {
			user = f[1] // the last USER of the last stage wins
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	u, err := strconv.Atoi(uid)
	if err != nil || u == 0 {
		t.Fatalf("Dockerfile USER %q: want a numeric, non-root uid", user)
	}
	sc := deployment(t, load(t, "botauthz.yaml")).Template.Spec.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != u {
		t.Errorf("pod securityContext runAsNonRoot=%v runAsUser=%v, want true and %d (the image's USER)", sc.RunAsNonRoot, sc.RunAsUser, u)
	}
	if g, err := strconv.Atoi(gid); gid != "" && (err != nil || sc.RunAsGroup == nil || *sc.RunAsGroup != g) {
		t.Errorf("pod runAsGroup=%v, want the image's group %s", sc.RunAsGroup, gid)
	}
}

// TestReplicasShareClearanceKeys: every replica must sign with the same keys,
// from the Secret, or a visitor's cookie and challenge answer are valid on
// one replica and not the next.
func TestReplicasShareClearanceKeys(t *testing.T) {
	objs := load(t, "botauthz.yaml")
	secret := objs["Secret/botauthz"]
	found := false
	for _, c := range deployment(t, objs).Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name != "BOTAUTHZ_CLEARANCE_KEYS" {
				continue
			}
			found = true
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != "botauthz" || secret.StringData[ref.Key] == "" {
				t.Errorf("BOTAUTHZ_CLEARANCE_KEYS comes from secret %q key %q, which the Secret botauthz does not hold", ref.Name, ref.Key)
			}
			// The placeholder must stop a start rather than run on it.
			if _, err := clearance.ParseKeys(secret.StringData[ref.Key]); err == nil {
				t.Errorf("the placeholder clearance key %q parses: a forgotten replacement would run on it", secret.StringData[ref.Key])
			}
		}
	}
	if !found {
		t.Error("the Deployment does not set BOTAUTHZ_CLEARANCE_KEYS: every replica would make up its own key")
	}
}
