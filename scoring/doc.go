// Package scoring turns the facts of one HTTP request into a bot score with
// the reasons behind it.
//
// The score follows Cloudflare's direction: 1–99, low means automated, and 0
// means the request was not scored. It has two layers. The certainty rules
// come first: a request that declares automation (a library's or headless
// browser's user agent, none at all) scores 1, and one that contradicts
// itself (client hints against the user agent, a browser version without
// headers it always sends) at most 29. Then a logistic model: every
// feature is a named reason code such as "order.unlike_browser" or
// "velocity.ip" that fires or not, the log-odds of a human are the bias
// plus the weights of the features that fired, and the score is that
// probability times 100. A reason's cost is the score without it minus the
// score with it.
//
// The package owns the signals, the reason codes, the feature set and its
// version, and the data they read, all embedded under data/ so that
// updating a list or retraining never touches code: what browsers always
// send (browsers.yaml), the order they send it in (header_order.yaml,
// learned by cmd/bottrain), TLS client families by JA4 cipher hash
// (tls.yaml), the user agent lists (user_agents.yaml) and the weights
// (model.yaml, fitted by cmd/bottrain).
//
// It must not know about Envoy, gRPC, Redis or policy files: callers pass
// plain values (headers and their order, scheme, protocol, counter
// estimates, a tuning) and get a score back. It decides nothing: turning a
// score into an action belongs to the policy, and recognising verified bots
// belongs to the verification step.
//
// Score runs on every request, so it does not allocate, compile patterns or
// lower-case whole headers; all matchers are built once by Load.
package scoring
