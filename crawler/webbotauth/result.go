package webbotauth

// Request is what the verifier needs from one HTTP request as Envoy's
// ext_authz CheckRequest gives it: method, scheme, authority (the
// :authority / host), path (with query, as sent), and headers with
// lower-case names (Envoy joins repeated headers with ",").
type Request struct {
	Method, Scheme, Authority, Path string
	Headers                         map[string]string
}

// Status is the outcome of verifying a request's Web Bot Auth signature.
type Status uint8

const (
	// None: no web-bot-auth signature (no Signature-Input member with
	// tag="web-bot-auth").
	None Status = iota
	// Verified: a valid signature by a key in the trusted agent's
	// directory.
	Verified
	// Pending: the agent is trusted but its directory has not been fetched
	// successfully yet: not definitive.
	Pending
	// Untrusted: signed, but by an agent not in Options.Directories, with
	// no Signature-Agent to name one, or with a key type or algorithm this
	// package does not verify (reason unsupported_alg): not definitive
	// either way.
	Untrusted
	// Invalid: definitive failure: malformed signature headers, missing
	// required covered components (@authority or @target-uri;
	// signature-agent when the header is present), expired or not yet valid
	// (beyond skew), keyid not in the agent's (successfully fetched)
	// directory, bad signature.
	Invalid
)

// String gives the status in lower case, for logs and metric labels.
func (s Status) String() string {
	switch s {
	case None:
		return "none"
	case Verified:
		return "verified"
	case Pending:
		return "pending"
	case Untrusted:
		return "untrusted"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Reason codes of a Result that is not Verified.
const (
	ReasonMalformed           = "malformed"             // a header or a covered component does not parse or resolve
	ReasonAuthorityNotCovered = "authority_not_covered" // neither @authority nor @target-uri is covered
	ReasonAgentNotCovered     = "agent_not_covered"     // Signature-Agent sent but not covered
	ReasonExpired             = "expired"               // expires is past, beyond the skew
	ReasonNotYetValid         = "not_yet_valid"         // created is in the future, beyond the skew
	ReasonUnknownKey          = "unknown_key"           // keyid is not an active key of the agent's directory
	ReasonBadSignature        = "bad_signature"         // the signature does not verify
	ReasonNoDirectory         = "no_directory"          // the trusted agent's directory was never fetched
	ReasonUntrustedAgent      = "untrusted_agent"       // the agent is not configured, or its member is unusable
	ReasonNoAgent             = "no_agent"              // no Signature-Agent field names an agent
	ReasonUnsupportedAlg      = "unsupported_alg"       // a key type or alg other than Ed25519
)

// Result is the outcome of Verify.
type Result struct {
	Status Status
	// Agent is the signature agent's origin, normalized
	// ("https://chatgpt.com"); "" when none. For an Untrusted result it is
	// what the client claimed, for logs only.
	Agent string
	KeyID string
	// Reason is a short code for logs when not Verified (see the Reason
	// constants).
	Reason string
}
