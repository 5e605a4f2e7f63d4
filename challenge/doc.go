// Package challenge owns the challenge flow's public side, served under
// Prefix on the public HTTP port: the challenge page, the proof-of-work
// script, and the verification of answers that ends in a clearance cookie.
// The pages are styled by an embedded stylesheet and the policy's colours
// (style.go), speak the visitor's language from embedded messages and the
// policy's messages_dir (messages.go), and carry the policy's branding,
// all under a strict Content-Security-Policy.
//
// A challenge page embeds a signed, expiring challenge token bound to the
// client's network prefix and user agent, and either the built-in proof of
// work (the embedded challenge.js finds a nonce such that
// hex(SHA-256(id ":" nonce)) starts with the route's number of '0' digits) or
// a CAPTCHA provider's widget. An answer is verified against the token, then
// the proof of work or the provider, then redeemed once through a Redeemer
// shared by the replicas; only then is the clearance cookie issued. It also
// owns the validation of where a solved challenge may send the visitor back
// to (return_to).
//
// It must not score requests or read the counter store, and it does not talk
// to CAPTCHA vendors itself (the provider subpackage does). Outcomes go to an
// Observer; the package keeps no global mutable state.
package challenge
