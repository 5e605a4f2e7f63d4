// Package k8s holds botauthz's Kubernetes deployment: the plain manifests
// (botauthz.yaml), the Istio wiring (istio.yaml, and istio-mesh-config.yaml
// for istiod), the Helm chart (helm/botauthz) and the Kustomize base, Istio
// overlay and monitoring component (kustomize/). It is a Go module of its
// own so that the Helm, Kubernetes, Istio and Prometheus Operator libraries
// its tests need stay out of the service's go.mod.
//
// It has no code outside tests and the rules generator. No cluster runs in
// the tests: they lint and render the chart with the Helm SDK and build the
// Kustomize directories with the kustomize API, all offline, and decode every
// object strictly into the real API types, so that a misspelt field breaks a
// test, not a deployment. They load the policy and override files with the
// real loaders and decode the EnvoyFilters' patches into Envoy's types.
package k8s

//go:generate go run ./internal/genrules -repo ..
