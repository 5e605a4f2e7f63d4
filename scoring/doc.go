// Package scoring turns the facts of one HTTP request into a bot score with
// the reasons behind it.
//
// The score follows Cloudflare's direction: 1–99, low means automated, and 0
// means the request was not scored. A Model starts every request at a base
// score and subtracts the weight of each signal that fires; each signal is a
// named reason code such as "ua.library" or "hints.missing". The signals are
// header-consistency checks (user agent, Accept headers, client hints, fetch
// metadata) and velocity readings handed in by the caller.
//
// The package owns the signals, the reason codes, the bands and the default
// weights. Its knowledge of user agents and its default weights are data
// files under data/, embedded at build time, so updating a list does not
// touch code.
//
// It must not know about Envoy, gRPC, Redis or policy files: callers pass
// plain values (headers, scheme, counter estimates, weights) and get a score
// back. It decides nothing: turning a score into an action belongs to the
// policy, and recognising verified bots belongs to the verification step.
//
// Score runs on every request, so it does not allocate, compile patterns or
// lower-case whole headers; all matchers are built once by NewModel.
package scoring
