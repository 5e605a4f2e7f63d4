// Package webbotauth verifies Web Bot Auth: requests a bot signs with HTTP
// Message Signatures (RFC 9421) using Ed25519, naming in Signature-Agent
// where its public keys are published.
//
// The package owns the verification of one request's signature (Verify,
// which never does I/O and allocates nothing for requests without a
// web-bot-auth signature) and the key directories of the agents an
// operator trusts (Start fetches them and keeps them fresh). It does not
// decide what a verified, invalid or unverifiable request deserves: the
// caller's policy does, from the Status. It never fetches a directory a
// client names but the operator did not configure, and it keeps no nonce
// state: replay protection is out of scope. The drafts defer it to RFC 9421
// §7.2.2, a signature can be replayed until its expires (plus the skew),
// and the nonce parameter is ignored.
//
// # Specifications
//
// Implemented: RFC 9421 (signature base §2.5, derived components @method,
// @authority, @scheme, @target-uri, @request-target, @path, @query and
// @query-param, HTTP fields with ;sf and ;key=, verification §3.2, Ed25519
// §3.3.6), RFC 8941/9651 Structured Fields, RFC 7638/8037 thumbprints,
// RFC 9530 Content-Digest; and draft-ietf-webbotauth-httpsig-protocol-01
// (29 October 2026), current as of December 2026.
//
// That draft is the Web Bot Auth working group's single protocol document.
// Its lineage: draft-meunier-web-bot-auth-architecture-00 to -05 (the last
// on 2 March 2026) became draft-meunier-webbotauth-httpsig-protocol-00;
// the directory draft, draft-meunier-http-message-signatures-directory-00
// to -05 (2 March 2026), became draft-meunier-webbotauth-httpsig-directory-00
// (26 June 2026) and was folded into draft-meunier-webbotauth-httpsig-protocol-01
// (5 August 2026); the working group adopted it as
// draft-ietf-webbotauth-httpsig-protocol-00 (1 September 2026). There is
// no separate directory draft any more. Sources: the drafts' repositories
// github.com/webbotauth/draft-ietf-webbotauth-httpsig-protocol and
// github.com/thibmeu/http-message-signatures-directory.
//
// The changes between those versions that a verifier sees, and what this
// package does with each:
//
//   - Signature-Agent form. Architecture drafts -00 to -03 sent one bare
//     String, Signature-Agent: "https://…", covered as "signature-agent";
//     from -04 it is a Dictionary, Signature-Agent: sig1="https://…",
//     whose member is covered as "signature-agent";key="sig1". -01 lets a
//     verifier accept the bare String as a one-member dictionary keyed to
//     the signature's label. Both are accepted, and so is a dictionary
//     covered whole as "signature-agent" (the npm package web-bot-auth
//     0.1.3 signs that way): the member keyed to the label, or the only
//     member, names the agent.
//   - Signature-Agent meaning. Up to draft-ietf-webbotauth-httpsig-protocol-00
//     a value was, by default, an origin whose directory sits at
//     /.well-known/http-message-signatures-directory (the directory drafts
//     also allowed http: and data: URIs; the protocol drafts added typed
//     members, ;type=jwks_uri and ;type=cimd). -01 makes every value the
//     https URL of the JWK Set itself and says a member with parameters
//     MUST be ignored. Accepted: an origin, resolved to the configured
//     agent with that origin; or a URL equal to the agent's well-known URL
//     or its configured directory URL. A member with parameters, or a
//     value that is not an https URL, names no agent (Untrusted).
//   - Signature-Agent required. -01 (from meunier-protocol-02) requires it
//     on every signed request and its member to be covered. A signature
//     that omits the covered member while the field is present is Invalid
//     (agent_not_covered); a request without the field names no agent and
//     is Untrusted (no_agent), never attributed to a key found elsewhere
//     (-01 §5.4 keys lookup on the (URL, key) pair).
//   - Coverage. @authority is required; architecture-04 allowed
//     @target-uri instead, and -01 keeps that.
//   - Directory response signatures. The directory draft -05 told clients
//     to ignore keys without a valid response signature; -01 Appendix B.1
//     makes the proof optional when the verifier fetches the directory
//     itself. A response without proof is accepted (it came over TLS from
//     the configured URL); a response with proof must carry a valid one:
//     Ed25519 over "@authority";req and content-digest, the digest
//     matching the body, created not in the future, not expired. Otherwise
//     the fetch fails and the last good keys stay. DirectoryState.Signed
//     tells which.
//   - Discovery. -01 §5.5: only 200 counts, redirects are not followed;
//     at the well-known URI the media type must be
//     application/http-message-signatures-directory+json. kid, which -01
//     wants equal to the thumbprint, is not trusted: keys are indexed by
//     the thumbprint computed here.
//
// # Outcomes
//
// Verified needs a trusted agent, a fetched directory holding the keyid, a
// signature over at least @authority (or @target-uri) and the agent's
// Signature-Agent member, within created and expires give or take MaxSkew
// (default one minute: neither RFC 9421 nor the drafts name a number).
// Invalid is definitive whoever the agent is: checks that need no key run
// first. Pending and Untrusted say nothing about the sender (-01 Appendix
// C.1 "unverified").
//
// # What an ext_authz request cannot show
//
// Components are resolved from what Envoy reports. A covered field sent
// in several lines reaches us joined with "," where RFC 9421 §2.1 joins
// with ", ", so such a signature fails; bots sign single-line fields.
// @scheme and @target-uri use Envoy's scheme, which behind a load balancer
// that terminates TLS is http while the bot signed https. bs, req and tr
// component parameters, and ;sf on fields whose structured type is not
// known here, fail verification as RFC 9421 §2.5 requires.
//
// # Directories
//
// Options.Directories lists the trusted agents. Start fetches each at
// once, then every Refresh (default one hour, shortened by Cache-Control
// max-age down to a minute, ±10% jitter), retrying failures after 1s
// doubling to five minutes. A failed fetch never evicts the last good key
// set; a successful one replaces it, so a removed key stops verifying.
// Limits: 64 KiB per response, 64 keys, 10 s per fetch. Only Ed25519 keys
// verify; RSA and EC keys are recognised so that their signatures are
// Untrusted (unsupported_alg) rather than Invalid, and the RFC 9421
// example key is refused as -01 §6.8 asks. No address-range filtering is
// done: only URLs the operator configured are fetched.
package webbotauth
