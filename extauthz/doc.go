// Package extauthz is the gRPC Check server Envoy calls for every request:
// CheckRequest in, CheckResponse out.
//
// One Check reads like the design's pipeline — request facts, velocity
// counters and history in one store call, score and reasons, action,
// rollout, response — and delegates each step to the package that owns it
// (ratelimit, history, scoring, policy); the decided outcome goes to the
// history writer after the decision. This package
// owns the request facts (who the client is, which route, which session) and
// the response contract with Envoy (headers, status codes, bodies).
//
// A Check always returns a CheckResponse with an explicit status and never a
// gRPC error: Envoy turns errors into its own failure policy, which would take
// the decision out of our hands. Bad input, a slow counter store or a bug
// (recovered) all end in a decision. Codec, the gRPC server codec, extends
// that to requests protobuf-go would refuse to decode: invalid UTF-8 in a
// string field.
package extauthz
