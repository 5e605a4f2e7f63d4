package crawler

import (
	"net/netip"

	"github.com/botauthz/botauthz/crawler/fcrdns"
	"github.com/botauthz/botauthz/crawler/webbotauth"
)

// Verdict is what verification found about the crawler a request claims to
// be.
type Verdict uint8

// The verdicts.
const (
	// NotClaimed: the request names no crawler of the directory and
	// carries no Web Bot Auth signature.
	NotClaimed Verdict = iota
	// Verified: the request is the crawler it claims, by its operator's
	// published method.
	Verified
	// Unverified: the request claims a crawler that cannot be verified
	// now: its operator publishes no method, a reverse DNS lookup is
	// pending or failed for a while, a key directory is not fetched yet.
	// Never a definitive answer.
	Unverified
	// Impersonation: the request claims a crawler and failed its
	// operator's verification definitively: an address outside every
	// published range (and, where reverse DNS is documented and on, a
	// reverse DNS that answered with another domain), or a bad signature.
	Impersonation
)

var verdictNames = [...]string{NotClaimed: "", Verified: "verified", Unverified: "unverified", Impersonation: "impersonation"}

// String returns the verdict's name for logs and spans: "verified",
// "unverified", "impersonation", or "" when nothing was claimed.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(?)"
}

// Method is how a crawler was verified, or failed to be.
type Method uint8

// The verification methods.
const (
	MethodNone Method = iota
	// MethodRanges: the operator's published IP range files.
	MethodRanges
	// MethodReverseDNS: forward-confirmed reverse DNS.
	MethodReverseDNS
	// MethodWebBotAuth: an HTTP Message Signature by a key in the signature
	// agent's key directory.
	MethodWebBotAuth
)

var methodNames = [...]string{MethodNone: "", MethodRanges: "ranges", MethodReverseDNS: "reverse_dns", MethodWebBotAuth: "web_bot_auth"}

// String returns the method's name: "ranges", "reverse_dns",
// "web_bot_auth", or "" for none.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "method(?)"
}

// Request is what verification reads from one request.
type Request struct {
	// ClientIP is the client's address as the policy's trusted hops give
	// it; invalid when unknown, which is never definitive.
	ClientIP netip.Addr
	// Method, Scheme, Authority and Path (with its query, as sent) are
	// what a Web Bot Auth signature may cover.
	Method, Scheme, Authority, Path string
	// Headers has lower-case names.
	Headers map[string]string
}

// Claim is the outcome of verifying one request.
type Claim struct {
	Verdict Verdict
	// Entry is the crawler claimed (and verified, when Verdict is
	// Verified); -1 when the request names none of the directory's.
	Entry int
	// Method is the method that decided: the one that verified, or the
	// last that failed.
	Method Method
	// Detail says more for the decision log: the range list that held the
	// address, the confirmed host name, the signature's key id or the
	// reason it failed. It never allocates: it is data the verifiers hold.
	Detail string
}

// Verify finds the crawler r claims to be and verifies the claim. It never
// waits on the network: reverse DNS and key directories answer from their
// caches, and what they do not know yet is Unverified. It does not
// allocate on the common paths (no claim; a claim answered from the cache).
func (v *Verifier) Verify(r *Request, out *Claim) {
	*out = Claim{Entry: -1}
	ip := r.ClientIP.Unmap()
	idx := v.match.match(r.Headers["user-agent"])

	if v.signatures != nil && r.Headers["signature-input"] != "" {
		// A signature names its agent whatever the user agent says: a
		// signing agent often sends a browser's (OpenAI's agent does).
		if v.verifySignature(r, idx, out) {
			return
		}
	}
	if idx < 0 {
		return
	}
	e := &v.dir.Crawlers[idx]
	out.Entry, out.Verdict = idx, Unverified
	if !ip.IsValid() {
		return
	}
	tried, failed := 0, 0
	for _, name := range e.Ranges {
		set := v.ranges.get(name)
		if set == nil {
			continue
		}
		tried++
		if set.table.Contains(ip) {
			out.Verdict, out.Method, out.Detail = Verified, MethodRanges, name
			return
		}
	}
	if tried > 0 {
		failed++
		out.Method = MethodRanges
	}
	if len(e.RDNS) > 0 && v.rdns != nil {
		// Reverse DNS also covers the operator's addresses that are newer
		// than the range snapshot this process holds.
		tried++
		out.Method = MethodReverseDNS
		switch verdict, name := v.rdns.Verify(ip, e.RDNS); verdict {
		case fcrdns.Verified:
			out.Verdict, out.Detail = Verified, name
			return
		case fcrdns.Failed:
			failed++
		default:
			out.Detail = verdict.String()
		}
	}
	if tried > 0 && failed == tried {
		out.Verdict = Impersonation
	}
}

// verifySignature verifies r's Web Bot Auth signature. It reports true when
// the signature decided the claim; false leaves it to the user agent's
// claim (idx), with out set to Unverified when the signature names an agent
// of the directory.
func (v *Verifier) verifySignature(r *Request, idx int, out *Claim) bool {
	res := v.signatures.Verify(&webbotauth.Request{Method: r.Method, Scheme: r.Scheme, Authority: r.Authority, Path: r.Path, Headers: r.Headers})
	if res.Status == webbotauth.None {
		return false
	}
	agent, known := v.byAgent[res.Agent]
	if !known {
		agent = idx
	}
	switch res.Status {
	case webbotauth.Verified:
		if !known {
			// A trusted key directory with no crawler of the directory
			// naming it: nothing says what it is, so it stays a claim.
			break
		}
		*out = Claim{Verdict: Verified, Entry: agent, Method: MethodWebBotAuth, Detail: res.KeyID}
		return true
	case webbotauth.Invalid:
		if agent >= 0 {
			*out = Claim{Verdict: Impersonation, Entry: agent, Method: MethodWebBotAuth, Detail: res.Reason}
			return true
		}
	}
	if idx < 0 {
		// A signed request is automation by its own word, even from an
		// agent nobody vouches for.
		*out = Claim{Verdict: Unverified, Entry: agent, Method: MethodWebBotAuth, Detail: res.Reason}
		return true
	}
	return false
}
