// Package clearance owns the signed clearance cookie that botauthz sets once a
// visitor has passed a challenge, and that every later Check verifies.
//
// It owns the key set (parsed from an environment variable or a YAML file, with
// ids so keys can rotate: the first key signs, all keys verify), the cookie
// format and its HMAC-SHA256 signature, the clearance's lifetime, and its
// binding to the client's network (IPv4 /24, IPv6 /64) and user agent. Verify
// says why a cookie is refused with a Status whose String is a metric label.
//
// It must not serve HTTP (the challenge package owns the pages and decides when
// to Issue), score requests or weigh a clearance against other signals (the
// scoring and extauthz packages do), or log and count outcomes itself: callers
// turn a Status into metrics and decision-log fields.
//
// It also owns the signed-envelope format every value botauthz signs for a
// client to carry back shares (Envelope): the clearance cookie and the
// challenge package's token are envelopes of two kinds, with their own
// prefix and MAC context, signed by the same keys.
//
// The cookie value is "v1.<kid>.<payload>.<mac>": payload and mac are unpadded
// base64url, the payload carries the issue and expiry times, the masked client
// prefix, the first 16 bytes of SHA-256(User-Agent), and the provider and route
// labels. The payload is signed, not encrypted: it holds nothing the client
// does not already know.
//
// The prefix and the user-agent hash are a Binding's Digest, which the
// challenge package's tokens embed too: Digest is the one encoding and the one
// comparison of a client binding, so the token a visitor answers and the
// cookie it earns agree on what "the same client" means.
package clearance
