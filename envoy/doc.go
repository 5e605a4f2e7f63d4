// Package envoy holds the Envoy configuration that puts botauthz in front of
// an application (front-proxy.yaml, with the policy that goes with it in
// botauthz.yaml) and the end-to-end harness that runs that very file in a real
// Envoy, against the real botauthz binary and a real redis-server.
//
// It has no code of its own outside tests.
package envoy
