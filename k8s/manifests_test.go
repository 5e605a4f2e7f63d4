package k8s

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec yaml.Node         `yaml:"spec"`
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
	for _, want := range []string{"IstioOperator/", "AuthorizationPolicy/botauthz", "VirtualService/botauthz-challenge"} {
		if _, ok := objs[want]; !ok {
			t.Errorf("istio.yaml lacks %s", want)
		}
	}
}
