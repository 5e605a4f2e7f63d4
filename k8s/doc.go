// Package k8s holds the Kubernetes manifests (botauthz.yaml) and the Istio
// wiring (istio.yaml) for botauthz. It has no code outside tests, which load
// the policy and override file embedded in the manifests with the real
// loaders, and decode istio.yaml's EnvoyFilter into Istio's and Envoy's API
// types, so that a renamed key breaks a test, not a deployment.
package k8s
